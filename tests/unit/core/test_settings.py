"""settings.py: the environment the template sets, parsed and validated."""

from __future__ import annotations

from http import HTTPStatus

import pytest

from ringcx_broker.errors import ConfigurationError
from ringcx_broker.settings import Settings
from ringcx_broker.timing import TimingPolicy

ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:ringcx-broker/token-slot-{}-AbCdEf"


def test_settings_from_env_empty_environment_uses_documented_defaults() -> None:
    # Given an environment with none of the broker's variables
    # When settings are read
    settings = Settings.from_env({})

    # Then the documented defaults apply (docs/contract.md)
    assert settings == Settings()
    assert settings.ringcx_url == "https://engage.ringcentral.com"
    assert settings.ringcentral_url == "https://platform.ringcentral.com"
    assert settings.credentials_secret_id is None
    assert settings.token_secret_ids == ()
    assert settings.timing == TimingPolicy(0.4, 0.1, 60.0)
    assert settings.refresh_function_name is None
    assert settings.allowed_methods == frozenset({"GET", "POST"})
    assert settings.upstream_timeout == 20.0
    assert settings.token_endpoint_enabled is False


def test_settings_from_env_full_environment_is_parsed() -> None:
    # Given every variable the template sets, with the usual untidiness
    env = {
        "RINGCX_SERVER_URL": "https://ringcx.ringcentral.com/",
        "RINGCENTRAL_SERVER_URL": "http://127.0.0.1:8181",
        "CREDENTIALS_SECRET_ID": "arn:aws:secretsmanager:us-east-1:1:secret:creds-XyZ",
        "TOKEN_SECRET_IDS": f" {ARN.format(0)} ,{ARN.format(1)},, {ARN.format(2)} ",
        "REFRESH_FRACTION": "0.45",
        "PROXY_LEEWAY_FRACTION": "0.05",
        "REFRESH_INTERVAL_SECONDS": "120",
        "REFRESH_FUNCTION_NAME": "ringcx-broker-RefreshFunction-ABC",
        "ALLOWED_METHODS": "get, Post ,PUT,",
        "UPSTREAM_TIMEOUT_SECONDS": "25",
        "TOKEN_ENDPOINT_ENABLED": "True",
    }

    # When settings are read
    settings = Settings.from_env(env)

    # Then each value is normalised
    assert settings.ringcx_url == "https://ringcx.ringcentral.com"
    assert settings.ringcentral_url == "http://127.0.0.1:8181"
    assert settings.credentials_secret_id == env["CREDENTIALS_SECRET_ID"]
    assert settings.token_secret_ids == (ARN.format(0), ARN.format(1), ARN.format(2))
    assert settings.timing == TimingPolicy(0.45, 0.05, 120.0)
    assert settings.refresh_function_name == "ringcx-broker-RefreshFunction-ABC"
    assert settings.allowed_methods == frozenset({"GET", "POST", "PUT"})
    assert settings.upstream_timeout == 25.0
    assert settings.token_endpoint_enabled is True
    assert settings.require_ring() == settings.token_secret_ids


@pytest.mark.parametrize("name", ["CREDENTIALS_SECRET_ID", "REFRESH_FUNCTION_NAME"])
def test_settings_from_env_empty_optional_ids_are_none(name: str) -> None:
    # Given an optional id set to "" (how CloudFormation passes "unset")
    # When settings are read
    settings = Settings.from_env({name: ""})

    # Then the value is None, not an empty id
    assert settings.credentials_secret_id is None
    assert settings.refresh_function_name is None


@pytest.mark.parametrize(
    ("raw", "enabled"),
    [("true", True), ("TRUE", True), ("false", False), ("", False), ("yes", False)],
)
def test_settings_from_env_token_endpoint_flag_is_strictly_true(raw: str, enabled: bool) -> None:
    # Given TOKEN_ENDPOINT_ENABLED in some spelling
    # When settings are read
    # Then only "true" (any case) enables it
    assert Settings.from_env({"TOKEN_ENDPOINT_ENABLED": raw}).token_endpoint_enabled is enabled


