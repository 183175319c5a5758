"""The /_faultproxy/ control API: another process drives the same proxy."""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import TYPE_CHECKING

import pytest
import urllib3
from botocore.exceptions import ClientError

from ringcx_dev.faultproxy import AwsFault, ControlError, FaultProxy, FaultProxyClient

from .conftest import RecordingSleep

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

pytestmark = pytest.mark.integration


@pytest.fixture
def remote(proxy: FaultProxy) -> FaultProxyClient:
    return FaultProxyClient(proxy.url)


def test_client_sets_latency_seen_by_the_proxy(
    proxy: FaultProxy,
    remote: FaultProxyClient,
    raw: SecretsManagerClient,
    secret_ids: tuple[str, ...],
) -> None:
    # Given latency set over HTTP
    remote.set_latency(0.020, "GetSecretValue")
    remote.set_latency(0.001)

    # When a read goes through
    raw.get_secret_value(SecretId=secret_ids[0])

    # Then the proxy applied it, and both views agree
    assert remote.latency() == {"default": 0.001, "operations": {"GetSecretValue": 0.020}}
    assert [r.latency for r in remote.records()] == [0.020]
    assert remote.records() == proxy.records()


def test_client_injects_secret_targeted_fault_and_reads_counters(
    remote: FaultProxyClient, raw: SecretsManagerClient, secret_ids: tuple[str, ...]
) -> None:
    # Given a denied slot queued over HTTP
    remote.inject("GetSecretValue", AwsFault.access_denied(), secret_id=secret_ids[1])

    # When every slot is read
    codes = []
    for secret_id in secret_ids:
        try:
            raw.get_secret_value(SecretId=secret_id)
            codes.append("ok")
        except ClientError as exc:
            codes.append(exc.response["Error"]["Code"])

    # Then only that slot was denied, and the counters say so over HTTP
    assert codes == ["ok", "AccessDeniedException", "ok"]
    assert remote.calls("GetSecretValue") == 3
    assert remote.calls() == 3
    assert remote.log() == [
        ("GetSecretValue", 200),
        ("GetSecretValue", 400),
        ("GetSecretValue", 200),
    ]

    # When they are reset over HTTP, then they are zero
    remote.reset_counters()
    assert remote.calls() == 0


def test_client_clear_faults_empties_the_queue(
    remote: FaultProxyClient, http: urllib3.PoolManager, proxy: FaultProxy
) -> None:
    remote.inject("GetSecretValue", AwsFault.throttling(count=3))
    queued = http.request("GET", proxy.url + "/_faultproxy/faults").json()
    remote.clear_faults()
    assert queued["GetSecretValue"][0]["left"] == 3
    assert http.request("GET", proxy.url + "/_faultproxy/faults").json() == {}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/_faultproxy/health"),
        ("GET", "/_faultproxy/counters"),
        ("GET", "/_faultproxy/nothing-here"),
        ("POST", "/_faultproxy"),
        ("GET", "/_faultproxy/latency"),
    ],
)
def test_control_paths_are_never_forwarded_or_counted(
    proxy: FaultProxy, http: urllib3.PoolManager, sleep: RecordingSleep, method: str, path: str
) -> None:
    # Given a default latency that would delay forwarded calls
    proxy.set_latency(0.5)

    # When a control path is requested
    reply = http.request(method, proxy.url + path)

    # Then the proxy answered it itself, undelayed, and counted nothing
    assert reply.status in (HTTPStatus.OK, HTTPStatus.NOT_FOUND)
    assert reply.headers["Content-Type"] == "application/json"
    assert isinstance(reply.json(), dict)
    assert proxy.calls() == 0
    assert sleep.slept == []


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("POST", "/_faultproxy/latency", {"seconds": "fast"}, HTTPStatus.BAD_REQUEST),
        ("POST", "/_faultproxy/latency", {"seconds": -1}, HTTPStatus.BAD_REQUEST),
        ("POST", "/_faultproxy/latency", {"seconds": 0.1, "operation": 3}, HTTPStatus.BAD_REQUEST),
        ("POST", "/_faultproxy/faults", {"code": "X"}, HTTPStatus.BAD_REQUEST),
        ("POST", "/_faultproxy/faults", {"operation": "Get", "count": 0}, HTTPStatus.BAD_REQUEST),
        ("POST", "/_faultproxy/faults", {"operation": "Get", "drop": 1}, HTTPStatus.BAD_REQUEST),
        (
            "POST",
            "/_faultproxy/faults",
            {"operation": "Get", "color": "red"},
            HTTPStatus.BAD_REQUEST,
        ),
        ("PUT", "/_faultproxy/faults", {}, HTTPStatus.METHOD_NOT_ALLOWED),
    ],
)
def test_control_bad_requests_are_refused_with_the_reason(
    proxy: FaultProxy,
    http: urllib3.PoolManager,
    method: str,
    path: str,
    body: dict[str, object],
    status: HTTPStatus,
) -> None:
    reply = http.request(method, proxy.url + path, body=json.dumps(body))
    assert reply.status == status
    assert reply.json()["message"]
    assert proxy.state.queued() == {}
    assert proxy.state.latency() == {"default": 0.0, "operations": {}}


def test_control_body_not_json_is_a_control_error(proxy: FaultProxy) -> None:
    http = urllib3.PoolManager(retries=False)
    reply = http.request("POST", proxy.url + "/_faultproxy/latency", body=b"{nope")
    assert reply.status == HTTPStatus.BAD_REQUEST
    with pytest.raises(ControlError) as raised:
        FaultProxyClient(proxy.url).set_latency(float("nan"))
    assert raised.value.status == HTTPStatus.BAD_REQUEST
