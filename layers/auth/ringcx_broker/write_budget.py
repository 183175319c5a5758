"""A ceiling on ring writes that no caller can push through.

Secrets Manager never removes a version younger than 24 h and a secret holds
about 100, so a secret written 100 times in a day stops taking writes. The
schedule's own rotations stay far below that (docs/design.md, "The token
ring": 80 per slot per day at the defaults). Writes the schedule did not plan
(a posted exchange, an operator's ``force``, a rotation a proxy asked for
because RingCX rejected a token early) are checked first: if the slot they
would write already holds ``threshold`` versions from the last 24 h, they are
refused with 429 and the time until room frees up. Scheduled rotations and
re-logins that heal a dead chain are never refused.
"""

from __future__ import annotations

from datetime import datetime
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError

from ringcx_broker.errors import RateLimited
from ringcx_broker.timing import Clock, system_clock

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

logger = Logger(child=True)

DAY = 86_400.0
DEFAULT_THRESHOLD = 90  # of ~100: room for the schedule's writes that follow


class WriteBudgetExceeded(RateLimited):
    """The target slot is too close to its versions quota for an unplanned write."""

    status = HTTPStatus.TOO_MANY_REQUESTS


class WriteBudget:
    def __init__(
        self,
        client: SecretsManagerClient,
        threshold: int = DEFAULT_THRESHOLD,
        window: float = DAY,
        clock: Clock = system_clock,
    ) -> None:
        self._client = client
        self._threshold = threshold
        self._window = window
        self._clock = clock

    def check(self, slot_id: str, what: str) -> None:
        """Raise ``WriteBudgetExceeded`` if ``slot_id`` has no room for ``what``.

        A failure to list the versions lets the write through (with a warning):
        the budget guards against abuse, and must not turn a Secrets Manager
        hiccup into a refused operator action.
        """
        now = self._clock()
        created = self._recent(slot_id, now)
        if created is None or len(created) < self._threshold:
            return
        # Room frees up when enough of the oldest recent versions pass 24 h.
        frees_at = created[len(created) - self._threshold] + self._window
        retry_after = max(1, min(int(DAY), int(frees_at - now + 0.999)))
        raise WriteBudgetExceeded(
            f"{what} refused: the token ring's next slot already holds {len(created)} "
            f"versions from the last 24 h (the budget for unplanned writes stops at "
            f"{self._threshold}, below Secrets Manager's ~100); retry after {retry_after} s",
            retry_after,
        )

    def _recent(self, slot_id: str, now: float) -> list[float] | None:
        """Creation times (epoch seconds, ascending) of versions in the window."""
        stamps: list[float] = []
        request: dict[str, Any] = {"SecretId": slot_id, "IncludeDeprecated": True}
        try:
            while True:
                page = self._client.list_secret_version_ids(**request)
                stamps.extend(_epoch(v.get("CreatedDate")) for v in page.get("Versions", []))
                if not page.get("NextToken"):
                    break
                request["NextToken"] = page["NextToken"]
        except (ClientError, BotoCoreError) as exc:
            logger.warning(
                "Ring write budget unchecked: versions could not be listed",
                extra={"slot": slot_id, "error": type(exc).__name__},
            )
            return None
        return sorted(s for s in stamps if s > now - self._window)


def _epoch(value: object) -> float:
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, int | float):
        return float(value)
    return 0.0
