"""BrokerClient against the whole broker run locally with SigV4 verified: the
client signs for real (botocore) and the local API Gateway checks it."""

from __future__ import annotations

import dataclasses
import json
import socket
from http import HTTPStatus

import boto3
import pytest
from botocore.credentials import Credentials

from ringcx_broker_client import (
    BrokerClient,
    CredentialsMissing,
    NotAuthorized,
    RegionMissing,
    Unreachable,
)
from ringcx_dev.local.runner import LocalRun

from .conftest import ACCOUNTS, ECHO, KEY, REGION, credentials

MISMATCH = "The request signature we calculated does not match the signature you provided."


@pytest.fixture
def broker(local_broker: LocalRun) -> BrokerClient:
    return BrokerClient(local_broker.api_url, region=REGION, credentials=credentials())


def test_client_get_signed_for_real_returns_the_accounts(broker: BrokerClient) -> None:
    # Given the local broker requiring SigV4 / When the client GETs through the proxy
    accounts = broker.get(ACCOUNTS)
    # Then the parsed JSON of RingCX's answer
    assert isinstance(accounts, list)
    assert accounts[0]["accountId"]


def test_client_health_returns_token_status_without_a_token(broker: BrokerClient) -> None:
    health = broker.health()
    assert health["ok"] is True
    assert health["secondsLeft"] > 0
    assert "accessToken" not in json.dumps(health)


def test_client_post_json_arrives_unchanged(broker: BrokerClient) -> None:
    # When the client POSTs JSON (a signed body) to the echo route
    echo = broker.post(ECHO, json={"a": [1, "ü"], "b": None})
    # Then upstream got exactly that JSON as the body
    assert echo["method"] == "POST"
    assert json.loads(echo["bodyText"]) == {"a": [1, "ü"], "b": None}
    assert echo["headers"]["content-type"] == "application/json"


@pytest.mark.parametrize(
    ("params", "query"),
    [
        pytest.param({"b": "2", "a": "x y"}, {"a": ["x y"], "b": ["2"]}, id="mapping-unsorted"),
        pytest.param(
            [("a", "z/~"), ("a", "1+1=2&"), ("c", "")],
            {"a": ["z/~", "1+1=2&"], "c": [""]},
            id="repeated-and-reserved",
        ),
    ],
)
def test_client_query_parameters_are_signed_and_forwarded(
    broker: BrokerClient, params: dict[str, str] | list[tuple[str, str]], query: object
) -> None:
    echo = broker.get(ECHO, params=params)
    assert echo["query"] == query


def test_client_encoded_path_is_signed_as_sent(broker: BrokerClient) -> None:
    echo = broker.get(ECHO + "/a%20b/c d")
    assert echo["rawPath"] == ECHO + "/a%20b/c%20d"


@pytest.mark.parametrize(
    ("signing", "error_type", "message"),
    [
        pytest.param(
            {"secret": "not-the-secret"}, "InvalidSignatureException", MISMATCH, id="wrong-secret"
        ),
        pytest.param(
            {"key": "AKIDSTRANGER"},
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
            id="unknown-key",
        ),
        pytest.param(
            {"region": "eu-west-1"},
            "InvalidSignatureException",
            "Credential should be scoped to a valid region, not 'eu-west-1'. ",
            id="wrong-region",
        ),
    ],
)
def test_client_rejected_signature_is_not_authorized_with_the_gateways_message(
    local_broker: LocalRun, signing: dict[str, str], error_type: str, message: str
) -> None:
    # Given a client that signs with the wrong secret, key or region
    key = dataclasses.replace(
        KEY,
        access_key_id=signing.get("key", KEY.access_key_id),
        secret_access_key=signing.get("secret", KEY.secret_access_key),
    )
    client = BrokerClient(
        local_broker.api_url,
        region=signing.get("region", REGION),
        credentials=credentials(key),
    )
    # When it calls / Then a typed 403 carrying API Gateway's own message
    with pytest.raises(NotAuthorized) as caught:
        client.get(ACCOUNTS)
    error = caught.value
    assert (error.status, error.error_type, error.attempts) == (
        HTTPStatus.FORBIDDEN,
        error_type,
        1,
    )
    assert error.message.startswith(message)
    # and never the caller's session token or secret, even in the canonical request
    assert str(KEY.session_token) not in str(error)
    assert key.secret_access_key not in str(error)


def test_client_default_chain_signs_with_the_environments_key(
    local_broker: LocalRun, key_env: object
) -> None:
    # Given the key in AWS_ACCESS_KEY_ID/... and no explicit credentials
    client = BrokerClient(local_broker.api_url, region=REGION)
    # When it calls / Then boto3's normal chain found and used it
    assert client.get(ACCOUNTS)


def test_client_without_any_credentials_raises_credentials_missing(
    local_broker: LocalRun, no_credentials: None
) -> None:
    client = BrokerClient(local_broker.api_url, session=boto3.Session(region_name=REGION))
    with pytest.raises(CredentialsMissing, match="no AWS credentials found"):
        client.health()


def test_client_localhost_without_region_raises_region_missing(
    no_credentials: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_REGION")
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    with pytest.raises(RegionMissing, match="does not name one"):
        BrokerClient("http://127.0.0.1:3000", session=boto3.Session(region_name=None))


@pytest.mark.parametrize(
    ("url", "region"),
    [
        ("https://abc123.execute-api.eu-west-1.amazonaws.com/v1", "eu-west-1"),
        ("https://abc123-vpce-0a1b.execute-api.ap-south-1.vpce.amazonaws.com/v1", "ap-south-1"),
        ("https://abc123.execute-api.cn-north-1.amazonaws.com.cn/v1", "cn-north-1"),
    ],
)
def test_client_region_comes_from_the_execute_api_url(url: str, region: str) -> None:
    client = BrokerClient(url, credentials=Credentials("a", "b"))
    assert client.region == region


def test_client_closed_port_is_unreachable() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        port = holder.getsockname()[1]
    client = BrokerClient(f"http://127.0.0.1:{port}", region=REGION, credentials=credentials())
    with pytest.raises(Unreachable, match=f"cannot reach http://127.0.0.1:{port}"):
        client.health()
