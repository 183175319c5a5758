"""Auth rate limits: 5 per window, then 429 CMN-301 with Retry-After and a penalty."""

from __future__ import annotations

from collections.abc import Callable
from http import HTTPStatus

import pytest
import urllib3

from ringcx_dev.simulator import SimConfig, Simulator

from .simclient import FakeClock, SimClient

Call = Callable[[SimClient], urllib3.BaseHTTPResponse]

CALLS: dict[str, Call] = {
    "rc_token": lambda c: c.rc_login(),
    "rcx_exchange": lambda c: c.exchange("not-a-token"),
    "rcx_refresh": lambda c: c.refresh("not-a-token"),
}


@pytest.mark.parametrize("endpoint", list(CALLS))
def test_rate_limit_sixth_call_in_window_returns_429_with_retry_after(
    client: SimClient, sim: Simulator, endpoint: str
) -> None:
    # Given five calls to one auth endpoint within the window, whatever their outcome
    call = CALLS[endpoint]
    first_five = [call(client).status for _ in range(5)]

    # When a sixth call arrives
    response = call(client)

    # Then it is rate-limited the RingCentral way and counted as such
    assert HTTPStatus.TOO_MANY_REQUESTS not in first_five
    assert response.status == HTTPStatus.TOO_MANY_REQUESTS
    assert response.headers["Retry-After"] == "60"
    assert response.json() == {"errorCode": "CMN-301", "message": "Request rate exceeded"}
    assert sim.counters()[endpoint]["rate_limited"] == 1


def test_rate_limit_endpoints_are_limited_separately(client: SimClient) -> None:
    # Given the RC login endpoint is exhausted
    for _ in range(6):
        client.rc_login()

    # When calling the exchange endpoint
    response = client.exchange("not-a-token")

    # Then it has its own budget
    assert response.status == HTTPStatus.UNAUTHORIZED


@pytest.mark.parametrize("sim_settings", [SimConfig(rate_window=10.0, retry_after=60)])
def test_rate_limit_penalty_holds_until_retry_after_then_recovers(
    client: SimClient, clock: FakeClock
) -> None:
    # Given the login endpoint was rate-limited (window 10 s, penalty 60 s)
    for _ in range(5):
        assert client.rc_login().status == HTTPStatus.OK
    assert client.rc_login().status == HTTPStatus.TOO_MANY_REQUESTS

    # When the window has passed but the penalty has not, and then the penalty too
    clock.advance(30)
    during_penalty = client.rc_login()
    clock.advance(30)
    after_penalty = client.rc_login()

    # Then calls keep failing for the whole penalty, then succeed again
    assert during_penalty.status == HTTPStatus.TOO_MANY_REQUESTS
    assert after_penalty.status == HTTPStatus.OK


def test_rate_limit_sliding_window_frees_slots_as_calls_age(
    client: SimClient, clock: FakeClock
) -> None:
    # Given four logins at t=0 and one at t=30
    for _ in range(4):
        client.rc_login()
    clock.advance(30)
    client.rc_login()

    # When the first four have aged out of the 60 s window
    clock.advance(30.5)
    statuses = [client.rc_login().status for _ in range(5)]

    # Then four new slots are free and the fifth call hits the limit
    assert statuses == [HTTPStatus.OK] * 4 + [HTTPStatus.TOO_MANY_REQUESTS]


def test_rate_limit_rejected_refresh_does_not_spend_the_token(
    client: SimClient, sim: Simulator, clock: FakeClock
) -> None:
    # Given a live refresh token and an exhausted refresh budget
    _, refresh = client.login_pair()
    for _ in range(5):
        client.refresh("not-a-token")

    # When refreshing with the real token while limited, then after the penalty
    limited = client.refresh(refresh)
    clock.advance(60)
    later = client.refresh(refresh)

    # Then the 429 left the token live, so it still rotates afterwards
    assert limited.status == HTTPStatus.TOO_MANY_REQUESTS
    assert later.status == HTTPStatus.OK
    assert sim.state.spent_refresh_reuse == 0


@pytest.mark.parametrize("sim_settings", [SimConfig(rate_limit_refresh=False)])
def test_rate_limit_refresh_disabled_never_limits_refresh(client: SimClient) -> None:
    # Given refresh limits are switched off
    # When refreshing many times
    statuses = {client.refresh("not-a-token").status for _ in range(8)}

    # Then no call is rate-limited
    assert statuses == {HTTPStatus.UNAUTHORIZED}


def test_rate_limit_configured_at_run_time_applies(client: SimClient, sim: Simulator) -> None:
    # Given the limit is lowered to 2 while running
    sim.configure(rate_limit=2, retry_after=7)

    # When logging in three times
    statuses = [client.rc_login() for _ in range(3)]

    # Then the third call is limited with the new Retry-After
    assert [r.status for r in statuses[:2]] == [HTTPStatus.OK] * 2
    assert statuses[2].status == HTTPStatus.TOO_MANY_REQUESTS
    assert statuses[2].headers["Retry-After"] == "7"
