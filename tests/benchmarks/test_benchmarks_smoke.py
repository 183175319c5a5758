"""The benchmark scripts still run and report sane figures.

Scripts rot silently when nobody runs them, so this runs the cheap sections
with tiny parameters. It asserts shapes and orderings that must hold on any
machine (the broker never spends more auth calls than the naive fleet, never
gets rate-limited, writes the ring within its quota), never timings.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from benchmarks import run_all
from benchmarks.cold_start import parse_importtime
from benchmarks.stats import percentile

pytestmark = pytest.mark.slow

IMPORTTIME_SAMPLE = """\
import time: self [us] | cumulative | imported package
import time:       120 |        120 |     urllib3.util
import time:       300 |        420 |   urllib3
import time:        50 |        470 | app
"""


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    output = tmp_path_factory.mktemp("bench") / "results.json"
    printed: list[str] = []
    run_all.main(
        [
            "--sections",
            "warm,fleet,quota",
            "--warm-requests",
            "50",
            "--fleet-sizes",
            "1,4",
            "--fleet-lifetimes",
            "3",
            "--fleet-rate",
            "8",
            "--quota-ticks",
            "30",
            "--output",
            str(output),
        ],
        out=printed.append,
    )
    assert any("Fleet economy" in line for line in printed)
    document: dict[str, Any] = json.loads(Path(output).read_text())
    return document


def test_run_all_tiny_run_writes_machine_goals_and_sections(results: dict[str, Any]) -> None:
    # Then the document names the machine and holds the sections asked for
    assert {"machine", "parameters", "warm", "fleet", "quota", "goals", "total_seconds"} <= set(
        results
    )
    assert results["machine"]["cpu_count"] >= 1
    assert "cold" not in results
    assert all({"goal", "met", "detail"} <= set(goal) for goal in results["goals"])


def test_warm_section_parses_the_proxy_benchmark_and_sees_no_secret_reads(
    results: dict[str, Any],
) -> None:
    warm = results["warm"]
    # Then proxy_overhead.py's report was understood: ordered percentiles, no SM reads
    assert 0 <= warm["p50_ms"] <= warm["p95_ms"] <= warm["p99_ms"]
    assert warm["secrets_calls_per_1000"] == 0
    assert warm["requests"] == 50


def test_fleet_broker_spends_no_more_auth_calls_than_naive_and_is_flat_in_n(
    results: dict[str, Any],
) -> None:
    rows = {row["containers"]: row for row in results["fleet"]["rows"]}
    assert set(rows) == {1, 4}
    small, large = rows[1]["broker"], rows[4]["broker"]
    # Then the broker's auth cost does not grow with the fleet
    assert small["auth_calls"] == large["auth_calls"]
    # and with more than one container the naive fleet spends more
    assert large["auth_calls_per_lifetime"] <= rows[4]["naive"]["auth_calls_per_lifetime"]
    # and the broker is never rate-limited and serves every request
    for row in rows.values():
        broker = row["broker"]
        assert broker["rate_limited"] == 0
        assert broker["requests_failed"] == 0
        assert broker["requests_ok"] == broker["requests"] > 0
        assert broker["secrets_writes"] == broker["generations"]


def test_quota_measured_versions_match_rotations_and_stay_under_quota(
    results: dict[str, Any],
) -> None:
    computed, measured = results["quota"]["computed"], results["quota"]["measured"]
    # Then the ring's writes are exactly the rotations plus the bootstrap login
    actions = measured["actions"]
    assert sum(measured["versions_written_per_slot"]) == actions.get("rotated", 0) + actions.get(
        "relogin", 0
    )
    assert computed["ring_size"] == len(measured["versions_written_per_slot"])
    assert computed["meets_15_min_floor"] is True
    assert measured["min_seconds_between_writes_to_one_secret"] >= 900
    assert computed["versions_per_secret_per_24h"] < measured["quota"]


def test_parse_importtime_sample_gives_depths_and_times() -> None:
    lines = parse_importtime(IMPORTTIME_SAMPLE)
    assert [(x.name, x.depth, x.cumulative_us) for x in lines] == [
        ("urllib3.util", 2, 120),
        ("urllib3", 1, 420),
        ("app", 0, 470),
    ]


@pytest.mark.parametrize(("p", "expected"), [(50, 2.0), (95, 4.0), (100, 4.0), (1, 1.0)])
def test_percentile_nearest_rank_returns_a_sample(p: float, expected: float) -> None:
    assert percentile([4.0, 1.0, 3.0, 2.0], p) == expected
