"""A caller hammering /auth/exchange and ``force`` for a simulated day cannot
push any ring slot to Secrets Manager's versions quota, and the chain keeps
rotating. Production-length tokens (300 s), the template's schedule (60 s),
the simulator's real 5-per-minute limits, and moto counting versions: its
``CreatedDate`` follows the test's virtual clock, as a real day would."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from http import HTTPStatus
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import pytest
from moto.secretsmanager import models as moto_secrets

from benchmarks.vclock import VirtualClock
from ringcx_broker import exchange
from ringcx_broker import refresher as refresher_module
from ringcx_broker.credentials import SecretCredentials
from ringcx_broker.exchange import Exchanger
from ringcx_broker.login import JwtLogin
from ringcx_broker.ratelimit import RateGate
from ringcx_broker.refresher import Refresher
from ringcx_broker.ring import TokenRing
from ringcx_broker.ringcentral import RingCentralClient
from ringcx_broker.ringcx import RingCXClient
from ringcx_broker.timing import TimingPolicy
from ringcx_broker.write_budget import DEFAULT_LIMIT, WriteBudget
from ringcx_dev.simulator import SimConfig, Simulator, max_calls_in_window
from ringcx_dev.stack import LocalStack
from tests.unit.proxy.fakes import load_event

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DAY = 86_400
STEP = 60  # one scheduled tick, one hammered exchange and one hammered force a minute
SCHEDULED = {"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}


@pytest.fixture
def vclock(monkeypatch: pytest.MonkeyPatch) -> VirtualClock:
    """The test's clock, which moto's Secrets Manager also dates its versions by."""
    clock = VirtualClock(time.time())
    monkeypatch.setattr(moto_secrets, "time", SimpleNamespace(time=clock))
    return clock


@pytest.fixture
def simulator(vclock: VirtualClock) -> Iterator[Simulator]:
    with Simulator(SimConfig(), clock=vclock) as sim:
        yield sim


class Stack:
    """The exchange and refresher functions, each with its own gate, on one clock."""

    def __init__(
        self,
        client: SecretsManagerClient,
        stack: LocalStack,
        simulator: Simulator,
        clock: VirtualClock,
    ) -> None:
        timing = TimingPolicy()
        budget = WriteBudget(client, stack.token_secret_ids, timing, clock=clock)
        ring = TokenRing(client, stack.token_secret_ids, sleep=clock.sleep)

        def login(gate: RateGate) -> JwtLogin:
            return JwtLogin(
                SecretCredentials(client, stack.credentials_secret_id),
                RingCentralClient(simulator.base_url, gate=gate),
                RingCXClient(simulator.base_url, gate=gate, clock=clock),
            )

        exchange_gate, refresh_gate = RateGate(clock), RateGate(clock)
        self.exchanger = Exchanger(
            ring,
            RingCXClient(simulator.base_url, gate=exchange_gate, clock=clock),
            login(exchange_gate),
            clock,
            budget=budget,
        )
        self.refresher = Refresher(
            ring,
            RingCXClient(simulator.base_url, gate=refresh_gate, clock=clock),
            login(refresh_gate),
            timing,
            clock=clock,
            sleep=clock.sleep,
            budget=budget,
        )
        self.ring = ring


def versions_per_slot(client: SecretsManagerClient, stack: LocalStack) -> list[int]:
    """Versions each slot holds, less the template's initial {}."""
    return [
        len(client.list_secret_version_ids(SecretId=s, IncludeDeprecated=True)["Versions"]) - 1
        for s in stack.token_secret_ids
    ]


def test_write_budget_hammering_exchange_and_force_for_a_day_never_reaches_the_quota(
    configured_stack: LocalStack,
    secrets_client: SecretsManagerClient,
    simulator: Simulator,
    vclock: VirtualClock,
) -> None:
    # Given the stack, bootstrapped by its first tick
    stack = Stack(secrets_client, configured_stack, simulator, vclock)
    assert refresher_module.handle(SCHEDULED, stack.refresher, vclock)["ok"] is True
    outcomes: Counter[str] = Counter()
    start = vclock()

    # When, for 24 h, a caller posts an exchange and forces a refresh every minute
    # between the schedule's ticks
    while vclock() - start < DAY:
        vclock.advance(STEP / 3)
        newest = stack.ring.newest()
        assert newest is not None and not newest.is_expired(vclock())  # no outage, ever
        tick = refresher_module.handle(SCHEDULED, stack.refresher, vclock)
        outcomes["tick-" + str(tick.get("action"))] += 1
        vclock.advance(STEP / 3)
        posted = exchange.handle(load_event("exchange-api-empty"), stack.exchanger, vclock)
        outcomes[f"exchange-{_why(posted)}"] += 1
        vclock.advance(STEP / 3)
        forced = refresher_module.handle({"force": True}, stack.refresher, vclock)
        outcomes[f"force-{_why(forced)}"] += 1

    # Then no slot came near the ~100-version quota ...
    versions = versions_per_slot(secrets_client, configured_stack)
    print(
        f"\nabuse for 24 h: versions per slot {versions}; outcomes {dict(sorted(outcomes.items()))}"
    )
    assert max(versions) <= DEFAULT_LIMIT < 100
    # ... because unplanned writes were refused, while the schedule kept rotating
    assert outcomes["exchange-budget"] > 0 and outcomes["force-budget"] > 0
    assert outcomes["tick-rotated"] > 0
    newest = stack.ring.newest()
    assert newest is not None
    assert newest.refresh_token in simulator.state.live_refresh_tokens
    # ... and the stack never went over RingCX's or RingCentral's 5 calls a minute
    calls = simulator.auth_calls()
    for endpoint in ("rc_token", "rcx_exchange", "rcx_refresh"):
        assert max_calls_in_window(calls, endpoint, 60.0) <= 5


def _why(reply: dict[str, Any]) -> str:
    """ok, budget (write budget refused), cooldown, or the status of another failure."""
    status = reply.get("statusCode", HTTPStatus.OK if reply.get("ok") else 0)
    if status == HTTPStatus.OK:
        return "ok"
    message = str(reply.get("message") or reply.get("body") or "")
    if "budget for unplanned writes" in message or "write budget" in message:
        return "budget"
    if "moments ago" in message:
        return "cooldown"
    return str(status)
