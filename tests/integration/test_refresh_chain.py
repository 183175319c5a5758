"""The refresh-token chain on a compressed, virtual clock: 15-second tokens,
3-second ticks, real HTTP to the simulator and moto's Secrets Manager."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

import pytest

from ringcx_broker import refresher as refresh_module
from ringcx_broker.errors import TokenPersistFailed
from ringcx_broker.refresher import Action, Refresher, RefreshRequest, ScheduledRefreshFailed
from ringcx_broker.settings import Settings
from ringcx_broker.timing import TimingPolicy
from ringcx_broker.tokens import StoredToken
from ringcx_dev.simulator import Fault, SimConfig, Simulator, max_calls_in_window
from ringcx_dev.stack import LocalStack

from .conftest import Containers, FlakySecrets

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

pytestmark = pytest.mark.integration

LIFETIME = 15.0
TICK = LIFETIME * 60 / 300  # the production ratio T/L = 60 s / 300 s
SCHEDULED = {"version": "0", "detail-type": "Scheduled Event", "source": "aws.events", "detail": {}}


@dataclass
class VirtualClock:
    now: float = 1_800_000_000.0
    sleeps: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def simulator(sim_config: SimConfig, clock: VirtualClock) -> Iterator[Simulator]:
    # RingCX's 5-per-minute limits, on the same compressed clock: 5 per tick
    config = SimConfig(token_lifetime=LIFETIME, rate_window=TICK)
    with Simulator(config, clock=clock) as sim:
        yield sim


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The shared settings, with the tick scaled to the 15-second tokens."""
    return replace(settings, timing=TimingPolicy(tick_seconds=TICK))


@pytest.fixture
def bootstrapped(
    containers: Containers, configured_stack: LocalStack, clock: VirtualClock
) -> Refresher:
    """A refresher whose first tick bootstrapped the ring with a JWT login."""
    refresher = new_refresher(containers, clock)
    assert refresh_module.handle(SCHEDULED, refresher, clock)["action"] == "relogin"
    return refresher


def new_refresher(containers: Containers, clock: VirtualClock, **kwargs: Any) -> Refresher:
    kwargs.setdefault("sleep", clock.sleep)
    return containers.refresher(clock=clock, **kwargs)


def writes_per_slot(client: SecretsManagerClient, stack: LocalStack) -> list[int]:
    return [
        len(client.list_secret_version_ids(SecretId=s, IncludeDeprecated=True)["Versions"]) - 1
        for s in stack.token_secret_ids
    ]


def newest(containers: Containers) -> StoredToken:
    token = containers.ring().newest()
    assert token is not None
    return token


def test_refresh_chain_eight_lifetimes_never_expires_and_stays_within_quota(
    containers: Containers,
    configured_stack: LocalStack,
    simulator: Simulator,
    clock: VirtualClock,
    bootstrapped: Refresher,
    secrets_client: SecretsManagerClient,
) -> None:
    # Given a bootstrapped ring and a healthy RingCX with 15-second tokens
    refresher = bootstrapped
    start, lifetimes = clock.now, 10

    # When the schedule ticks every T = 3 s for 10 token lifetimes
    while clock.now - start < lifetimes * LIFETIME:
        clock.now += TICK
        live = newest(containers)
        # Then before every tick the stored access token is still valid...
        assert not live.is_expired(clock.now)
        reply = refresh_module.handle(SCHEDULED, refresher, clock)
        assert reply["ok"] is True
        # ...and after every tick the live refresh token is the persisted one
        assert newest(containers).refresh_token in simulator.state.live_refresh_tokens

    # Then at most 2 refreshes per lifetime, no spent token ever used, no re-login,
    # and each secret written at most once per 3 lifetimes on average
    counters = simulator.counters()
    assert counters["rcx_refresh"]["ok"] <= 2 * lifetimes
    assert counters["rcx_refresh"]["ok"] >= lifetimes  # it did rotate
    assert counters["rcx_refresh"]["calls"] == counters["rcx_refresh"]["ok"]
    assert simulator.state.spent_refresh_reuse == 0
    assert counters["rc_token"]["calls"] == 1  # the bootstrap login only
    writes = writes_per_slot(secrets_client, configured_stack)
    elapsed_lifetimes = (clock.now - start) / LIFETIME
    assert sum(writes) / len(writes) <= elapsed_lifetimes / 3
    assert max(writes) - min(writes) <= 1  # the ring spreads writes evenly


