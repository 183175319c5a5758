"""The short soak: six virtual hours in which every kind of fault occurs at
least once, against the real containers, the simulator and moto.

One run (seconds of wall time) serves every test here; each test judges one
target. The bound on broker-caused outages is two schedule ticks (120 s):
the worst case the schedule allows on purpose is a chain found dead at its
last chance (60 s left, a dead refresh token answered like a 5xx) whose
re-login fails once (a 5xx, or a 429 with a 60 s Retry-After, honoured):
the next attempt comes at most a tick later, so no caller should wait
longer than the token's last minute plus that tick.
"""

from __future__ import annotations

from typing import Any

import pytest

from ringcx_dev.moto_server import MotoServer
from ringcx_dev.soak import Kind, SoakOptions, run_soak
from ringcx_dev.soak.analysis import AUTH_LIMIT, BROKER_RUN_LIMIT, VERSION_QUOTA

pytestmark = [pytest.mark.integration, pytest.mark.slow]

HOURS = 6.0


@pytest.fixture(scope="module")
def report(moto_server: MotoServer) -> dict[str, Any]:
    return run_soak(SoakOptions(days=HOURS / 24), store_url=moto_server.url).report


def test_short_soak_schedules_and_applies_every_kind_of_fault(report: dict[str, Any]) -> None:
    # Given the six-hour soak
    faults = report["faults"]

    # Then every kind of fault was scheduled, and faults failed calls on every edge
    assert set(faults["scheduled"]) == {str(k) for k in Kind}
    assert faults["unplaced"] == []
    ringcx = faults["calls_failed_by_ringcx_faults"]
    for endpoint in ("refresh", "login", "exchange", "api"):
        assert any(label.startswith(endpoint) for label in ringcx), endpoint
    assert len(faults["calls_failed_by_secrets_manager_faults"]) >= 5


def test_short_soak_never_breaks_the_chain(report: dict[str, Any]) -> None:
    # Given the six-hour soak, which revoked the chain in every dead-refresh mode
    relogins = report["relogins"]
    assert relogins["total"] >= 7

    # Then every re-login is explained by what the schedule did
    assert report["chain_breaks"]["count"] == 0, report["chain_breaks"]["events"]
    assert "CHAIN BREAK" not in relogins["by_explanation"]


def test_short_soak_never_loses_a_refresh_token(report: dict[str, Any]) -> None:
    # Given the six-hour soak
    lost = report["lost_refresh_tokens"]

    # Then the ring's newest refresh token was live whenever nothing explains otherwise
    assert lost["count"] == 0, lost["events"]
    assert lost["explained"]  # the revocations were seen


@pytest.mark.parametrize(
    "endpoint",
    ["rc_token", "rcx_exchange", "rcx_refresh"],
)
def test_short_soak_auth_calls_stay_within_the_limit(report: dict[str, Any], endpoint: str) -> None:
    # Given the six-hour soak
    # Then no auth endpoint saw more than 5 calls in any 60 s, nor a call during a penalty
    assert report["auth_calls"]["max_in_60s"][endpoint] <= AUTH_LIMIT
    assert report["auth_calls"]["calls_during_a_penalty"] == 0


def test_short_soak_versions_per_secret_stay_under_the_quota(report: dict[str, Any]) -> None:
    # Given the six-hour soak
    versions = report["versions"]

    # Then no secret got 100 versions in 24 h, nor is on pace for it
    assert versions["max_per_secret_24h"] < VERSION_QUOTA
    assert versions["max_per_secret_24h"] * 24 / HOURS < VERSION_QUOTA
    assert versions["written_by"].get("proxy", 0) == 0  # proxies never write the ring


def test_short_soak_leaks_no_token(report: dict[str, Any]) -> None:
    # Given the six-hour soak, whose logs and replies were scanned for every token issued
    tokens = report["tokens"]
    assert tokens["known"] > 100
    assert tokens["log_lines"] > 100

    # Then no token appeared in a log line or a reply
    assert tokens["in_logs"] == 0
    assert tokens["in_replies"] == 0


def test_short_soak_broker_caused_outages_stay_within_two_ticks(report: dict[str, Any]) -> None:
    # Given the six-hour soak
    requests = report["requests"]
    assert requests["by_outcome"]["ok"] > 0.9 * requests["total"]

    # Then no stretch of broker-caused failures lasted longer than two ticks
    assert requests["longest_broker_run"]["fleet"]["seconds"] <= BROKER_RUN_LIMIT
