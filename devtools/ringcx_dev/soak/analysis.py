"""From what the soak recorded to its figures and verdicts.

Every figure is computed from records the run kept as it went (the
simulator's call log, the shadow ring, the metrics, the log lines, each
proxied request's outcome) and reported in virtual seconds from the start.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any, Final

from ringcx_dev.simulator import max_calls_in_window
from ringcx_dev.simulator.calllog import AUTH_ENDPOINTS

from .chain import LostStretch, explain_relogin, relogins
from .figures import Run, densest, longest_run
from .logscan import LogCapture, TokenScanner
from .schedule import DAY, Schedule
from .simstate import is_stack
from .world import Outcome, RequestOutcome, World

AUTH_LIMIT: Final = 5  # calls per endpoint per 60 s (RingCentral and RingCX)
VERSION_QUOTA: Final = 100  # Secrets Manager versions per secret younger than 24 h
BROKER_RUN_LIMIT: Final = 120.0
"""Seconds a broker-caused outage may last: two schedule ticks (a failed tick
and the one after it). Past that the broker had a chance it did not take."""
CONTEXT_BEFORE: Final = 900.0  # seconds of faults and log lines shown before a finding
LOG_LINES_SHOWN: Final = 25
RELOGIN_METRIC_PREFIX: Final = "Relogin"
NOT_A_CAUSE: Final = frozenset({"Relogins", "ReloginFailures"})


def analyse(
    world: World,
    schedule: Schedule,
    logs: LogCapture,
    lost: Sequence[LostStretch],
    origin: float,
    wall: float,
    events: int,
) -> dict[str, Any]:
    context = _Context(world, schedule, logs, origin)
    relogin_figures, chain_breaks = _relogins(world, context)
    report: dict[str, Any] = {
        "soak": _soak(world, schedule, wall, events),
        "chain_breaks": chain_breaks,
        "relogins": relogin_figures,
        "lost_refresh_tokens": _lost(lost, context),
        "requests": _requests(world.requests, context, world.options.proxies),
        "auth_calls": _auth_calls(world, context),
        "versions": _versions(world),
        "tokens": _tokens(world, logs),
        "faults": _faults(world, schedule),
        "broker": _broker(world),
    }
    report["verdicts"] = _verdicts(report)
    report["schedule"] = [e.to_json() for e in schedule.episodes]
    return report


class _Context:
    """What happened shortly before a finding: the faults and the broker's log lines."""

    def __init__(self, world: World, schedule: Schedule, logs: LogCapture, origin: float):
        self._world = world
        self._episodes = schedule.episodes
        self._logs = logs
        self.origin = origin

    def active(self, first: float, last: float) -> list[str]:
        """Labels of the episodes that ran between ``first`` and ``last`` or ended
        shortly before ``first``."""
        since, until = first - self.origin, last - self.origin
        return [
            f"{e.label()}@{e.start:.0f}"
            for e in self._episodes
            if e.start <= until and e.end >= since - CONTEXT_BEFORE
        ]

    def around(self, at: float) -> dict[str, Any]:
        since = at - self.origin - CONTEXT_BEFORE
        faults = [
            e.to_json() for e in self._episodes if e.start <= at - self.origin and e.end >= since
        ]
        lines = [
            {"at": round(t - self.origin, 3), **_brief(line)}
            for t, line in self._logs.lines
            if at - CONTEXT_BEFORE <= t <= at
        ]
        return {"faults": faults, "log": lines[-LOG_LINES_SHOWN:]}


def _brief(line: str) -> dict[str, Any]:
    record: dict[str, Any] = json.loads(line)
    for noise in ("timestamp", "service", "location", "xray_trace_id", "sampling_rate"):
        record.pop(noise, None)
    return record


def _soak(world: World, schedule: Schedule, wall: float, events: int) -> dict[str, Any]:
    options, timing = world.options, world.settings.timing
    return {
        "seed": options.seed,
        "days": options.days,
        "virtual_seconds": schedule.duration,
        "wall_seconds": round(wall, 1),
        "events": events,
        "proxies": options.proxies,
        "requests_per_minute_per_proxy": options.requests_per_minute,
        "lifetime_s": options.lifetime,
        "tick_s": timing.tick_seconds,
        "refresh_fraction": timing.refresh_fraction,
        "leeway_fraction": timing.leeway_fraction,
        "ring_size": world.cadence.ring_size,
    }


# -- the chain -------------------------------------------------------------------------


