"""Fault injection, counters and the /_sim/ control API over real HTTP."""

from __future__ import annotations

import time
from collections.abc import Callable
from http import HTTPStatus

import pytest
import urllib3
from urllib3.exceptions import ProtocolError

from ringcx_dev.simulator import ENDPOINTS, Fault, Simulator

from .simclient import FakeClock, SimClient

Call = Callable[[SimClient], urllib3.BaseHTTPResponse]

HAPPY_CALLS: dict[str, Call] = {
    "rc_token": lambda c: c.rc_login(),
    "rcx_exchange": lambda c: c.exchange(c.rc_token()),
    "rcx_refresh": lambda c: c.refresh(c.login_pair()[1]),
    "api": lambda c: c.api("GET", "/voice/api/v1/admin/accounts", c.login_pair()[0]),
}


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("status", [HTTPStatus.SERVICE_UNAVAILABLE, HTTPStatus.BAD_GATEWAY])
def test_fault_status_replaces_reply_on_each_endpoint(
    client: SimClient, sim: Simulator, endpoint: str, status: HTTPStatus
) -> None:
    # Given a status fault queued for one endpoint
    sim.inject(endpoint, Fault(status=status))

    # When that endpoint is called in an otherwise valid flow
    response = HAPPY_CALLS[endpoint](client)

    # Then the injected status comes back as JSON and is counted as a fault
    assert response.status == status
    assert response.headers["Content-Type"] == "application/json"
    assert sim.counters()[endpoint]["faults"] == 1
    assert sim.counters()[endpoint]["ok"] == 0


def test_fault_status_on_refresh_leaves_token_unspent(client: SimClient, sim: Simulator) -> None:
    # Given a live refresh token and a 503 queued for refresh
    _, refresh = client.login_pair()
    sim.inject("rcx_refresh", Fault(status=HTTPStatus.SERVICE_UNAVAILABLE))

    # When refreshing twice with the same token
    failed = client.refresh(refresh)
    retried = client.refresh(refresh)

    # Then the fault did not spend the token, so the retry rotates it
    assert failed.status == HTTPStatus.SERVICE_UNAVAILABLE
    assert retried.status == HTTPStatus.OK
    assert sim.state.spent_refresh_reuse == 0
    assert sim.counters()["rcx_refresh"] == {
        "calls": 2,
        "ok": 1,
        "rate_limited": 0,
        "rejected": 0,
        "faults": 1,
    }


def test_fault_injected_429_has_retry_after_but_no_penalty(
    client: SimClient, sim: Simulator
) -> None:
    # Given a 429 fault on login
    sim.inject("rc_token", Fault(status=HTTPStatus.TOO_MANY_REQUESTS))

    # When logging in twice
    limited, after = client.rc_login(), client.rc_login()

    # Then the first looks like a real rate limit and the second is not penalised
    assert limited.status == HTTPStatus.TOO_MANY_REQUESTS
    assert limited.headers["Retry-After"] == "60"
    assert limited.json()["errorCode"] == "CMN-301"
    assert after.status == HTTPStatus.OK


def test_fault_delay_holds_reply_then_processes(client: SimClient, sim: Simulator) -> None:
    # Given a 0.3 s delay on login
    sim.inject("rc_token", Fault(delay=0.3))

    # When logging in
    started = time.monotonic()
    response = client.rc_login()
    elapsed = time.monotonic() - started

    # Then the reply is late but normal
    assert elapsed >= 0.3
    assert response.status == HTTPStatus.OK
    assert sim.counters()["protocol"]["logins"] == 1


def test_fault_delay_longer_than_client_timeout_times_out(
    client: SimClient, sim: Simulator
) -> None:
    # Given a delay longer than the client's read timeout
    sim.inject("api", Fault(delay=0.5))

    # When calling with a 0.1 s read timeout
    # Then the client times out
    with pytest.raises(urllib3.exceptions.ReadTimeoutError):
        client.http.request("GET", client.base_url + "/voice/api/v1/admin/accounts", timeout=0.1)


def test_fault_drop_closes_connection_without_reply_or_processing(
    client: SimClient, sim: Simulator
) -> None:
    # Given a live refresh token and a dropped connection queued for refresh
    _, refresh = client.login_pair()
    sim.inject("rcx_refresh", Fault(drop=True))

    # When refreshing
    # Then the client sees a protocol error, not a response
    with pytest.raises(ProtocolError):
        client.refresh(refresh)

    # And the request was not processed: the token still rotates
    assert client.refresh(refresh).status == HTTPStatus.OK
    assert sim.counters()["rcx_refresh"]["faults"] == 1


