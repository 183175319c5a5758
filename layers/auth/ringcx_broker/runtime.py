"""Per-container wiring: one boto3 client, one pool, one rate gate, built on
first use from ``Settings.from_env()``. Tests build the pieces themselves."""

from __future__ import annotations

import sys
from functools import cache
from typing import TYPE_CHECKING

from ringcx_broker.settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_secretsmanager import SecretsManagerClient

    from ringcx_broker.exchange import Exchanger
    from ringcx_broker.login import JwtLogin
    from ringcx_broker.ratelimit import RateGate, SecretTagPenalties
    from ringcx_broker.refresher import MetricsSink, Refresher
    from ringcx_broker.ring import TokenRing
    from ringcx_broker.ringcx import RingCXClient
    from ringcx_broker.write_budget import WriteBudget


@cache
def settings() -> Settings:
    return Settings.from_env()


@cache
def secrets_client() -> SecretsManagerClient:
    import boto3  # imported here: the proxy's warm path never needs it

    return boto3.client("secretsmanager")


@cache
def lambda_client() -> LambdaClient:
    """For the proxy's synchronous refresher invoke. No SDK retries: a throttle
    must reach the proxy, which waits briefly and re-reads the ring instead;
    the read timeout stays below API Gateway's 29 s."""
    import boto3
    from botocore.config import Config

    config = Config(connect_timeout=3, read_timeout=25, retries={"total_max_attempts": 1})
    return boto3.client("lambda", config=config)


@cache
def shared_auth_state() -> SecretTagPenalties | None:
    """Tags on the credentials secret: auth penalties, and failing calls' times."""
    from ringcx_broker.ratelimit import SecretTagPenalties

    secret_id = settings().credentials_secret_id
    return SecretTagPenalties(secrets_client(), secret_id) if secret_id else None


@cache
def rate_gate() -> RateGate:
    """Shared by the container's RingCentral and RingCX clients, and through
    tags on the credentials secret with the stack's other auth caller."""
    from ringcx_broker.ratelimit import RateGate

    return RateGate(shared=shared_auth_state())


@cache
def token_ring() -> TokenRing:
    from ringcx_broker.ring import TokenRing

    return TokenRing(secrets_client(), settings().require_ring())


@cache
def ringcx_client() -> RingCXClient:
    from ringcx_broker.ringcx import RingCXClient

    return RingCXClient(settings().ringcx_url, gate=rate_gate())


@cache
def jwt_login() -> JwtLogin:
    from ringcx_broker.credentials import SecretCredentials
    from ringcx_broker.login import JwtLogin
    from ringcx_broker.ringcentral import RingCentralClient

    return JwtLogin(
        SecretCredentials(secrets_client(), settings().credentials_secret_id),
        RingCentralClient(settings().ringcentral_url, gate=rate_gate()),
        ringcx_client(),
    )


@cache
def write_budget() -> WriteBudget:
    from ringcx_broker.write_budget import WriteBudget

    return WriteBudget(secrets_client(), settings().require_ring(), settings().timing)


@cache
def exchanger() -> Exchanger:
    from ringcx_broker.exchange import Exchanger

    return Exchanger(
        token_ring(),
        ringcx_client(),
        jwt_login(),
        budget=write_budget(),
        expected_main_account=settings().expected_main_account_id,
        cooldown=settings().exchange_cooldown,
    )


@cache
def refresher(metrics: MetricsSink | None = None) -> Refresher:
    from ringcx_broker.refresher import Refresher

    return Refresher(
        token_ring(),
        ringcx_client(),
        jwt_login(),
        settings().timing,
        metrics=metrics,
        budget=write_budget(),
        expected_main_account=settings().expected_main_account_id,
        calls=shared_auth_state(),
    )


def forget_clients() -> None:
    """Drop every SDK client and what was built on one (SnapStart: a client
    caches the credentials it was created with). Each is rebuilt on next use."""
    for built in (
        secrets_client,
        lambda_client,
        shared_auth_state,
        rate_gate,
        token_ring,
        ringcx_client,
        jwt_login,
        write_budget,
        exchanger,
        refresher,
    ):
        built.cache_clear()
    proxy_app = sys.modules.get("ringcx_broker.proxy.app")
    if proxy_app is not None:
        proxy_app.set_default_app(None)
