"""A soak world on the virtual clock, for scenarios driven step by step."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ringcx_dev.moto_server import MotoServer
from ringcx_dev.soak.options import SoakOptions
from ringcx_dev.soak.store import sdk_backoff_on
from ringcx_dev.soak.world import World


@pytest.fixture
def world(moto_server: MotoServer) -> Iterator[World]:
    """The soak's containers against the simulator and the session's moto,
    through a FaultProxy, with nothing scheduled: the test drives it."""
    world = World(SoakOptions(days=1.0, proxies=2), store_url=moto_server.url)
    with world, sdk_backoff_on(world.clock.sleep):
        yield world
