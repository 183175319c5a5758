"""Sliding-window rate limiter with a fixed penalty, like RingCentral's Auth group.

Once the limit is hit, RingCentral keeps answering 429 for the whole penalty
(60 s), even if the window has room again; clients must honour Retry-After.
"""

from __future__ import annotations

import math
from collections import deque


class SlidingWindowLimiter:
    """Per-endpoint limiter; not locked itself because the state lock guards it."""

    def __init__(self) -> None:
        self._hits: deque[float] = deque()
        self._penalty_until = -math.inf

    def allow(self, now: float, limit: int, window: float, penalty: float) -> bool:
        """Record one request at `now`; False means answer 429 and leave state alone."""
        if now < self._penalty_until:
            return False
        while self._hits and self._hits[0] <= now - window:
            self._hits.popleft()
        if len(self._hits) >= limit:
            self._penalty_until = now + penalty
            return False
        self._hits.append(now)
        return True

    def penalised(self, now: float) -> bool:
        """Whether a 429 penalty is running at `now`."""
        return now < self._penalty_until
