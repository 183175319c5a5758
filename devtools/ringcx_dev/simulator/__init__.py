"""A faithful RingCentral + RingCX simulator for tests, benchmarks and local runs.

It enforces the protocol facts (form bodies, Basic auth, single-use rotating
refresh tokens, 5/min limits with a penalty that restarts, `Jwt is expired`) so
client bugs fail on loopback instead of in production, and it can be switched,
while running, into the real services' unfriendlier behaviours (see SimConfig
and Fault): early expiry, undocumented dead-refresh answers, 429s without
Retry-After, the session quota, HTML error pages, wire latency.
"""

from __future__ import annotations

from .calllog import AuthCall, max_calls_in_window
from .config import ENDPOINTS, Fault, SimConfig
from .simulator import Simulator
from .state import SimState

__all__ = [
    "ENDPOINTS",
    "AuthCall",
    "Fault",
    "SimConfig",
    "SimState",
    "Simulator",
    "max_calls_in_window",
]
