"""A chaos soak: the real refresher, exchange and proxy containers against the
simulator and moto (behind a FaultProxy) on a virtual clock, for days of
virtual time, under a seeded schedule of every fault they must survive.

    python3 tasks.py soak [--days 7] [--seed 9] [--proxies 3] [--requests-per-minute 1]

``run_soak(SoakOptions(...))`` runs one from Python; ``measure(...)`` returns
its figures as a JSON-ready dict (for ``benchmarks/run_all.py``).
"""

from __future__ import annotations

from typing import Any

from .options import DEFAULT_SEED, SoakOptions
from .runner import SoakResult, run_soak
from .schedule import Episode, Kind, Schedule, generate

__all__ = [
    "DEFAULT_SEED",
    "Episode",
    "Kind",
    "Schedule",
    "SoakOptions",
    "SoakResult",
    "generate",
    "measure",
    "run_soak",
]


def measure(
    days: float = 7.0,
    seed: int = DEFAULT_SEED,
    proxies: int = 3,
    requests_per_minute: float = 1.0,
) -> dict[str, Any]:
    """One soak's figures and verdicts, JSON-ready (the schedule itself left out:
    ``generate(seed, days * 86400, proxies)`` gives it back)."""
    report = run_soak(SoakOptions(days, seed, proxies, requests_per_minute)).report
    return {k: v for k, v in report.items() if k != "schedule"}
