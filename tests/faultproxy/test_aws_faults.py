"""Injected faults reach real boto3 as the ClientError AWS would cause."""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import TYPE_CHECKING

import pytest
import urllib3
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError

from ringcx_dev.faultproxy import AWS_JSON, DROPPED, AwsFault, FaultProxy

from .conftest import RecordingSleep, client_via

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

pytestmark = pytest.mark.integration

GET = "GetSecretValue"
BATCH = "BatchGetSecretValue"


@pytest.mark.parametrize(
    ("fault", "code", "status"),
    [
        (AwsFault.throttling(), "ThrottlingException", HTTPStatus.BAD_REQUEST),
        (AwsFault.internal_error(), "InternalServiceError", HTTPStatus.INTERNAL_SERVER_ERROR),
        (AwsFault.service_unavailable(), "ServiceUnavailable", HTTPStatus.SERVICE_UNAVAILABLE),
        (AwsFault.limit_exceeded(), "LimitExceededException", HTTPStatus.BAD_REQUEST),
        (AwsFault.access_denied(), "AccessDeniedException", HTTPStatus.BAD_REQUEST),
        (AwsFault.not_found(), "ResourceNotFoundException", HTTPStatus.BAD_REQUEST),
    ],
    ids=lambda value: value.code if isinstance(value, AwsFault) else None,
)
def test_inject_each_constructor_makes_boto3_raise_client_error_with_its_code(
    proxy: FaultProxy,
    raw: SecretsManagerClient,
    secret_ids: tuple[str, ...],
    fault: AwsFault,
    code: str,
    status: HTTPStatus,
) -> None:
    # Given a fault queued for the next GetSecretValue
    proxy.inject(GET, fault)

    # When boto3 reads a secret (one attempt, so botocore shows the raw fault)
    with pytest.raises(ClientError) as raised:
        raw.get_secret_value(SecretId=secret_ids[0])

    # Then botocore parsed the code, message and status AWS would have sent
    error = raised.value.response
    assert error["Error"]["Code"] == code
    assert error["Error"]["Message"] == fault.message
    assert error["ResponseMetadata"]["HTTPStatusCode"] == status
    assert proxy.log() == [(GET, status)]
    # and the next call goes through to moto again
    assert raw.get_secret_value(SecretId=secret_ids[0])["SecretString"] == "0"


def test_fault_reply_is_the_aws_json_wire_format(
    proxy: FaultProxy, http: urllib3.PoolManager
) -> None:
    # Given a throttle queued
    proxy.inject(GET, AwsFault.throttling())

    # When a JSON-protocol request arrives
    reply = http.request(
        "POST",
        proxy.url + "/",
        body=b"{}",
        headers={"X-Amz-Target": "secretsmanager.GetSecretValue", "Content-Type": AWS_JSON},
    )

    # Then status, headers and body are those of an AWS JSON-protocol error
    assert reply.status == HTTPStatus.BAD_REQUEST
    assert reply.headers["Content-Type"] == AWS_JSON
    assert reply.headers["x-amzn-ErrorType"] == "ThrottlingException"
    assert reply.headers["x-amzn-RequestId"]
    assert json.loads(reply.data) == {"__type": "ThrottlingException", "message": "Rate exceeded"}


@pytest.mark.parametrize(
    ("retries", "fault", "log"),
    [
        ({}, AwsFault.throttling(), [(GET, 400), (GET, 200)]),
        ({"mode": "standard"}, AwsFault.limit_exceeded(), [(GET, 400), (GET, 200)]),
        ({}, AwsFault.internal_error(), [(GET, 500), (GET, 200)]),
        ({}, AwsFault.access_denied(), [(GET, 400)]),
    ],
    ids=["legacy-throttle", "standard-limit-exceeded", "legacy-500", "legacy-access-denied"],
)
def test_default_retries_treat_the_fault_as_on_aws(
    proxy: FaultProxy,
    secret_ids: tuple[str, ...],
    retries: dict[str, str],
    fault: AwsFault,
    log: list[tuple[str, int]],
) -> None:
    # Given one fault and a client with botocore's default attempts
    client = client_via(proxy, Config(retries=retries) if retries else None)
    proxy.inject(GET, fault)

    # When the client reads a secret
    try:
        value = client.get_secret_value(SecretId=secret_ids[1])["SecretString"]
    except ClientError as exc:
        value = exc.response["Error"]["Code"]

    # Then botocore retried exactly the retryable faults, as it would on AWS
    assert proxy.log() == log
    assert value == ("1" if len(log) == 2 else fault.code)


