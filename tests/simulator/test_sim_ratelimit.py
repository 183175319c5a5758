"""Auth rate limits: 5 per window, then 429 CMN-301 with Retry-After and a penalty."""

from __future__ import annotations

from collections.abc import Callable
from http import HTTPStatus

import pytest
import urllib3

from ringcx_dev.simulator import Fault, SimConfig, Simulator

from .conftest import Configure
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


@pytest.mark.parametrize(
    "sim_settings", [SimConfig(rate_window=10.0, retry_after=60, penalty_restarts=False)]
)
def test_rate_limit_penalty_without_restarts_holds_until_retry_after_then_recovers(
    client: SimClient, clock: FakeClock
) -> None:
    # Given the login endpoint was rate-limited (window 10 s, penalty 60 s, no restarts)
    for _ in range(5):
        assert client.rc_login().status == HTTPStatus.OK
    assert client.rc_login().status == HTTPStatus.TOO_MANY_REQUESTS

    # When the window has passed but the penalty has not, and then the penalty too
    clock.advance(30)
    during_penalty = client.rc_login()
    clock.advance(30)
    after_penalty = client.rc_login()

    # Then calls keep failing for the whole penalty (Retry-After counts down), then succeed
    assert during_penalty.status == HTTPStatus.TOO_MANY_REQUESTS
    assert during_penalty.headers["Retry-After"] == "30"
    assert after_penalty.status == HTTPStatus.OK


@pytest.mark.parametrize("endpoint", list(CALLS))
def test_rate_limit_request_during_penalty_restarts_it(
    client: SimClient, clock: FakeClock, configure: Configure, endpoint: str
) -> None:
    # Given RingCentral's default, penalties restart (switched off and on again at run time)
    configure(penalty_restarts=False)
    configure(penalty_restarts=True)
    call = CALLS[endpoint]
    for _ in range(5):
        call(client)
    assert call(client).status == HTTPStatus.TOO_MANY_REQUESTS

    # When a client retries 30 s into the 60 s penalty, then at the penalty's original end
    clock.advance(30)
    early = call(client)
    clock.advance(30)
    at_original_end = call(client)
    clock.advance(60)
    after_quiet_penalty = call(client)

    # Then each retry restarted the penalty; only a full quiet penalty later is it open
    assert early.status == HTTPStatus.TOO_MANY_REQUESTS
    assert early.headers["Retry-After"] == "60"
    assert at_original_end.status == HTTPStatus.TOO_MANY_REQUESTS
    assert after_quiet_penalty.status != HTTPStatus.TOO_MANY_REQUESTS


def _rate_limited(client: SimClient, endpoint: str) -> urllib3.BaseHTTPResponse:
    """Exhaust an endpoint's budget and return its first 429."""
    call = CALLS[endpoint]
    for _ in range(5):
        call(client)
    return call(client)


@pytest.mark.parametrize("source", [*CALLS, "injected", "session_quota"])
def test_retry_after_header_off_sends_429_without_retry_after(
    client: SimClient, sim: Simulator, configure: Configure, source: str
) -> None:
    # Given RingCentral leaving Retry-After out, and a 429 from each source
    configure(retry_after_header=False)
    if source == "injected":
        sim.inject("rc_token", Fault(status=HTTPStatus.TOO_MANY_REQUESTS))
        response = client.rc_login()
    elif source == "session_quota":
        configure(session_quota_429=True, max_rc_sessions=1)
        client.rc_token()
        response = client.rc_login()
    else:
        response = _rate_limited(client, source)

    # Then it is a 429 without the header
    assert response.status == HTTPStatus.TOO_MANY_REQUESTS
    assert "Retry-After" not in response.headers


@pytest.mark.parametrize("endpoint", list(CALLS))
def test_rate_limit_headers_report_the_sliding_window(
    client: SimClient, clock: FakeClock, endpoint: str
) -> None:
    # Given an auth endpoint with a budget of 5 per 60 s
    call = CALLS[endpoint]

    # When it is called six times, then again after window and penalty have passed
    replies = [call(client) for _ in range(6)]
    clock.advance(60)
    later = call(client)

    # Then every reply, the 429 included, reports group, limit, what is left and the window
    remaining = [r.headers["X-Rate-Limit-Remaining"] for r in [*replies, later]]
    assert remaining == ["4", "3", "2", "1", "0", "0", "4"]
    for reply in [*replies, later]:
        assert reply.headers["X-Rate-Limit-Group"] == "auth"
        assert reply.headers["X-Rate-Limit-Limit"] == "5"
        assert reply.headers["X-Rate-Limit-Window"] == "60"
    assert replies[-1].status == HTTPStatus.TOO_MANY_REQUESTS


def test_rate_limit_headers_follow_configured_limit(
    client: SimClient, configure: Configure
) -> None:
    # Given a limit of 2 per 10 s set at run time
    configure(rate_limit=2, rate_window=10.0)

    # When logging in once
    response = client.rc_login()

    # Then the headers describe the new budget
    assert response.headers["X-Rate-Limit-Limit"] == "2"
    assert response.headers["X-Rate-Limit-Remaining"] == "1"
    assert response.headers["X-Rate-Limit-Window"] == "10"


@pytest.mark.parametrize("endpoint", list(CALLS))
def test_rate_limit_headers_off_sends_none(
    client: SimClient, configure: Configure, endpoint: str
) -> None:
    # Given rate-limit headers are switched off
    configure(rate_limit_headers=False)

    # When calling an auth endpoint until it is limited
    replies = [CALLS[endpoint](client) for _ in range(6)]

    # Then no reply carries an X-Rate-Limit header, the 429 neither
    assert replies[-1].status == HTTPStatus.TOO_MANY_REQUESTS
    for reply in replies:
        assert not [name for name in reply.headers if name.lower().startswith("x-rate-limit")]


def test_rate_limit_headers_absent_on_api(client: SimClient) -> None:
    # Given a valid RingCX token
    access, _ = client.login_pair()

    # When calling the API
    response = client.api("GET", "/voice/api/v1/admin/accounts", access)

    # Then the auth group's headers are not there
    assert "X-Rate-Limit-Group" not in response.headers