def test_settings_from_env_without_argument_reads_process_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given the process environment of a Lambda function
    monkeypatch.setenv("RINGCX_SERVER_URL", "https://ringcx.ringcentral.com")
    monkeypatch.setenv("TOKEN_SECRET_IDS", "slot-a,slot-b")

    # When settings are read without an explicit mapping
    settings = Settings.from_env()

    # Then os.environ is used
    assert settings.ringcx_url == "https://ringcx.ringcentral.com"
    assert settings.token_secret_ids == ("slot-a", "slot-b")


@pytest.mark.parametrize(
    ("env", "fragments"),
    [
        (
            {"RINGCX_SERVER_URL": "ftp://engage.ringcentral.com"},
            ["RINGCX_SERVER_URL", "bare http(s) origin", "ftp://"],
        ),
        (
            {"RINGCX_SERVER_URL": "engage.ringcentral.com"},
            ["RINGCX_SERVER_URL", "'engage.ringcentral.com'"],
        ),
        (
            {"RINGCX_SERVER_URL": "https://engage.ringcentral.com/voice/api"},
            ["RINGCX_SERVER_URL", "/voice/api"],
        ),
        ({"RINGCX_SERVER_URL": "https://"}, ["RINGCX_SERVER_URL", "bare http(s) origin"]),
        ({"RINGCENTRAL_SERVER_URL": "platform.ringcentral.com:443"}, ["RINGCENTRAL_SERVER_URL"]),
        (
            {"RINGCENTRAL_SERVER_URL": "https://platform.ringcentral.com/restapi"},
            ["RINGCENTRAL_SERVER_URL", "/restapi"],
        ),
        (
            {"REFRESH_FRACTION": "forty percent"},
            ["REFRESH_FRACTION", "must be a number", "'forty percent'"],
        ),
        ({"REFRESH_FRACTION": "0"}, ["REFRESH_FRACTION", "must be positive"]),
        ({"REFRESH_FRACTION": "-0.4"}, ["REFRESH_FRACTION", "must be positive"]),
        ({"REFRESH_FRACTION": "1"}, ["REFRESH_FRACTION", "between 0 and 1", "1.0"]),
        ({"REFRESH_FRACTION": "40"}, ["REFRESH_FRACTION", "between 0 and 1"]),
        ({"PROXY_LEEWAY_FRACTION": "1.5"}, ["PROXY_LEEWAY_FRACTION", "between 0 and 1"]),
        ({"PROXY_LEEWAY_FRACTION": "x"}, ["PROXY_LEEWAY_FRACTION", "must be a number"]),
        ({"REFRESH_INTERVAL_SECONDS": "0"}, ["REFRESH_INTERVAL_SECONDS", "must be positive"]),
        ({"REFRESH_INTERVAL_SECONDS": "1m"}, ["REFRESH_INTERVAL_SECONDS", "must be a number"]),
        (
            {"UPSTREAM_TIMEOUT_SECONDS": "29"},
            ["UPSTREAM_TIMEOUT_SECONDS", "below API Gateway's 29 s"],
        ),
        (
            {"UPSTREAM_TIMEOUT_SECONDS": "90"},
            ["UPSTREAM_TIMEOUT_SECONDS", "below API Gateway's 29 s"],
        ),
        ({"UPSTREAM_TIMEOUT_SECONDS": "-1"}, ["UPSTREAM_TIMEOUT_SECONDS", "must be positive"]),
        ({"UPSTREAM_TIMEOUT_SECONDS": "soon"}, ["UPSTREAM_TIMEOUT_SECONDS", "must be a number"]),
        ({"EXCHANGE_COOLDOWN_SECONDS": "-1"}, ["EXCHANGE_COOLDOWN_SECONDS", "must be positive"]),
        ({"EXCHANGE_COOLDOWN_SECONDS": "1m"}, ["EXCHANGE_COOLDOWN_SECONDS", "must be a number"]),
    ],
    ids=[
        "ringcx-ftp",
        "ringcx-no-scheme",
        "ringcx-with-path",
        "ringcx-no-host",
        "rc-no-scheme",
        "rc-with-path",
        "fraction-text",
        "fraction-zero",
        "fraction-negative",
        "fraction-one",
        "fraction-percent",
        "leeway-above-one",
        "leeway-text",
        "interval-zero",
        "interval-with-unit",
        "timeout-at-gateway-limit",
        "timeout-above-gateway-limit",
        "timeout-negative",
        "timeout-text",
        "cooldown-negative",
        "cooldown-with-unit",
    ],
)
def test_settings_from_env_invalid_value_raises_configuration_error_naming_it(
    env: dict[str, str], fragments: list[str]
) -> None:
    # Given one wrong variable
    # When settings are read
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env(env)

    # Then a 500-class configuration error names the variable and what is wrong
    assert caught.value.status == HTTPStatus.INTERNAL_SERVER_ERROR
    for fragment in fragments:
        assert fragment in caught.value.message


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("UPSTREAM_TIMEOUT_SECONDS", "nan"),
        ("REFRESH_INTERVAL_SECONDS", "nan"),
        ("REFRESH_INTERVAL_SECONDS", "inf"),
    ],
)
def test_settings_from_env_non_finite_number_raises_configuration_error(
    name: str, raw: str
) -> None:
    # Given a numeric variable set to a non-finite value
    # When settings are read
    # Then it is rejected like any other non-number
    with pytest.raises(ConfigurationError, match=name):
        Settings.from_env({name: raw})


