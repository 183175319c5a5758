"""Starting and stopping the simulator: ports, context manager, open connections."""

from __future__ import annotations

import http.client
import time
from http import HTTPStatus
from urllib.parse import urlsplit

import pytest
import urllib3

from ringcx_dev.simulator import Simulator


def test_simulator_context_manager_then_start_returns_same_url(
    http: urllib3.PoolManager,
) -> None:
    # Given a simulator entered as a context manager
    with Simulator() as sim:
        # When start() is called again, as shared fixtures do
        again = sim.start()
        health = http.request("GET", again + "/_sim/health")

    # Then it is the same running server
    assert again == sim.base_url
    assert health.status == HTTPStatus.OK
    assert not sim.running


def test_simulator_stop_releases_port_and_is_idempotent(http: urllib3.PoolManager) -> None:
    # Given a simulator that served a request
    sim = Simulator()
    base_url = sim.start()
    http.request("GET", base_url + "/_sim/health")
    port = urlsplit(base_url).port or 0

    # When it is stopped twice and a new one binds the same port
    sim.stop()
    sim.stop()
    again = Simulator()
    try:
        rebound = again.start(port=port)
        health = http.request("GET", rebound + "/_sim/health")
    finally:
        again.stop()

    # Then the port was free for reuse
    assert rebound == base_url
    assert health.status == HTTPStatus.OK


def test_simulator_stop_with_idle_keep_alive_connection_is_prompt() -> None:
    # Given a client holding an idle keep-alive connection
    sim = Simulator()
    parts = urlsplit(sim.start())
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=5)
    try:
        connection.request("GET", "/_sim/health")
        connection.getresponse().read()

        # When stopping the simulator
        started = time.monotonic()
        sim.stop()
        elapsed = time.monotonic() - started

        # Then stop does not wait for the idle connection, which is now closed
        assert elapsed < 1.0
        connection.request("GET", "/_sim/health")
        with pytest.raises((http.client.HTTPException, ConnectionError)):
            connection.getresponse()
    finally:
        connection.close()


def test_simulator_base_url_before_start_raises() -> None:
    # Given a simulator that was never started
    sim = Simulator()

    # When asking for its URL
    # Then it says so instead of returning a bogus URL
    with pytest.raises(RuntimeError, match="not started"):
        _ = sim.base_url
