"""A FaultProxy in front of moto's server, and boto3 clients that go through it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING

import boto3
import pytest
import urllib3
from botocore.config import Config

from ringcx_dev.faultproxy import FaultProxy
from ringcx_dev.moto_server import MotoServer

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

ONE_ATTEMPT = Config(retries={"total_max_attempts": 1})


class RecordingSleep:
    """The proxy's injected sleep: records each delay instead of waiting it out."""

    def __init__(self) -> None:
        self.slept: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.slept.append(seconds)


@pytest.fixture
def sleep() -> RecordingSleep:
    return RecordingSleep()


@pytest.fixture
def proxy(moto_server: MotoServer, sleep: RecordingSleep) -> Iterator[FaultProxy]:
    with FaultProxy(moto_server.url, sleep=sleep) as started:
        yield started


def client_via(proxy: FaultProxy, config: Config | None = None) -> SecretsManagerClient:
    return boto3.client("secretsmanager", endpoint_url=proxy.url, config=config)


@pytest.fixture
def raw(proxy: FaultProxy) -> SecretsManagerClient:
    """botocore with one attempt: every fault reaches the caller as sent."""
    return client_via(proxy, ONE_ATTEMPT)


@pytest.fixture
def secret_ids(raw: SecretsManagerClient, proxy: FaultProxy) -> tuple[str, ...]:
    """Three secrets holding their own index; the counters start at zero."""
    prefix = uuid.uuid4().hex[:8]
    ids = tuple(
        raw.create_secret(Name=f"faultproxy-{prefix}-{i}", SecretString=str(i))["ARN"]
        for i in range(3)
    )
    proxy.reset_counters()
    return ids


@pytest.fixture
def http() -> Iterator[urllib3.PoolManager]:
    pool = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=2.0, read=5.0))
    yield pool
    pool.clear()
