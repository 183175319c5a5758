"""A log of auth calls stamped with the simulator's clock.

Counters say how many calls were made; a soak also has to prove *when*: "never
more than 5 auth calls to one endpoint in any 60 s" is a property of the
timestamps, so every call to an auth endpoint is kept here, whatever its answer
(processed, rate-limited, fault-injected, or dropped, which is logged as status 0).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

AUTH_ENDPOINTS: Final = ("rc_token", "rcx_exchange", "rcx_refresh")
MAX_LOGGED_CALLS: Final = 200_000
"""Bound on the log; at one auth call a minute that is months of virtual time."""
DROPPED: Final = 0
"""The status logged for a connection dropped without an answer."""


@dataclass(frozen=True, slots=True)
class AuthCall:
    """One call to an auth endpoint: when it arrived (simulator clock), where, what it got."""

    at: float
    endpoint: str
    status: int

    def to_json(self) -> dict[str, object]:
        """The shape used by GET /_sim/auth-calls."""
        return {"at": self.at, "endpoint": self.endpoint, "status": self.status}


class AuthCallLog:
    """Bounded, oldest-first; not locked itself because the state lock guards it."""

    def __init__(self, capacity: int = MAX_LOGGED_CALLS) -> None:
        self._calls: deque[AuthCall] = deque(maxlen=capacity)

    def add(self, call: AuthCall) -> None:
        """Remember a call, forgetting the oldest one when full."""
        self._calls.append(call)

    def clear(self) -> None:
        """Forget everything."""
        self._calls.clear()

    def snapshot(self) -> list[AuthCall]:
        """The calls, oldest first."""
        return list(self._calls)


def max_calls_in_window(calls: Iterable[AuthCall], endpoint: str, window: float = 60.0) -> int:
    """The most calls to `endpoint` in any half-open interval [t, t + window).

    Half-open like RingCentral's sliding window: a call made exactly `window`
    seconds after another one no longer shares its window.
    """
    times = sorted(call.at for call in calls if call.endpoint == endpoint)
    return _densest(times, window)


def _densest(times: Sequence[float], window: float) -> int:
    best = start = 0
    for end, at in enumerate(times):
        while times[start] <= at - window:
            start += 1
        best = max(best, end - start + 1)
    return best
