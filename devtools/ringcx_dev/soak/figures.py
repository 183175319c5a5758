"""The two shapes every soak figure takes: the most events in any window,
and the longest run of consecutive bad outcomes."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


def densest(times: Iterable[float], window: float) -> tuple[int, float | None]:
    """The most ``times`` in any half-open interval [t, t + window), and its start.

    Half-open like a sliding rate window: an event exactly ``window`` after
    another no longer shares its window.
    """
    ordered = sorted(times)
    best, best_start, first = 0, None, 0
    for last, at in enumerate(ordered):
        while ordered[first] <= at - window:
            first += 1
        if last - first + 1 > best:
            best, best_start = last - first + 1, ordered[first]
    return best, best_start


@dataclass(frozen=True, slots=True)
class Run:
    """Consecutive bad outcomes: how many, and the first and last one's time."""

    count: int
    first: float
    last: float

    @property
    def seconds(self) -> float:
        return self.last - self.first

    def to_json(self, origin: float = 0.0) -> dict[str, Any]:
        return {
            "count": self.count,
            "seconds": round(self.seconds, 1),
            "from": round(self.first - origin, 1),
            "to": round(self.last - origin, 1),
        }


def longest_run(outcomes: Iterable[tuple[float, bool]]) -> Run | None:
    """The longest stretch of ``True`` (bad) outcomes, in the order given;
    the earliest one wins a tie. None if nothing was bad."""
    best: Run | None = None
    count, first = 0, 0.0
    for at, bad in outcomes:
        if not bad:
            count = 0
            continue
        if count == 0:
            first = at
        count += 1
        if best is None or count > best.count:
            best = Run(count, first, at)
    return best
