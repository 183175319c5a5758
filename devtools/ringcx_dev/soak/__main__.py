"""``python -m ringcx_dev.soak``: run a soak, print its figures, write them as JSON."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from .options import DEFAULT_SEED, ROOT, SoakOptions
from .report import summary
from .runner import run_soak

DEFAULT_OUTPUT = ROOT / "benchmarks" / "results-soak.json"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python3 tasks.py soak",
        description="Chaos soak: the real broker under a seeded fault schedule, in virtual time.",
    )
    parser.add_argument("--days", type=float, default=7.0, help="virtual days (default 7)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="schedule seed")
    parser.add_argument("--proxies", type=int, default=3, help="proxy containers (default 3)")
    parser.add_argument(
        "--requests-per-minute",
        type=float,
        default=1.0,
        help="proxied requests per minute per proxy container (default 1)",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUTPUT, help="the JSON file")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    options = SoakOptions(args.days, args.seed, args.proxies, args.requests_per_minute)
    result = run_soak(options)
    print(summary(result.report))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result.report, indent=2) + "\n")
    print(f"\nFigures written to {args.out}")
    return 0 if result.passed else 1


if __name__ == "__main__":
    sys.exit(main())
