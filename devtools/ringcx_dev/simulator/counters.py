"""Call counters per endpoint plus protocol events, read by tests and benchmarks.

Counting is how tests prove fleet economy ("one auth call per token lifetime")
without timing anything.
"""

from __future__ import annotations

from typing import Final

from .config import ENDPOINTS

OUTCOMES: Final = ("calls", "ok", "rate_limited", "rejected", "faults")
PROTOCOL_EVENTS: Final = (
    "spent_refresh_reuse",
    "expired_token_uses",
    "refresh_rotations",
    "logins",
    "exchanges",
)


class Counters:
    """Plain counters; the owning state's lock makes them thread-safe."""

    def __init__(self) -> None:
        self._endpoints: dict[str, dict[str, int]] = {}
        self._protocol: dict[str, int] = {}
        self.reset()

    def reset(self) -> None:
        """Zero everything."""
        self._endpoints = {name: dict.fromkeys(OUTCOMES, 0) for name in ENDPOINTS}
        self._protocol = dict.fromkeys(PROTOCOL_EVENTS, 0)

    def bump(self, endpoint: str, outcome: str) -> None:
        """Add one to an endpoint outcome such as "calls" or "faults"."""
        self._endpoints[endpoint][outcome] += 1

    def bump_protocol(self, event: str) -> None:
        """Add one to a protocol event such as "logins"."""
        self._protocol[event] += 1

    def protocol(self, event: str) -> int:
        """Current value of one protocol event."""
        return self._protocol[event]

    def record_status(self, endpoint: str, status: int, outcome: str | None = None) -> None:
        """Classify a processed reply: 2xx ok, 429 rate_limited, other 4xx rejected.

        An explicit `outcome` wins: a dead refresh token answered with 200 or 5xx is
        still a rejection.
        """
        if outcome is not None:
            self.bump(endpoint, outcome)
        elif 200 <= status < 300:
            self.bump(endpoint, "ok")
        elif status == 429:
            self.bump(endpoint, "rate_limited")
        elif 400 <= status < 500:
            self.bump(endpoint, "rejected")

    def snapshot(self) -> dict[str, dict[str, int]]:
        """A copy in the JSON shape of GET /_sim/counters."""
        result = {name: dict(values) for name, values in self._endpoints.items()}
        result["protocol"] = dict(self._protocol)
        return result
