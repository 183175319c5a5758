"""Small statistics helpers: medians, percentiles and ratios, with no numpy."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else math.nan


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100): the value a real sample had."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else math.inf


def rounded(value: float, digits: int = 3) -> float | None:
    """JSON-safe: NaN and infinity become null."""
    return None if math.isnan(value) or math.isinf(value) else round(value, digits)
