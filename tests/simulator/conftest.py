"""Fixtures for the simulator tests: a fake clock and a simulator on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from http import HTTPStatus
from typing import Protocol

import pytest
import urllib3

from ringcx_dev.simulator import SimConfig, Simulator

from .simclient import FakeClock, SimClient


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sim_settings() -> SimConfig:
    """Override per test module or with indirect parametrisation to change the config."""
    return SimConfig()


@pytest.fixture
def sim(sim_settings: SimConfig, clock: FakeClock) -> Iterator[Simulator]:
    with Simulator(sim_settings, clock=clock) as simulator:
        yield simulator


@pytest.fixture
def http() -> Iterator[urllib3.PoolManager]:
    pool = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=2.0, read=5.0))
    yield pool
    pool.clear()


@pytest.fixture
def client(sim: Simulator, http: urllib3.PoolManager) -> SimClient:
    return SimClient(http=http, base_url=sim.base_url, config=sim.state.config)


class Configure(Protocol):
    def __call__(self, **changes: object) -> None: ...


@pytest.fixture(params=["python", "http"])
def configure(request: pytest.FixtureRequest, sim: Simulator, client: SimClient) -> Configure:
    """Change the running simulator's config in-process or through POST /_sim/config."""

    def apply(**changes: object) -> None:
        if request.param == "python":
            sim.configure(**changes)
            return
        response = client.control("POST", "/_sim/config", changes)
        assert response.status == HTTPStatus.OK, response.data

    return apply