def test_refresh_revoked_refresh_token_relogs_in_exactly_once_and_chain_recovers(
    containers: Containers,
    configured_stack: LocalStack,
    simulator: Simulator,
    clock: VirtualClock,
    bootstrapped: Refresher,
) -> None:
    # Given a running chain whose refresh tokens RingCX then revokes
    refresher = bootstrapped
    simulator.revoke_refresh_tokens()
    logins_before = simulator.counters()["rc_token"]["calls"]

    # When the schedule keeps ticking for three lifetimes
    actions = []
    for _ in range(int(3 * LIFETIME / TICK)):
        clock.now += TICK
        actions.append(refresh_module.handle(SCHEDULED, refresher, clock)["action"])

    # Then exactly one re-login happened, and rotation resumed on the new chain
    assert actions.count("relogin") == 1
    assert actions[actions.index("relogin") + 1 :].count("rotated") >= 2
    assert simulator.counters()["rc_token"]["calls"] == logins_before + 1
    assert newest(containers).refresh_token in simulator.state.live_refresh_tokens


def test_refresh_transient_5xx_is_retried_without_relogin(
    containers: Containers,
    configured_stack: LocalStack,
    simulator: Simulator,
    clock: VirtualClock,
    bootstrapped: Refresher,
) -> None:
    # Given a due token and a RingCX that fails twice with 503
    refresher = bootstrapped
    clock.now += 0.7 * LIFETIME
    simulator.inject("rcx_refresh", Fault(status=HTTPStatus.SERVICE_UNAVAILABLE, count=2))

    # When the tick runs
    reply = refresh_module.handle(SCHEDULED, refresher, clock)

    # Then it backed off, retried, rotated, and never re-logged in
    assert reply["action"] == "rotated"
    assert len(clock.sleeps) == 2 and all(s >= 0 for s in clock.sleeps)
    assert simulator.counters()["rcx_refresh"]["faults"] == 2
    assert simulator.counters()["rc_token"]["calls"] == 1


def test_refresh_persistent_5xx_fails_tick_then_old_token_keeps_serving(
    containers: Containers,
    configured_stack: LocalStack,
    simulator: Simulator,
    clock: VirtualClock,
    bootstrapped: Refresher,
) -> None:
    # Given a token at its first due tick (0.38 L left: the next tick still comes in
    # time) and RingCX down for longer than the retry budget
    refresher = bootstrapped
    before = newest(containers)
    clock.now += 0.62 * LIFETIME
    simulator.inject("rcx_refresh", Fault(status=HTTPStatus.BAD_GATEWAY, count=3))

    # When the tick runs, it fails loudly (a typed error Lambda counts)
    with pytest.raises(ScheduledRefreshFailed, match="RingCX failed with HTTP 502"):
        refresh_module.handle(SCHEDULED, refresher, clock)

    # Then the old token still serves, and the next tick rotates without re-login
    assert newest(containers).generation == before.generation
    assert not newest(containers).is_expired(clock.now)
    clock.now += TICK
    assert refresh_module.handle(SCHEDULED, refresher, clock)["action"] == "rotated"
    assert simulator.counters()["rc_token"]["calls"] == 1


def test_refresh_empty_ring_without_credentials_fails_clearly_without_crash_loop(
    containers: Containers,
    stack: LocalStack,
    simulator: Simulator,
    clock: VirtualClock,
) -> None:
    # Given a fresh stack: empty ring, credentials secret still {}
    refresher = new_refresher(containers, clock)

    # When a tick and an operator's forced refresh run
    tick = refresh_module.handle(SCHEDULED, refresher, clock)
    forced = refresh_module.handle({"force": True}, refresher, clock)

    # Then both report 503 naming the missing credentials, without raising,
    # and nothing reached RingCentral
    for reply in (tick, forced):
        assert reply["ok"] is False and reply["statusCode"] == HTTPStatus.SERVICE_UNAVAILABLE
        assert "credentials are not configured" in reply["message"]
    assert simulator.counters()["rc_token"]["calls"] == 0


def test_refresh_corrupt_newest_slot_is_skipped_and_chain_self_heals(
    containers: Containers,
    configured_stack: LocalStack,
    simulator: Simulator,
    clock: VirtualClock,
    bootstrapped: Refresher,
    secrets_client: SecretsManagerClient,
) -> None:
    # Given generations 1 and 2, then generation 2's slot corrupted
    refresher = bootstrapped
    refresh_module.handle({"force": True}, refresher, clock)
    corrupt_slot = containers.ring().slot_of(2)
    secrets_client.put_secret_value(SecretId=corrupt_slot, SecretString="{not json")

    # When a fresh container's refresher runs (it must read the whole ring)
    reply = refresh_module.handle({"force": True}, new_refresher(containers, clock), clock)

    # Then generation 1 won the read, its spent token led to one re-login,
    # and the chain continues as generation 2 in the (rewritten) slot
    assert reply["ok"] is True and reply["action"] == "relogin"
    assert reply["generation"] == 2
    assert newest(containers).refresh_token in simulator.state.live_refresh_tokens


