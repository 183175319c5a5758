"""Per-container memory of 429s, so a Retry-After is honoured without loops.

After a 429, every call to that endpoint fails fast with ``RateLimited`` until
the penalty ends: no request reaches upstream, so we never extend the penalty.
"""

from __future__ import annotations

import threading

from ringcx_broker.errors import RateLimited
from ringcx_broker.timing import Clock, system_clock


class RateGate:
    def __init__(self, clock: Clock = system_clock) -> None:
        self._clock = clock
        self._until: dict[str, float] = {}
        self._lock = threading.Lock()

    def check(self, endpoint: str, service: str) -> None:
        with self._lock:
            until = self._until.get(endpoint, 0.0)
        wait = until - self._clock()
        if wait > 0:
            seconds = max(1, int(wait + 0.999))
            raise RateLimited(f"{service} rate limit reached; retry after {seconds} s", seconds)

    def penalise(self, endpoint: str, retry_after: int) -> None:
        with self._lock:
            self._until[endpoint] = self._clock() + retry_after