def test_fault_count_applies_to_next_calls_then_stops(client: SimClient, sim: Simulator) -> None:
    # Given a 503 fault for the next two logins
    sim.inject("rc_token", Fault(status=HTTPStatus.SERVICE_UNAVAILABLE, count=2))

    # When logging in three times
    statuses = [client.rc_login().status for _ in range(3)]

    # Then only the first two fail
    assert statuses == [HTTPStatus.SERVICE_UNAVAILABLE] * 2 + [HTTPStatus.OK]


def test_fault_queue_is_fifo_per_endpoint(client: SimClient, sim: Simulator) -> None:
    # Given two faults queued for login and one for exchange
    sim.inject("rc_token", Fault(status=HTTPStatus.SERVICE_UNAVAILABLE))
    sim.inject("rc_token", Fault(status=HTTPStatus.BAD_GATEWAY))
    sim.inject("rcx_exchange", Fault(status=HTTPStatus.GATEWAY_TIMEOUT))

    # When logging in three times
    statuses = [client.rc_login().status for _ in range(3)]

    # Then login faults come in order and the exchange fault is untouched
    assert statuses == [HTTPStatus.SERVICE_UNAVAILABLE, HTTPStatus.BAD_GATEWAY, HTTPStatus.OK]
    assert client.exchange("x").status == HTTPStatus.GATEWAY_TIMEOUT


@pytest.mark.parametrize(
    "fault", [{"count": 0}, {"delay": -1}, {"status": 42}, {"status": True}, {"drop": "yes"}]
)
def test_fault_invalid_values_are_refused(fault: dict[str, object]) -> None:
    # Given fault settings that make no sense
    # When building the fault
    # Then it is refused
    with pytest.raises(ValueError, match=r"\w"):
        Fault.from_json(fault)


def test_simulator_inject_unknown_endpoint_raises(sim: Simulator) -> None:
    # Given an endpoint name that does not exist
    # When injecting a fault there
    # Then it is refused
    with pytest.raises(ValueError, match="unknown endpoint"):
        sim.inject("nope", Fault(status=500))


def test_counters_classify_each_outcome(client: SimClient, sim: Simulator) -> None:
    # Given one ok, one rejected and (after five more) one rate-limited login, and one fault
    sim.inject("rc_token", Fault(status=HTTPStatus.INTERNAL_SERVER_ERROR))
    client.rc_login()
    client.rc_login()
    client.rc_login(assertion="bad")
    for _ in range(4):
        client.rc_login()

    # When reading the counters over HTTP and from Python
    over_http = client.control("GET", "/_sim/counters").json()

    # Then each outcome is counted once in its bucket
    assert over_http == sim.counters()
    assert over_http["rc_token"] == {
        "calls": 7,
        "ok": 4,
        "rate_limited": 1,
        "rejected": 1,
        "faults": 1,
    }
    assert over_http["protocol"]["logins"] == 4
    assert set(over_http) == {*ENDPOINTS, "protocol"}


@pytest.mark.parametrize("via", ["python", "http"])
def test_reset_counters_zeroes_everything(client: SimClient, sim: Simulator, via: str) -> None:
    # Given some counted traffic
    client.login_pair()

    # When resetting the counters
    if via == "python":
        sim.reset_counters()
    else:
        assert client.control("POST", "/_sim/reset-counters").status == HTTPStatus.OK

    # Then every counter is zero and the auth call log is empty, until the next call
    assert all(v == 0 for group in sim.counters().values() for v in group.values())
    assert sim.auth_calls() == []
    client.rc_login()
    assert [c.endpoint for c in sim.auth_calls()] == ["rc_token"]


def test_control_health_returns_ok(client: SimClient) -> None:
    # Given a running simulator
    # When asking for its health
    response = client.control("GET", "/_sim/health")

    # Then it answers ok
    assert response.status == HTTPStatus.OK
    assert response.json() == {"ok": True}


def test_control_faults_queues_a_fault(client: SimClient, sim: Simulator) -> None:
    # Given a fault posted over HTTP
    body = {"endpoint": "api", "status": 503, "delay": 0, "drop": False, "count": 2}
    assert client.control("POST", "/_sim/faults", body).status == HTTPStatus.OK

    # When calling the API three times
    statuses = [client.api("GET", "/voice/api/v1/echo", None).status for _ in range(3)]

    # Then the first two are the fault and the third is processed
    assert statuses == [HTTPStatus.SERVICE_UNAVAILABLE] * 2 + [HTTPStatus.UNAUTHORIZED]
    assert sim.counters()["api"]["faults"] == 2