def test_refresh_throttled_secrets_manager_is_retried_with_backoff(
    containers: Containers,
    configured_stack: LocalStack,
    simulator: Simulator,
    clock: VirtualClock,
    bootstrapped: Refresher,
    secrets_client: SecretsManagerClient,
) -> None:
    # Given a bootstrapped ring and Secrets Manager that throttles two writes
    flaky = FlakySecrets(secrets_client, failures=2)
    refresher = new_refresher(containers, clock, ring=containers.ring(flaky))

    # When an operator forces a refresh
    reply = refresh_module.handle({"force": True}, refresher, clock)

    # Then the write succeeded on the third attempt and the chain is intact
    assert reply["action"] == "rotated" and flaky.puts == 3
    assert newest(containers).refresh_token in simulator.state.live_refresh_tokens


def test_refresh_unwritable_token_is_loud_then_stored_on_next_run_without_new_rotation(
    containers: Containers,
    configured_stack: LocalStack,
    simulator: Simulator,
    clock: VirtualClock,
    bootstrapped: Refresher,
    secrets_client: SecretsManagerClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given Secrets Manager refuses every write for a while
    flaky = FlakySecrets(secrets_client, failures=100)
    refresher = new_refresher(containers, clock, ring=containers.ring(flaky))

    # When a forced refresh spends the refresh token at RingCX
    reply = refresh_module.handle({"force": True}, refresher, clock)

    # Then the failure is loud (a 503 and an error log) and names no token
    assert reply["ok"] is False and reply["statusCode"] == HTTPStatus.SERVICE_UNAVAILABLE
    assert "could not be stored" in reply["message"]
    live = next(iter(simulator.state.live_refresh_tokens))
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert errors and all(live not in str(r.__dict__) for r in caplog.records)

    # When Secrets Manager recovers and the schedule ticks
    flaky.failures = 0
    clock.now += TICK
    again = refresh_module.handle(SCHEDULED, refresher, clock)

    # Then the kept token was written as-is: no second RingCX refresh was needed
    assert again["ok"] is True and again["generation"] == 2
    assert newest(containers).refresh_token == live
    assert simulator.counters()["rcx_refresh"]["calls"] == 1


def test_refresh_lost_container_with_unwritten_token_recovers_by_relogin(
    containers: Containers,
    configured_stack: LocalStack,
    simulator: Simulator,
    clock: VirtualClock,
    bootstrapped: Refresher,
    secrets_client: SecretsManagerClient,
) -> None:
    # Given a rotation whose write failed, and the container then recycled
    doomed = new_refresher(
        containers, clock, ring=containers.ring(FlakySecrets(secrets_client, failures=100))
    )
    with pytest.raises(TokenPersistFailed):
        doomed.run(RefreshRequest.from_event({"force": True}))

    # When a new container's refresher runs
    reply = refresh_module.handle({"force": True}, new_refresher(containers, clock), clock)

    # Then the spent stored token leads to one re-login and a live chain
    assert reply["action"] == "relogin"
    assert newest(containers).refresh_token in simulator.state.live_refresh_tokens


def test_refresh_racing_refreshers_persist_one_rotation_per_generation(
    containers: Containers,
    configured_stack: LocalStack,
    simulator: Simulator,
    clock: VirtualClock,
    bootstrapped: Refresher,
    secrets_client: SecretsManagerClient,
) -> None:
    # Given four refresher containers (reserved concurrency off) sharing one ring
    simulator.configure(rate_limit=1000)
    fleet = [new_refresher(containers, clock) for _ in range(4)]

    # When they all force a refresh at the same moment, five rounds a tick apart
    for _ in range(5):
        clock.now += TICK
        barrier = threading.Barrier(len(fleet))
        results: list[Any] = []

        def race(
            r: Refresher, barrier: threading.Barrier = barrier, out: list[Any] = results
        ) -> None:
            barrier.wait()
            out.append(refresh_module.handle({"force": True}, r, clock))

        threads = [threading.Thread(target=race, args=(r,)) for r in fleet]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)

        # Then every racer got an answer and the chain survived the round
        assert len(results) == len(fleet)
        assert newest(containers).refresh_token in simulator.state.live_refresh_tokens

    # Then each generation was persisted exactly once: one version per write,
    # generations contiguous, no slot overwritten with a rival of its generation
    top = newest(containers).generation
    assert sum(writes_per_slot(secrets_client, configured_stack)) == top
    assert top >= 5 + 1
    assert {a["action"] for r in [results] for a in r} <= {
        str(Action.ROTATED),
        str(Action.NEWER_EXISTS),
        str(Action.RELOGIN),
    }


