"""Sliding-window rate limiter with a penalty, like RingCentral's Auth group.

Once the limit is hit, RingCentral keeps answering 429 for the whole penalty
(60 s), even if the window has room again, and every request made while the
penalty runs starts it over (`restart=True`): a client that retries early only
makes things worse, so it must honour Retry-After.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RateDecision:
    """One limiter verdict, with what the X-Rate-Limit-* headers and Retry-After report."""

    allowed: bool
    limit: int
    remaining: int
    window: float
    retry_after: int
    """Whole seconds until the penalty ends (0 when allowed)."""


class SlidingWindowLimiter:
    """Per-endpoint limiter; not locked itself because the state lock guards it."""

    def __init__(self) -> None:
        self._hits: deque[float] = deque()
        self._penalty_until = -math.inf

    def allow(
        self, now: float, limit: int, window: float, penalty: float, *, restart: bool
    ) -> RateDecision:
        """Record one request at `now`; a refusal means 429 and records no hit.

        With `restart`, a request during the penalty pushes its end to `now + penalty`.
        """
        self._age(now, window)
        if now < self._penalty_until:
            if restart:
                self._penalty_until = now + penalty
            return self._refusal(now, limit, window)
        if len(self._hits) >= limit:
            self._penalty_until = now + penalty
            return self._refusal(now, limit, window)
        self._hits.append(now)
        return RateDecision(True, limit, max(0, limit - len(self._hits)), window, 0)

    def penalised(self, now: float) -> bool:
        """Whether a 429 penalty is running at `now`."""
        return now < self._penalty_until

    def _age(self, now: float, window: float) -> None:
        while self._hits and self._hits[0] <= now - window:
            self._hits.popleft()

    def _refusal(self, now: float, limit: int, window: float) -> RateDecision:
        retry_after = max(1, math.ceil(self._penalty_until - now))
        return RateDecision(False, limit, 0, window, retry_after)