def test_control_config_changes_token_lifetime(client: SimClient, sim: Simulator) -> None:
    # Given a new token lifetime posted over HTTP
    response = client.control("POST", "/_sim/config", {"token_lifetime": 15})

    # When reading the config back
    # Then the change applies, as a float
    assert response.status == HTTPStatus.OK
    assert response.json()["config"]["token_lifetime"] == 15.0
    assert sim.state.config.token_lifetime == 15.0
    assert client.control("GET", "/_sim/config").json()["token_lifetime"] == 15.0


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/_sim/config", {"token_lifetime": "soon"}),
        ("/_sim/config", {"token_lifetime": -1}),
        ("/_sim/config", {"rate_limit": 2.5}),
        ("/_sim/config", {"no_such_field": 1}),
        ("/_sim/config", [1, 2]),
        ("/_sim/faults", {"endpoint": "nope", "status": 503}),
        ("/_sim/faults", {"status": 503}),
        ("/_sim/faults", {"endpoint": "api", "count": 0}),
    ],
)
def test_control_bad_body_returns_400(client: SimClient, path: str, body: object) -> None:
    # Given a malformed control request
    # When posting it
    response = client.control("POST", path, body)

    # Then it is refused with a reason
    assert response.status == HTTPStatus.BAD_REQUEST
    assert response.json()["message"]


def test_control_body_not_json_returns_400(client: SimClient) -> None:
    # Given a body that is not JSON
    # When posting it to a control endpoint
    response = client.http.request("POST", client.base_url + "/_sim/config", body=b"{oops")

    # Then it is refused
    assert response.status == HTTPStatus.BAD_REQUEST


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("GET", "/_sim/nope", HTTPStatus.NOT_FOUND),
        ("POST", "/_sim/health", HTTPStatus.METHOD_NOT_ALLOWED),
        ("GET", "/nowhere", HTTPStatus.NOT_FOUND),
    ],
)
def test_control_unknown_route_or_method_is_refused(
    client: SimClient, method: str, path: str, expected: HTTPStatus
) -> None:
    # Given a path or method the simulator does not serve
    # When calling it
    response = client.control(method, path)

    # Then it answers with a JSON error
    assert response.status == expected
    assert response.headers["Content-Type"] == "application/json"


@pytest.mark.parametrize(
    ("status", "retry_after"),
    [
        (HTTPStatus.SERVICE_UNAVAILABLE, 30),
        (HTTPStatus.TOO_MANY_REQUESTS, 5),
        (HTTPStatus.SERVICE_UNAVAILABLE, 0),
    ],
)
@pytest.mark.parametrize("via", ["python", "http"])
def test_fault_retry_after_sets_header_on_injected_reply(
    client: SimClient, sim: Simulator, status: HTTPStatus, retry_after: int, via: str
) -> None:
    # Given an overloaded RingCentral: a status fault with Retry-After
    if via == "python":
        sim.inject("rc_token", Fault(status=status, retry_after=retry_after))
    else:
        body = {"endpoint": "rc_token", "status": int(status), "retry_after": retry_after}
        assert client.control("POST", "/_sim/faults", body).status == HTTPStatus.OK

    # When logging in
    response = client.rc_login()

    # Then the injected reply carries that Retry-After
    assert response.status == status
    assert response.headers["Retry-After"] == str(retry_after)


def test_fault_without_retry_after_sends_none_except_for_429(
    client: SimClient, sim: Simulator
) -> None:
    # Given a plain 503 fault and a 429 fault
    sim.inject("rc_token", Fault(status=HTTPStatus.SERVICE_UNAVAILABLE))
    sim.inject("rc_token", Fault(status=HTTPStatus.TOO_MANY_REQUESTS))

    # When logging in twice
    unavailable, limited = client.rc_login(), client.rc_login()

    # Then only the 429 has the configured Retry-After
    assert "Retry-After" not in unavailable.headers
    assert limited.headers["Retry-After"] == "60"


@pytest.mark.parametrize(
    ("body", "content_type", "starts_with"),
    [
        ("html", "text/html; charset=utf-8", b"<!DOCTYPE html>"),
        ("text", "text/plain", b"502 Bad Gateway"),
        ("json", "application/json", b'{"errorCode":"sim.injected.fault"'),
    ],
)
@pytest.mark.parametrize("via", ["python", "http"])
def test_fault_body_kind_shapes_injected_reply(
    client: SimClient, sim: Simulator, body: str, content_type: str, starts_with: bytes, via: str
) -> None:
    # Given a 502 fault whose body is an HTML page, plain text or our JSON
    if via == "python":
        sim.inject("rcx_refresh", Fault(status=HTTPStatus.BAD_GATEWAY, body=body))
    else:
        fault = {"endpoint": "rcx_refresh", "status": 502, "body": body}
        assert client.control("POST", "/_sim/faults", fault).status == HTTPStatus.OK

    # When refreshing
    response = client.refresh("any")

    # Then the reply has that body and content type
    assert response.status == HTTPStatus.BAD_GATEWAY
    assert response.headers["Content-Type"] == content_type
    assert response.data.startswith(starts_with)


