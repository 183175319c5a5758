"""The soak's figures as text for a terminal."""

from __future__ import annotations

from typing import Any


def summary(report: dict[str, Any]) -> str:
    soak = report["soak"]
    lines = [
        f"Soak: {soak['days']:g} virtual days, seed {soak['seed']}, {soak['proxies']} proxies "
        f"at {soak['requests_per_minute_per_proxy']:g} req/min each",
        f"  L = {soak['lifetime_s']:g} s, T = {soak['tick_s']:g} s, "
        f"f = {soak['refresh_fraction']:g}, leeway {soak['leeway_fraction']:g}, "
        f"ring of {soak['ring_size']}; {soak['events']} events in "
        f"{soak['wall_seconds']:g} s of wall time",
        "",
    ]
    relogins = report["relogins"]
    lines.append(f"Re-logins: {relogins['total']} (failed attempts: {relogins['failures']})")
    lines += _counts("  by cause", relogins["by_cause"])
    lines += _counts("  explained by", relogins["by_explanation"])
    requests = report["requests"]
    lines.append(f"Proxied requests: {requests['total']}")
    lines += _counts("  outcomes", requests["by_outcome"])
    lines += _counts("  broker-caused, by status", requests["broker_failures_by_status"])
    lines += _counts("  upstream errors, by status", requests["upstream_failures_by_status"])
    for name in ("longest_failure_run", "longest_broker_run", "longest_upstream_run"):
        runs = requests[name]
        worst = max(runs["per_container"], key=lambda r: r["count"])
        lines.append(
            f"  {name.replace('_', ' ')}: fleet {_run(runs['fleet'])}; "
            f"worst container {_run(worst)}"
        )
    auth = report["auth_calls"]
    lines.append(
        f"Auth calls in any 60 s: {auth['max_in_60s']} (stack: {auth['max_in_60s_by_the_stack']})"
    )
    lines.append(f"  calls during a penalty: {auth['calls_during_a_penalty']}")
    versions = report["versions"]
    lines.append(
        f"Versions per secret in any 24 h: max {versions['max_per_secret_24h']} "
        f"{versions['per_slot_24h']}"
    )
    tokens = report["tokens"]
    lines.append(
        f"Tokens in logs: {tokens['in_logs']} ({tokens['known']} known secrets, "
        f"{tokens['log_lines']} log lines); in replies: {tokens['in_replies']}"
    )
    broker = report["broker"]
    lines.append(
        f"Rotations {broker['rotations']}, forced {broker['forced_rotations']}, "
        f"declined {broker['declined_forced_rotations']}, "
        f"refresher containers {broker['refresher_containers']}"
    )
    lines += _counts("Faults scheduled", report["faults"]["scheduled"])
    lines.append("")
    for verdict in report["verdicts"]:
        mark = "PASS" if verdict["pass"] else "FAIL"
        lines.append(
            f"  {mark}  {verdict['target']}: {verdict['value']:g} (at most {verdict['at_most']:g})"
        )
    return "\n".join(lines)


def _counts(title: str, counts: dict[str, Any]) -> list[str]:
    if not counts:
        return [f"{title}: none"]
    return [f"{title}: " + ", ".join(f"{k} {v}" for k, v in counts.items())]


def _run(run: dict[str, Any]) -> str:
    if not run["count"]:
        return "none"
    return f"{run['count']} requests over {run['seconds']:g} s (from t = {run['from']:g} s)"
