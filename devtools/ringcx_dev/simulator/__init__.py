"""A faithful RingCentral + RingCX simulator for tests, benchmarks and local runs.

It enforces the protocol facts of design section 2 (form bodies, Basic auth,
single-use rotating refresh tokens, 5/min limits, `Jwt is expired`) so client
bugs fail on loopback instead of in production.
"""

from __future__ import annotations

from .config import ENDPOINTS, Fault, SimConfig
from .simulator import Simulator
from .state import SimState

__all__ = ["ENDPOINTS", "Fault", "SimConfig", "SimState", "Simulator"]
