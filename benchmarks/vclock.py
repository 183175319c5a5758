"""The virtual clock moved to ``ringcx_dev.vclock`` (the soak uses it too); kept
here so the benchmarks' imports stay as they were."""

from __future__ import annotations

from ringcx_dev.vclock import VirtualClock

__all__ = ["VirtualClock"]
