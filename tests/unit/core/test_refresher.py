"""refresher.py: keep the single-use refresh-token chain alive, with fakes at every edge."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from http import HTTPStatus
from pathlib import Path
from typing import Any

import pytest

from ringcx_broker.account_pin import AccountMismatch
from ringcx_broker.errors import (
    BadRequest,
    CredentialsNotConfigured,
    RateLimited,
    ReloginBackoff,
    TokenPersistFailed,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from ringcx_broker.ratelimit import SecretTagPenalties
from ringcx_broker.refresher import (
    Action,
    Kind,
    Refresher,
    RefreshRequest,
    RetryPolicy,
    ScheduledRefreshFailed,
    handle,
)
from ringcx_broker.ring import TokenRing, request_token
from ringcx_broker.timing import TimingPolicy
from ringcx_broker.tokens import StoredToken
from ringcx_broker.write_budget import WriteBudget, WriteBudgetExceeded
from tests.unit.core.conftest import slot_token
from tests.unit.core.fakes import (
    FakeClock,
    FakeLogin,
    FakeRingCX,
    FakeSecretsManager,
    RecordingMetrics,
    RecordingSleep,
)

EVENTS = Path(__file__).parents[3] / "events"
GET, PUT = "get_secret_value", "put_secret_value"
NOT_CONFIGURED = CredentialsNotConfigured(
    "RingCentral credentials are not configured: secret creds is empty; "
    "put client_id, client_secret, jwt in it"
)


def load_event(name: str) -> Any:
    return json.loads((EVENTS / name).read_text())


@dataclass
class World:
    """One refresher "container" wired to fakes, plus handles on every fake."""

    clock: FakeClock
    secrets: FakeSecretsManager
    slot_ids: tuple[str, ...]
    ring: TokenRing
    ringcx: FakeRingCX
    login: FakeLogin
    backoff: RecordingSleep
    metrics: RecordingMetrics
    refresher: Refresher

    def chain(self, generation: int, age: float = 0.0, live: bool = True) -> StoredToken:
        """Store generation ``generation`` minted ``age`` seconds ago, as another
        writer would have; its refresh token is valid at RingCX if ``live``."""
        self.clock.advance(-age)
        grant = self.ringcx.issue()
        self.clock.advance(age)
        token = StoredToken.from_grant(grant, generation, self.clock() - age, "refresh")
        if not live:
            assert token.refresh_token is not None
            self.ringcx.valid_refresh_tokens.discard(token.refresh_token)
        self.put(token)
        self.secrets.reset_calls()
        return token

    def put(self, token: StoredToken) -> None:
        slot = self.ring.slot_of(token.generation)
        self.secrets.external_put(
            slot,
            token.to_secret_string(),
            request_token(token.generation, self.secrets.current_version(slot)),
        )

    def stored(self, generation: int) -> StoredToken | None:
        return slot_token(self.secrets, self.ring.slot_of(generation))

    def variant(self, **options: Any) -> Refresher:
        """This container's refresher with other options (a retry policy, a
        write budget, a call log), sharing every fake."""
        defaults: dict[str, Any] = {
            "clock": self.clock,
            "sleep": self.backoff,
            "metrics": self.metrics,
            "jitter": lambda: 1.0,
        }
        return Refresher(
            self.ring, self.ringcx.client, self.login, TimingPolicy(), **(defaults | options)
        )

    def container(self) -> Refresher:
        """A second refresher sharing the same Secrets Manager and RingCX."""
        return Refresher(
            TokenRing(self.secrets.client, self.slot_ids, sleep=RecordingSleep()),
            self.ringcx.client,
            self.login,
            TimingPolicy(),
            clock=self.clock,
            sleep=self.backoff,
            metrics=self.metrics,
            jitter=lambda: 1.0,
        )


@pytest.fixture
def world(
    clock: FakeClock,
    secrets: FakeSecretsManager,
    slot_ids: tuple[str, ...],
    ringcx: FakeRingCX,
    login: FakeLogin,
    metrics: RecordingMetrics,
) -> World:
    backoff = RecordingSleep(clock)
    ring = TokenRing(secrets.client, slot_ids, sleep=RecordingSleep(), jitter=lambda: 0.5)
    refresher = Refresher(
        ring,
        ringcx.client,
        login,
        TimingPolicy(),
        clock=clock,
        sleep=backoff,
        metrics=metrics,
        retry=RetryPolicy(),
        jitter=lambda: 1.0,
    )
    return World(clock, secrets, slot_ids, ring, ringcx, login, backoff, metrics, refresher)


TICK = RefreshRequest(Kind.TICK)
FORCE = RefreshRequest(Kind.FORCE)


def stale(generation: int) -> RefreshRequest:
    return RefreshRequest(Kind.STALE, generation)


# -- RefreshRequest.from_event ----------------------------------------------------


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (load_event("refresh-scheduled.json"), RefreshRequest(Kind.TICK)),
        (load_event("refresh-force.json"), RefreshRequest(Kind.FORCE)),
        (load_event("refresh-stale.json"), RefreshRequest(Kind.STALE, 1)),
        ({"staleGeneration": 0}, RefreshRequest(Kind.STALE, 0)),
        ({"force": False}, RefreshRequest(Kind.TICK)),
        ({"source": "aws.events", "detail-type": "Scheduled Event"}, RefreshRequest(Kind.TICK)),
    ],
    ids=["scheduled-event", "force-event", "stale-event", "stale-zero", "force-false", "bare"],
)
def test_refresh_request_from_event_documented_shapes(
    event: object, expected: RefreshRequest
) -> None:
    # Given a scheduled event, or an operator's / proxy's invoke
    # When it is turned into a request
    # Then operators force, proxies report staleness, the schedule ticks
    assert RefreshRequest.from_event(event) == expected


@pytest.mark.parametrize(
    "event",
    [
        {},
        None,
        [],
        "x",
        "refresh",
        17,
        {"detail-type": "Scheduled Event", "detail": {"force": True}},
        {"source": "aws.events"},
        {"force": True, "staleGeneration": 1},
        {"force": True, "extra": 1},
    ],
    ids=[
        "empty",
        "null",
        "list",
        "string-x",
        "string",
        "number",
        "scheduled-without-source",
        "source-only",
        "both-fields",
        "extra-field",
    ],
)
def test_refresh_request_from_event_undocumented_shapes_are_bad_requests(event: object) -> None:
    # Given a payload that is none of the documented three (the review found "x" and []
    # treated as a scheduled tick)
    # When it is parsed
    with pytest.raises(BadRequest) as caught:
        RefreshRequest.from_event(event)

    # Then it is refused, naming what is accepted
    assert "scheduled event" in caught.value.message


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({"staleGeneration": -1}, "staleGeneration must be a non-negative integer"),
        ({"staleGeneration": "3"}, "staleGeneration must be a non-negative integer"),
        ({"staleGeneration": 2.0}, "staleGeneration must be a non-negative integer"),
        ({"staleGeneration": True}, "staleGeneration must be a non-negative integer"),
        ({"staleGeneration": None}, "staleGeneration must be a non-negative integer"),
        ({"staleGeneration": 10**40}, "staleGeneration must be a non-negative integer"),
        ({"force": "true"}, "force must be true or false"),
        ({"force": 1}, "force must be true or false"),
        ({"force": None}, "force must be true or false"),
    ],
)
def test_refresh_request_from_event_invalid_values_raise_bad_request(
    event: dict[str, Any], message: str
) -> None:
    # Given a direct invoke with a mistyped field
    # When it is parsed
    with pytest.raises(BadRequest) as caught:
        RefreshRequest.from_event(event)

    # Then it is a 400 saying what is expected
    assert caught.value.message == message


# -- ticks ------------------------------------------------------------------------


@pytest.mark.parametrize("age", [0, 100, 179])
def test_refresher_tick_fresh_token_skips_rotation(world: World, age: float) -> None:
    # Given generation 1 with more than 0.4 L (120 s) left
    token = world.chain(1, age=age)

    # When the schedule ticks
    result = world.refresher.run(TICK)

    # Then nothing is spent or written
    assert result.action is Action.FRESH
    assert result.token == token
    assert world.ringcx.refresh_calls == []
    assert world.secrets.count(PUT) == 0
    assert ("TokenSecondsLeft", "Seconds", 300 - age) in world.metrics.points


@pytest.mark.parametrize(
    "age", [181, 250, 299, 400], ids=["just-due", "due", "last-second", "expired"]
)
def test_refresher_tick_due_token_rotates_and_stores_new_refresh_token(
    world: World, age: float
) -> None:
    # Given generation 1 with less than 0.4 L left (or already expired)
    old = world.chain(1, age=age)

    # When the schedule ticks
    result = world.refresher.run(TICK)

    # Then the refresh token is spent once and generation 2 stores its replacement
    new_refresh = world.ringcx.issued[-1].refresh_token
    assert result.action is Action.ROTATED
    assert world.ringcx.refresh_calls == [old.refresh_token]
    assert result.token.generation == 2
    assert result.token.refresh_token == new_refresh
    assert world.stored(2) == result.token
    assert world.stored(2) is not None
    assert result.token.source == "refresh"
    assert world.secrets.count(PUT) == 1
    assert world.metrics.total("Refreshes") == 1


def test_refresher_tick_short_lifetime_rotates_at_same_fraction(world: World) -> None:
    # Given 20-second tokens (a compressed clock): 0.4 L = 8 s
    world.ringcx.lifetime = 20
    world.chain(1, age=13)

    # When the schedule ticks with 7 s left, and then again on the fresh token
    first = world.refresher.run(TICK)
    second = world.refresher.run(TICK)

    # Then it rotates exactly like with 5-minute tokens, and not again
    assert first.action is Action.ROTATED
    assert second.action is Action.FRESH
    assert len(world.ringcx.refresh_calls) == 1


def test_refresher_force_fresh_token_rotates(world: World) -> None:
    # Given a token minted a second ago
    world.chain(1, age=1)

    # When an operator forces a refresh
    result = world.refresher.run(FORCE)

    # Then it rotates anyway
    assert result.action is Action.ROTATED
    assert result.token.generation == 2


def test_refresher_warm_container_reads_one_slot_per_tick(world: World) -> None:
    # Given a container that already read the ring once
    world.chain(1)
    world.refresher.run(TICK)
    world.secrets.reset_calls()

    # When the schedule ticks again on a fresh token
    result = world.refresher.run(TICK)

    # Then it reads the ring in one round trip
    assert result.action is Action.FRESH
    assert world.secrets.reads() == 1


# -- stale requests from proxies --------------------------------------------------


@pytest.mark.parametrize(
    ("generations", "age", "stale_of", "action"),
    [
        ((1, 2), 10, 1, Action.NEWER_EXISTS),  # a newer, fresh generation exists
        ((1, 2), 280, 1, Action.ROTATED),  # newer exists but is itself inside the leeway
        ((1,), 200, 1, Action.ROTATED),  # the proxy's generation is the newest and old
        ((1,), 10, 1, Action.ROTATED),  # fresh by its exp, but RingCX rejected it: rotate once
        ((1,), 29, 1, Action.ROTATED),  # the same inside 0.1 L of minting
    ],
    ids=["newer-fresh", "newer-but-stale", "same-and-old", "same-rejected-early", "same-new"],
)
def test_refresher_stale_request_rotates_only_when_useful(
    world: World, generations: tuple[int, ...], age: float, stale_of: int, action: Action
) -> None:
    # Given the ring's newest generation and a proxy that reports its generation stale
    for generation in generations:
        world.chain(generation, age=age)

    # When the refresher serves the proxy
    result = world.refresher.run(stale(stale_of))

    # Then it rotates only if no usable newer token exists
    assert result.action is action
    assert len(world.ringcx.refresh_calls) == (1 if action is Action.ROTATED else 0)


def test_refresher_many_stale_requests_for_one_generation_cause_one_rotation(
    world: World,
) -> None:
    # Given generation 1 inside the proxies' leeway, and two refresher containers
    world.chain(1, age=275)
    other = world.container()

    # When five proxies report generation 1 stale, spread over both containers
    results = [r.run(stale(1)) for r in (world.refresher, other, world.refresher, other, other)]

    # Then RingCX is called once; everybody else is told a newer generation exists
    assert [r.action for r in results] == [Action.ROTATED] + [Action.NEWER_EXISTS] * 4
    assert {r.token.generation for r in results} == {2}
    assert len(world.ringcx.refresh_calls) == 1
    assert world.secrets.count(PUT) == 1


# -- dead refresh tokens ----------------------------------------------------------


def test_refresher_dead_refresh_token_rereads_then_relogs_in_once(world: World) -> None:
    # Given generation 1 is due but its refresh token is dead at RingCX
    world.chain(1, age=200, live=False)
    reads_at_login: list[int] = []
    world.login.before = lambda: reads_at_login.append(world.secrets.reads())

    # When the schedule ticks
    result = world.refresher.run(TICK)

    # Then the ring was re-read after the rejection, and exactly one login followed
    assert reads_at_login == [2]
    assert world.login.calls == 1
    assert len(world.ringcx.refresh_calls) == 1
    assert result.action is Action.RELOGIN
    assert result.token.generation == 2
    assert result.token.source == "relogin"
    assert world.stored(2) == result.token
    assert world.metrics.total("DeadRefreshTokens") == 1
    assert world.metrics.total("Relogins") == 1


def test_refresher_dead_refresh_token_with_newer_generation_written_meanwhile_skips_relogin(
    world: World,
) -> None:
    # Given generation 1 is due, and another writer rotates it while our refresh is in flight
    old = world.chain(1, age=200)

    def other_writer_rotates() -> None:
        assert old.refresh_token is not None
        world.ringcx.valid_refresh_tokens.discard(old.refresh_token)
        world.put(StoredToken.from_grant(world.ringcx.issue(), 2, world.clock(), "refresh"))

    world.ringcx.then(other_writer_rotates)

    # When the schedule ticks (our refresh now finds the token spent)
    result = world.refresher.run(TICK)

    # Then the newer generation is adopted: no login, no write
    assert result.action is Action.NEWER_EXISTS
    assert result.token.generation == 2
    assert world.login.calls == 0
    assert world.secrets.count(PUT) == 0


def test_refresher_newest_without_refresh_token_relogs_in_without_refresh_call(
    world: World,
) -> None:
    # Given generation 1 stored without a refresh token, and due
    token = world.chain(1, age=200)
    world.put(replace(token, refresh_token=None))
    world.secrets.reset_calls()

    # When the schedule ticks
    result = world.refresher.run(TICK)

    # Then it logs in directly
    assert result.action is Action.RELOGIN
    assert world.ringcx.refresh_calls == []
    assert world.login.calls == 1


def test_refresher_dead_refresh_token_without_credentials_raises_not_configured(
    world: World,
) -> None:
    # Given a dead chain and no stored credentials
    world.chain(1, age=200, live=False)
    world.login.error = NOT_CONFIGURED

    # When the schedule ticks
    with pytest.raises(CredentialsNotConfigured) as caught:
        world.refresher.run(TICK)

    # Then the operator is told both ways out
    assert "refresh token is dead" in caught.value.message
    assert "POST an RC token to /auth/exchange" in caught.value.message
    assert "client_id, client_secret, jwt" in caught.value.message


# -- empty ring -------------------------------------------------------------------


def test_refresher_empty_ring_with_credentials_bootstraps_generation_one(world: World) -> None:
    # Given the template's empty ring and configured credentials
    # When the schedule ticks
    result = world.refresher.run(TICK)

    # Then a JWT login creates generation 1 in slot 1
    assert result.action is Action.RELOGIN
    assert result.token.generation == 1
    assert world.stored(1) == result.token
    assert world.login.calls == 1


def test_refresher_empty_ring_without_credentials_raises_not_configured(world: World) -> None:
    # Given the template's empty ring and an empty credentials secret
    world.login.error = NOT_CONFIGURED

    # When the schedule ticks
    with pytest.raises(CredentialsNotConfigured) as caught:
        world.refresher.run(TICK)

    # Then the original, field-naming message comes through, and nothing is written
    assert caught.value is NOT_CONFIGURED
    assert world.secrets.count(PUT) == 0
    assert world.metrics.total("RefreshFailures") == 1


# -- upstream failures ------------------------------------------------------------


def test_refresher_rate_limited_raises_without_relogin(world: World) -> None:
    # Given RingCX answers the refresh with 429
    old = world.chain(1, age=200)
    world.ringcx.then(RateLimited("RingCX rate limit reached; retry after 60 s", 60))

    # When the schedule ticks
    with pytest.raises(RateLimited) as caught:
        world.refresher.run(TICK)

    # Then it backs off: no retry, no login, ring untouched
    assert caught.value.retry_after == 60
    assert len(world.ringcx.refresh_calls) == 1
    assert world.login.calls == 0
    assert world.backoff.delays == []
    assert world.secrets.count(PUT) == 0
    assert old.refresh_token in world.ringcx.valid_refresh_tokens
    assert world.metrics.total("RateLimited") == 1
    assert world.metrics.total("RefreshFailures") == 1


def test_refresher_transient_failures_are_retried_with_backoff_without_relogin(
    world: World,
) -> None:
    # Given RingCX failing twice (a 503, then a timeout) before answering
    world.chain(1, age=200)
    world.ringcx.then(
        UpstreamUnavailable("RingCX failed with HTTP 503"),
        UpstreamTimeout("RingCX did not answer in time"),
    )

    # When the schedule ticks
    result = world.refresher.run(TICK)

    # Then the third attempt succeeds after exponential backoff (0.5 s, 1 s)
    assert result.action is Action.ROTATED
    assert len(world.ringcx.refresh_calls) == 3
    assert world.backoff.delays == [0.5, 1.0]
    assert world.login.calls == 0
    assert world.metrics.total("UpstreamFailures") == 2


def test_refresher_transient_failures_exhausted_raise_and_keep_old_token(world: World) -> None:
    # Given RingCX failing every attempt
    old = world.chain(1, age=200)
    world.ringcx.then(*[UpstreamUnavailable("RingCX failed with HTTP 502")] * 5)

    # When the schedule ticks
    with pytest.raises(UpstreamUnavailable):
        world.refresher.run(TICK)

    # Then attempts are bounded, nobody logs in, and the old token keeps serving
    assert len(world.ringcx.refresh_calls) == 3
    assert len(world.backoff.delays) == 2
    assert world.login.calls == 0
    assert world.stored(1) == old


def test_refresher_backoff_is_capped(world: World) -> None:
    # Given a generous retry policy with a 2 s cap
    world.chain(1, age=200)
    refresher = world.variant(retry=RetryPolicy(attempts=4, base=1.0, cap=2.0))
    world.ringcx.then(*[UpstreamUnavailable("RingCX failed with HTTP 500")] * 3)

    # When the refresh finally succeeds on the fourth attempt
    result = refresher.run(TICK)

    # Then delays doubled up to the cap
    assert result.action is Action.ROTATED
    assert world.backoff.delays == [1.0, 2.0, 2.0]


def test_refresher_never_sends_more_than_four_refreshes_a_minute(world: World) -> None:
    # Given a generous retry policy, RingCX failing every refresh, and time to wait (120 s left)
    world.chain(1, age=180)
    refresher = world.variant(retry=RetryPolicy(attempts=10, base=0.1, cap=0.1))
    world.ringcx.then(*[UpstreamUnavailable("RingCX failed with HTTP 500")] * 20)

    # When a run and a forced run within the same minute both fail
    for _ in range(2):
        with pytest.raises(UpstreamUnavailable):
            refresher.run(TICK)
        world.clock.advance(20)

    # Then RingCX saw 4 refreshes (its limit is 5 a minute), the rest were held back
    assert len(world.ringcx.refresh_calls) == 4


def sharing(world: World, arn: str, attempts: int) -> Refresher:
    """A new refresher container leaving failing call times on the credentials
    secret's tags, as deployed (``runtime.shared_auth_state``)."""
    return world.variant(
        retry=RetryPolicy(attempts=attempts, base=0.1, cap=0.1),
        calls=SecretTagPenalties(world.secrets.client, arn, world.clock),
    )