def test_inject_count_and_fifo_order_apply_to_the_next_calls(
    proxy: FaultProxy, raw: SecretsManagerClient, secret_ids: tuple[str, ...]
) -> None:
    # Given two throttles, then a not-found, queued in that order
    proxy.inject(GET, AwsFault.throttling(count=2))
    proxy.inject(GET, AwsFault.not_found())

    # When four reads follow
    codes = []
    for _ in range(4):
        try:
            raw.get_secret_value(SecretId=secret_ids[0])
            codes.append("ok")
        except ClientError as exc:
            codes.append(exc.response["Error"]["Code"])

    # Then they meet the faults in order, then moto
    assert codes == [
        "ThrottlingException",
        "ThrottlingException",
        "ResourceNotFoundException",
        "ok",
    ]
    assert [r.fault for r in proxy.records()] == [
        "ThrottlingException",
        "ThrottlingException",
        "ResourceNotFoundException",
        None,
    ]


def test_inject_other_operation_leaves_this_one_alone(
    proxy: FaultProxy, raw: SecretsManagerClient, secret_ids: tuple[str, ...]
) -> None:
    # Given a fault for writes only
    proxy.inject("PutSecretValue", AwsFault.limit_exceeded())

    # When a read happens, then a write
    value = raw.get_secret_value(SecretId=secret_ids[2])["SecretString"]
    with pytest.raises(ClientError) as raised:
        raw.put_secret_value(SecretId=secret_ids[2], SecretString="new")

    # Then the read passed and the write met the quota error
    assert value == "2"
    assert raised.value.response["Error"]["Code"] == "LimitExceededException"


def test_inject_for_one_secret_fails_that_secret_only(
    proxy: FaultProxy, raw: SecretsManagerClient, secret_ids: tuple[str, ...]
) -> None:
    # Given a ring slot that is missing while the others work
    missing = secret_ids[1]
    proxy.inject(GET, AwsFault.not_found(count=2), secret_id=missing)

    # When every slot is read twice
    outcomes = []
    for _ in range(2):
        for secret_id in secret_ids:
            try:
                outcomes.append(raw.get_secret_value(SecretId=secret_id)["SecretString"])
            except ClientError as exc:
                outcomes.append(exc.response["Error"]["Code"])

    # Then only that slot failed, both times, and the fault is used up
    assert outcomes == ["0", "ResourceNotFoundException", "2"] * 2
    assert raw.get_secret_value(SecretId=missing)["SecretString"] == "1"


def test_inject_for_one_secret_of_a_batch_reports_it_in_errors(
    proxy: FaultProxy, raw: SecretsManagerClient, secret_ids: tuple[str, ...]
) -> None:
    # Given one denied and one missing slot
    proxy.inject(BATCH, AwsFault.access_denied(), secret_id=secret_ids[0])
    proxy.inject(BATCH, AwsFault.not_found(), secret_id=secret_ids[2])

    # When the whole ring is read in one batch
    reply = raw.batch_get_secret_value(SecretIdList=list(secret_ids))

    # Then the other slot is returned and the two failed in Errors, as AWS reports them
    assert [v["SecretString"] for v in reply["SecretValues"]] == ["1"]
    assert {(e["SecretId"], e["ErrorCode"]) for e in reply["Errors"]} == {
        (secret_ids[0], "AccessDeniedException"),
        (secret_ids[2], "ResourceNotFoundException"),
    }
    assert proxy.log() == [(BATCH, 200)]
    # and the next batch is whole again
    assert len(raw.batch_get_secret_value(SecretIdList=list(secret_ids))["SecretValues"]) == 3


def test_inject_without_secret_fails_the_whole_batch(
    proxy: FaultProxy, raw: SecretsManagerClient, secret_ids: tuple[str, ...]
) -> None:
    # Given a throttle for the batch call itself
    proxy.inject(BATCH, AwsFault.throttling())

    # When the ring is read in one batch, then the batch raises
    with pytest.raises(ClientError) as raised:
        raw.batch_get_secret_value(SecretIdList=list(secret_ids))
    assert raised.value.response["Error"]["Code"] == "ThrottlingException"


def test_inject_drop_closes_the_connection_without_an_answer(
    proxy: FaultProxy, raw: SecretsManagerClient, secret_ids: tuple[str, ...], sleep: RecordingSleep
) -> None:
    # Given a dropped connection after a 2-second stall
    proxy.inject(GET, AwsFault.dropped(delay=2.0))

    # When boto3 reads a secret, then it sees the connection closed
    with pytest.raises(ConnectionClosedError):
        raw.get_secret_value(SecretId=secret_ids[0])

    # And the proxy recorded the drop and waited the stall
    (record,) = proxy.records()
    assert (record.status, record.fault) == (DROPPED, "drop")
    assert sleep.slept == [2.0]
    # and a new connection works
    assert raw.get_secret_value(SecretId=secret_ids[0])["SecretString"] == "0"


@pytest.mark.parametrize(
    "fields",
    [{"count": 0}, {"status": 200}, {"delay": -1.0}, {"code": ""}],
)
def test_aws_fault_invalid_fields_raise_value_error(fields: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=next(iter(fields))):
        AwsFault(**fields)  # type: ignore[arg-type]
