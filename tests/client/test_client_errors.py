"""BrokerClient's bad cases: expired credentials, Retry-After with its bounds,
non-JSON and other error answers, and stacks without the ApiUrl output."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

import pytest
from botocore.credentials import RefreshableCredentials

from ringcx_broker_client import (
    BrokerClient,
    BrokerError,
    CredentialsExpired,
    NotAuthorized,
    NotJson,
    RateLimited,
    RetryPolicy,
    StackNotFound,
    StackOutputMissing,
    Unavailable,
)
from ringcx_dev.local.apigw import HttpResponse
from ringcx_dev.local.runner import LocalRun

from .conftest import (
    ACCOUNTS,
    KEY,
    REGION,
    FakeClock,
    ScriptedServer,
    credentials,
    json_answer,
    make_stack,
)

if TYPE_CHECKING:
    from mypy_boto3_cloudformation import CloudFormationClient

NO_TOKEN = json_answer(503, {"message": "No usable token"}, (("Retry-After", "2"),))


def _client(url: str, clock: FakeClock, retry: RetryPolicy | None = None) -> BrokerClient:
    return BrokerClient(
        url,
        region=REGION,
        credentials=credentials(),
        retry=retry or RetryPolicy(max_attempts=3, max_total_wait=30.0),
        sleep=clock.sleep,
        clock=clock,
    )


# -- credentials that cannot be used --------------------------------------------


def _expired(refresh: Any) -> RefreshableCredentials:
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    return RefreshableCredentials.create_from_metadata(
        metadata={
            "access_key": KEY.access_key_id,
            "secret_key": KEY.secret_access_key,
            "token": KEY.session_token,
            "expiry_time": past,
        },
        refresh_using=refresh,
        method="test-sso",
    )


def _refresh_fails() -> dict[str, str]:
    raise RuntimeError("the SSO session has expired")


def _refresh_still_expired() -> dict[str, str]:
    return {
        "access_key": KEY.access_key_id,
        "secret_key": KEY.secret_access_key,
        "token": str(KEY.session_token),
        "expiry_time": (datetime.now(UTC) - timedelta(minutes=1)).isoformat(),
    }


@pytest.mark.parametrize("refresh", [_refresh_fails, _refresh_still_expired])
def test_client_expired_credentials_raise_credentials_expired(
    local_broker: LocalRun, refresh: Any
) -> None:
    # Given credentials whose expiry passed and whose refresh cannot help
    client = BrokerClient(local_broker.api_url, region=REGION, credentials=_expired(refresh))
    # When a call is signed / Then a typed error, before anything is sent
    with pytest.raises(CredentialsExpired, match="could not be refreshed"):
        client.get(ACCOUNTS)


# -- Retry-After ------------------------------------------------------------------


def test_client_503_with_retry_after_retries_then_raises_unavailable(
    scripted: tuple[ScriptedServer, str],
) -> None:
    # Given a broker that keeps answering 503 Retry-After: 2
    server, url = scripted
    server.answers = [NO_TOKEN]
    clock = FakeClock()
    # When the client calls with 3 attempts allowed
    with pytest.raises(Unavailable) as caught:
        _client(url, clock).get(ACCOUNTS)
    # Then it waited what it was told, twice, and gave up with the broker's message
    error = caught.value
    assert clock.sleeps == [2.0, 2.0]
    assert len(server.requests) == 3
    assert (error.status, error.message, error.retry_after, error.attempts) == (
        HTTPStatus.SERVICE_UNAVAILABLE,
        "No usable token",
        2.0,
        3,
    )
    # and every attempt was signed
    assert all(r.header("authorization") for r in server.requests)


@pytest.mark.parametrize(
    ("retry_after", "max_total_wait", "sleeps"),
    [
        pytest.param("20", 30.0, [20.0], id="second-wait-would-pass-the-bound"),
        pytest.param("60", 30.0, [], id="first-wait-already-too-long"),
    ],
)
def test_client_retry_after_beyond_the_total_wait_is_not_waited_for(
    scripted: tuple[ScriptedServer, str],
    retry_after: str,
    max_total_wait: float,
    sleeps: list[float],
) -> None:
    server, url = scripted
    server.answers = [json_answer(503, {"message": "busy"}, (("Retry-After", retry_after),))]
    clock = FakeClock()
    retry = RetryPolicy(max_attempts=5, max_total_wait=max_total_wait)
    with pytest.raises(Unavailable) as caught:
        _client(url, clock, retry).get(ACCOUNTS)
    assert clock.sleeps == sleeps
    assert caught.value.retry_after == float(retry_after)
    assert caught.value.attempts == len(sleeps) + 1


def test_client_429_then_success_returns_the_answer(scripted: tuple[ScriptedServer, str]) -> None:
    # Given a 429 whose wait is only in the broker's body (retryAfter), then success
    server, url = scripted
    server.answers = [
        json_answer(429, {"message": "RingCX rate limit", "retryAfter": 3}),
        json_answer(200, [{"accountId": "1"}]),
    ]
    clock = FakeClock()
    # When called / Then one wait of 3 s and the second answer
    assert _client(url, clock).get(ACCOUNTS) == [{"accountId": "1"}]
    assert clock.sleeps == [3.0]


def test_client_without_retry_after_backs_off_exponentially(
    scripted: tuple[ScriptedServer, str],
) -> None:
    server, url = scripted
    server.answers = [json_answer(429, {"message": "Too Many Requests"})]
    clock = FakeClock()
    retry = RetryPolicy(max_attempts=4, max_total_wait=30.0, base_wait=0.5)
    with pytest.raises(RateLimited) as caught:
        _client(url, clock, retry).get(ACCOUNTS)
    assert clock.sleeps == [0.5, 1.0, 2.0]
    assert caught.value.retry_after is None


# -- answers that are not what they should be -------------------------------------


@pytest.mark.parametrize("status", [HTTPStatus.OK, HTTPStatus.BAD_GATEWAY])
def test_client_non_json_answer_raises_not_json(
    scripted: tuple[ScriptedServer, str], status: int
) -> None:
    server, url = scripted
    server.answers = [
        HttpResponse(status, [("Content-Type", "text/html")], b"<html>Bad Gateway</html>")
    ]
    with pytest.raises(NotJson) as caught:
        _client(url, FakeClock()).get(ACCOUNTS)
    assert caught.value.status == status
    assert "Content-Type text/html" in caught.value.message
    assert "<html>Bad Gateway" in caught.value.message


def test_client_iam_denial_is_not_authorized_with_its_message(
    scripted: tuple[ScriptedServer, str],
) -> None:
    # Given API Gateway's answer when IAM denies the route ("Message", and a typed header)
    server, url = scripted
    denied = (
        "User: arn:aws:sts::1:assumed-role/r/s is not authorized to perform: execute-api:Invoke"
    )
    server.answers = [
        json_answer(
            403,
            {"Message": denied},
            (("x-amzn-ErrorType", "AccessDeniedException:http://internal.amazon.com/coral/"),),
        )
    ]
    with pytest.raises(NotAuthorized) as caught:
        _client(url, FakeClock()).get(ACCOUNTS)
    assert (caught.value.message, caught.value.error_type) == (denied, "AccessDeniedException")


def test_client_other_error_is_a_broker_error_with_status_and_message(
    scripted: tuple[ScriptedServer, str],
) -> None:
    server, url = scripted
    server.answers = [
        json_answer(405, {"message": "Method PUT is not allowed"}, (("x-amzn-RequestId", "r-9"),))
    ]
    clock = FakeClock()
    with pytest.raises(BrokerError) as caught:
        _client(url, clock).request("PUT", "/voice/api/v1/admin/accounts")
    error = caught.value
    assert type(error) is BrokerError
    assert (error.status, error.message, error.request_id) == (
        405,
        "Method PUT is not allowed",
        "r-9",
    )
    assert clock.sleeps == []


# -- the URL from a stack ------------------------------------------------------------


def test_client_from_stack_reads_api_url_and_calls_it(
    cloudformation: CloudFormationClient, local_broker: LocalRun
) -> None:
    # Given a stack whose ApiUrl output is the local broker
    stack = make_stack(cloudformation, {"ApiUrl": local_broker.api_url, "Other": "x"})
    # When the client is made from the stack name
    client = BrokerClient.from_stack(
        stack, region=REGION, cloudformation=cloudformation, credentials=credentials()
    )
    # Then it calls that URL, signed
    assert client.api_url == local_broker.api_url
    assert client.get(ACCOUNTS)


def test_client_from_stack_without_api_url_raises_stack_output_missing(
    cloudformation: CloudFormationClient,
) -> None:
    stack = make_stack(cloudformation, {"SomethingElse": "x"})
    with pytest.raises(StackOutputMissing, match=r"has no ApiUrl output \(its outputs: Something"):
        BrokerClient.from_stack(stack, region=REGION, cloudformation=cloudformation)


def test_client_from_unknown_stack_raises_stack_not_found(
    cloudformation: CloudFormationClient,
) -> None:
    with pytest.raises(StackNotFound, match="no CloudFormation stack named 'not-deployed'"):
        BrokerClient.from_stack("not-deployed", region=REGION, cloudformation=cloudformation)
