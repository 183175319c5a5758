"""What the live status line shows, gathered without touching any token.

Why from results and /health: the exchange and the refresher both return a
secret-free summary (``generation``, ``expiresAt``, ...), and the proxy's
``/health`` reports the token it would use. Watching those (plus the
simulator's counters, when there is one) tells the operator what the broker
does, without reading the ring or decoding a token in the runner.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from ringcx_dev.local.template import FunctionSpec
from ringcx_dev.local.worker import Invocation

Clock = Callable[[], float]


class StatusTracker:
    """Listens to every invocation; keeps the newest token summary it saw."""

    def __init__(
        self, refresher: str | None = None, exchange: str | None = None, clock: Clock = time.time
    ) -> None:
        self._refresher = refresher
        self._exchange = exchange
        self._clock = clock
        self._lock = threading.Lock()
        self.generation: int | None = None
        self.expires_at: float | None = None
        self.refreshes = 0  # refresher results that moved the generation forward
        self.refresh_results: list[dict[str, Any]] = []
        self.failures: list[str] = []
        self.health_status: int | None = None

    def observe(self, spec: FunctionSpec, event: str, outcome: Invocation) -> None:
        """A ``LocalFunctions`` listener."""
        del event
        if not outcome.ok:
            with self._lock:
                self.failures.append(f"{spec.logical_id}: {outcome.status}: {outcome.reason}")
            return
        if spec.logical_id not in (self._refresher, self._exchange):
            return  # proxy results are upstream data, possibly megabytes: not parsed here
        result = outcome.result()
        if isinstance(result, dict) and "body" in result and "statusCode" in result:
            # An API response: the exchange's 200 body is a token summary.
            if result.get("statusCode") != 200:
                return
            result = _json_object(result.get("body"))
        if not isinstance(result, dict):
            return
        with self._lock:
            if spec.logical_id == self._refresher:
                self.refresh_results.append(result)
            self._take(result, from_refresher=spec.logical_id == self._refresher)

    def observe_health(self, status: int, body: bytes) -> None:
        with self._lock:
            self.health_status = status
            try:
                summary = json.loads(body)
            except ValueError:
                return
            if isinstance(summary, dict):
                self._take(summary, from_refresher=False)

    def seconds_left(self) -> float | None:
        with self._lock:
            return None if self.expires_at is None else self.expires_at - self._clock()

    def key(self, counters: Mapping[str, Any] | None = None) -> str:
        """The line without the ticking seconds: what counts as a change off a terminal."""
        return (
            " ".join(
                str(x) for x in (self.generation, self._refresh_count(counters), self.health_status)
            )
            + f" {len(self.failures)}"
        )

    def line(self, counters: Mapping[str, Any] | None = None) -> str:
        left = self.seconds_left()
        parts = [
            f"token generation {self.generation if self.generation is not None else '-'}",
            f"{max(0, int(left))} s left" if left is not None else "no token yet",
            f"refreshes {self._refresh_count(counters)}",
        ]
        protocol = (counters or {}).get("protocol")
        if isinstance(protocol, Mapping):
            parts.append(f"logins {protocol.get('logins', 0)}")
        if self.health_status is not None:
            parts.append(f"/health {self.health_status}")
        if self.failures:
            parts.append(f"failed invocations {len(self.failures)}")
        return " | ".join(parts)

    def _refresh_count(self, counters: Mapping[str, Any] | None) -> int:
        protocol = (counters or {}).get("protocol")
        if isinstance(protocol, Mapping) and "refresh_rotations" in protocol:
            return int(protocol["refresh_rotations"])
        return self.refreshes

    def _take(self, summary: Mapping[str, Any], *, from_refresher: bool) -> None:
        generation = summary.get("generation")
        if isinstance(generation, int) and not isinstance(generation, bool):
            if self.generation is not None and generation > self.generation and from_refresher:
                self.refreshes += 1
            if self.generation is None or generation >= self.generation:
                self.generation = generation
                expires = _epoch(summary.get("expiresAt"))
                if expires is not None:
                    self.expires_at = expires
        elif self.expires_at is None:
            self.expires_at = _epoch(summary.get("expiresAt"))


def _json_object(text: object) -> dict[str, Any] | None:
    if not isinstance(text, str):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _epoch(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value).timestamp()
        except ValueError:
            return None
    return None