def credentials(world: World) -> str:
    return world.secrets.create_secret(Name="ringcx-broker/credentials", SecretString="{}")["ARN"]


def recycled_after_three_failed_refreshes(world: World) -> str:
    """A token with 120 s left, RingCX failing every refresh, and a container
    that failed three of them and is gone; the credentials secret's ARN."""
    world.chain(1, age=180)
    arn = credentials(world)
    world.ringcx.then(*[UpstreamUnavailable("RingCX failed with HTTP 500")] * 20)
    with pytest.raises(UpstreamUnavailable):
        sharing(world, arn, attempts=3).run(TICK)
    return arn


def test_refresher_recycled_mid_minute_its_successor_counts_its_failed_calls(
    world: World,
) -> None:
    # Given a container that failed three refreshes and was recycled, sharing the
    # credentials secret's tags as deployed
    arn = recycled_after_three_failed_refreshes(world)

    # When its successor runs 10 s later
    world.clock.advance(10)
    with pytest.raises(UpstreamUnavailable):
        sharing(world, arn, attempts=10).run(TICK)

    # Then RingCX saw 4 refreshes in that minute, not 3 + 4, and none cost a secret version
    assert len(world.ringcx.refresh_calls) == 4
    assert world.secrets.version_count(arn) == 1


def test_refresher_recycled_after_a_retried_success_its_successor_counts_those_calls(
    world: World,
) -> None:
    # Given a container whose rotation succeeded on the third try, then was recycled
    world.chain(1, age=180)
    arn = credentials(world)
    world.ringcx.then(*[UpstreamUnavailable("RingCX failed with HTTP 500")] * 2)
    assert sharing(world, arn, attempts=3).run(TICK).action is Action.ROTATED

    # When its successor is forced to rotate 10 s later and RingCX fails every refresh
    world.clock.advance(10)
    world.ringcx.then(*[UpstreamUnavailable("RingCX failed with HTTP 500")] * 20)
    with pytest.raises(UpstreamUnavailable):
        sharing(world, arn, attempts=10).run(FORCE)

    # Then that minute still saw 4 refreshes: 3 by the first container, 1 by its successor
    assert len(world.ringcx.refresh_calls) == 4


