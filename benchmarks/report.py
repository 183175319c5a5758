"""Plain-text rendering of each section's figures, printed as soon as it is done.

Kept apart from the measuring code so the JSON stays the source of truth and
the text is only a view of it.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

Printer = Callable[[str], None]


def _ok(passed: bool | None) -> str:
    if passed is None:
        return "n/a"
    return "met" if passed else "MISSED"


def _table(rows: Sequence[Sequence[str]], out: Printer, indent: str = "  ") -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = [
            cell.ljust(width) if i == 0 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        out(indent + "  ".join(cells).rstrip())


def _wrapped(text: str, out: Printer, indent: str = "  ", width: int = 100) -> None:
    for line in textwrap.wrap(text, width, initial_indent=indent, subsequent_indent=indent + "  "):
        out(line)


def _kb(n: float) -> str:
    return f"{n / 1024:.1f} KB"


def _mb(n: float) -> str:
    return f"{n / 1024 / 1024:.2f} MB"


def heading(number: int | None, title: str, out: Printer) -> None:
    out("")
    out(f"{number}. {title}" if number is not None else title)
    out("-" * 78)


def machine(info: Mapping[str, Any], out: Printer) -> None:
    heading(None, "Machine", out)
    out(f"  {info['platform']} ({info['machine']}), {info['cpu_count']} CPUs: {info['processor']}")
    out(f"  Python {info['python']} (harness), {info['cold_start_python']} (cold starts)")
    versions = ", ".join(f"{k} {v}" for k, v in info["packages"].items() if v)
    out(f"  {versions}")
    out(f"  {info['date']}; load average at start {info['load_average_at_start']}")


def cold_start(data: Mapping[str, Any], out: Printer) -> None:
    heading(1, "Cold start: process start -> first proxied response (built ProxyFunction)", out)
    _wrapped(
        f"fresh python3.13 -I -S, runtime packages only; {data['runs_per_side']} alternating "
        "runs per side after one discarded pair",
        out,
    )
    rows = [["side", "median", "min", "max", "peak RSS"]]
    for side in ("broker", "baseline"):
        s = data[side]
        rows.append(
            [
                side,
                f"{s['median_ms']:.0f} ms",
                f"{s['min_ms']:.0f} ms",
                f"{s['max_ms']:.0f} ms",
                f"{s['peak_rss_mb']:.1f} MB",
            ]
        )
    _table(rows, out)
    out(
        f"  ratio broker/baseline (medians): {data['ratio']:.2f}x   goal <= {data['goal_ratio']}x: "
        f"{_ok(data['ratio'] <= data['goal_ratio'])}"
    )
    out(
        f"  ratio of the fastest runs: {data['ratio_of_minimums']:.2f}x; median of the "
        f"{data['runs_per_side']} side-by-side pairs' ratios: {data['median_paired_ratio']:.2f}x"
    )
    out(f"  bare interpreter start (-I -S -c pass): {data['interpreter_floor_ms']:.0f} ms")
    imports = data["import"]
    out("  imports during the cold start (-X importtime, run of median total among 5):")
    _table(
        [
            ["", "broker", "baseline"],
            *[
                [label, *(f"{imports[s][key]:.0f} ms" for s in ("broker", "baseline"))]
                for label, key in (
                    ("importing the handler module", "handler_import_ms"),
                    ("imported during the first invoke", "first_invoke_imports_ms"),
                    ("total", "total_ms"),
                )
            ],
            ["modules imported", *(str(imports[s]["modules"]) for s in ("broker", "baseline"))],
        ],
        out,
        indent="    ",
    )
    for side in ("broker", "baseline"):
        top = ", ".join(f"{t['module']} {t['cumulative_ms']:.0f}" for t in imports[side]["top5"])
        _wrapped(f"top five imports, {side} (cumulative ms): {top}", out)
    for side in ("broker", "baseline"):
        parts = ", ".join(f"{k} {v:.0f}" for k, v in imports[side]["by_package_ms"].items())
        _wrapped(f"import self-time by package, {side} (ms): {parts}", out)
    steps = ", ".join(f"+{name} {ms:.0f}" for name, ms in data["import_steps_ms"].items())
    _wrapped(f"import cost step by step, each on top of the previous (ms): {steps}", out)
    diff = data["import_difference"]
    only = ", ".join(f"{k} {v:.0f}" for k, v in diff["broker_only_by_package_ms"].items())
    top = ", ".join(f"{k} {v:.1f}" for k, v in diff["broker_only_top5_self_ms"].items())
    _wrapped(
        f"the broker imports {diff['broker_only_modules']} modules the baseline does not, "
        f"{diff['broker_only_ms']:.0f} ms of self time: {only} (ms); costliest: {top} (ms)",
        out,
    )


def warm(data: Mapping[str, Any], out: Printer) -> None:
    heading(2, "Warm overhead: proxy handler time - upstream time", out)
    if data.get("skipped"):
        out(f"  skipped: {data['skipped']}")
        return
    out(f"  {data['requests']} warm requests against the simulator ({data.get('source', '')})")
    _table(
        [
            ["", "p50", "p95", "p99"],
            ["overhead", *(f"{data[k]:.3f} ms" for k in ("p50_ms", "p95_ms", "p99_ms"))],
        ],
        out,
    )
    out(
        f"  goal p50 < {data['goal_p50_ms']} ms: {_ok(data['p50_ms'] < data['goal_p50_ms'])}   "
        f"Secrets Manager calls per 1,000 warm requests: {data['secrets_calls_per_1000']}"
    )
    for key, value in data.get("details", {}).items():
        out(f"  {key}: {value}")


def fleet(data: Mapping[str, Any], out: Printer) -> None:
    heading(3, "Fleet economy: N containers, broker vs a naive client per container", out)
    _wrapped(
        f"clock: {data['clock']}; L = {data['lifetime_s']:g} s tokens, "
        f"{data['lifetimes']} lifetimes, refresher tick {data['tick_s']:g} s, "
        f"limit {data['rate_limit']}, {data['requests_per_container_per_lifetime']} "
        "requests per container per lifetime",
        out,
    )
    rows = [
        [
            "N",
            "side",
            "auth calls",
            "per L",
            "login/exch/refresh",
            "429s",
            "SM calls",
            "failed reqs",
        ]
    ]
    for row in data["rows"]:
        for side in ("broker", "naive"):
            s = row[side]
            by = s["auth_by_endpoint"]
            rows.append(
                [
                    str(row["containers"]) if side == "broker" else "",
                    side,
                    str(s["auth_calls"]),
                    f"{s['auth_calls_per_lifetime']:.2f}",
                    f"{by['rc_token']}/{by['rcx_exchange']}/{by['rcx_refresh']}",
                    str(s["rate_limited"]),
                    str(s["secrets_calls"]),
                    f"{s['requests_failed']}/{s['requests']}",
                ]
            )
    _table(rows, out)
    ratios = ", ".join(
        f"N={r['containers']}: {r['auth_ratio_naive_over_broker']}x" for r in data["rows"]
    )
    out(f"  auth calls, naive/broker: {ratios}")
    for line in data.get("notes", []):
        _wrapped(line, out)


def footprint(data: Mapping[str, Any], out: Printer) -> None:
    heading(4, "Footprint", out)
    out(
        f"  layer: {_mb(data['layer_bytes'])} unzipped ({_mb(data['layer_zipped_bytes'])} zipped);"
        f" limit {_mb(data['layer_limit_bytes'])}: "
        f"{_ok(data['layer_bytes'] < data['layer_limit_bytes'])}; vendors boto3/botocore: "
        f"{'YES' if data['layer_vendors_runtime_packages'] else 'no'}"
    )
    parts = ", ".join(f"{k} {_kb(v)}" for k, v in list(data["layer_packages_bytes"].items())[:6])
    _wrapped(f"layer by package: {parts}", out)
    limit = data["function_limit_bytes"]
    for name, size in data["function_bytes"].items():
        out(f"  {name}: {_kb(size)} (limit {_kb(limit)}: {_ok(size < limit)})")
    for side, mb in data["peak_rss_mb"].items():
        out(f"  peak RSS per container after the first invoke, {side}: {mb:.1f} MB")


def quota(data: Mapping[str, Any], out: Printer) -> None:
    heading(5, "Secrets Manager version quota (template defaults, L = 300 s)", out)
    c, m = data["computed"], data["measured"]
    _wrapped(
        f"computed: T = {c['tick_s']:g} s, f = {c['refresh_fraction']}, K = {c['ring_size']}: "
        f"P = {c['rotation_period_s']:g} s, each secret written every "
        f"{c['write_interval_per_secret_s']:g} s -> {c['versions_per_secret_per_24h']} "
        f"versions/secret/24 h (15-min floor: {_ok(c['meets_15_min_floor'])})",
        out,
    )
    v = m["versions_per_secret_per_24h"]
    extrapolated = " (extrapolated)" if m["extrapolated"] else ""
    _wrapped(
        f"measured: {m['ticks']} ticks = {m['simulated_hours']} h on a {m['clock']} clock, "
        f"real Refresher + simulator + moto; actions {m['actions']}",
        out,
    )
    _wrapped(
        f"versions written per slot {m['versions_written_per_slot']} -> per secret per 24 h"
        f"{extrapolated}: min {v['min']}, max {v['max']}, mean {v['mean']} (quota ~{m['quota']});"
        f" shortest gap between writes to one secret: "
        f"{m['min_seconds_between_writes_to_one_secret']} s",
        out,
        indent="    ",
    )


def goals(lines: Iterable[tuple[str, bool | None, str]], out: Printer) -> None:
    heading(None, "Goals (design section 5)", out)
    for name, passed, detail in lines:
        _wrapped(f"[{_ok(passed):>6}] {name}: {detail}", out)
