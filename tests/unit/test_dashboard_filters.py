"""The template's metric filters match the JSON lines the functions really log.

The lines come from the real layer code logging through Powertools in a fresh
process (dashboard_log_lines.py), so a reworded message, a renamed extra key
or a filter typo fails here, not silently in CloudWatch. The process gets the
service name the template gives a function of a stack, as the local runner
resolves it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ringcx_dev.dashboard import DashboardError
from ringcx_dev.dashboard.drift import MetricFilter, metric_filters
from ringcx_dev.dashboard.filter_pattern import FilterPattern
from ringcx_dev.local.template import LocalContext, Template, load_document
from tests.unit.dashboard_log_lines import MARKER

ROOT = Path(__file__).parents[2]
STACK = "ringcx-broker-staging"
Scenarios = dict[str, tuple[list[str], int]]  # name -> (its JSON lines, failed ring reads)


@pytest.fixture(scope="module")
def filters() -> dict[str, MetricFilter]:
    return {f.logical_id: f for f in metric_filters(load_document(ROOT / "template.yaml"))}


@pytest.fixture(scope="module")
def service() -> str:
    """POWERTOOLS_SERVICE_NAME as the template gives it to the functions of STACK."""
    template = Template.load(ROOT / "template.yaml")
    layout = template.secret_layout()
    physical = {layout.credentials: "arn:creds"} | {s: f"arn:{s}" for s in layout.ring}
    resolved = template.resolve(LocalContext(stack_name=STACK, physical_ids=physical))
    (name,) = {f.environment["POWERTOOLS_SERVICE_NAME"] for f in resolved.functions.values()}
    return name


@pytest.fixture(scope="module")
def scenarios(service: str) -> Scenarios:
    paths = [str(ROOT), str(ROOT / "layers" / "auth"), str(ROOT / "devtools")]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(paths),
        "POWERTOOLS_SERVICE_NAME": service,
        "POWERTOOLS_LOG_LEVEL": "INFO",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "tests.unit.dashboard_log_lines"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    found: Scenarios = {}
    lines: list[str] = []
    for line in proc.stdout.splitlines():
        if line.startswith(MARKER):
            name, failed_reads = line.removeprefix(MARKER).split()
            found[name], lines = (lines, int(failed_reads)), []
        elif line.startswith("{"):
            lines.append(line)
    return found


@pytest.fixture(scope="module")
def log_lines(scenarios: Scenarios) -> list[str]:
    return [line for lines, _ in scenarios.values() for line in lines]


def matched(f: MetricFilter, lines: list[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in lines if f.pattern.matches(line)]


def test_dashboard_functions_log_with_the_stack_name_as_service(service: str) -> None:
    # The dashboard and alarms look for service=${AWS::StackName}; the filters
    # publish the line's own service: both are the stack's name
    assert service == STACK


def test_dashboard_filters_each_match_a_line_the_code_logs(
    filters: dict[str, MetricFilter], log_lines: list[str], service: str
) -> None:
    # Given the lines the layer wrote for the events the filters count
    for f in filters.values():
        # Then every filter counts at least one, and each carries the dimension's value
        found = matched(f, log_lines)
        assert found, f"{f.logical_id} matches none of the logged lines"
        assert {line["service"] for line in found} == {service}


@pytest.mark.parametrize(
    ("logical_id", "errors"),
    [
        # the 503 and the crash, not the 429s or the 400
        ("ExchangeFailuresFilter", ["SecretStoreUnavailable", "RuntimeError"]),
        # every 429: the cooldown and the write budget
        ("ExchangeRateLimitedFilter", ["RateLimited", "WriteBudgetExceeded"]),
        # the write budget's refusal only, not the cooldown's 429
        ("ExchangeWriteBudgetRefusalsFilter", ["WriteBudgetExceeded"]),
    ],
)
def test_dashboard_exchange_filters_tell_failures_from_refusals(
    filters: dict[str, MetricFilter],
    scenarios: Scenarios,
    logical_id: str,
    errors: list[str],
) -> None:
    # Given the exchange's failure lines (a 503, two 429s, a 400, a crash)
    lines, _ = scenarios["exchange_failures"]

    # Then each filter counts exactly its own
    assert [line["error"] for line in matched(filters[logical_id], lines)] == errors


def test_dashboard_budget_refusals_of_both_writers_reach_the_alarm(
    filters: dict[str, MetricFilter],
) -> None:
    # The refresher emits WriteBudgetRefusals itself; the exchange's filter
    # publishes the same metric, so the alarm's one metric sums both
    refusals = filters["ExchangeWriteBudgetRefusalsFilter"]
    alarm = load_document(ROOT / "template.yaml")["Resources"]["WriteBudgetAlarm"]["Properties"]
    assert (refusals.function, refusals.namespace, refusals.metric) == (
        "ExchangeFunction",
        alarm["Namespace"],
        alarm["MetricName"],
    )


def test_dashboard_ring_read_filter_counts_every_unreadable_ring_line(
    filters: dict[str, MetricFilter], log_lines: list[str]
) -> None:
    found = {line["message"] for line in matched(filters["ProxyRingReadFailuresFilter"], log_lines)}
    assert found == {
        "Token ring unreadable; keeping the cached token",
        "Token ring unreadable during a health check",
        "Token ring unreadable after a refresh",
        "Proxy request failed",
    }


@pytest.mark.parametrize(
    "scenario",
    [
        "proxy_short_of_a_fresh_token",  # health check, renewal, read after a refresh
        "proxy_cold_with_an_unreadable_ring",  # nothing to fall back on: 503
        "proxy_unauthorized_with_an_unreadable_ring",  # looking for a newer token after a 401
        "proxy_unreadable_ring_while_the_refresher_is_throttled",  # each re-read
    ],
)
def test_dashboard_ring_read_filter_counts_each_failed_read_once(
    filters: dict[str, MetricFilter], scenarios: Scenarios, scenario: str
) -> None:
    # Given a proxy whose ring reads failed some number of times
    lines, failed_reads = scenarios[scenario]
    assert failed_reads > 0

    # Then ProxyRingReadFailures counts that many
    assert len(matched(filters["ProxyRingReadFailuresFilter"], lines)) == failed_reads


@pytest.mark.parametrize(
    ("pattern", "line", "expected"),
    [
        ('{ $.message = "A" }', '{"message": "A"}', True),
        ('{ $.message = "A" }', '{"message": "AB"}', False),
        ('{ $.message = "A" && $.status >= 500 }', '{"message": "A", "status": 503}', True),
        ('{ $.message = "A" && $.status >= 500 }', '{"message": "A", "status": 429}', False),
        ('{ $.message = "A" && $.status >= 500 }', '{"message": "A", "status": "503"}', False),
        ("{ $.status = 429 }", '{"status": 429}', True),
        ('{ ($.message = "A") || ($.message = "B") }', '{"message": "B"}', True),
        ('{ $.message = "A" || $.message = "B" && $.x = 1 }', '{"message": "B"}', False),
        ('{ $.message = "A" || $.message = "B" && $.x = 1 }', '{"message": "A"}', True),
        ('{ $.a.b != "c" }', '{"a": {"b": "d"}}', True),
        ('{ $.message = "A" }', "START RequestId: 1 Version: $LATEST", False),
    ],
)
def test_dashboard_filter_pattern_matches_as_cloudwatch_logs(
    pattern: str, line: str, expected: bool
) -> None:
    assert FilterPattern.parse(pattern).matches(line) is expected


@pytest.mark.parametrize(
    "pattern",
    [
        '$.message = "A"',  # not a JSON pattern: no braces
        '{ $.message = "Token*" }',  # wildcards are not understood
        '{ $.message = "A" && }',
        '{ ($.message = "A" }',
        "{ $.message IS NULL }",
    ],
)
def test_dashboard_filter_pattern_it_cannot_read_raises(pattern: str) -> None:
    with pytest.raises(DashboardError):
        FilterPattern.parse(pattern)


def test_dashboard_filter_pattern_lists_the_messages_it_needs() -> None:
    pattern = FilterPattern.parse('{ ($.message = "A" && $.status >= 500) || $.message = "B" }')
    assert pattern.equalities("message") == ("A", "B")