def test_refresher_retries_stopped_by_the_budget_still_relog_in_before_the_token_runs_out(
    world: World,
) -> None:
    # Given a successor container, 55 s after its predecessor failed three refreshes of a
    # token that then had 120 s left (65 s now: the next tick would be too late)
    arn = recycled_after_three_failed_refreshes(world)
    world.clock.advance(55)

    # When its one refresh left in the minute fails too, and the budget stops its retries
    result = sharing(world, arn, attempts=10).run(TICK)

    # Then RingCX's failure, not our pause, is the verdict: it re-logs in in time
    assert len(world.ringcx.refresh_calls) == 4
    assert result.action is Action.RELOGIN
    assert result.token.generation == 2
    assert world.metrics.total("ReloginRefreshFailing") == 1


# -- convergence: undocumented dead answers, persisting failures, re-login pacing ------

NO_TOKEN = UpstreamUnavailable("RingCX replied without an accessToken")


@pytest.mark.parametrize(
    "failure",
    [UpstreamUnavailable("RingCX failed with HTTP 500"), UpstreamTimeout("slow"), NO_TOKEN],
    ids=["5xx", "timeout", "200-without-token"],
)
def test_refresher_persisting_transient_failure_relogs_in_before_the_token_runs_out(
    world: World, failure: UpstreamUnavailable
) -> None:
    # Given a due token (120 s left) whose refresh keeps failing the same way, as a dead
    # refresh token answered in an undocumented way would
    world.chain(1, age=180)
    world.ringcx.then(*[failure] * 6)

    # When the first tick fails, the old token keeps serving and nobody logs in
    with pytest.raises(UpstreamUnavailable):
        world.refresher.run(TICK)
    assert world.login.calls == 0

    # And when the next tick (60 s left: the one after would be too late) fails too
    world.clock.advance(60)
    result = world.refresher.run(TICK)

    # Then it re-logs in in time, and says why
    assert result.action is Action.RELOGIN
    assert result.token.generation == 2
    assert result.token.seconds_left(world.clock()) > 0
    assert world.login.calls == 1
    assert world.metrics.total("ReloginRefreshFailing") == 1
    assert world.metrics.total("Relogins") == 1


