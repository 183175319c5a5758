"""Forwarding is faithful: the simulator and Lambda's REST protocol behind the proxy."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from http import HTTPStatus

import boto3
import pytest
import urllib3
from botocore.exceptions import ClientError

from ringcx_dev.faultproxy import AwsFault, FaultProxy, path_group
from ringcx_dev.simulator import Fault, Simulator

from .conftest import ONE_ATTEMPT, RecordingSleep

pytestmark = pytest.mark.integration

ACCOUNTS = "/voice/api/v1/admin/accounts"


@pytest.fixture
def sim_proxy(simulator: Simulator, sleep: RecordingSleep) -> Iterator[FaultProxy]:
    with FaultProxy(simulator.base_url, path_group, sleep=sleep) as proxy:
        yield proxy


def test_forward_passes_status_headers_body_and_query_through(
    simulator: Simulator, sim_proxy: FaultProxy, http: urllib3.PoolManager
) -> None:
    # When the simulator's RC login is called through the proxy with a query string
    # and a wrong method (the simulator's own error comes back)
    via_proxy = http.request("GET", sim_proxy.url + "/restapi/oauth/token?x=%20y")
    direct = http.request("GET", simulator.base_url + "/restapi/oauth/token?x=%20y")

    # Then the caller gets exactly what the simulator sent
    assert via_proxy.status == direct.status
    assert via_proxy.data == direct.data
    assert via_proxy.headers["Content-Type"] == direct.headers["Content-Type"]
    assert sim_proxy.log() == [("rc_token", direct.status)]


def test_forward_keeps_the_connection_alive_across_calls(
    sim_proxy: FaultProxy, http: urllib3.PoolManager
) -> None:
    for _ in range(3):
        http.request("GET", sim_proxy.url + ACCOUNTS)
    pool = http.connection_from_url(sim_proxy.url)
    assert pool.num_connections == 1
    assert sim_proxy.calls("api") == 3


def test_latency_by_path_group_delays_api_calls_only(
    sim_proxy: FaultProxy, http: urllib3.PoolManager, sleep: RecordingSleep
) -> None:
    # Given RingCX's 100 ms on API calls
    sim_proxy.set_latency(0.100, "api")

    # When an API call and an auth call go through
    http.request("GET", sim_proxy.url + ACCOUNTS)
    http.request("POST", sim_proxy.url + "/api/auth/token/refresh", body=b"")

    # Then only the API call waited
    assert [(r.operation, r.latency) for r in sim_proxy.records()] == [
        ("api", 0.100),
        ("rcx_refresh", 0.0),
    ]
    assert sleep.slept == [0.100]


def test_simulator_drop_behind_the_proxy_becomes_a_502(
    simulator: Simulator, sim_proxy: FaultProxy, http: urllib3.PoolManager
) -> None:
    # Given the simulator drops the next API call
    simulator.inject("api", Fault(drop=True))

    # When it is called through the proxy, then the proxy answers 502 and records it
    reply = http.request("GET", sim_proxy.url + ACCOUNTS)
    assert reply.status == HTTPStatus.BAD_GATEWAY
    assert sim_proxy.log() == [("api", HTTPStatus.BAD_GATEWAY)]


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_lambda_invoke_fault_reaches_boto3_lambda_client_with_its_code() -> None:
    # Given a proxy whose target is down, with a throttle queued for Invoke
    with FaultProxy(f"http://127.0.0.1:{_closed_port()}") as proxy:
        proxy.inject("Invoke", AwsFault("TooManyRequestsException", 429, "Rate Exceeded."))
        client = boto3.client(
            "lambda", endpoint_url=proxy.url, region_name="us-east-1", config=ONE_ATTEMPT
        )

        # When boto3 invokes a function, twice
        with pytest.raises(ClientError) as raised:
            client.invoke(FunctionName="ringcx-refresh", Payload=b"{}")
        with pytest.raises(ClientError) as unreachable:
            client.invoke(FunctionName="ringcx-refresh", Payload=b"{}")

        # Then the first met the throttle (REST-JSON parses the same header), the
        # second the unreachable target, and both were counted as Invoke
        assert raised.value.response["Error"]["Code"] == "TooManyRequestsException"
        assert unreachable.value.response["ResponseMetadata"]["HTTPStatusCode"] == 502
        assert proxy.log() == [("Invoke", 429), ("Invoke", 502)]


def test_start_twice_returns_the_same_url_and_stop_is_idempotent(simulator: Simulator) -> None:
    proxy = FaultProxy(simulator.base_url)
    url = proxy.start()
    assert proxy.start() == url
    proxy.stop()
    proxy.stop()
    with pytest.raises(RuntimeError, match="not started"):
        _ = proxy.url


@pytest.mark.parametrize("target", ["ftp://host", "127.0.0.1:80", "http://"])
def test_start_with_a_target_that_is_not_an_http_url_raises(target: str) -> None:
    with pytest.raises(ValueError, match="target"):
        FaultProxy(target).start()