def _relogins(world: World, context: _Context) -> tuple[dict[str, Any], dict[str, Any]]:
    """Re-logins by cause and by explanation, and the chain breaks among them."""
    reasons = [
        (at, name.removeprefix(RELOGIN_METRIC_PREFIX))
        for at, name, _ in world.metrics.records
        if name.startswith(RELOGIN_METRIC_PREFIX) and name not in NOT_A_CAUSE
    ]
    by_cause: Counter[str] = Counter()
    by_explanation: Counter[str] = Counter()
    breaks = []
    for write in relogins(world):
        reason = _reason_for(write.at, reasons)
        by_cause[reason or "unmetered (stored by a later run)"] += 1
        explanation = explain_relogin(world, write, reason)
        by_explanation[explanation or "CHAIN BREAK"] += 1
        if explanation is None:
            assert write.token is not None
            abandoned = write.replaced.token if write.replaced else None
            breaks.append(
                {
                    "at": round(write.at - context.origin, 3),
                    "generation": write.token.generation,
                    "cause": reason,
                    "abandoned_generation": abandoned.generation if abandoned else None,
                    **context.around(write.at),
                }
            )
    figures = {
        "total": sum(by_cause.values()),
        "by_cause": dict(by_cause),
        "by_explanation": dict(by_explanation),
        "failures": world.metrics.totals().get("ReloginFailures", 0),
    }
    return figures, {"count": len(breaks), "events": breaks}


def _reason_for(at: float, reasons: list[tuple[float, str]]) -> str | None:
    """The ``Relogin<Reason>`` metric emitted with this re-login's write (same
    run, same virtual instant); None when the write came from a later run."""
    for index, (emitted, reason) in enumerate(reasons):
        if abs(emitted - at) < 1.0:
            del reasons[index]
            return reason
    return None


def _lost(stretches: Sequence[LostStretch], context: _Context) -> dict[str, Any]:
    unexplained = [s for s in stretches if s.explanation is None]
    explained = Counter(s.explanation for s in stretches if s.explanation is not None)
    return {
        "count": len(unexplained),
        "events": [s.to_json(context.origin) | context.around(s.since) for s in unexplained],
        "explained": dict(explained),
    }


# -- requests ----------------------------------------------------------------------------


def _requests(
    outcomes: Sequence[RequestOutcome], context: _Context, proxies: int
) -> dict[str, Any]:
    broker = [o for o in outcomes if o.outcome is Outcome.BROKER]
    origin = context.origin
    longest_broker = longest_run((o.at, o.outcome is Outcome.BROKER) for o in outcomes)
    return {
        "total": len(outcomes),
        "by_outcome": dict(Counter(str(o.outcome) for o in outcomes)),
        "broker_failures_by_status": dict(Counter(str(o.status) for o in broker)),
        "upstream_failures_by_status": dict(
            Counter(str(o.status) for o in outcomes if o.outcome is Outcome.UPSTREAM)
        ),
        "longest_failure_run": _runs(outcomes, origin, proxies, lambda o: o.failed),
        "longest_broker_run": _runs(
            outcomes, origin, proxies, lambda o: o.outcome is Outcome.BROKER
        ),
        "longest_upstream_run": _runs(
            outcomes, origin, proxies, lambda o: o.outcome is Outcome.UPSTREAM
        ),
        "longest_broker_run_context": (
            context.around(longest_broker.last) if longest_broker is not None else None
        ),
        "broker_failure_stretches": _stretches(outcomes, context),
    }


def _stretches(outcomes: Sequence[RequestOutcome], context: _Context) -> list[dict[str, Any]]:
    """Each stretch of broker-caused failures (fleet-wide), with the faults then active."""
    stretches: list[list[RequestOutcome]] = []
    current: list[RequestOutcome] = []
    for outcome in outcomes:
        if outcome.outcome is Outcome.BROKER:
            current.append(outcome)
        elif current:
            stretches.append(current)
            current = []
    if current:
        stretches.append(current)
    return [
        {
            "from": round(s[0].at - context.origin, 1),
            "seconds": round(s[-1].at - s[0].at, 1),
            "requests": len(s),
            "statuses": dict(Counter(str(o.status) for o in s)),
            "faults": context.active(s[0].at, s[-1].at),
        }
        for s in stretches
    ]


def _runs(
    outcomes: Sequence[RequestOutcome], origin: float, proxies: int, bad: Any
) -> dict[str, Any]:
    def run(selected: Iterable[RequestOutcome]) -> Run | None:
        return longest_run((o.at, bool(bad(o))) for o in selected)

    fleet = run(outcomes)
    per_container = [run(o for o in outcomes if o.proxy == i) for i in range(proxies)]
    return {
        "fleet": _run_json(fleet, origin),
        "per_container": [_run_json(r, origin) for r in per_container],
    }


def _run_json(run: Run | None, origin: float) -> dict[str, Any]:
    return run.to_json(origin) if run is not None else {"count": 0, "seconds": 0.0}


# -- limits ------------------------------------------------------------------------------


