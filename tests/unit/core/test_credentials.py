"""credentials.py: the RingCentral JWT credentials secret, parsed and loaded."""

from __future__ import annotations

import json
from http import HTTPStatus

import pytest

from ringcx_broker.credentials import Credentials, SecretCredentials, parse_credentials
from ringcx_broker.errors import (
    CredentialsInvalid,
    CredentialsNotConfigured,
    SecretStoreUnavailable,
)
from tests.unit.core.fakes import FakeSecretsManager

SECRET_ID = "arn:aws:secretsmanager:us-east-1:123456789012:secret:ringcx-broker/credentials-AbC"
GOOD = {"client_id": "cid-123", "client_secret": "csecret-456", "jwt": "eyJ.jwt-789.sig"}


def test_parse_credentials_complete_object_gives_credentials() -> None:
    # Given the documented secret shape
    # When it is parsed
    credentials = parse_credentials(json.dumps(GOOD), SECRET_ID)

    # Then all three fields are available
    assert credentials == Credentials("cid-123", "csecret-456", "eyJ.jwt-789.sig")


def test_credentials_repr_hides_client_secret_and_jwt() -> None:
    # Given parsed credentials
    credentials = parse_credentials(json.dumps(GOOD), SECRET_ID)

    # When rendered by a log line or traceback
    text = repr(credentials)

    # Then only the client id shows
    assert "cid-123" in text
    assert "csecret-456" not in text
    assert "jwt-789" not in text


@pytest.mark.parametrize("text", ["", "client_id=x", "{'client_id': 'x'}", '{"client_id": '])
def test_parse_credentials_not_json_raises_credentials_invalid(text: str) -> None:
    # Given a secret that is not JSON
    # When it is parsed
    with pytest.raises(CredentialsInvalid) as caught:
        parse_credentials(text, SECRET_ID)

    # Then the error says so and names the secret (503: the broker cannot log in)
    assert caught.value.message == f"credentials secret {SECRET_ID} is not valid JSON"
    assert caught.value.status == HTTPStatus.SERVICE_UNAVAILABLE


@pytest.mark.parametrize("text", ["[]", '["cid", "secret", "jwt"]', '"jwt"', "42", "null", "true"])
def test_parse_credentials_not_an_object_raises_credentials_invalid(text: str) -> None:
    # Given JSON that is not an object
    # When it is parsed
    with pytest.raises(CredentialsInvalid) as caught:
        parse_credentials(text, SECRET_ID)

    # Then the error says it must be an object
    assert caught.value.message == f"credentials secret {SECRET_ID} is not a JSON object"


def test_parse_credentials_empty_object_raises_not_configured_naming_fields() -> None:
    # Given the secret as the template creates it: {}
    # When it is parsed
    with pytest.raises(CredentialsNotConfigured) as caught:
        parse_credentials("{}", SECRET_ID)

    # Then the operator is told exactly what to put in it
    message = caught.value.message
    assert "not configured" in message
    assert SECRET_ID in message
    assert "client_id, client_secret, jwt" in message
    assert caught.value.status == HTTPStatus.SERVICE_UNAVAILABLE


@pytest.mark.parametrize(
    ("data", "missing"),
    [
        ({"client_id": "cid-123"}, "client_secret, jwt"),
        ({"client_id": "cid-123", "client_secret": "csecret-456"}, "jwt"),
        ({**GOOD, "jwt": ""}, "jwt"),
        ({**GOOD, "client_secret": None}, "client_secret"),
        ({**GOOD, "client_id": 123}, "client_id"),
        ({"clientId": "cid", "clientSecret": "s", "JWT": "j"}, "client_id, client_secret, jwt"),
    ],
    ids=["only-id", "no-jwt", "empty-jwt", "null-secret", "numeric-id", "wrong-spelling"],
)
def test_parse_credentials_missing_fields_raises_invalid_naming_them(
    data: dict[str, object], missing: str
) -> None:
    # Given a secret that lacks some fields (or has them empty or not strings)
    # When it is parsed
    with pytest.raises(CredentialsInvalid) as caught:
        parse_credentials(json.dumps(data), SECRET_ID)

    # Then the missing fields are named, and no present value is echoed
    assert caught.value.message == f"credentials secret {SECRET_ID} lacks {missing}"
    assert "csecret-456" not in caught.value.message


