"""Section 2: warm overhead of the proxy, measured by ``proxy_overhead.py``.

The proxy's own benchmark (written with the proxy, issue 4) owns the method:
it drives ProxyFunction's real handler against the simulator, times the
upstream round trip inside the connection pool, subtracts it from the
handler time, and counts Secrets Manager calls on warm requests. This module
runs that script unchanged, in its own process (so neither side's servers or
module singletons share an interpreter with the other), and turns its
report into figures for the summary and the JSON.

At injected latency the script puts the simulator and moto behind
FaultProxies; the latency lands in the upstream time, which the overhead
excludes, so the two modes answer one question: does the broker's own work
per request stay small when the upstream is as slow as RingCX on AWS?
"""

from __future__ import annotations

import re
import subprocess
import sys
from typing import Any

from benchmarks.harness import ROOT
from benchmarks.latency import Latency

SCRIPT = ROOT / "benchmarks" / "proxy_overhead.py"
GOAL_P50_MS = 0.5
_MS = r"([0-9.]+) ms"
_PATTERNS = {
    "overhead": re.compile(rf"proxy overhead p50/p95/p99:\s*{_MS} / {_MS} / {_MS}"),
    "handler": re.compile(rf"handler time\s+p50/p95\s*:\s*{_MS} / {_MS}"),
    "upstream": re.compile(rf"upstream time\s+p50/p95\s*:\s*{_MS} / {_MS}"),
    "secrets": re.compile(r"Secrets Manager calls\s*:\s*([0-9.]+) per 1,000"),
    "first": re.compile(rf"first \(cold cache\) call\s*:\s*{_MS}"),
}


class UnexpectedReport(RuntimeError):
    """proxy_overhead.py printed something this parser does not know."""


def parse(report: str) -> dict[str, Any]:
    found = {name: pattern.search(report) for name, pattern in _PATTERNS.items()}
    missing = [name for name in ("overhead", "secrets") if found[name] is None]
    if missing:
        raise UnexpectedReport(
            f"proxy_overhead.py's report lacks {', '.join(missing)}:\n{report[-2000:]}"
        )
    overhead, secrets = found["overhead"], found["secrets"]
    assert overhead is not None and secrets is not None
    p50, p95, p99 = (float(g) for g in overhead.groups())
    details = {}
    for name, label in (("handler", "handler time"), ("upstream", "upstream time")):
        match = found[name]
        if match is not None:
            details[f"{label} p50/p95"] = f"{match.group(1)} / {match.group(2)} ms"
    if (first := found["first"]) is not None:
        details["first request (empty cache: ring read + upstream)"] = f"{first.group(1)} ms"
    return {
        "p50_ms": p50,
        "p95_ms": p95,
        "p99_ms": p99,
        "secrets_calls_per_1000": float(secrets.group(1)),
        "details": details,
    }


def measure(requests: int, latency: Latency) -> dict[str, Any]:
    if not SCRIPT.is_file():
        return {"skipped": "benchmarks/proxy_overhead.py (issue 4) is not there yet"}
    command = [sys.executable, str(SCRIPT), "--requests", str(requests), "--cold-rounds", "0"]
    command += ["--ringcx-latency", f"{latency.ringcx * 1000:g}"]
    command += ["--sm-latency", f"{latency.secrets * 1000:g}"]
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
        timeout=600,
    )
    # Exit status 1 means "over budget", which is a finding, not a failure.
    try:
        figures = parse(done.stdout)
    except UnexpectedReport as exc:
        raise UnexpectedReport(f"{exc}\n{done.stderr[-2000:]}") from None
    return {
        "requests": requests,
        "latency": latency.to_json(),
        "source": "benchmarks/proxy_overhead.py, in its own process",
        "goal_p50_ms": GOAL_P50_MS,
        **figures,
    }
