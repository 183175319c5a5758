"""Run every benchmark of the performance budget, print the figures and write them as JSON.

    python3 tasks.py bench                   # everything, both modes (about 5 min on 2 cores)
    python3 tasks.py bench --quick           # headline figures only (injected latency, 1-day soak)
    .venv/bin/python benchmarks/run_all.py --sections fleet,quota --fleet-sizes 1,5
    .venv/bin/python benchmarks/run_all.py --sm-latency 30 --invoke-latency 50
    .venv/bin/python benchmarks/run_all.py --help

Every comparison runs both of its sides in this one run, on this machine. The
cold start and the warm overhead run in two modes: with AWS-like latency
injected on loopback by FaultProxies (the headline figures) and on plain
loopback.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repo's packages importable
    _root = Path(__file__).resolve().parents[1]
    sys.path[:0] = [str(_root), str(_root / "layers" / "auth"), str(_root / "devtools")]

import argparse
import json
import time
from collections.abc import Callable, Sequence
from typing import Any

from benchmarks.harness import ROOT

SECTIONS = ("cold", "warm", "fleet", "footprint", "quota", "soak")
MODES = ("latency", "loopback")
DEFAULT_OUTPUT = ROOT / "benchmarks" / "results.json"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="benchmarks/run_all.py", description=__doc__.split("\n", 1)[0]
    )
    parser.add_argument(
        "--sections",
        default=",".join(SECTIONS),
        help=f"comma-separated subset of {','.join(SECTIONS)} (default: all)",
    )
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="the JSON file")
    parser.add_argument(
        "--modes",
        default=",".join(MODES),
        help="latency (AWS-like latency injected), loopback, or both (default)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="headline figures only: --modes latency, no fleet run at latency, fleet sizes 1,5,20",
    )
    for flag, default, what in (
        ("--sm-latency", 20.0, "each Secrets Manager round trip"),
        ("--invoke-latency", 30.0, "each Lambda Invoke round trip"),
        ("--ringcx-latency", 100.0, "each RingCX/RingCentral request"),
    ):
        parser.add_argument(
            flag,
            type=_milliseconds,
            default=default,
            metavar="MS",
            help=f"ms added to {what} in the latency mode (default {default:g}; 0 disables)",
        )
    parser.add_argument("--cold-runs", type=int, default=15, help="cold starts per side (>= 15)")
    parser.add_argument("--warm-requests", type=int, default=2000, help="warm requests timed")
    parser.add_argument(
        "--warm-latency-requests",
        type=int,
        default=300,
        help="warm requests timed at injected latency (each waits for RingCX)",
    )
    parser.add_argument("--fleet-sizes", default="1,5,20,50", help="container counts N")
    parser.add_argument("--fleet-lifetime", type=float, default=10.0, help="token lifetime L, s")
    parser.add_argument("--fleet-lifetimes", type=int, default=6, help="lifetimes per run")
    parser.add_argument(
        "--fleet-rate", type=int, default=20, help="requests per container per lifetime"
    )
    parser.add_argument(
        "--fleet-latency-sizes",
        default="5",
        help="container counts run again at injected latency ('' skips; each request "
        "waits for RingCX in real time)",
    )
    parser.add_argument("--quota-ticks", type=int, default=1440, help="refresher ticks (24 h)")
    parser.add_argument("--soak-days", type=float, default=7.0, help="virtual days of the soak")
    parser.add_argument("--soak-seed", type=int, default=9, help="the soak's fault schedule seed")
    parser.add_argument(
        "--reuse-build", action="store_true", help="reuse .aws-sam/bench if it exists"
    )
    args = parser.parse_args(argv)
    wanted = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = set(wanted) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections: {', '.join(sorted(unknown))}")
    args.sections = [s for s in SECTIONS if s in wanted]  # always in the documented order
    modes = {m.strip() for m in args.modes.split(",") if m.strip()}
    if args.quick:
        modes = {"latency"}
        args.fleet_latency_sizes = ""
        args.fleet_sizes = "1,5,20"
        args.soak_days = min(args.soak_days, 1.0)
    if not modes or modes - set(MODES):
        parser.error(f"--modes takes a subset of {','.join(MODES)}")
    args.modes = [m for m in MODES if m in modes]
    args.fleet_sizes = _sizes(args.fleet_sizes)
    args.fleet_latency_sizes = _sizes(args.fleet_latency_sizes)
    return args


def _sizes(text: str) -> tuple[int, ...]:
    return tuple(int(n) for n in text.split(",") if n.strip())


def _milliseconds(text: str) -> float:
    value = float(text)
    if not (value >= 0 and value < 60_000):
        raise argparse.ArgumentTypeError(f"expected milliseconds in [0, 60000), got {text}")
    return value


def main(argv: Sequence[str] | None = None, out: Callable[[str], None] = print) -> dict[str, Any]:
    """Run the chosen sections; returns (and writes) the results document."""
    from benchmarks.sections import Runner

    args = parse_args(argv)
    started = time.perf_counter()
    results = Runner(args, out).run()
    results["total_seconds"] = round(time.perf_counter() - started, 1)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2, sort_keys=False) + "\n")
    out("")
    out(f"Total {results['total_seconds']:.0f} s. Figures written to {args.output}")
    return results


if __name__ == "__main__":
    main()