# -- SecretCredentials ------------------------------------------------------------


@pytest.fixture
def store() -> FakeSecretsManager:
    return FakeSecretsManager()


@pytest.mark.parametrize("secret_id", [None, ""])
def test_secret_credentials_unset_secret_id_raises_not_configured_without_calls(
    store: FakeSecretsManager, secret_id: str | None
) -> None:
    # Given no CREDENTIALS_SECRET_ID
    credentials = SecretCredentials(store.client, secret_id)

    # When credentials are loaded
    with pytest.raises(CredentialsNotConfigured) as caught:
        credentials.load()

    # Then the variable is named, and Secrets Manager is not called
    assert credentials.configured is False
    assert "CREDENTIALS_SECRET_ID is not set" in caught.value.message
    assert store.calls == []


def test_secret_credentials_stored_secret_loads_and_rereads_every_time(
    store: FakeSecretsManager,
) -> None:
    # Given a credentials secret
    arn = store.create_secret(Name="creds", SecretString=json.dumps(GOOD))["ARN"]
    credentials = SecretCredentials(store.client, arn)

    # When it is loaded, fixed by an operator, and loaded again
    first = credentials.load()
    store.external_put(arn, json.dumps({**GOOD, "jwt": "eyJ.rotated.sig"}))
    second = credentials.load()

    # Then each login sees the current value (no cache to expire)
    assert credentials.configured is True
    assert first.jwt == "eyJ.jwt-789.sig"
    assert second.jwt == "eyJ.rotated.sig"
    assert store.count("get_secret_value") == 2


def test_secret_credentials_empty_object_raises_not_configured(store: FakeSecretsManager) -> None:
    # Given the template's initial {} credentials secret
    arn = store.create_secret(Name="creds", SecretString="{}")["ARN"]

    # When credentials are loaded
    with pytest.raises(CredentialsNotConfigured) as caught:
        SecretCredentials(store.client, arn).load()

    # Then the fields to fill in are named
    assert "client_id, client_secret, jwt" in caught.value.message


@pytest.mark.parametrize("exists", [False, True], ids=["no-secret", "secret-without-value"])
def test_secret_credentials_resource_not_found_raises_not_configured(
    store: FakeSecretsManager, exists: bool
) -> None:
    # Given a secret id that does not exist, or a secret that has no value yet
    if exists:
        store.create_secret(Name="creds")
    credentials = SecretCredentials(store.client, "creds")

    # When credentials are loaded (Secrets Manager: ResourceNotFoundException)
    with pytest.raises(CredentialsNotConfigured) as caught:
        credentials.load()

    # Then it is "not configured" (503), naming the secret
    assert "secret creds does not exist or has no value" in caught.value.message
    assert caught.value.status == HTTPStatus.SERVICE_UNAVAILABLE


@pytest.mark.parametrize(
    ("code", "shown"),
    [
        ("ThrottlingException", "ThrottlingException"),
        ("AccessDeniedException", "AccessDeniedException"),
        ("InternalServiceError", "InternalServiceError"),
        ("EndpointConnectionError", "EndpointConnectionError"),
    ],
)
def test_secret_credentials_store_failure_raises_secret_store_unavailable(
    store: FakeSecretsManager, code: str, shown: str
) -> None:
    # Given a credentials secret that Secrets Manager fails to return
    arn = store.create_secret(Name="creds", SecretString=json.dumps(GOOD))["ARN"]
    store.fail("get_secret_value", code)

    # When credentials are loaded
    with pytest.raises(SecretStoreUnavailable) as caught:
        SecretCredentials(store.client, arn).load()

    # Then the store is reported unavailable with the failure's name, never a value
    assert shown in caught.value.message
    assert arn in caught.value.message
    assert "csecret-456" not in caught.value.message
    assert caught.value.status == HTTPStatus.SERVICE_UNAVAILABLE


def test_secret_credentials_binary_secret_raises_invalid(store: FakeSecretsManager) -> None:
    # Given a secret whose value carries no SecretString (a binary secret reads as None)
    arn = store.create_secret(Name="creds", SecretString="")["ARN"]

    # When credentials are loaded
    with pytest.raises(CredentialsInvalid) as caught:
        SecretCredentials(store.client, arn).load()

    # Then it is reported as not JSON rather than crashing
    assert "is not valid JSON" in caught.value.message
