"""Clocks and the cadence arithmetic (docs/design.md, "Cadence").

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
# EventBridge's smallest rate. A shorter tick is a compressed-clock run (tests,
# the local runner), whose writes are fast by design: the real write quota is
# only judged for ticks a deployed schedule can have.
EVENTBRIDGE_MIN_TICK = 60.0
TOLERANCE = 0.01  # RingCX's 299-second token must not fail a rule met at 300 s


def system_clock() -> float:
    return time.time()


@dataclass(frozen=True, slots=True)
class TimingPolicy:
    """When to refresh (``refresh_fraction``) and when a proxy stops trusting
    its cached token (``leeway_fraction``), both fractions of lifetime L."""

    refresh_fraction: float = 0.4
    leeway_fraction: float = 0.1
    tick_seconds: float = 60.0

    def problems(
        self, lifetime: float = DEFAULT_LIFETIME_SECONDS, ring_size: int | None = None
    ) -> list[str]:
        """The cadence rules this policy breaks for tokens of ``lifetime``
        seconds, each as one sentence an operator can act on."""
        f, leeway = self.refresh_fraction, self.leeway_fraction
        tick = tick_fraction(self.tick_seconds, lifetime)
        found = []
        if not 0 < f <= 0.5:
            found.append(
                f"RefreshFraction {f:g} must be above 0 and at most 0.5, "
                "or a token lifetime holds more than 2 refreshes"
            )
        if f < 2 * tick - TOLERANCE:
            found.append(
                f"RefreshFraction {f:g} is below 2T/L = {2 * tick:.2f} "
                f"(T = {self.tick_seconds:g} s, L = {lifetime:g} s): "
                "one failed tick can let the token expire"
            )
        if not 0 <= leeway < f - tick:
            found.append(
                f"ProxyLeewayFraction {leeway:g} must be below f - T/L = {f - tick:.2f}, "
                "or proxies invoke the refresher even on a healthy schedule"
            )
        if ring_size is not None and self.tick_seconds >= EVENTBRIDGE_MIN_TICK:
            needed = ring_size_for(lifetime, self)
            if ring_size < needed:
                found.append(
                    f"a ring of {ring_size} secrets is too small for {lifetime:g}-second "
                    f"tokens: {needed} are needed to write each secret at most once "
                    "per 15 minutes"
                )
        return found


def tick_fraction(tick_seconds: float, lifetime: float) -> float:
    return tick_seconds / lifetime if lifetime > 0 else 1.0


def ring_size_for(lifetime: float, policy: TimingPolicy, min_write_interval: float = 900.0) -> int:
    """K >= min_write_interval / P, where P = (1 - f) * L is the rotation period."""
    period = (1 - policy.refresh_fraction) * lifetime
    return max(1, -(-int(min_write_interval) // max(1, int(period))))
