"""Clocks and the refresh arithmetic of design section 4.3.

All timing is a fraction of a token's own lifetime, so a 15-second token in a
test behaves exactly like a 5-minute token in production, only faster.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

Clock = Callable[[], float]
Sleep = Callable[[float], None]

DEFAULT_LIFETIME_SECONDS = 300.0


def system_clock() -> float:
    return time.time()


@dataclass(frozen=True, slots=True)
class TimingPolicy:
    """When to refresh (``refresh_fraction``) and when a proxy stops trusting
    its cached token (``leeway_fraction``), both fractions of lifetime L."""

    refresh_fraction: float = 0.4
    leeway_fraction: float = 0.1
    tick_seconds: float = 60.0

    def problems(self, lifetime: float = DEFAULT_LIFETIME_SECONDS) -> list[str]:
        """The arithmetic checks of design 4.3, as human-readable findings."""
        f, leeway, tick = (
            self.refresh_fraction,
            self.leeway_fraction,
            tick_fraction(self.tick_seconds, lifetime),
        )
        found = []
        if not 0 < f <= 0.5:
            found.append(f"refresh fraction {f} must be in (0, 0.5] (at most 2 refreshes/life)")
        if f < 2 * tick:
            found.append(
                f"refresh fraction {f} is below 2T/L = {2 * tick:.2f}: a failed tick is fatal"
            )
        if not 0 <= leeway < f - tick:
            found.append(
                f"proxy leeway {leeway} must be below f - T/L = {f - tick:.2f}, "
                "or proxies will invoke the refresher on a healthy schedule"
            )
        return found


def tick_fraction(tick_seconds: float, lifetime: float) -> float:
    return tick_seconds / lifetime if lifetime > 0 else 1.0


def ring_size_for(lifetime: float, policy: TimingPolicy, min_write_interval: float = 900.0) -> int:
    """K >= min_write_interval / P, where P = (1 - f) * L is the rotation period."""
    period = (1 - policy.refresh_fraction) * lifetime
    return max(1, -(-int(min_write_interval) // max(1, int(period))))
