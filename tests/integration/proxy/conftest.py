"""The proxy against the real edges: the simulator over HTTP, moto's Secrets
Manager over HTTP, and the real refresher behind a Lambda-shaped client.

Two clocks: ``broker_clock`` is the broker's (proxy and refresher) and
``sim_clock`` is RingCX's. Moving both is "time passes"; moving only the
simulator's makes RingCX think a token expired that the broker still trusts.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import boto3
import pytest
import urllib3

from ringcx_broker.proxy.app import ProxyApp
from ringcx_broker.proxy.forward import Upstream
from ringcx_broker.proxy.token_source import LambdaRefresher, TokenSource
from ringcx_broker.refresher import Refresher
from ringcx_broker.refresher import handle as refresher_handle
from ringcx_broker.ring import TokenRing
from ringcx_broker.settings import Settings
from ringcx_broker.tokens import StoredToken
from ringcx_dev.moto_server import MotoServer
from ringcx_dev.simulator import SimConfig, Simulator
from ringcx_dev.stack import LocalStack
from tests.unit.proxy.fakes import FakeLambda

from ..conftest import Containers

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

REFRESH_FUNCTION = "ringcx-broker-RefreshFunction"


@dataclass
class SkewClock:
    """Wall time plus an offset that a test moves."""

    offset: float = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


@pytest.fixture
def broker_clock() -> SkewClock:
    return SkewClock()


@pytest.fixture
def sim_clock() -> SkewClock:
    return SkewClock()


@dataclass
class Clocks:
    """Both clocks, for tests that move them together and apart."""

    broker: SkewClock
    sim: SkewClock

    def set_both(self, offset: float) -> None:
        """Time passes for the broker and RingCX alike."""
        self.broker.offset = self.sim.offset = offset


@pytest.fixture
def clocks(broker_clock: SkewClock, sim_clock: SkewClock) -> Clocks:
    return Clocks(broker_clock, sim_clock)


@pytest.fixture
def simulator(sim_config: SimConfig, sim_clock: SkewClock) -> Iterator[Simulator]:
    with Simulator(sim_config, clock=sim_clock) as sim:
        yield sim


@pytest.fixture
def seeded(configured_stack: LocalStack, containers: Containers) -> StoredToken:
    """Generation 1, from a real JWT login through the simulator."""
    return containers.exchanger().exchange(None)


class ReadCounter:
    """Counts read round trips (GetSecretValue and BatchGetSecretValue) as they
    leave a boto3 client (on the wire)."""

    def __init__(self, client: SecretsManagerClient) -> None:
        self.gets = 0
        self.batches = 0
        client.meta.events.register("before-call.secrets-manager.GetSecretValue", self._get)
        client.meta.events.register("before-call.secrets-manager.BatchGetSecretValue", self._batch)

    @property
    def round_trips(self) -> int:
        return self.gets + self.batches

    def _get(self, **_: Any) -> None:
        self.gets += 1

    def _batch(self, **_: Any) -> None:
        self.batches += 1


@dataclass
class Proxy:
    """One proxy container with its own cache, client and pool."""

    app: ProxyApp
    reads: ReadCounter
    refresh_lambda: FakeLambda
    refresher: Refresher
    sleeps: list[float] = field(default_factory=list)

    def __call__(self, event: Any) -> dict[str, Any]:
        return self.app.handle(event, None)


ProxyFactory = Callable[..., Proxy]


@pytest.fixture
def proxy_factory(
    settings: Settings,
    containers: Containers,
    broker_clock: SkewClock,
    moto_server: MotoServer,
) -> ProxyFactory:
    def make(
        *,
        upstream_timeout: float = 5.0,
        token_endpoint: bool = False,
        origin: str | None = None,
        throttles: tuple[str, ...] = (),
        on_sleep: Callable[[float], None] | None = None,
        client: SecretsManagerClient | None = None,
        refresher: Refresher | None = None,
    ) -> Proxy:
        """One container; ``refresher`` shares another's (reserved concurrency 1)."""
        client = client or boto3.client("secretsmanager")
        reads = ReadCounter(client)
        ring = TokenRing(client, settings.token_secret_ids)
        refresher = refresher or containers.refresher(clock=broker_clock)
        refresh_lambda = FakeLambda(
            lambda event: refresher_handle(event, refresher, broker_clock), errors=throttles
        )
        proxy_settings = replace(
            settings,
            upstream_timeout=upstream_timeout,
            token_endpoint_enabled=token_endpoint,
            refresh_function_name=REFRESH_FUNCTION,
        )
        sleeps: list[float] = []

        def sleep(seconds: float) -> None:
            sleeps.append(seconds)
            if on_sleep is not None:
                on_sleep(seconds)

        tokens = TokenSource(
            lambda: ring,
            LambdaRefresher(lambda: refresh_lambda, REFRESH_FUNCTION),
            proxy_settings.timing,
            clock=broker_clock,
            sleep=sleep,
        )
        upstream = Upstream(
            origin or proxy_settings.ringcx_url,
            urllib3.PoolManager(),
            proxy_settings.upstream_timeout,
        )
        app = ProxyApp(proxy_settings, tokens, upstream, clock=broker_clock)
        return Proxy(app, reads, refresh_lambda, refresher, sleeps)

    return make


@pytest.fixture
def proxy(proxy_factory: ProxyFactory) -> Proxy:
    return proxy_factory()


def api_calls(simulator: Simulator) -> int:
    return simulator.counters()["api"]["calls"]
