"""CLI: ``python -m ringcx_dev.dashboard check`` or ``... render OUT.svg``.

``check`` lists every drift between the dashboard (and alarms) and the code,
and exits 1 if there is any; ``render`` writes the dashboard's layout as SVG
(docs/images/dashboard.svg is made this way, and a test keeps it current).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from ringcx_dev.local.template import TemplateError, load_document

from .code_inventory import repository_inventory
from .definition import DashboardError, load_dashboard
from .drift import drift_problems
from .svg import render_svg


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m ringcx_dev.dashboard",
        description="Check the CloudWatch dashboard against the code, or draw it as SVG",
    )
    parser.add_argument("--template", type=Path, default=Path("template.yaml"))
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("check", help="list metrics the dashboard or alarms name but nobody emits")
    render = commands.add_parser("render", help="write the dashboard's layout as SVG")
    render.add_argument("output", type=Path, help="e.g. docs/images/dashboard.svg")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        document = load_document(args.template)
        if args.command == "render":
            args.output.parent.mkdir(parents=True, exist_ok=True)
            args.output.write_text(render_svg(document, args.template.name), encoding="utf-8")
            print(f"wrote {args.output}")
            return 0
        problems = drift_problems(document, repository_inventory(args.template.resolve().parent))
    except (TemplateError, DashboardError) as exc:
        print(f"dashboard: {exc}", file=sys.stderr)
        return 2
    for problem in problems:
        print(problem)
    widgets = len(load_dashboard(document).widgets)
    print(f"{len(problems)} drift problem(s) in {widgets} widgets and the template's alarms")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
