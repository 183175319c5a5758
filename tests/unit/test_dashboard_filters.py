"""The template's metric filters match the JSON lines the functions really log.

The lines come from the real layer code logging through Powertools in a fresh
process (dashboard_log_lines.py), so a reworded message, a renamed extra key
or a filter typo fails here, not silently in CloudWatch.
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
from ringcx_dev.local.template import load_document

ROOT = Path(__file__).parents[2]
SERVICE = "ringcx-broker"


@pytest.fixture(scope="module")
def filters() -> dict[str, MetricFilter]:
    return {f.logical_id: f for f in metric_filters(load_document(ROOT / "template.yaml"))}


@pytest.fixture(scope="module")
def log_lines() -> list[str]:
    paths = [str(ROOT), str(ROOT / "layers" / "auth"), str(ROOT / "devtools")]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(paths),
        "POWERTOOLS_SERVICE_NAME": SERVICE,
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
    return [line for line in proc.stdout.splitlines() if line.startswith("{")]


def matched(f: MetricFilter, lines: list[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in lines if f.pattern.matches(line)]


def test_dashboard_filters_each_match_a_line_the_code_logs(
    filters: dict[str, MetricFilter], log_lines: list[str]
) -> None:
    # Given the lines the layer wrote for the events the filters count
    for f in filters.values():
        # Then every filter counts at least one, and each carries the dimension's value
        found = matched(f, log_lines)
        assert found, f"{f.logical_id} matches none of the logged lines"
        assert {line["service"] for line in found} == {SERVICE}


@pytest.mark.parametrize(
    ("logical_id", "statuses"),
    [
        ("ExchangeFailuresFilter", [503, None]),  # the 503 and the crash, not the 429 or 400
        ("ExchangeRateLimitedFilter", [429]),
    ],
)
def test_dashboard_exchange_filters_tell_failures_from_refusals(
    filters: dict[str, MetricFilter],
    log_lines: list[str],
    logical_id: str,
    statuses: list[int | None],
) -> None:
    assert [line.get("status") for line in matched(filters[logical_id], log_lines)] == statuses


def test_dashboard_ring_read_filter_counts_every_unreadable_ring_line(
    filters: dict[str, MetricFilter], log_lines: list[str]
) -> None:
    found = {line["message"] for line in matched(filters["ProxyRingReadFailuresFilter"], log_lines)}
    assert found == {
        "Token ring unreadable; keeping the cached token",
        "Token ring unreadable during a health check",
        "Token ring unreadable after a refresh",
    }


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
