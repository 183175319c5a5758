"""The fake Secrets Manager must behave like the real one where the ring relies on it."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ParamValidationError

from tests.unit.core.fakes import FakeSecretsManager

TOKEN_A = "a" * 36
TOKEN_B = "b" * 36


@pytest.fixture
def sm() -> FakeSecretsManager:
    return FakeSecretsManager()


def _code(error: ClientError) -> str:
    return str(error.response["Error"]["Code"])


def test_fake_sm_put_creates_versions_and_moves_current(sm: FakeSecretsManager) -> None:
    # Given a secret created with {}
    arn = sm.create_secret(Name="slot", SecretString="{}")["ARN"]

    # When two values are put
    sm.put_secret_value(SecretId=arn, SecretString="one", ClientRequestToken=TOKEN_A)
    sm.put_secret_value(SecretId="slot", SecretString="two", ClientRequestToken=TOKEN_B)

    # Then each put is a version, the latest is AWSCURRENT, the one before AWSPREVIOUS
    assert sm.version_count(arn) == 3
    assert sm.get_secret_value(SecretId=arn)["SecretString"] == "two"
    previous = sm.get_secret_value(SecretId=arn, VersionStage="AWSPREVIOUS")
    assert previous["SecretString"] == "one"
    assert previous["VersionId"] == TOKEN_A


def test_fake_sm_same_request_token_same_value_is_a_no_op(sm: FakeSecretsManager) -> None:
    # Given a version written with a ClientRequestToken
    sm.create_secret(Name="slot", SecretString="{}")
    sm.put_secret_value(SecretId="slot", SecretString="one", ClientRequestToken=TOKEN_A)

    # When the same token and value are put again
    reply = sm.put_secret_value(SecretId="slot", SecretString="one", ClientRequestToken=TOKEN_A)

    # Then nothing changes
    assert reply["VersionId"] == TOKEN_A
    assert sm.version_count("slot") == 2


def test_fake_sm_same_request_token_other_value_raises_resource_exists(
    sm: FakeSecretsManager,
) -> None:
    # Given a version written with a ClientRequestToken
    sm.create_secret(Name="slot", SecretString="{}")
    sm.put_secret_value(SecretId="slot", SecretString="one", ClientRequestToken=TOKEN_A)

    # When the same token is put with a different value
    with pytest.raises(ClientError) as caught:
        sm.put_secret_value(SecretId="slot", SecretString="two", ClientRequestToken=TOKEN_A)

    # Then Secrets Manager refuses, and the first value stays
    assert _code(caught.value) == "ResourceExistsException"
    assert sm.current_value("slot") == "one"


@pytest.mark.parametrize("token", ["short", "x" * 65])
def test_fake_sm_request_token_of_wrong_length_fails_validation(
    sm: FakeSecretsManager, token: str
) -> None:
    # Given a secret
    sm.create_secret(Name="slot", SecretString="{}")

    # When a ClientRequestToken outside 32..64 characters is used
    # Then botocore's parameter validation refuses it
    with pytest.raises(ParamValidationError):
        sm.put_secret_value(SecretId="slot", SecretString="v", ClientRequestToken=token)


def test_fake_sm_unknown_or_valueless_secret_raises_resource_not_found(
    sm: FakeSecretsManager,
) -> None:
    # Given one secret without a value
    sm.create_secret(Name="empty")

    # When reading it, and reading an unknown one
    # Then both are ResourceNotFoundException
    for secret_id in ("empty", "missing"):
        with pytest.raises(ClientError) as caught:
            sm.get_secret_value(SecretId=secret_id)
        assert _code(caught.value) == "ResourceNotFoundException"


def test_fake_sm_injected_failures_fire_n_times_then_clear(sm: FakeSecretsManager) -> None:
    # Given two throttles and one connection error queued for reads
    sm.create_secret(Name="slot", SecretString="{}")
    sm.fail("get_secret_value", "ThrottlingException", times=2)
    sm.fail("get_secret_value", "EndpointConnectionError")

    # When reading four times
    codes = []
    for _ in range(2):
        with pytest.raises(ClientError) as caught:
            sm.get_secret_value(SecretId="slot")
        codes.append(_code(caught.value))
    with pytest.raises(EndpointConnectionError):
        sm.get_secret_value(SecretId="slot")
    value = sm.get_secret_value(SecretId="slot")["SecretString"]

    # Then the failures fire in order, then reads work; every call is counted
    assert codes == ["ThrottlingException", "ThrottlingException"]
    assert value == "{}"
    assert sm.count("get_secret_value") == 4
    assert sm.count("get_secret_value", "slot") == 4


def test_fake_sm_failure_after_apply_stores_then_raises(sm: FakeSecretsManager) -> None:
    # Given a put whose response will be lost after it lands
    sm.create_secret(Name="slot", SecretString="{}")
    sm.fail("put_secret_value", "InternalServiceError", after_apply=True)

    # When the put is made
    with pytest.raises(ClientError):
        sm.put_secret_value(SecretId="slot", SecretString="one", ClientRequestToken=TOKEN_A)

    # Then the value is stored anyway (a retry with the same token is then a no-op)
    assert sm.current_value("slot") == "one"
    sm.put_secret_value(SecretId="slot", SecretString="one", ClientRequestToken=TOKEN_A)
    assert sm.version_count("slot") == 2


def test_fake_sm_before_next_hook_runs_once_before_the_call(sm: FakeSecretsManager) -> None:
    # Given another writer scheduled to land just before our next put
    sm.create_secret(Name="slot", SecretString="{}")
    sm.before_next(
        "put_secret_value",
        lambda: sm.external_put("slot", "theirs", TOKEN_A),
    )

    # When we put with the same request token
    with pytest.raises(ClientError) as caught:
        sm.put_secret_value(SecretId="slot", SecretString="ours", ClientRequestToken=TOKEN_A)

    # Then we collide with them; their write was not counted as ours
    assert _code(caught.value) == "ResourceExistsException"
    assert sm.current_value("slot") == "theirs"
    assert sm.count("put_secret_value") == 1


def test_fake_sm_version_limit_raises_limit_exceeded() -> None:
    # Given a secret close to its version quota
    sm = FakeSecretsManager(max_versions=2)
    sm.create_secret(Name="slot", SecretString="{}")
    sm.put_secret_value(SecretId="slot", SecretString="one", ClientRequestToken=TOKEN_A)

    # When one more version is written
    with pytest.raises(ClientError) as caught:
        sm.put_secret_value(SecretId="slot", SecretString="two", ClientRequestToken=TOKEN_B)

    # Then Secrets Manager refuses with LimitExceededException
    assert _code(caught.value) == "LimitExceededException"
