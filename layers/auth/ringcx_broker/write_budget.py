"""A ceiling on ring writes that no caller can push through.

Secrets Manager never removes a version younger than 24 h and a secret holds
about 100, so a secret written 100 times in a day stops taking writes. The
schedule's rotations stay below that by design (docs/design.md, "The token
ring"), but writes the schedule did not plan (a posted exchange, an
operator's ``force``, a rotation a proxy asked for because RingCX rejected a
token early) come on top. Before each of those, the budget projects the
busiest moment of the next 24 h and refuses the write (429 with the time
until room frees up) if any slot would then hold more than ``limit``
versions. Scheduled rotations and re-logins that heal a dead chain are never
refused: they are what keeps the chain alive.

The projection, for the whole ring (round-robin gives each slot at most
``ceil(n / K)`` of any ``n`` consecutive writes):

- the versions of the last 24 h stay counted until each turns 24 h old;
- the schedule adds at most one rotation per period P from now on;
- the write asked for adds one.

Its peak is checked at now and just before each counted version ages out.
Counting only the versions of the last 24 h is not enough: a burst of writes
would stay counted for a day while the schedule keeps adding to it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError

from ringcx_broker.errors import RateLimited
from ringcx_broker.timing import Clock, TimingPolicy, system_clock

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

logger = Logger(child=True)

DAY = 86_400.0
DEFAULT_LIMIT = 94  # versions per slot per 24 h, of ~100: room for a hand-made fix


class WriteBudgetExceeded(RateLimited):
    """An unplanned write now would push a ring slot toward its versions quota."""

    status = HTTPStatus.TOO_MANY_REQUESTS


class WriteBudget:
    def __init__(
        self,
        client: SecretsManagerClient,
        slot_ids: Sequence[str],
        timing: TimingPolicy,
        limit: int = DEFAULT_LIMIT,
        window: float = DAY,
        clock: Clock = system_clock,
    ) -> None:
        self._client = client
        self._slots = tuple(slot_ids)
        self._timing = timing
        self._limit = limit
        self._window = window
        self._clock = clock
        # After a refusal nothing can make room sooner (the schedule only adds),
        # so until then a caller who keeps hammering is refused without a call.
        self._refused_until = 0.0

    def check(self, lifetime: float, what: str) -> None:
        """Raise ``WriteBudgetExceeded`` if ``what`` (one more write) does not fit.

        A failure to list the versions lets the write through (with a
        warning): the budget guards against abuse, and must not turn a
        Secrets Manager hiccup into a refused operator action.
        """
        now = self._clock()
        if now < self._refused_until:
            retry_after = max(1, math.ceil(self._refused_until - now))
            raise WriteBudgetExceeded(
                f"{what} refused: the ring's write budget for unplanned writes is spent; "
                f"retry after {retry_after} s",
                retry_after,
            )
        ages = self._ages(now)
        if ages is None:
            return
        period = self._period(lifetime)
        peak = projected_peak(ages, period, self._window)
        per_slot = math.ceil(peak / len(self._slots))
        if per_slot <= self._limit:
            return
        retry_after = self._retry_after(ages, period)
        self._refused_until = now + retry_after
        raise WriteBudgetExceeded(
            f"{what} refused: with the {len(ages)} ring writes of the last 24 h and the "
            f"schedule's, a slot would reach {per_slot} versions within a day (the budget "
            f"for unplanned writes stops at {self._limit}, below Secrets Manager's ~100); "
            f"retry after {retry_after} s",
            retry_after,
        )

    def _period(self, lifetime: float) -> float:
        """The shortest time between two scheduled rotations: the first tick at
        or after (1 - f) of the token's life."""
        tick = self._timing.tick_seconds
        due = (1 - self._timing.refresh_fraction) * lifetime
        return max(tick, math.ceil(due / tick - 1e-9) * tick)

    def _retry_after(self, ages: list[float], period: float) -> int:
        """When, as the oldest versions age out, the same write would fit."""
        remaining = sorted(ages, reverse=True)  # oldest first
        while remaining:
            waited = self._window - remaining.pop(0)
            shifted = [a + waited for a in remaining]
            peak = projected_peak(shifted, period, self._window)
            if math.ceil(peak / len(self._slots)) <= self._limit:
                return max(1, math.ceil(waited))
        return int(self._window)

    def _ages(self, now: float) -> list[float] | None:
        """Ages (seconds) of every ring version younger than the window."""
        ages: list[float] = []
        for slot_id in self._slots:
            created = self._created(slot_id)
            if created is None:
                return None
            ages.extend(now - c for c in created if 0 <= now - c < self._window)
        return ages

    def _created(self, slot_id: str) -> list[float] | None:
        stamps: list[float] = []
        request: dict[str, Any] = {"SecretId": slot_id, "IncludeDeprecated": True}
        try:
            while True:
                page = self._client.list_secret_version_ids(**request)
                stamps.extend(_epoch(v.get("CreatedDate")) for v in page.get("Versions", []))
                if not page.get("NextToken"):
                    return stamps
                request["NextToken"] = page["NextToken"]
        except (ClientError, BotoCoreError) as exc:
            logger.warning(
                "Ring write budget unchecked: versions could not be listed",
                extra={"slot": slot_id, "error": type(exc).__name__},
            )
            return None


def projected_peak(ages: Sequence[float], period: float, window: float = DAY) -> int:
    """The most ring versions younger than ``window`` at any moment of the
    next ``window`` seconds, counting one more write now and one scheduled
    rotation per ``period`` from now on (the first may come at once)."""
    ordered = sorted(ages)
    peak = len(ordered) + 1 + 1  # now: what is counted, a scheduled write, and ours
    for index, age in enumerate(ordered):
        # Just before the version of this age turns ``window`` old, the ones as
        # young as it still count, and the schedule has had (window - age) to add.
        still_counted = index + 1
        scheduled = math.floor((window - age) / period) + 1
        peak = max(peak, still_counted + scheduled + 1)
    return peak


def _epoch(value: object) -> float:
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, int | float):
        return float(value)
    return 0.0
