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


def _mode_title(data: Mapping[str, Any]) -> str:
    latency = data["latency"]
    if not any(latency.values()):
        return "on loopback (no latency injected)"
    return (
        f"at injected latency: Secrets Manager {latency['secrets_manager_ms']:g} ms, "
        f"Lambda Invoke {latency['lambda_invoke_ms']:g} ms, RingCX {latency['ringcx_ms']:g} ms "
        "per round trip"
    )


def _trip_cell(side: Mapping[str, Any], key: str) -> str:
    low, high = side[f"{key}_range"]
    return str(high) if low == high else f"{low}-{high}"


def cold_start(data: Mapping[str, Any], out: Printer) -> None:
    heading(1, "Cold start: process start -> first proxied response (built ProxyFunction)", out)
    runs = next(iter(data["modes"].values()))["runs_per_side"] if data["modes"] else 0
    _wrapped(
        f"fresh python3.13 -I -S, runtime packages only; {runs} alternating runs per side "
        "after one discarded pair, per mode; round trips counted at the FaultProxies "
        "(a range when runs differed)",
        out,
    )
    for mode in data["modes"].values():
        _cold_mode(mode, data, out)
    out(f"  bare interpreter start (-I -S -c pass): {data['interpreter_floor_ms']:.0f} ms")
    _cold_imports(data, out)


def _cold_mode(mode: Mapping[str, Any], data: Mapping[str, Any], out: Printer) -> None:
    _wrapped(f"{_mode_title(mode)}; round trips counted {mode['round_trips_counted']}:", out)
    rows = [["side", "median", "min", "max", "SM trips", "Invoke trips", "RingCX", "peak RSS"]]
    for side in ("broker", "baseline"):
        s = mode[side]
        rows.append(
            [
                side,
                f"{s['median_ms']:.0f} ms",
                f"{s['min_ms']:.0f} ms",
                f"{s['max_ms']:.0f} ms",
                _trip_cell(s, "secrets_manager_round_trips"),
                _trip_cell(s, "lambda_invoke_round_trips"),
                str(s["round_trips"]["ringcx"]),
                f"{s['peak_rss_mb']:.1f} MB",
            ]
        )
    _table(rows, out, indent="    ")
    for side in ("broker", "baseline"):
        trips = mode[side]["round_trips"]
        ops = ", ".join(f"{k} {v}" for k, v in trips["secrets_manager_by_operation"].items())
        errors = mode[side]["proxied_errors"]
        _wrapped(
            f"{side}: Secrets Manager calls {ops or 'none'}"
            + (f"; {errors} proxied calls answered with an error" if errors else ""),
            out,
            indent="    ",
        )
    ok = mode["ratio"] is not None and mode["ratio"] <= data["goal_ratio"]
    out(
        f"    ratio broker/baseline (medians): {mode['ratio']:.2f}x   goal <= "
        f"{data['goal_ratio']}x: {_ok(ok)}"
    )
    out(
        f"    ratio of the fastest runs: {mode['ratio_of_minimums']:.2f}x; median of the "
        f"{mode['runs_per_side']} side-by-side pairs' ratios: {mode['median_paired_ratio']:.2f}x"
    )


def _cold_imports(data: Mapping[str, Any], out: Printer) -> None:
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
    options = ", ".join(
        f"{name} {ms:.0f}" for name, ms in data.get("routing_options_ms", {}).items()
    )
    if options:
        _wrapped(f"routing the three paths, import cost of each way (ms): {options}", out)
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
    for mode in data["modes"].values():
        out(f"  {_mode_title(mode)}:")
        if mode.get("skipped"):
            out(f"    skipped: {mode['skipped']}")
            continue
        out(f"    {mode['requests']} warm requests against the simulator ({mode['source']})")
        _table(
            [
                ["", "p50", "p95", "p99"],
                ["overhead", *(f"{mode[k]:.3f} ms" for k in ("p50_ms", "p95_ms", "p99_ms"))],
            ],
            out,
            indent="    ",
        )
        out(
            f"    goal p50 < {mode['goal_p50_ms']} ms: "
            f"{_ok(mode['p50_ms'] < mode['goal_p50_ms'])}   Secrets Manager calls per 1,000 "
            f"warm requests: {mode['secrets_calls_per_1000']}"
        )
        for key, value in mode.get("details", {}).items():
            out(f"    {key}: {value}")


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
    if slow := data.get("at_latency"):
        _fleet_at_latency(slow, data.get("at_latency_counts_match_loopback", {}), out)


def _fleet_at_latency(data: Mapping[str, Any], matches: Mapping[str, bool], out: Printer) -> None:
    out(f"  per request, {_mode_title(data)}:")
    rows = [
        ["N", "side", "request", "count", "median", "p95", "SM", "refr. SM", "Invoke", "RingCX"]
    ]
    for row in data["rows"]:
        for side in ("broker", "naive"):
            for i, (kind, k) in enumerate(row[side].get("per_request", {}).items()):
                rows.append(
                    [
                        str(row["containers"]) if side == "broker" and i == 0 else "",
                        side if i == 0 else "",
                        kind,
                        str(k["requests"]),
                        f"{k['median_ms']:.1f} ms",
                        f"{k['p95_ms']:.1f} ms",
                        *(
                            _span(k[key])
                            for key in (
                                "secrets_round_trips",
                                "refresher_secrets_round_trips",
                                "invoke_round_trips",
                                "ringcx_round_trips",
                            )
                        ),
                    ]
                )
    _table(rows, out, indent="    ")
    for row in data["rows"]:
        added = {side: row[side].get("cold_request_added_ms") for side in ("broker", "naive")}
        same = matches.get(str(row["containers"]))
        _wrapped(
            f"N={row['containers']}: a cold request adds {_ms(added['broker'])} over a warm one "
            f"for the broker, {_ms(added['naive'])} for the naive client; auth and Secrets "
            f"Manager counts equal to the loopback run's: "
            f"{'n/a' if same is None else 'yes' if same else 'NO'}",
            out,
            indent="    ",
        )
    _wrapped(
        "latency is real time the virtual clock does not see: it prices each request, but "
        "moves no token expiry, tick or rate window, and makes no requests overlap.",
        out,
        indent="    ",
    )


def _span(pair: Sequence[int]) -> str:
    return str(pair[0]) if pair[0] == pair[1] else f"{pair[0]}-{pair[1]}"


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f} ms"


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


def soak(data: Mapping[str, Any], out: Printer) -> None:
    from ringcx_dev.soak.report import summary

    heading(6, "Chaos soak (virtual time, every fault; python3 tasks.py soak)", out)
    for line in summary(dict(data)).splitlines():
        out("  " + line)


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
    heading(None, "Goals (the performance budget)", out)
    for name, passed, detail in lines:
        _wrapped(f"[{_ok(passed):>6}] {name}: {detail}", out)