def _auth_calls(world: World, context: _Context) -> dict[str, Any]:
    calls = world.sim.auth_calls()
    origin = context.origin
    stack = [c for c in world.simstate.calls if c.endpoint in AUTH_ENDPOINTS and is_stack(c.actor)]
    over = []
    for endpoint in AUTH_ENDPOINTS:
        count, since = densest((c.at for c in calls if c.endpoint == endpoint), 60.0)
        if count > AUTH_LIMIT and since is not None:
            window = [
                c
                for c in world.simstate.calls
                if c.endpoint == endpoint and since <= c.at < since + 60.0
            ]
            over.append(
                {
                    "endpoint": endpoint,
                    "calls": count,
                    "from": round(since - origin, 3),
                    "in_window": [
                        {
                            "at": round(c.at - origin, 3),
                            "actor": c.actor,
                            "fault": c.window,
                        }
                        for c in window
                    ],
                    **context.around(since + 60.0),
                }
            )
    return {
        "max_in_60s": {e: max_calls_in_window(calls, e, 60.0) for e in AUTH_ENDPOINTS},
        "max_in_60s_by_the_stack": {
            e: densest((c.at for c in stack if c.endpoint == e), 60.0)[0] for e in AUTH_ENDPOINTS
        },
        "calls": dict(Counter(c.endpoint for c in calls)),
        "calls_during_a_penalty": len(world.simstate.breaches),
        "penalty_breaches": [
            b.to_json() | {"at": round(b.at - origin, 3)} for b in world.simstate.breaches[:20]
        ],
        "over_the_limit": over,
    }


def _versions(world: World) -> dict[str, Any]:
    per_slot = {
        f"slot-{index}": densest(times, DAY)[0]
        for index, times in enumerate(world.watch.times_by_slot().values())
    }
    return {
        "max_per_secret_24h": max(per_slot.values(), default=0),
        "per_slot_24h": per_slot,
        "written": len(world.watch.writes),
        "written_by": dict(Counter(w.actor.split("#", 1)[0] for w in world.watch.writes)),
    }


def _tokens(world: World, logs: LogCapture) -> dict[str, Any]:
    config = world.sim_config
    scanner = TokenScanner([*world.simstate.issued, config.client_secret, config.jwt])
    in_logs: set[str] = set()
    lines_with_tokens = 0
    for _, line in logs.lines:
        found = scanner.find(line)
        in_logs |= found
        lines_with_tokens += bool(found)
    in_replies: set[str] = set()
    for reply in world.replies:
        in_replies |= scanner.find(reply)
    return {
        "known": len(scanner),
        "log_lines": len(logs.lines),
        "in_logs": len(in_logs),
        "log_lines_with_tokens": lines_with_tokens,
        "replies_scanned": len(world.replies),
        "in_replies": len(in_replies),
    }


# -- what happened -------------------------------------------------------------------------


def _faults(world: World, schedule: Schedule) -> dict[str, Any]:
    ringcx: Counter[str] = Counter()
    for label, hits in world.simstate.window_hits.items():
        ringcx[label.split(":", 1)[1]] += hits
    store = Counter(
        f"{r.operation} {r.fault}" for r in world.store.records() if r.fault is not None
    )
    return {
        "scheduled": dict(sorted(schedule.kinds().items())),
        "unplaced": [str(k) for k in schedule.unplaced],
        "calls_failed_by_ringcx_faults": dict(sorted(ringcx.items())),
        "calls_failed_by_secrets_manager_faults": dict(sorted(store.items())),
    }


def _broker(world: World) -> dict[str, Any]:
    totals = world.metrics.totals()
    return {
        "rotations": totals.get("Refreshes", 0),
        "forced_rotations": totals.get("ForcedRotations", 0),
        "declined_forced_rotations": totals.get("ForcedRotationsDeclined", 0),
        "relogin_failures": totals.get("ReloginFailures", 0),
        "refresher_containers": world.refreshers,
        "refresher_replies": dict(world.actions),
        "failed_ticks": dict(world.failed_ticks.most_common()),
        "operator_exchanges": dict(world.operator),
        "spent_refresh_tokens_presented": world.sim.state.spent_refresh_reuse,
        "metrics": dict(sorted(totals.items())),
    }


def _verdicts(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target as "value <= most"."""
    auth = report["auth_calls"]
    checks: list[tuple[str, float, float]] = [
        ("chain breaks", report["chain_breaks"]["count"], 0),
        ("lost refresh tokens", report["lost_refresh_tokens"]["count"], 0),
        ("auth calls to one endpoint in any 60 s", max(auth["max_in_60s"].values()), AUTH_LIMIT),
        (
            "versions written to one secret in any 24 h",
            report["versions"]["max_per_secret_24h"],
            VERSION_QUOTA - 1,
        ),
        ("tokens in logs", report["tokens"]["in_logs"], 0),
        ("auth calls sent during a penalty", auth["calls_during_a_penalty"], 0),
        (
            "longest broker-caused failure run, seconds",
            report["requests"]["longest_broker_run"]["fleet"]["seconds"],
            BROKER_RUN_LIMIT,
        ),
    ]
    return [
        {"target": target, "value": value, "at_most": most, "pass": value <= most}
        for target, value, most in checks
    ]
