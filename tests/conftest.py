"""Shared fixtures: the real edges (moto's server, the simulator) on loopback."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import boto3
import pytest

from ringcx_broker.credentials import Credentials
from ringcx_broker.ratelimit import RateGate
from ringcx_broker.ringcentral import RingCentralClient
from ringcx_broker.settings import Settings
from ringcx_broker.timing import TimingPolicy
from ringcx_dev.moto_server import MotoServer, patched_env
from ringcx_dev.simulator import SimConfig, Simulator
from ringcx_dev.stack import LocalStack, create_stack, put_credentials

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    """moto in server mode, reached by plain boto3 via AWS_ENDPOINT_URL_SECRETS_MANAGER."""
    server = MotoServer()
    server.start()
    with patched_env(server.env()):
        yield server
    server.stop()


@pytest.fixture
def secrets_client(moto_server: MotoServer) -> SecretsManagerClient:
    assert os.environ["AWS_ENDPOINT_URL_SECRETS_MANAGER"] == moto_server.url
    return boto3.client("secretsmanager")


@pytest.fixture
def stack(secrets_client: SecretsManagerClient) -> LocalStack:
    """A fresh set of the template's secrets (credentials ``{}``, empty ring)."""
    return create_stack(secrets_client)


@pytest.fixture
def sim_config() -> SimConfig:
    return SimConfig()


@pytest.fixture
def simulator(sim_config: SimConfig) -> Iterator[Simulator]:
    with Simulator(sim_config) as sim:
        sim.start()
        yield sim


@pytest.fixture
def configured_stack(
    stack: LocalStack, secrets_client: SecretsManagerClient, sim_config: SimConfig
) -> LocalStack:
    """The stack with the simulator's valid JWT credentials stored."""
    put_credentials(
        secrets_client,
        stack.credentials_secret_id,
        sim_config.client_id,
        sim_config.client_secret,
        sim_config.jwt,
    )
    return stack


@pytest.fixture
def settings(stack: LocalStack, simulator: Simulator) -> Settings:
    return Settings(
        ringcx_url=simulator.base_url,
        ringcentral_url=simulator.base_url,
        credentials_secret_id=stack.credentials_secret_id,
        token_secret_ids=stack.token_secret_ids,
        timing=TimingPolicy(),
    )


@pytest.fixture
def rc_token(simulator: Simulator) -> Callable[[], str]:
    """Mint a RingCentral access token the way a caller of /auth/exchange would."""

    def mint() -> str:
        cfg = simulator.state.config
        client = RingCentralClient(simulator.base_url, gate=RateGate())
        return client.login_jwt(Credentials(cfg.client_id, cfg.client_secret, cfg.jwt))

    return mint