# -- convergence: however RingCX says "this refresh token is dead" ----------------------


@pytest.mark.parametrize("reply", ["400", "401", "403", "500", "503", "200-no-token", "200-html"])
def test_refresh_dead_token_answered_any_way_converges_before_the_token_runs_out(
    containers: Containers,
    configured_stack: LocalStack,
    simulator: Simulator,
    clock: VirtualClock,
    bootstrapped: Refresher,
    reply: str,
) -> None:
    # Given RingCX revoking the refresh tokens, and answering a dead one with ``reply``
    refresher = bootstrapped
    simulator.configure(dead_refresh_reply=reply)
    simulator.revoke_refresh_tokens()
    first = newest(containers)

    # When the schedule ticks through two token lifetimes
    failed_ticks = 0
    while clock.now - first.issued_at < 2 * LIFETIME:
        clock.now += TICK
        # Then a stored, unexpired token existed before every tick (callers saw no outage)
        assert not newest(containers).is_expired(clock.now)
        try:
            refresh_module.handle(SCHEDULED, refresher, clock)
        except ScheduledRefreshFailed:
            failed_ticks += 1

    # And the chain was restarted by exactly one re-login, and lives again
    counters = simulator.counters()
    assert counters["rc_token"]["calls"] == 2  # the bootstrap, then one re-login
    assert newest(containers).refresh_token in simulator.state.live_refresh_tokens
    assert failed_ticks <= 1  # a transient-looking answer costs at most one failed tick


def test_refresh_exchange_denied_during_relogin_is_reported_and_heals_when_access_returns(
    containers: Containers,
    configured_stack: LocalStack,
    simulator: Simulator,
    clock: VirtualClock,
    bootstrapped: Refresher,
) -> None:
    # Given a dead chain and a RingCentral user whose RingCX access was withdrawn (403)
    refresher = bootstrapped
    simulator.revoke_refresh_tokens()
    simulator.configure(exchange_denied_status=403)
    clock.now += 0.7 * LIFETIME

    # When the tick re-logs in
    with pytest.raises(ScheduledRefreshFailed, match="no RingCX access"):
        refresh_module.handle(SCHEDULED, refresher, clock)

    # Then, once access is restored, a later tick re-logs in and the chain lives
    simulator.configure(exchange_denied_status=0)
    for _ in range(3):
        clock.now += TICK
        try:
            reply = refresh_module.handle(SCHEDULED, refresher, clock)
        except ScheduledRefreshFailed:
            continue
        if reply.get("action") == "relogin":
            break
    assert newest(containers).refresh_token in simulator.state.live_refresh_tokens
    assert max_calls_in_window(simulator.auth_calls(), "rc_token", TICK * 5) <= 5


@pytest.mark.parametrize(
    "sim_config", [SimConfig(retry_after_header=False)], ids=["429-without-retry-after"]
)
def test_refresh_429_without_retry_after_waits_the_default_penalty(
    containers: Containers,
    configured_stack: LocalStack,
    simulator: Simulator,
    clock: VirtualClock,
    bootstrapped: Refresher,
) -> None:
    # Given a due token and RingCX answering its refresh with a bare 429
    refresher = bootstrapped
    clock.now += 0.62 * LIFETIME
    simulator.inject("rcx_refresh", Fault(status=429))

    # When ticks follow
    with pytest.raises(ScheduledRefreshFailed, match="retry after 60 s"):
        refresh_module.handle(SCHEDULED, refresher, clock)
    clock.now += TICK
    with pytest.raises(ScheduledRefreshFailed):
        refresh_module.handle(SCHEDULED, refresher, clock)

    # Then no refresh is sent during the 60 s it assumes, and no re-login happens for it
    assert simulator.counters()["rcx_refresh"]["calls"] == 1
    assert simulator.counters()["rc_token"]["calls"] == 1
