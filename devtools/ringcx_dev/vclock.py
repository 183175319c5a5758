"""A virtual clock shared by the simulator, the broker, the benchmarks and the soak.

Why: six 5-minute token lifetimes take half an hour of real time, and even
10-second tokens make a fleet run last a minute per fleet size. Every clock
in the system (the simulator's JWT ``iat``/``exp`` and rate windows, the
refresher, the proxies' caches, the rate gates) reads this one object, so
jumping it forward is indistinguishable from waiting. Real HTTP still flows
over loopback; only waiting is skipped.
"""

from __future__ import annotations

import math
import threading
import time


class VirtualClock:
    """``clock()`` reads the time; ``advance``/``set``/``sleep`` move it forward only."""

    def __init__(self, start: float | None = None) -> None:
        # Start at a fractional second after "now", as a real tick would land:
        # JWTs carry whole-second iat/exp, so this keeps the rounding honest.
        self._now = float(start) if start is not None else math.floor(time.time()) + 0.25
        self._lock = threading.Lock()
        self.slept = 0.0  # total seconds "slept": backoffs that the run skipped

    def __call__(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += max(0.0, seconds)

    def set(self, when: float) -> None:
        """Jump to ``when``; never backwards."""
        with self._lock:
            self._now = max(self._now, when)

    def sleep(self, seconds: float) -> None:
        """A ``time.sleep`` stand-in: the sleeper's wait passes instantly."""
        self.slept += max(0.0, seconds)
        self.advance(seconds)
