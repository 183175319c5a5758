"""No token, JWT or client secret in a log line, an error body or a reply."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

from ringcx_broker import exchange
from ringcx_broker import refresher as refresh_module
from ringcx_broker.tokens import StoredToken
from ringcx_dev.simulator import Fault, SimConfig, Simulator
from ringcx_dev.stack import LocalStack, put_credentials

from .conftest import Containers
from .test_exchange import load_event

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

pytestmark = pytest.mark.integration


def every_stored_token(client: SecretsManagerClient, stack: LocalStack) -> set[str]:
    """Every access and refresh token ever written to the ring (all versions)."""
    found: set[str] = set()
    for slot in stack.token_secret_ids:
        versions = client.list_secret_version_ids(SecretId=slot, IncludeDeprecated=True)
        for version in versions["Versions"]:
            text = client.get_secret_value(SecretId=slot, VersionId=version["VersionId"])
            token = StoredToken.from_secret_string(text["SecretString"])
            if token is not None:
                found |= {token.access_token, token.refresh_token or token.access_token}
    return found


@pytest.mark.parametrize(
    "sim_config",
    [
        SimConfig(
            client_secret="CLIENT-SECRET-sentinel-9f2",
            jwt="JWT-ASSERTION-sentinel-77a",
            rate_limit=50,
        )
    ],
)
def test_logs_and_replies_never_contain_tokens_or_secrets(
    containers: Containers,
    configured_stack: LocalStack,
    simulator: Simulator,
    secrets_client: SecretsManagerClient,
    sim_config: SimConfig,
    rc_token: Callable[[], str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Our loggers at DEBUG; library loggers at their Lambda default (botocore's
    # own DEBUG output prints request bodies, and Lambda never enables it).
    caplog.set_level(logging.WARNING)
    caplog.set_level(logging.DEBUG, logger=exchange.logger.name.split(".")[0])
    replies: list[Any] = []
    posted = rc_token()

    # Given a broker driven through success and every kind of failure
    replies.append(exchange.handle({}, containers.exchanger()))
    replies.append(
        exchange.handle(load_event("exchange-api-json.json", posted), containers.exchanger())
    )
    refresher = containers.refresher()
    replies.append(refresh_module.handle({"force": True}, refresher))
    simulator.revoke_refresh_tokens()
    replies.append(refresh_module.handle({"force": True}, refresher))  # dead token -> relogin
    simulator.inject("rcx_refresh", Fault(status=500, count=5))
    replies.append(refresh_module.handle({"force": True}, refresher))  # 5xx after retries
    replies.append(
        exchange.handle(load_event("exchange-api-json.json", "bogus"), containers.exchanger())
    )
    put_credentials(secrets_client, configured_stack.credentials_secret_id, "id", "wrong", "wrong")
    replies.append(exchange.handle({}, containers.exchanger()))  # credentials rejected

    # Then none of the secrets that passed through the broker shows anywhere
    secrets = every_stored_token(secrets_client, configured_stack) | {
        posted,
        sim_config.client_secret,
        sim_config.jwt,
    }
    assert len(secrets) >= 8
    assert len(caplog.records) >= 10  # the broker did log, at every level
    logged = caplog.text + "".join(json.dumps(r.__dict__, default=str) for r in caplog.records)
    returned = json.dumps(replies)
    for secret in secrets:
        assert secret not in logged
        assert secret not in returned
    assert '"ok": false' in returned and '"ok": true' in returned  # both paths ran
    assert "eyJ" not in logged + returned  # no JWT-shaped string at all
