"""Latency per operation and the counters, read from the proxy's own record."""

from __future__ import annotations

import contextlib
from concurrent.futures import ThreadPoolExecutor
from http import HTTPStatus
from typing import TYPE_CHECKING

import pytest
from botocore.exceptions import ClientError

from ringcx_dev.faultproxy import AwsFault, FaultProxy

from .conftest import ONE_ATTEMPT, RecordingSleep, client_via

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

pytestmark = pytest.mark.integration


def _latencies(proxy: FaultProxy) -> list[tuple[str, float]]:
    return [(r.operation, r.latency) for r in proxy.records()]


def test_set_latency_per_operation_wins_over_the_default(
    proxy: FaultProxy,
    raw: SecretsManagerClient,
    secret_ids: tuple[str, ...],
    sleep: RecordingSleep,
) -> None:
    # Given 20 ms for reads and 5 ms for everything else, in either order
    proxy.set_latency(0.020, "GetSecretValue")
    proxy.set_latency(0.005)

    # When a read and a describe go through
    raw.get_secret_value(SecretId=secret_ids[0])
    raw.describe_secret(SecretId=secret_ids[0])

    # Then each waited its own latency before being forwarded
    assert _latencies(proxy) == [("GetSecretValue", 0.020), ("DescribeSecret", 0.005)]
    assert sleep.slept == [0.020, 0.005]


def test_set_latency_zero_for_one_operation_disables_it_there(
    proxy: FaultProxy, raw: SecretsManagerClient, secret_ids: tuple[str, ...]
) -> None:
    # Given a default latency that one operation opts out of
    proxy.set_latency(0.030)
    proxy.set_latency(0.0, "DescribeSecret")

    # When both operations go through
    raw.describe_secret(SecretId=secret_ids[0])
    raw.get_secret_value(SecretId=secret_ids[0])

    # Then only the other one was delayed
    assert _latencies(proxy) == [("DescribeSecret", 0.0), ("GetSecretValue", 0.030)]


def test_latency_applies_to_faulted_calls_before_their_own_delay(
    proxy: FaultProxy,
    raw: SecretsManagerClient,
    secret_ids: tuple[str, ...],
    sleep: RecordingSleep,
) -> None:
    # Given a round-trip latency and a slow throttle
    proxy.set_latency(0.020)
    proxy.inject("GetSecretValue", AwsFault.throttling(delay=0.5))

    # When the read meets the throttle
    with pytest.raises(ClientError, match="ThrottlingException"):
        raw.get_secret_value(SecretId=secret_ids[0])

    # Then it paid the round trip, then the fault's delay
    assert sleep.slept == [0.020, 0.5]
    assert _latencies(proxy) == [("GetSecretValue", 0.020)]


def test_clear_latency_removes_default_and_per_operation_values(
    proxy: FaultProxy, raw: SecretsManagerClient, secret_ids: tuple[str, ...]
) -> None:
    proxy.set_latency(0.010)
    proxy.set_latency(0.020, "GetSecretValue")
    proxy.clear_latency()
    raw.get_secret_value(SecretId=secret_ids[0])
    assert _latencies(proxy) == [("GetSecretValue", 0.0)]


@pytest.mark.parametrize("seconds", [-0.001, float("nan"), float("inf")])
def test_set_latency_invalid_raises_value_error(proxy: FaultProxy, seconds: float) -> None:
    with pytest.raises(ValueError, match="latency"):
        proxy.set_latency(seconds)


def test_calls_count_per_operation_and_reset_zeroes_them(
    proxy: FaultProxy, raw: SecretsManagerClient, secret_ids: tuple[str, ...]
) -> None:
    # Given reads of every slot, one of them faulted, and one batch
    proxy.inject("GetSecretValue", AwsFault.internal_error(), secret_id=secret_ids[2])
    for secret_id in secret_ids:
        with contextlib.suppress(ClientError):  # the faulted slot; the log says which
            raw.get_secret_value(SecretId=secret_id)
    raw.batch_get_secret_value(SecretIdList=list(secret_ids))

    # Then the counters and the log show every round trip in order
    assert proxy.calls("GetSecretValue") == 3
    assert proxy.calls("BatchGetSecretValue") == 1
    assert proxy.calls("PutSecretValue") == 0
    assert proxy.calls() == 4
    assert proxy.log() == [
        ("GetSecretValue", HTTPStatus.OK),
        ("GetSecretValue", HTTPStatus.OK),
        ("GetSecretValue", HTTPStatus.INTERNAL_SERVER_ERROR),
        ("BatchGetSecretValue", HTTPStatus.OK),
    ]

    # When the counters are reset, then they start again from zero
    proxy.reset_counters()
    assert proxy.calls() == 0
    assert proxy.log() == []


def test_clear_faults_of_one_operation_keeps_the_others(
    proxy: FaultProxy, raw: SecretsManagerClient, secret_ids: tuple[str, ...]
) -> None:
    proxy.inject("GetSecretValue", AwsFault.throttling())
    proxy.inject("DescribeSecret", AwsFault.not_found())
    proxy.clear_faults("GetSecretValue")
    assert raw.get_secret_value(SecretId=secret_ids[0])["SecretString"] == "0"
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        raw.describe_secret(SecretId=secret_ids[0])


def test_inject_count_one_is_taken_by_exactly_one_of_concurrent_calls(
    proxy: FaultProxy, secret_ids: tuple[str, ...]
) -> None:
    # Given one throttle and eight clients reading at once
    proxy.inject("GetSecretValue", AwsFault.throttling())
    clients = [client_via(proxy, ONE_ATTEMPT) for _ in range(8)]

    def read(client: SecretsManagerClient) -> str:
        try:
            return client.get_secret_value(SecretId=secret_ids[0])["SecretString"]
        except ClientError as exc:
            return exc.response["Error"]["Code"]

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(read, clients))

    # Then exactly one of them met it
    assert sorted(outcomes) == ["0"] * 7 + ["ThrottlingException"]
    assert proxy.calls("GetSecretValue") == 8
