"""When to try a 429 or 503 again, and how long to wait first.

Why bounded twice (attempts and total wait): a caller in a request path of its
own must know the worst case; a broker that says ``Retry-After: 60`` to a
caller that can wait 10 s gets an immediate typed error carrying the 60, not
a minute of silence.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """``max_attempts`` counts every request (1 = never retry)."""

    max_attempts: int = 3
    max_total_wait: float = 30.0
    # Without Retry-After: base_wait, then twice that, and so on.
    base_wait: float = 1.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.max_total_wait < 0 or self.base_wait < 0:
            raise ValueError("waits cannot be negative")

    def wait_before(self, attempt: int, retry_after: float | None, elapsed: float) -> float | None:
        """Seconds to wait before request ``attempt + 1``, or None to give up now.

        ``elapsed`` is the time since the first request started.
        """
        if attempt >= self.max_attempts:
            return None
        wait = retry_after if retry_after is not None else self.base_wait * 2 ** (attempt - 1)
        if elapsed + wait > self.max_total_wait:
            return None
        return wait


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date), else None."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        current = time.time() if now is None else now
        return max(0.0, when.timestamp() - current)
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


__all__ = ["RetryPolicy", "parse_retry_after"]
