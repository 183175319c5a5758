"""The fleet: six proxy containers (separate processes, separate caches) hammer
for four compressed token lifetimes, with and without the refresher's schedule.

Time is compressed 60x (5-second tokens, 1-second ticks, a 1-second rate
window) so the cadence arithmetic (docs/design.md) holds exactly as in production. The
refresher is the real one, behind a Lambda Invoke API with reserved
concurrency 1; the proxies reach it with plain boto3, as in Lambda.
"""

from __future__ import annotations

import copy
import multiprocessing
import threading
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from typing import Any

import pytest

from ringcx_broker.refresher import handle as refresher_handle
from ringcx_broker.settings import Settings
from ringcx_broker.timing import TimingPolicy
from ringcx_dev.moto_server import MotoServer
from ringcx_dev.simulator import SimConfig, Simulator
from ringcx_dev.stack import LocalStack
from tests.unit.proxy.fakes import load_event

from ..conftest import Containers
from .fleet import RefresherEndpoint, run_container

pytestmark = [pytest.mark.integration, pytest.mark.slow]

LIFETIME = 5.0
TICK = LIFETIME * 60 / 300  # T/L as in production: 60 s ticks, 300 s tokens
CONTAINERS = 6
LIFETIMES = 4
DURATION = LIFETIMES * LIFETIME
WARMUP = 6.0  # spawning six interpreters that import boto3 on a small machine
PAUSE = 0.02
SCHEDULED = {"version": "0", "detail-type": "Scheduled Event", "source": "aws.events"}


@pytest.fixture
def sim_config() -> SimConfig:
    return SimConfig(token_lifetime=LIFETIME, rate_window=LIFETIME / 5, retry_after=1)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return replace(settings, timing=TimingPolicy(tick_seconds=TICK))


def proxy_env(
    moto: MotoServer, stack: LocalStack, simulator: Simulator, lambda_url: str
) -> dict[str, str]:
    """What the template gives ProxyFunction, pointed at the local edges."""
    return {
        **moto.env(),
        "AWS_ENDPOINT_URL_LAMBDA": lambda_url,
        "RINGCX_SERVER_URL": simulator.base_url,
        "TOKEN_SECRET_IDS": ",".join(stack.token_secret_ids),
        "REFRESH_FUNCTION_NAME": "ringcx-broker-RefreshFunction",
        "REFRESH_FRACTION": "0.4",
        "PROXY_LEEWAY_FRACTION": "0.1",
        "REFRESH_INTERVAL_SECONDS": str(TICK),
        "ALLOWED_METHODS": "GET,POST",
        "UPSTREAM_TIMEOUT_SECONDS": "5",
        "TOKEN_ENDPOINT_ENABLED": "false",
        "POWERTOOLS_SERVICE_NAME": "ringcx-broker",
        "POWERTOOLS_LOG_LEVEL": "ERROR",
    }


def run_schedule(endpoint: RefresherEndpoint, stop: threading.Event) -> None:
    while not stop.wait(TICK):
        endpoint.run_exclusive(dict(SCHEDULED))


@pytest.mark.parametrize("schedule", [True, False], ids=["with-schedule", "without-schedule"])
def test_fleet_many_containers_share_one_refresh_chain(
    schedule: bool,
    configured_stack: LocalStack,
    containers: Containers,
    simulator: Simulator,
    moto_server: MotoServer,
) -> None:
    # Given a ring seeded by one login, and the real refresher behind Lambda's Invoke API
    containers.exchanger().exchange(None)
    refresher = containers.refresher(sleep=time.sleep)
    endpoint = RefresherEndpoint(lambda event: refresher_handle(event, refresher))
    env = proxy_env(moto_server, configured_stack, simulator, endpoint.start())
    event = load_event("proxy-get-accounts")
    stop = threading.Event()
    ticker = threading.Thread(target=run_schedule, args=(endpoint, stop), daemon=True)
    if schedule:
        ticker.start()  # the chain is kept alive while the containers start
    start_at = time.time() + WARMUP
    until = start_at + DURATION
    # When six containers hammer for four lifetimes
    try:
        with ProcessPoolExecutor(
            max_workers=CONTAINERS, mp_context=multiprocessing.get_context("spawn")
        ) as pool:
            futures = [
                pool.submit(run_container, env, copy.deepcopy(event), start_at, until, PAUSE)
                for _ in range(CONTAINERS)
            ]
            time.sleep(max(0.0, start_at - time.time()))
            simulator.reset_counters()
            invocations_before = endpoint.invocations
            results: list[dict[str, Any]] = [f.result(timeout=DURATION + 60) for f in futures]
    finally:
        stop.set()
        endpoint.stop()
    counters = simulator.counters()
    statuses = sum((Counter(r["statuses"]) for r in results), Counter[int]())
    refreshes = counters["rcx_refresh"]["calls"]
    generations = counters["protocol"]["refresh_rotations"]
    cold_reads = CONTAINERS * len(configured_stack.token_secret_ids)
    steady_reads = sum(r["reads"] for r in results) - cold_reads
    reads_per_container_generation = steady_reads / (CONTAINERS * max(1, generations))
    report = {
        "requests": sum(statuses.values()),
        "statuses": dict(statuses),
        "refresh_calls": refreshes,
        "per_lifetime": refreshes / LIFETIMES,
        "invocations": endpoint.invocations - invocations_before,
        "throttles": endpoint.throttles,
        "ticks": endpoint.scheduled,
        "reads_per_container_per_generation": round(reads_per_container_generation, 2),
        "slowest_request_s": round(max(r["slowest"] for r in results), 3),
    }
    print(f"\nfleet ({'with' if schedule else 'without'} schedule): {report}")
    # Then every request succeeded
    assert set(statuses) == {200}, report
    assert sum(statuses.values()) > CONTAINERS * DURATION  # they really hammered
    # And RingCX saw at most two refreshes per lifetime, none wasted, and no re-login
    assert LIFETIMES - 1 <= refreshes <= 2 * LIFETIMES + 1, report
    assert counters["protocol"]["spent_refresh_reuse"] == 0
    assert counters["protocol"]["logins"] == 0
    assert counters["rc_token"]["calls"] == 0
    assert counters["rcx_exchange"]["calls"] == 0
    # And each container read Secrets Manager about once per generation (after its cold start)
    assert reads_per_container_generation <= (1.5 if schedule else 2.5), report
    if schedule:
        assert report["invocations"] <= 1, report  # the schedule kept the proxies away
