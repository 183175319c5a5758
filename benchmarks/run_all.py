"""Run every benchmark of design section 5, print the figures and write them as JSON.

    python3 tasks.py bench                   # everything (about 1.5 min on 2 cores)
    .venv/bin/python benchmarks/run_all.py --sections fleet,quota --fleet-sizes 1,5
    .venv/bin/python benchmarks/run_all.py --help

Every comparison runs both of its sides in this one run, on this machine.
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

SECTIONS = ("cold", "warm", "fleet", "footprint", "quota")
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
    parser.add_argument("--cold-runs", type=int, default=15, help="cold starts per side (>= 10)")
    parser.add_argument("--warm-requests", type=int, default=2000, help="warm requests timed")
    parser.add_argument("--fleet-sizes", default="1,5,20,50", help="container counts N")
    parser.add_argument("--fleet-lifetime", type=float, default=10.0, help="token lifetime L, s")
    parser.add_argument("--fleet-lifetimes", type=int, default=6, help="lifetimes per run")
    parser.add_argument(
        "--fleet-rate", type=int, default=20, help="requests per container per lifetime"
    )
    parser.add_argument("--quota-ticks", type=int, default=1440, help="refresher ticks (24 h)")
    parser.add_argument(
        "--reuse-build", action="store_true", help="reuse .aws-sam/bench if it exists"
    )
    args = parser.parse_args(argv)
    wanted = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = set(wanted) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections: {', '.join(sorted(unknown))}")
    args.sections = [s for s in SECTIONS if s in wanted]  # always in the documented order
    args.fleet_sizes = tuple(int(n) for n in args.fleet_sizes.split(","))
    return args


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