@pytest.mark.parametrize(
    "url",
    [
        "https://engage.ringcentral.com?region=us",
        "https://engage.ringcentral.com#voice",
        "https://user:secret@engage.ringcentral.com",
    ],
    ids=["query", "fragment", "userinfo"],
)
def test_settings_from_env_url_that_is_not_a_bare_origin_raises_configuration_error(
    url: str,
) -> None:
    # Given a server URL with more than scheme://host[:port]
    # When settings are read
    # Then it is rejected, as the error message promises
    with pytest.raises(ConfigurationError, match="bare http"):
        Settings.from_env({"RINGCX_SERVER_URL": url})


@pytest.mark.parametrize(
    ("env", "pin", "cooldown"),
    [
        ({}, None, 60.0),
        ({"EXPECTED_MAIN_ACCOUNT_ID": " 1001 ", "EXCHANGE_COOLDOWN_SECONDS": "0"}, "1001", 0.0),
        ({"EXPECTED_MAIN_ACCOUNT_ID": "", "EXCHANGE_COOLDOWN_SECONDS": "300"}, None, 300.0),
    ],
    ids=["defaults", "pinned-no-cooldown", "empty-pin"],
)
def test_settings_from_env_account_pin_and_exchange_cooldown(
    env: dict[str, str], pin: str | None, cooldown: float
) -> None:
    # Given the template's ExpectedMainAccountId and ExchangeCooldownSeconds, or none
    settings = Settings.from_env(env)

    # Then an empty pin means "the first login pins", and a cooldown of 0 is allowed
    assert settings.expected_main_account_id == pin
    assert settings.exchange_cooldown == cooldown


def test_settings_require_ring_without_token_secrets_raises_configuration_error() -> None:
    # Given settings without TOKEN_SECRET_IDS (set to blanks and commas)
    settings = Settings.from_env({"TOKEN_SECRET_IDS": " , ,"})

    # When a function needs the ring
    with pytest.raises(ConfigurationError) as caught:
        settings.require_ring()

    # Then the error names the variable
    assert "TOKEN_SECRET_IDS" in caught.value.message
