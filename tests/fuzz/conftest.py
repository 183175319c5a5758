"""Hypothesis profiles for the fuzz suite: ``ci`` unless HYPOTHESIS_PROFILE says
otherwise (see the package docstring for how to run deeper)."""

from __future__ import annotations

import os
from typing import Any

from hypothesis import HealthCheck, settings

CI_EXAMPLES = 500
DEEP_EXAMPLES = 5_000

# Big and deep bodies are the point, so generation is allowed to be slow.
_QUIET = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example]

_override = os.environ.get("FUZZ_EXAMPLES")
_COMMON: dict[str, Any] = {
    "deadline": None,
    "print_blob": True,
    "suppress_health_check": _QUIET,
}
settings.register_profile(
    "ci", max_examples=int(_override or CI_EXAMPLES), derandomize=True, database=None, **_COMMON
)
settings.register_profile("deep", max_examples=int(_override or DEEP_EXAMPLES), **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