def test_refresher_expired_token_with_failing_refresh_relogs_in_at_once(world: World) -> None:
    # Given a ring whose newest token expired (the broker was down) and a refresh that fails
    world.chain(1, age=400)
    world.ringcx.then(*[UpstreamUnavailable("RingCX failed with HTTP 502")] * 3)

    # When the schedule ticks
    result = world.refresher.run(TICK)

    # Then there is no next chance to wait for: it re-logs in now
    assert result.action is Action.RELOGIN
    assert world.metrics.total("ReloginRefreshFailing") == 1


def test_refresher_failed_refresh_is_not_retried_by_every_proxy_invoke(world: World) -> None:
    # Given a refresh that just failed with 120 s left
    world.chain(1, age=180)
    world.ringcx.then(*[UpstreamUnavailable("RingCX failed with HTTP 503")] * 3)
    with pytest.raises(UpstreamUnavailable):
        world.refresher.run(TICK)
    calls = len(world.ringcx.refresh_calls)

    # When proxies invoke it a few seconds later
    world.clock.advance(5)
    with pytest.raises(UpstreamUnavailable) as caught:
        world.refresher.run(FORCE)

    # Then RingCX is left alone until the quarter-tick spacing passes
    assert len(world.ringcx.refresh_calls) == calls
    assert "next attempt is in 10 s" in caught.value.message


