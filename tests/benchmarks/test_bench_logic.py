"""The benchmark's own logic on hand-made figures: arguments, modes, goals,
per-request tables. Fast and exact; the smoke test runs the real thing."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from benchmarks import report, run_all
from benchmarks.cold_start import round_trip_figures
from benchmarks.fleet import COLD, WARM, RequestCost, counts_match, per_request, request_kind
from benchmarks.latency import LOOPBACK, Latency, RoundTrips
from benchmarks.sections import Runner, judge


def test_parse_args_defaults_are_both_modes_at_aws_like_latency() -> None:
    args = run_all.parse_args([])
    assert args.modes == ["latency", "loopback"]
    assert (args.sm_latency, args.invoke_latency, args.ringcx_latency) == (20.0, 30.0, 100.0)
    assert args.fleet_latency_sizes == (5,)
    assert args.cold_runs >= 15


def test_parse_args_quick_keeps_only_the_headline_mode() -> None:
    args = run_all.parse_args(["--quick", "--modes", "loopback"])
    assert args.modes == ["latency"]
    assert args.fleet_latency_sizes == ()
    assert args.fleet_sizes == (1, 5, 20)


def test_parse_args_modes_are_put_in_the_documented_order() -> None:
    assert run_all.parse_args(["--modes", "loopback,latency"]).modes == ["latency", "loopback"]


@pytest.mark.parametrize(
    "argv",
    [["--modes", "fast"], ["--modes", ","], ["--sm-latency", "-1"], ["--ringcx-latency", "x"]],
)
def test_parse_args_bad_modes_or_latency_exit_with_usage(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        run_all.parse_args(argv)
    assert raised.value.code == 2


@pytest.mark.parametrize(
    ("argv", "modes"),
    [
        ([], [Latency(0.020, 0.030, 0.100), LOOPBACK]),
        (["--sm-latency", "0", "--invoke-latency", "0", "--ringcx-latency", "0"], [LOOPBACK]),
        (["--modes", "loopback"], [LOOPBACK]),
        (["--sm-latency", "5", "--modes", "latency"], [Latency(0.005, 0.030, 0.100)]),
    ],
)
def test_runner_modes_follow_flags_and_never_repeat_loopback(
    argv: list[str], modes: list[Latency]
) -> None:
    assert Runner(run_all.parse_args(argv), print).modes == modes


def test_latency_mode_and_description_name_what_is_injected() -> None:
    assert LOOPBACK.mode == "loopback"
    assert Latency().mode == "latency"
    assert Latency(0.0, 0.0, 0.001).mode == "latency"
    assert Latency().describe() == (
        "Secrets Manager 20 ms, Lambda Invoke 30 ms, RingCX 100 ms per round trip"
    )


# -- goals ---------------------------------------------------------------------------


def _side(median_ms: float, trips: int) -> dict[str, Any]:
    figures = round_trip_figures(
        [RoundTrips(Counter({"GetSecretValue": trips}), 0, Counter({"api": 1}))]
    )
    return {"median_ms": median_ms, **figures}


def _cold_mode(ratio: float, broker_trips: int, latency: Latency) -> dict[str, Any]:
    return {
        "latency": latency.to_json(),
        "runs_per_side": 15,
        "ratio": ratio,
        "broker": _side(300 * ratio, broker_trips),
        "baseline": _side(300, 1),
    }


def _warm_mode(p50: float) -> dict[str, Any]:
    return {
        "p50_ms": p50,
        "p95_ms": p50 * 2,
        "requests": 300,
        "goal_p50_ms": 0.5,
        "secrets_calls_per_1000": 0.0,
    }


RESULTS: dict[str, Any] = {
    "cold": {
        "goal_ratio": 1.15,
        "goal_secrets_round_trips": 2,
        "modes": {
            "latency": _cold_mode(1.58, 6, Latency()),
            "loopback": _cold_mode(1.10, 2, LOOPBACK),
        },
    },
    "warm": {"modes": {"latency": _warm_mode(0.61), "loopback": _warm_mode(0.2)}},
}


def test_judge_gives_every_goal_per_mode_latency_first_with_honest_verdicts() -> None:
    verdicts = [(goal, met) for goal, met, _ in judge(RESULTS)]
    assert verdicts == [
        ("cold start <= 1.15x baseline, at injected latency", False),
        ("<= 2 Secrets Manager round trips on the cold path, at injected latency", False),
        ("warm overhead p50 < 0.5 ms, at injected latency", False),
        ("0 Secrets Manager calls on warm requests, at injected latency", True),
        ("cold start <= 1.15x baseline, on loopback", True),
        ("<= 2 Secrets Manager round trips on the cold path, on loopback", True),
        ("warm overhead p50 < 0.5 ms, on loopback", True),
        ("0 Secrets Manager calls on warm requests, on loopback", True),
    ]


def test_goals_report_prints_missed_goals_with_their_figures() -> None:
    printed: list[str] = []
    report.goals(judge(RESULTS), printed.append)
    text = " ".join(line.strip() for line in printed)  # wrapped lines joined again
    assert "[MISSED] cold start <= 1.15x baseline, at injected latency: 1.58x" in text
    assert "broker 6 SM (GetSecretValue 6) + 0 Invoke" in text
    assert text.count("[MISSED]") == 3


# -- per-request figures ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "invokes", "auth", "secrets", "kind"),
    [
        (True, 1, 1, 6, COLD),
        (False, 1, 1, 1, "stale: invoked the refresher"),
        (False, 0, 2, 0, "re-authenticated"),
        (False, 0, 0, 1, "new generation: ring read"),
        (False, 0, 0, 0, WARM),
    ],
)
def test_request_kind_names_what_the_request_had_to_do(
    first: bool, invokes: int, auth: int, secrets: int, kind: str
) -> None:
    assert request_kind(first, invokes, auth, secrets) == kind


def test_per_request_groups_by_kind_with_ranges_and_the_cold_request_added_time() -> None:
    costs = [
        RequestCost(WARM, 0.100, 0, 0, 0, 1, 0),
        RequestCost(COLD, 0.230, 6, 0, 0, 1, 0),
        RequestCost(WARM, 0.104, 0, 0, 0, 1, 0),
        RequestCost(COLD, 0.250, 6, 0, 0, 1, 0),
        RequestCost(WARM, 0.102, 0, 0, 0, 1, 0),
    ]
    table = per_request(costs)
    assert list(table["per_request"]) == [COLD, WARM]
    assert table["per_request"][COLD]["requests"] == 2
    assert table["per_request"][COLD]["secrets_round_trips"] == [6, 6]
    assert table["per_request"][WARM]["median_ms"] == 102.0
    assert table["cold_request_added_ms"] == 138.0


def test_per_request_of_no_requests_is_empty() -> None:
    assert per_request([]) == {}


def _row(n: int, auth: int) -> dict[str, Any]:
    side = {
        "auth_by_endpoint": {"rc_token": auth},
        "secrets_by_operation": {"GetSecretValue": 3},
        "requests": 10,
        "requests_failed": 0,
    }
    return {"containers": n, "broker": side, "naive": side}


def test_counts_match_compares_only_sizes_run_in_both() -> None:
    loopback = {"rows": [_row(1, 1), _row(5, 1)]}
    slow = {"rows": [_row(5, 2), _row(7, 1)]}
    assert counts_match(loopback, slow) == {"5": False}
    assert counts_match(loopback, {"rows": [_row(1, 1)]}) == {"1": True}


def test_round_trip_figures_keep_the_range_when_runs_differ() -> None:
    trips = [
        RoundTrips(Counter({"GetSecretValue": 6}), 0, Counter()),
        RoundTrips(Counter({"GetSecretValue": 7}), 1, Counter(), errors=1),
    ]
    figures = round_trip_figures(trips)
    assert figures["secrets_manager_round_trips"] == 7
    assert figures["secrets_manager_round_trips_range"] == [6, 7]
    assert figures["lambda_invoke_round_trips_range"] == [0, 1]
    assert figures["proxied_errors"] == 1
