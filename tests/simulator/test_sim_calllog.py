"""The auth call log: every auth call with its simulator-clock time, and the 60 s maximum."""

from __future__ import annotations

from http import HTTPStatus

import pytest
from urllib3.exceptions import ProtocolError

from ringcx_dev.simulator import AuthCall, Fault, Simulator, max_calls_in_window
from ringcx_dev.simulator.calllog import AuthCallLog

from .simclient import FakeClock, SimClient


def test_auth_calls_logs_every_outcome_with_simulator_time(
    client: SimClient, sim: Simulator, clock: FakeClock
) -> None:
    # Given logins that succeed, suffer an injected 503, are dropped, are rejected and
    # are rate-limited, an exchange and a refresh, at distinct virtual times; and API calls
    start = clock.now
    sim.inject("rc_token", Fault(status=HTTPStatus.SERVICE_UNAVAILABLE))
    sim.inject("rc_token", Fault(drop=True))
    client.rc_login()
    clock.advance(1)
    with pytest.raises(ProtocolError):
        client.rc_login()
    clock.advance(1)
    client.rc_login(assertion="bad")
    for _ in range(4):
        client.rc_login()
    client.exchange("never-issued")
    clock.advance(1)
    client.refresh("never-issued")
    client.api("GET", "/voice/api/v1/echo", None)

    # When reading the log
    calls = sim.auth_calls()

    # Then every auth call is there, oldest first, with its time and status (0: dropped)
    assert calls == [
        AuthCall(start, "rc_token", 503),
        AuthCall(start + 1, "rc_token", 0),
        AuthCall(start + 2, "rc_token", 400),
        AuthCall(start + 2, "rc_token", 200),
        AuthCall(start + 2, "rc_token", 200),
        AuthCall(start + 2, "rc_token", 200),
        AuthCall(start + 2, "rc_token", 200),
        AuthCall(start + 2, "rcx_exchange", 401),
        AuthCall(start + 3, "rcx_refresh", 401),
    ]
    assert max_calls_in_window(calls, "rc_token") == 7
    assert client.rc_login().status == HTTPStatus.TOO_MANY_REQUESTS
    assert sim.auth_calls()[-1] == AuthCall(start + 3, "rc_token", 429)


def test_control_auth_calls_returns_log_and_maximum_per_window(
    client: SimClient, sim: Simulator, clock: FakeClock
) -> None:
    # Given two logins 30 s apart and one refresh
    client.rc_login()
    clock.advance(30)
    client.rc_login()
    client.refresh("never-issued")

    # When reading the log over HTTP, with the default window and with 10 s
    default = client.control("GET", "/_sim/auth-calls").json()
    short = client.control("GET", "/_sim/auth-calls?window=10").json()

    # Then it lists the calls as Python sees them, and the densest window per endpoint
    assert default["calls"] == [c.to_json() for c in sim.auth_calls()]
    assert default["window"] == 60.0
    assert default["maxInWindow"] == {"rc_token": 2, "rcx_exchange": 0, "rcx_refresh": 1}
    assert short["window"] == 10.0
    assert short["maxInWindow"]["rc_token"] == 1


@pytest.mark.parametrize("window", ["soon", "0", "-5", "inf"])
def test_control_auth_calls_bad_window_returns_400(client: SimClient, window: str) -> None:
    # Given a window that is not a positive number of seconds
    # When asking for the log with it
    response = client.control("GET", f"/_sim/auth-calls?window={window}")

    # Then it is refused with a reason
    assert response.status == HTTPStatus.BAD_REQUEST
    assert response.json()["message"]


def _calls(*times: float, endpoint: str = "rc_token") -> list[AuthCall]:
    return [AuthCall(t, endpoint, 200) for t in times]


@pytest.mark.parametrize(
    ("times", "expected"),
    [
        ((), 0),
        ((0.0,), 1),
        ((0.0, 59.9), 2),
        ((0.0, 60.0), 1),
        ((0.0, 10.0, 20.0, 65.0, 70.0, 75.0, 79.0), 5),
        ((70.0, 0.0, 75.0, 20.0), 3),
    ],
)
def test_max_calls_in_window_counts_densest_half_open_window(
    times: tuple[float, ...], expected: int
) -> None:
    # Given calls at `times` (not necessarily in order)
    # When finding the densest 60 s window
    # Then a call exactly 60 s after another does not share its window
    assert max_calls_in_window(_calls(*times), "rc_token") == expected


def test_max_calls_in_window_ignores_other_endpoints_and_takes_window() -> None:
    # Given calls to two endpoints
    calls = _calls(0.0, 1.0, 2.0) + _calls(0.5, endpoint="rcx_refresh")

    # When counting one endpoint with a 1.5 s window
    # Then only its calls in the window count
    assert max_calls_in_window(calls, "rc_token", window=1.5) == 2
    assert max_calls_in_window(calls, "rcx_refresh") == 1


def test_auth_call_log_is_bounded_and_keeps_the_newest() -> None:
    # Given a log with room for three calls
    log = AuthCallLog(capacity=3)

    # When four calls are added
    for at in range(4):
        log.add(AuthCall(float(at), "rc_token", 200))

    # Then the oldest was forgotten
    assert [c.at for c in log.snapshot()] == [1.0, 2.0, 3.0]