@pytest.mark.parametrize("status", [HTTPStatus.BAD_GATEWAY, HTTPStatus.TOO_MANY_REQUESTS])
def test_fault_empty_body_has_no_content_and_no_content_type(
    client: SimClient, sim: Simulator, status: HTTPStatus
) -> None:
    # Given a fault with an empty body
    sim.inject("api", Fault(status=status, body="empty"))

    # When calling the API
    response = client.api("GET", "/voice/api/v1/echo", None)

    # Then nothing but the status (and the configured Retry-After of a 429) comes back
    assert response.status == status
    assert response.data == b""
    assert response.headers["Content-Length"] == "0"
    assert "Content-Type" not in response.headers
    assert ("Retry-After" in response.headers) is (status == HTTPStatus.TOO_MANY_REQUESTS)


def test_fault_html_429_is_not_the_json_rate_limit(client: SimClient, sim: Simulator) -> None:
    # Given a 429 fault whose body is an HTML page
    sim.inject("rc_token", Fault(status=HTTPStatus.TOO_MANY_REQUESTS, body="html"))

    # When logging in
    response = client.rc_login()

    # Then it is the page, still with Retry-After
    assert response.data.startswith(b"<!DOCTYPE html>")
    assert response.headers["Retry-After"] == "60"


@pytest.mark.parametrize(
    "fault",
    [
        {"status": 503, "body": "xml"},
        {"status": 503, "retry_after": -1},
        {"status": 503, "retry_after": "soon"},
        {"status": 503, "retry_after": 1.5},
        {"status": 503, "body": 1},
        {"retry_after": 5},
        {"body": "html"},
    ],
)
def test_fault_invalid_retry_after_or_body_is_refused(fault: dict[str, object]) -> None:
    # Given a fault with a Retry-After or body that makes no sense
    # When building it
    # Then it is refused
    with pytest.raises(ValueError, match=r"\w"):
        Fault.from_json(fault)


def test_fault_from_json_reads_retry_after_and_body() -> None:
    # Given a control-API body with both new fields
    # When building the fault
    fault = Fault.from_json({"status": 503, "retry_after": 30, "body": "html"})

    # Then both are kept
    assert fault == Fault(status=503, retry_after=30, body="html")


class SleepRecorder:
    """Stands in for time.sleep: remembers the waits instead of waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.mark.parametrize("via", ["python", "http"])
def test_latency_waits_before_every_non_control_reply(
    http: urllib3.PoolManager, clock: FakeClock, via: str
) -> None:
    # Given a simulator with 0.1 s of latency on the wire
    sleep = SleepRecorder()
    with Simulator(clock=clock, sleep=sleep) as sim:
        client = SimClient(http=http, base_url=sim.base_url, config=sim.state.config)
        if via == "python":
            sim.configure(latency=0.1)
        else:
            assert client.control("POST", "/_sim/config", {"latency": 0.1}).status == 200

        # When making an auth call, an API call, a call to nowhere and control calls
        client.rc_login()
        client.api("GET", "/voice/api/v1/echo", None)
        client.api("GET", "/nowhere", None)
        client.control("GET", "/_sim/counters")
        client.control("GET", "/_sim/health")

    # Then each non-control request waited once; control requests never did
    assert sleep.waits == [0.1, 0.1, 0.1]


def test_latency_and_fault_delay_add_up(http: urllib3.PoolManager, clock: FakeClock) -> None:
    # Given latency and a delay fault on the same endpoint
    sleep = SleepRecorder()
    with Simulator(clock=clock, sleep=sleep) as sim:
        sim.configure(latency=0.1)
        sim.inject("api", Fault(delay=0.5))
        client = SimClient(http=http, base_url=sim.base_url, config=sim.state.config)

        # When calling that endpoint
        client.api("GET", "/voice/api/v1/echo", None)

    # Then both waits happened, latency first
    assert sleep.waits == [0.1, 0.5]


def test_latency_is_a_real_wait_by_default(client: SimClient, sim: Simulator) -> None:
    # Given latency longer than the client's read timeout, with the default real sleep
    sim.configure(latency=0.5)

    # When calling with a 0.1 s read timeout
    # Then the client times out
    with pytest.raises(urllib3.exceptions.ReadTimeoutError):
        client.http.request("GET", client.base_url + "/voice/api/v1/echo", timeout=0.1)