def test_refresher_failed_relogin_is_reported_and_retried_at_a_bounded_pace(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a dead chain and a re-login that fails (RingCentral down)
    world.chain(1, age=200, live=False)
    world.login.error = UpstreamUnavailable("RingCentral failed with HTTP 503")

    # When the schedule ticks
    with caplog.at_level(logging.ERROR), pytest.raises(UpstreamUnavailable):
        world.refresher.run(TICK)

    # Then the failure is counted and logged loudly, without any token
    assert world.metrics.total("ReloginFailures") == 1
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("Re-login failed" in r.getMessage() for r in errors)

    # When runs come faster than the pacing allows, no login (and no refresh of the known
    # dead token) is attempted; each further failure doubles the wait, up to one tick
    attempts = []
    for wait in (15, 30, 60, 60):
        world.clock.advance(wait - 1)
        with pytest.raises(ReloginBackoff):
            world.refresher.run(TICK)
        world.clock.advance(1)
        with pytest.raises(UpstreamUnavailable):
            world.refresher.run(TICK)
        attempts.append(world.login.calls)
    assert attempts == [2, 3, 4, 5]
    assert len(world.ringcx.refresh_calls) == 1

    # When RingCentral recovers, the next permitted run heals the chain
    world.login.error = None
    world.clock.advance(60)
    result = world.refresher.run(TICK)
    assert result.action is Action.RELOGIN


def test_refresher_rate_limited_relogin_never_bypasses_the_penalty(world: World) -> None:
    # Given a dead chain and RingCentral answering the login with 429
    world.chain(1, age=200, live=False)
    world.login.error = RateLimited("RingCentral rate limit reached; retry after 60 s", 60)

    # When the schedule ticks
    with pytest.raises(RateLimited):
        world.refresher.run(TICK)

    # Then it is reported as a failed re-login (the chain is at risk) and not retried at once
    assert world.metrics.total("ReloginFailures") == 1
    assert world.login.calls == 1


@pytest.mark.parametrize(
    ("setup", "metric"),
    [
        ("empty", "ReloginBootstrap"),
        ("dead", "ReloginDeadRefreshToken"),
        ("none", "ReloginNoRefreshToken"),
    ],
)
def test_refresher_relogin_metric_names_its_cause(world: World, setup: str, metric: str) -> None:
    # Given a ring that needs a re-login for one reason
    if setup == "dead":
        world.chain(1, age=200, live=False)
    elif setup == "none":
        world.put(replace(world.chain(1, age=200), refresh_token=None))

    # When the schedule ticks
    result = world.refresher.run(TICK)

    # Then the re-login is counted under its cause and in the total
    assert result.action is Action.RELOGIN
    assert world.metrics.total(metric) == 1
    assert world.metrics.total("Relogins") == 1


# -- early expiry: RingCX's verdict, once per generation ----------------------------------


def test_refresher_stale_request_for_fresh_newest_rotates_once_and_marks_it_forced(
    world: World,
) -> None:
    # Given generation 1 minted 10 s ago, which RingCX rejected as expired
    world.chain(1, age=10)

    # When a proxy reports it, and then four more proxies do
    first = world.refresher.run(stale(1))
    others = [world.refresher.run(stale(1)) for _ in range(4)]

    # Then one rotation happens, marked forced; the rest are told to read generation 2
    assert first.action is Action.ROTATED
    assert first.token.forced is True
    assert {r.action for r in others} == {Action.NEWER_EXISTS}
    assert len(world.ringcx.refresh_calls) == 1
    assert world.metrics.total("ForcedRotations") == 1


def test_refresher_rejected_forced_generation_is_declined_so_nothing_loops(world: World) -> None:
    # Given a forced rotation to generation 2, which RingCX rejects too (it rejects everything)
    world.chain(1, age=10)
    world.refresher.run(stale(1))

    # When proxies report generation 2 again and again
    results = [world.refresher.run(stale(2)) for _ in range(10)]

    # Then the refresher declines: no RingCX call, no write, no loop
    assert {r.action for r in results} == {Action.DECLINED}
    assert len(world.ringcx.refresh_calls) == 1
    assert world.metrics.total("ForcedRotationsDeclined") == 10

    # And the schedule still rotates it when due, into an ordinary (not forced) generation
    world.clock.advance(200)
    rotated = world.refresher.run(TICK)
    assert rotated.action is Action.ROTATED
    assert rotated.token.forced is False


@pytest.mark.parametrize("ahead", [2, 10**6])
def test_refresher_stale_generation_newer_than_the_ring_is_refused(
    world: World, ahead: int
) -> None:
    # Given a ring whose newest generation is 1
    world.chain(1, age=10)

    # When an invoke claims a newer generation is stale
    reply = handle({"staleGeneration": 1 + ahead}, world.refresher, world.clock)

    # Then it is refused with 400, nothing is rotated, and it is not a refresh failure
    assert reply["ok"] is False
    assert reply["statusCode"] == HTTPStatus.BAD_REQUEST
    assert "newer than the ring's newest generation 1" in reply["message"]
    assert world.ringcx.refresh_calls == []
    assert world.metrics.total("RefreshFailures") == 0


def test_refresher_unwritable_slot_stores_rotation_in_the_next_one(world: World) -> None:
    # Given generation 2's slot over its versions quota
    world.chain(1, age=200)
    world.secrets.fail(PUT, "LimitExceededException", times=99, secret_id=world.ring.slot_of(2))

    # When the schedule ticks
    result = world.refresher.run(TICK)

    # Then the rotation is stored as generation 3, which every reader finds, and counted
    assert result.action is Action.ROTATED
    assert result.token.generation == 3
    assert world.ring.newest() == result.token
    assert world.metrics.total("SlotsSkipped") == 1


# -- found by the soak: early expiry meeting a failing refresh, stranded generations ------


@pytest.mark.parametrize(
    "failure",
    [UpstreamUnavailable("RingCX failed with HTTP 503"), RateLimited("429", 30)],
    ids=["transient", "rate-limited"],
)
def test_refresher_rejected_token_whose_refresh_fails_relogs_in_at_once(
    world: World, failure: Exception
) -> None:
    # Given generation 1, a minute old, which RingCX rejected as expired, and a refresh that
    # fails (its exp says 4 minutes left, but nobody can use it)
    world.chain(1, age=60)
    world.ringcx.then(*[failure] * 3)

    # When a proxy reports it
    result = world.refresher.run(stale(1))

    # Then the refresher re-logs in now instead of waiting for the token's exp
    assert result.action is Action.RELOGIN
    assert result.token.generation == 2
    assert result.token.forced is True
    assert world.metrics.total("ReloginRejectedToken") == 1


def test_refresher_failed_early_expiry_rotation_is_completed_by_the_next_tick(
    world: World,
) -> None:
    # Given an early-expiry rotation that failed entirely (refresh 429, the re-login too)
    world.chain(1, age=60)
    world.ringcx.then(RateLimited("429", 30))
    world.login.error = UpstreamUnavailable("RingCentral failed with HTTP 503")
    with pytest.raises(UpstreamUnavailable):
        world.refresher.run(stale(1))

    # When RingCentral recovers and the schedule ticks (generation 1 is fresh by its exp)
    world.login.error = None
    world.clock.advance(60)
    result = world.refresher.run(TICK)

    # Then the tick finishes the job: RingCX's verdict is remembered, not forgotten
    assert result.token.generation == 2
    assert result.action in (Action.ROTATED, Action.RELOGIN)


def test_refresher_429_after_the_refresh_kept_failing_still_relogs_in_before_expiry(
    world: World,
) -> None:
    # Given a due token whose refresh failed at the last tick (120 s left)
    world.chain(1, age=180)
    world.ringcx.then(*[UpstreamUnavailable("RingCX failed with HTTP 500")] * 3)
    with pytest.raises(UpstreamUnavailable):
        world.refresher.run(TICK)

    # When the next tick (60 s left: a re-login is due) meets a 429 from RingCX refresh
    world.clock.advance(60)
    world.ringcx.then(RateLimited("RingCX rate limit reached; retry after 60 s", 60))
    result = world.refresher.run(TICK)

    # Then the re-login (other endpoints) goes ahead instead of letting the token run out
    assert result.action is Action.RELOGIN
    assert world.metrics.total("ReloginRefreshFailing") == 1


def test_refresher_new_chain_forgets_the_old_chains_failures(world: World) -> None:
    # Given a refresh that kept failing until a re-login started a new chain
    world.chain(1, age=180)
    world.ringcx.then(*[UpstreamUnavailable("RingCX failed with HTTP 500")] * 6)
    with pytest.raises(UpstreamUnavailable):
        world.refresher.run(TICK)
    world.clock.advance(60)
    assert world.refresher.run(TICK).action is Action.RELOGIN

    # When the new chain's refresh, at its own deadline, meets a lone 429
    world.clock.advance(240)
    world.ringcx.then(RateLimited("RingCX rate limit reached; retry after 60 s", 60))
    with pytest.raises(RateLimited):
        world.refresher.run(TICK)

    # Then it waits: the earlier failures belonged to the chain it replaced
    assert world.login.calls == 1


def test_refresher_held_back_after_rate_limits_alone_never_relogs_in(world: World) -> None:
    # Given a refresh that only meets rate limits until our own budget holds it back, at the
    # token's deadline
    world.chain(1, age=230)
    refresher = world.variant(retry=RetryPolicy(attempts=1))
    world.ringcx.then(*[RateLimited("429", 1)] * 4)
    for _ in range(4):
        with pytest.raises(RateLimited):
            refresher.run(FORCE)
        world.clock.advance(2)

    # When the held-back attempt comes with 59 s left
    world.clock.advance(3)
    with pytest.raises(UpstreamUnavailable, match="held back"):
        refresher.run(TICK)

    # Then it waits: nothing says the chain is failing, only that RingCX asked for calm
    assert world.login.calls == 0


def test_refresher_lone_429_never_relogs_in(world: World) -> None:
    # Given a due token with time to wait and no earlier failure
    world.chain(1, age=180)
    world.ringcx.then(RateLimited("RingCX rate limit reached; retry after 60 s", 60))

    # When the tick meets a 429
    with pytest.raises(RateLimited):
        world.refresher.run(TICK)

    # Then it waits: a 429 says nothing about the chain
    assert world.login.calls == 0


@pytest.mark.parametrize("code", ["AccessDeniedException", "ResourceNotFoundException"])
def test_refresher_generation_whose_slot_turns_unreadable_is_stored_again(
    world: World, code: str
) -> None:
    # Given a rotation to generation 2, after which its slot refuses reads
    world.chain(1, age=200)
    second = world.refresher.run(TICK).token
    world.secrets.fail("batch_get_secret_value", code, times=99, secret_id=world.ring.slot_of(2))

    # When the next tick reads the ring (readers now see only generation 1)
    result = world.refresher.run(TICK)

    # Then the refresher, which still holds generation 2, stores it again as generation 3
    # in the next slot, where every reader finds it
    assert result.token.generation == 3
    assert result.token.refresh_token == second.refresh_token
    assert world.stored(3) == result.token
    assert world.ring.newest() == result.token


# -- unplanned writes and the account pin -------------------------------------------------


def budgeted(world: World, limit: int = 0) -> Refresher:
    """The world's refresher with a write budget over the fake's versions
    (a limit of 0: no room for any unplanned write)."""
    return world.variant(
        budget=WriteBudget(
            world.secrets.client, world.slot_ids, TimingPolicy(), limit=limit, clock=world.clock
        ),
    )


@pytest.mark.parametrize(
    ("request_", "age"), [(FORCE, 10), (stale(1), 10)], ids=["force", "early-expiry"]
)
def test_refresher_unplanned_rotation_into_a_full_slot_is_refused_with_429(
    world: World, request_: RefreshRequest, age: float
) -> None:
    # Given generation 1 and a ring with no room for unplanned writes
    world.chain(1, age=age)
    refresher = budgeted(world)

    # When an operator forces a refresh, or a proxy reports an early rejection
    with pytest.raises(WriteBudgetExceeded) as caught:
        refresher.run(request_)

    # Then nothing is spent at RingCX, nothing written, and the refusal is counted
    assert caught.value.status == HTTPStatus.TOO_MANY_REQUESTS
    assert world.ringcx.refresh_calls == []
    assert world.secrets.count(PUT) == 0
    assert world.metrics.total("WriteBudgetRefusals") == 1


def test_refresher_scheduled_rotation_is_never_refused_by_the_budget(world: World) -> None:
    # Given a due token and a ring with no room for unplanned writes
    world.chain(1, age=200)

    # When the schedule ticks
    result = budgeted(world).run(TICK)

    # Then the planned rotation happens: the budget only guards unplanned writes
    assert result.action is Action.ROTATED


def test_refresher_relogin_into_another_account_is_refused_and_reported(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a dead chain, and stored credentials that now belong to another account
    world.chain(1, age=200, live=False)
    world.ringcx.reply_extra = {"mainAccountId": "2002", "adminId": "77"}

    # When the schedule ticks and re-logs in
    with caplog.at_level(logging.ERROR), pytest.raises(AccountMismatch) as caught:
        world.refresher.run(TICK)

    # Then nothing moves every caller to that account: 409, a failed re-login, no write
    assert caught.value.status == HTTPStatus.CONFLICT
    assert world.metrics.total("ReloginFailures") == 1
    assert world.secrets.count(PUT) == 0
    assert any("Re-login failed" in r.getMessage() for r in caplog.records)


# -- persistence ------------------------------------------------------------------


def test_refresher_persist_failure_raises_then_writes_pending_token_next_run(world: World) -> None:
    # Given a due token, and Secrets Manager throttling every write attempt of this run
    world.chain(1, age=200)
    world.secrets.fail(PUT, "ThrottlingException", times=4)

    # When the schedule ticks
    with pytest.raises(TokenPersistFailed) as caught:
        world.refresher.run(TICK)
    issued = world.ringcx.issued[-1]

    # Then the failure is typed and token-free, and generation 2 is not stored yet
    assert "token generation 2 could not be stored" in caught.value.message
    assert str(issued.refresh_token) not in caught.value.message
    assert world.stored(2) is None
    assert world.metrics.total("PersistFailures") == 1

    # When the next tick runs with Secrets Manager healthy
    world.clock.advance(60)
    result = world.refresher.run(TICK)

    # Then the pending rotation is written first, and RingCX is not asked again
    assert world.stored(2) is not None
    assert world.stored(2) == result.token
    assert result.token.refresh_token == issued.refresh_token
    assert result.action is Action.FRESH
    assert len(world.ringcx.refresh_calls) == 1


def test_refresher_pending_token_still_unwritable_raises_again_then_recovers(
    world: World,
) -> None:
    # Given a rotation whose write failed, and Secrets Manager still failing on the next run
    world.chain(1, age=200)
    world.secrets.fail(PUT, "InternalServiceError", times=8)
    with pytest.raises(TokenPersistFailed):
        world.refresher.run(TICK)

    # When the next run also fails to write, and the one after succeeds
    with pytest.raises(TokenPersistFailed) as again:
        world.refresher.run(TICK)
    result = world.refresher.run(TICK)

    # Then the second failure says the token is *still* not stored, and it lands at last
    assert "token generation 2 is still not stored" in again.value.message
    assert result.token.generation == 2
    assert world.stored(2) == result.token
    assert len(world.ringcx.refresh_calls) == 1


def test_refresher_ring_conflict_during_persist_keeps_the_winner(world: World) -> None:
    # Given another writer storing its generation 2 just before our write
    world.chain(1, age=200)
    theirs: list[StoredToken] = []

    def other_writer() -> None:
        theirs.append(StoredToken.from_grant(world.ringcx.issue(), 2, world.clock(), "login"))
        world.put(theirs[0])

    world.secrets.before_next(PUT, other_writer)

    # When the schedule ticks
    result = world.refresher.run(TICK)

    # Then we collide instead of overwriting, and adopt their generation
    assert result.action is Action.NEWER_EXISTS
    assert result.token == theirs[0]
    assert world.stored(2) == theirs[0]
    assert world.metrics.total("RingConflicts") == 1


# -- handle() ---------------------------------------------------------------------


def test_handle_scheduled_event_returns_summary_without_tokens(world: World) -> None:
    # Given a fresh token
    token = world.chain(1, age=30)

    # When the scheduled event arrives
    reply = handle(load_event("refresh-scheduled.json"), world.refresher, world.clock)

    # Then the reply is an ok summary with timing and no token
    assert reply["ok"] is True
    assert reply["action"] == "fresh"
    assert reply["generation"] == 1
    assert reply["secondsLeft"] == 270
    rendered = json.dumps(reply)
    assert token.access_token not in rendered
    assert str(token.refresh_token) not in rendered


@pytest.mark.parametrize(
    "event", [{"staleGeneration": "1"}, {"force": "yes"}, "x", [], None, {}, {"a": [1]}]
)
def test_handle_invalid_direct_invoke_returns_400_without_running(
    world: World, event: dict[str, Any]
) -> None:
    # Given a direct invoke with a bad field
    # When it is handled
    reply = handle(event, world.refresher, world.clock)

    # Then it is an ok=false 400, and nothing was read or called
    assert reply["ok"] is False
    assert reply["statusCode"] == HTTPStatus.BAD_REQUEST
    assert world.secrets.calls == []


@pytest.mark.parametrize(
    ("event", "status"),
    [
        ({"force": True}, HTTPStatus.TOO_MANY_REQUESTS),
        ({"staleGeneration": 1}, HTTPStatus.TOO_MANY_REQUESTS),
    ],
    ids=["force", "stale"],
)
def test_handle_failed_direct_invoke_returns_ok_false_with_status(
    world: World, event: dict[str, Any], status: HTTPStatus
) -> None:
    # Given RingCX rate-limiting a due token's refresh
    world.chain(1, age=290)
    world.ringcx.then(RateLimited("RingCX rate limit reached; retry after 60 s", 60))

    # When an operator or proxy invokes the refresher
    reply = handle(event, world.refresher, world.clock)

    # Then it gets the contract's {"ok": false, "statusCode": N, ...}
    assert reply == {
        "ok": False,
        "statusCode": int(status),
        "message": "RingCX rate limit reached; retry after 60 s",
        "retryAfter": 60,
    }


@pytest.mark.parametrize(
    "failure",
    [
        RateLimited("RingCX rate limit reached; retry after 60 s", 60),
        UpstreamUnavailable("RingCX failed with HTTP 503"),
    ],
    ids=["rate-limited", "unavailable"],
)
def test_handle_failed_tick_raises_scheduled_refresh_failed(
    world: World, failure: Exception
) -> None:
    # Given a due token whose refresh fails
    world.chain(1, age=200)
    world.ringcx.then(*[failure] * 3)

    # When the scheduled event is handled
    with pytest.raises(ScheduledRefreshFailed) as caught:
        handle(load_event("refresh-scheduled.json"), world.refresher, world.clock)

    # Then Lambda sees an error whose message is the safe broker message, without chaining
    assert str(caught.value) == str(failure)
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__ is True


def test_handle_failed_tick_persist_failure_raises_scheduled_refresh_failed(world: World) -> None:
    # Given a rotation whose write fails
    world.chain(1, age=200)
    world.secrets.fail(PUT, "ThrottlingException", times=4)

    # When the scheduled event is handled
    with pytest.raises(ScheduledRefreshFailed) as caught:
        handle(load_event("refresh-scheduled.json"), world.refresher, world.clock)

    # Then the alarm sees the persist failure, and no token is in the message
    assert "could not be stored" in str(caught.value)
    assert str(world.ringcx.issued[-1].refresh_token) not in str(caught.value)


@pytest.mark.parametrize(
    "event",
    [load_event("refresh-scheduled.json"), {"force": True}],
    ids=["tick", "force"],
)
def test_handle_unconfigured_broker_returns_503_without_raising(
    world: World, event: dict[str, Any]
) -> None:
    # Given a fresh stack: empty ring, empty credentials secret
    world.login.error = NOT_CONFIGURED

    # When the refresher runs (scheduled or forced)
    reply = handle(event, world.refresher, world.clock)

    # Then it reports "not configured" instead of crash-looping the schedule
    assert reply["ok"] is False
    assert reply["statusCode"] == HTTPStatus.SERVICE_UNAVAILABLE
    assert "client_id, client_secret, jwt" in reply["message"]


def test_handle_direct_invoke_unexpected_exception_returns_500(world: World) -> None:
    # Given a bug deep in the refresh path
    world.chain(1, age=200)
    world.ringcx.then(RuntimeError("unexpected"))

    # When an operator forces a refresh
    reply = handle({"force": True}, world.refresher, world.clock)

    # Then the reply is still the contract's JSON, with no detail
    assert reply == {
        "ok": False,
        "statusCode": 500,
        "message": "internal error; see the broker's logs",
    }


# -- secrets stay secret ----------------------------------------------------------


def _all_tokens(world: World) -> set[str]:
    found = set()
    for grant in world.ringcx.issued:
        found.add(grant.access_token)
        if grant.refresh_token:
            found.add(grant.refresh_token)
    return found


def _check_logs(records: list[logging.LogRecord], secrets: set[str]) -> None:
    for record in records:
        rendered = f"{record.getMessage()} {vars(record)!r}"
        for secret in secrets:
            assert secret not in rendered, f"token leaked in log {record.getMessage()!r}"


@pytest.mark.parametrize(
    "scenario",
    ["rotate", "dead-token", "persist-failure", "transient", "conflict"],
)
def test_refresher_logs_never_contain_tokens(
    world: World, scenario: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a due token and one of the eventful paths
    world.chain(1, age=200, live=scenario != "dead-token")
    steps: dict[str, Callable[[], None]] = {
        "rotate": lambda: None,
        "dead-token": lambda: None,
        "persist-failure": lambda: world.secrets.fail(PUT, "ThrottlingException", times=4),
        "transient": lambda: world.ringcx.then(UpstreamUnavailable("RingCX failed with HTTP 503")),
        "conflict": lambda: world.secrets.before_next(
            PUT,
            lambda: world.put(StoredToken.from_grant(world.ringcx.issue(), 2, world.clock(), "x")),
        ),
    }
    steps[scenario]()

    # When the refresher runs with every log level captured
    with caplog.at_level(logging.DEBUG):
        try:
            handle({"force": True}, world.refresher, world.clock)
            handle(load_event("refresh-scheduled.json"), world.refresher, world.clock)
        except ScheduledRefreshFailed:
            pass

    # Then no access or refresh token appears in any log record or its extras
    assert caplog.records
    _check_logs(caplog.records, _all_tokens(world))


@pytest.mark.parametrize(
    ("policy", "slots", "warnings"),
    [
        (TimingPolicy(), 6, 0),
        (TimingPolicy(tick_seconds=120.0), 6, 2),  # T = 2 min: f < 2T/L and leeway >= f - T/L
        (TimingPolicy(), 4, 1),  # P = 180 s needs K >= 5 for one write per 15 min
    ],
    ids=["defaults", "two-minute-schedule", "ring-too-small"],
)
def test_refresher_unsafe_timing_for_issued_tokens_warns_once_per_container(
    world: World,
    caplog: pytest.LogCaptureFixture,
    policy: TimingPolicy,
    slots: int,
    warnings: int,
) -> None:
    # Given a container with a ring of ``slots`` secrets, whose schedule and
    # fractions are judged against the 300 s tokens RingCX issues
    ring_ids = tuple(
        world.secrets.create_secret(Name=f"template-slot-{i}", SecretString="{}")["ARN"]
        for i in range(slots)
    )
    ring = TokenRing(world.secrets.client, ring_ids, sleep=world.backoff)
    refresher = Refresher(
        ring, world.ringcx.client, world.login, policy, clock=world.clock, sleep=world.backoff
    )
    grant = world.ringcx.issue()
    ring.write(StoredToken.from_grant(grant, 1, world.clock(), "login"))

    # When it runs twice
    caplog.set_level(logging.WARNING)
    refresher.run(TICK)
    refresher.run(TICK)

    # Then each broken cadence rule is logged once, and a sound policy is quiet
    unsafe = [r for r in caplog.records if r.getMessage() == "Refresh timing is unsafe"]
    assert len(unsafe) == warnings
