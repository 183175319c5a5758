"""The container's token cache: when it reads the ring, when it asks the
refresher, and what it serves meanwhile. A fake clock drives time; the ring is
the real ``TokenRing`` over an in-memory Secrets Manager that counts reads."""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

import pytest

from ringcx_broker.errors import NoUsableToken, SecretStoreUnavailable
from ringcx_broker.proxy.token_source import (
    LambdaRefresher,
    RefreshOutcome,
    TokenSource,
    parse_refresher_reply,
)
from ringcx_broker.refresher import Refresher
from ringcx_broker.refresher import handle as refresher_handle
from ringcx_broker.ring import TokenRing
from ringcx_broker.timing import TimingPolicy
from ringcx_broker.tokens import StoredToken
from tests.unit.core.fakes import (
    LIFETIME,
    T0,
    FakeClock,
    FakeLogin,
    FakeRingCX,
    FakeSecretsManager,
    RecordingSleep,
    make_token,
)
from tests.unit.proxy.fakes import THROTTLED, FakeInvoker, FakeLambda, store

POLICY = TimingPolicy(refresh_fraction=0.4, leeway_fraction=0.1, tick_seconds=60)
LEEWAY_POINT = LIFETIME * (1 - POLICY.leeway_fraction)  # 270 s after minting
GETS = "get_secret_value"
BATCH = "batch_get_secret_value"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sleep(clock: FakeClock) -> RecordingSleep:
    return RecordingSleep(clock)


@pytest.fixture
def secrets() -> FakeSecretsManager:
    return FakeSecretsManager()


@pytest.fixture
def ring(secrets: FakeSecretsManager) -> TokenRing:
    slots = [
        secrets.create_secret(Name=f"ring/slot-{i}", SecretString="{}")["ARN"] for i in range(6)
    ]
    secrets.reset_calls()
    return TokenRing(secrets, slots)


def source(
    ring: TokenRing,
    clock: FakeClock,
    sleep: RecordingSleep,
    refresher: Any = None,
) -> TokenSource:
    return TokenSource(lambda: ring, refresher, POLICY, clock=clock, sleep=sleep)


def rotating(secrets: FakeSecretsManager, ring: TokenRing, clock: FakeClock) -> Any:
    """An invoker outcome that stores generation g+1 minted now, as the refresher would."""

    def act(stale: int) -> RefreshOutcome:
        store(secrets, ring, make_token(stale + 1, now=clock()))
        return RefreshOutcome(ok=True, generation=stale + 1)

    return act


def loaded(
    secrets: FakeSecretsManager,
    ring: TokenRing,
    clock: FakeClock,
    sleep: RecordingSleep,
    invoker: FakeInvoker,
) -> TokenSource:
    """A container that has cached generation 1; its reads so far are forgotten."""
    store(secrets, ring, make_token(1))
    tokens = source(ring, clock, sleep, invoker)
    tokens.current()
    secrets.reset_calls()
    return tokens


def stale_source(
    secrets: FakeSecretsManager,
    ring: TokenRing,
    clock: FakeClock,
    sleep: RecordingSleep,
    invoker: FakeInvoker,
) -> TokenSource:
    """A ``loaded`` container whose cached generation 1 has since passed the leeway."""
    tokens = loaded(secrets, ring, clock, sleep, invoker)
    clock.advance(LEEWAY_POINT + 1)
    return tokens


# -- warm, near expiry, cold ------------------------------------------------------


def test_current_warm_requests_make_zero_secrets_manager_calls(
    secrets: FakeSecretsManager, ring: TokenRing, clock: FakeClock, sleep: RecordingSleep
) -> None:
    # Given a container that has loaded generation 1
    store(secrets, ring, make_token(1))
    tokens = source(ring, clock, sleep, FakeInvoker())
    tokens.current()
    secrets.reset_calls()
    # When 1,000 requests arrive while more than the leeway is left
    for _ in range(1000):
        clock.advance(LEEWAY_POINT / 1000 * 0.99)
        assert tokens.current().generation == 1
    # Then none of them touched Secrets Manager
    assert secrets.calls == []


def test_current_cold_container_reads_the_whole_ring_once(
    secrets: FakeSecretsManager, ring: TokenRing, clock: FakeClock, sleep: RecordingSleep
) -> None:
    store(secrets, ring, make_token(4), make_token(5))
    tokens = source(ring, clock, sleep, FakeInvoker())
    assert tokens.current().generation == 5
    assert secrets.calls == [(BATCH, ",".join(ring.slot_ids))]  # one round trip
    tokens.current()
    assert secrets.reads() == 1


def test_current_near_expiry_with_newer_generation_reads_one_slot(
    secrets: FakeSecretsManager, ring: TokenRing, clock: FakeClock, sleep: RecordingSleep
) -> None:
    # Given a cached generation 1 and the schedule's generation 2 already stored
    invoker = FakeInvoker()
    tokens = loaded(secrets, ring, clock, sleep, invoker)
    store(secrets, ring, make_token(2, now=T0 + 180))
    # When the cached token reaches the leeway
    clock.advance(LEEWAY_POINT + 1)
    # Then one ring read finds generation 2
    assert tokens.current().generation == 2
    assert secrets.reads() == 1
    assert invoker.calls == []


def test_current_near_expiry_without_newer_invokes_refresher_once(
    secrets: FakeSecretsManager, ring: TokenRing, clock: FakeClock, sleep: RecordingSleep
) -> None:
    # Given a cached generation 1 and no newer generation in the ring
    invoker = FakeInvoker(rotating(secrets, ring, clock))
    tokens = loaded(secrets, ring, clock, sleep, invoker)
    # When the leeway is reached
    clock.advance(LEEWAY_POINT + 1)
    token = tokens.current()
    # Then, after one ring read, the refresher is asked about generation 1 and the
    # slot of the generation it names is read
    assert invoker.calls == [1]
    assert token.generation == 2
    assert secrets.calls == [(BATCH, ",".join(ring.slot_ids)), (GETS, ring.slot_of(2))]
    # And the next request is warm again
    secrets.reset_calls()
    tokens.current()
    assert secrets.calls == []


def test_current_empty_ring_asks_refresher_with_generation_zero(
    secrets: FakeSecretsManager, ring: TokenRing, clock: FakeClock, sleep: RecordingSleep
) -> None:
    invoker = FakeInvoker(rotating(secrets, ring, clock))
    tokens = source(ring, clock, sleep, invoker)
    assert tokens.current().generation == 1
    assert invoker.calls == [0]


# -- throttles and failures --------------------------------------------------------


def test_current_throttled_then_ring_has_fresh_token_stops_asking(
    secrets: FakeSecretsManager, ring: TokenRing, clock: FakeClock, sleep: RecordingSleep
) -> None:
    # Given a stale cache, and a refresher that throttles us because another
    # proxy's invocation is rotating right now
    def throttled_while_other_rotates(stale: int) -> RefreshOutcome:
        store(secrets, ring, make_token(stale + 1, now=clock()))
        return THROTTLED

    invoker = FakeInvoker(throttled_while_other_rotates)
    tokens = stale_source(secrets, ring, clock, sleep, invoker)
    # When a request needs a fresh token
    token = tokens.current()
    # Then it waited briefly, re-read the ring and found generation 2: one invoke only
    assert token.generation == 2
    assert invoker.calls == [1]
    assert sleep.delays == [0.25]


def test_current_refresher_keeps_throttling_serves_stale_but_valid_token(
    secrets: FakeSecretsManager, ring: TokenRing, clock: FakeClock, sleep: RecordingSleep
) -> None:
    # Given a stale (not expired) token and a refresher that is always busy
    invoker = FakeInvoker(THROTTLED, THROTTLED, THROTTLED)
    tokens = stale_source(secrets, ring, clock, sleep, invoker)
    # When a request arrives
    token = tokens.current()
    # Then invocations are bounded, waits are brief, and the still-valid token serves
    assert token.generation == 1
    assert invoker.calls == [1, 1, 1]
    assert sleep.delays == [0.25, 0.5]
    # And the next requests do not retry at once
    invocations = len(invoker.calls)
    secrets.reset_calls()
    clock.advance(0.1)
    assert tokens.current().generation == 1
    assert len(invoker.calls) == invocations
    assert secrets.calls == []


def test_current_refresher_refuses_and_token_expired_is_503_with_its_reason(
    secrets: FakeSecretsManager, ring: TokenRing, clock: FakeClock, sleep: RecordingSleep
) -> None:
    # Given an expired ring and a refresher that cannot log in
    store(secrets, ring, make_token(1))
    refusal = parse_refresher_reply(
        json.dumps(
            {
                "ok": False,
                "statusCode": 503,
                "message": "RingCentral credentials are not configured",
            }
        ).encode()
    )
    invoker = FakeInvoker(refusal)
    tokens = source(ring, clock, sleep, invoker)
    clock.advance(LIFETIME + 1)
    # When a request arrives / Then 503, naming the refresher's reason, without retries
    with pytest.raises(NoUsableToken) as caught:
        tokens.current()
    assert caught.value.status == HTTPStatus.SERVICE_UNAVAILABLE
    assert "credentials are not configured" in caught.value.message
    assert invoker.calls == [1]
    assert sleep.delays == []


def test_current_after_503_fails_fast_until_the_quiet_period_ends(
    secrets: FakeSecretsManager, ring: TokenRing, clock: FakeClock, sleep: RecordingSleep
) -> None:
    invoker = FakeInvoker(RefreshOutcome(ok=False, message="refresher failed"))
    tokens = source(ring, clock, sleep, invoker)
    with pytest.raises(NoUsableToken):
        tokens.current()
    secrets.reset_calls()
    # A burst of requests right after: no ring reads, no invocations
    for _ in range(50):
        with pytest.raises(NoUsableToken):
            tokens.current()
    assert secrets.calls == []
    assert invoker.calls == [0]
    # After the quiet period the container tries again
    clock.advance(1)
    invoker.queue(rotating(secrets, ring, clock))
    assert tokens.current().generation == 1


def test_current_no_refresher_configured_and_expired_is_503(
    secrets: FakeSecretsManager, ring: TokenRing, clock: FakeClock, sleep: RecordingSleep
) -> None:
    store(secrets, ring, make_token(1))
    tokens = source(ring, clock, sleep, None)
    clock.advance(LIFETIME)
    with pytest.raises(NoUsableToken, match="no refresher"):
        tokens.current()


def test_current_ring_unreadable_keeps_serving_valid_cache(
    secrets: FakeSecretsManager, ring: TokenRing, clock: FakeClock, sleep: RecordingSleep
) -> None:
    invoker = FakeInvoker(THROTTLED, THROTTLED, THROTTLED)
    tokens = stale_source(secrets, ring, clock, sleep, invoker)
    secrets.fail(BATCH, "InternalServiceError", times=10)
    assert tokens.current().generation == 1


def test_current_ring_unreadable_and_nothing_cached_is_503(
    secrets: FakeSecretsManager, ring: TokenRing, clock: FakeClock, sleep: RecordingSleep
) -> None:
    secrets.fail(BATCH, "ThrottlingException", times=1)
    tokens = source(ring, clock, sleep, FakeInvoker())
    with pytest.raises(SecretStoreUnavailable) as caught:
        tokens.current()
    assert caught.value.status == HTTPStatus.SERVICE_UNAVAILABLE


def test_current_ring_back_after_an_outage_is_read_again_within_a_second(
    secrets: FakeSecretsManager, ring: TokenRing, clock: FakeClock, sleep: RecordingSleep
) -> None:
    # Given a cold container whose first ring read failed (Secrets Manager throttling)
    store(secrets, ring, make_token(1))
    secrets.fail(BATCH, "ThrottlingException", times=1)
    tokens = source(ring, clock, sleep, FakeInvoker())
    with pytest.raises(SecretStoreUnavailable):
        tokens.current()

    # When the store is back and a request comes a second later
    clock.advance(1.0)

    # Then the container reads the ring again and serves
    assert tokens.current().generation == 1


# -- after a 401 -------------------------------------------------------------------


def test_after_unauthorized_newer_generation_is_returned_without_refresh(
    secrets: FakeSecretsManager, ring: TokenRing, clock: FakeClock, sleep: RecordingSleep
) -> None:
    invoker = FakeInvoker()
    tokens = loaded(secrets, ring, clock, sleep, invoker)
    used = tokens.current()
    store(secrets, ring, make_token(2, now=T0 + 10))
    retry = tokens.after_unauthorized(used, expired=True)
    assert retry is not None and retry.generation == 2
    assert invoker.calls == []
    assert tokens.current().generation == 2


def test_after_unauthorized_other_401_is_passed_through_without_refresh(
    secrets: FakeSecretsManager, ring: TokenRing, clock: FakeClock, sleep: RecordingSleep
) -> None:
    invoker = FakeInvoker()
    tokens = loaded(secrets, ring, clock, sleep, invoker)
    assert tokens.after_unauthorized(tokens.current(), expired=False) is None
    assert invoker.calls == []
    assert secrets.reads() == 1  # the ring was re-read once


def test_after_unauthorized_expired_asks_refresher_once_and_returns_new_token(
    secrets: FakeSecretsManager, ring: TokenRing, clock: FakeClock, sleep: RecordingSleep
) -> None:
    invoker = FakeInvoker(rotating(secrets, ring, clock))
    tokens = loaded(secrets, ring, clock, sleep, invoker)
    retry = tokens.after_unauthorized(tokens.current(), expired=True)
    assert retry is not None and retry.generation == 2
    assert invoker.calls == [1]


def test_after_unauthorized_repeated_expired_401s_ask_refresher_once_per_generation(
    secrets: FakeSecretsManager, ring: TokenRing, clock: FakeClock, sleep: RecordingSleep
) -> None:
    # Given a refresher that declines to rotate generation 1 (it already replaced a rejected one)
    invoker = FakeInvoker(RefreshOutcome(ok=True, generation=1))
    tokens = loaded(secrets, ring, clock, sleep, invoker)
    used = tokens.current()

    # When RingCX keeps saying "Jwt is expired" to generation 1
    results = [tokens.after_unauthorized(used, expired=True) for _ in range(20)]

    # Then the 401s pass through and the refresher was asked once, not 20 times,
    # even long after (the bound is per generation, not per cooldown)
    assert results == [None] * 20
    clock.advance(LIFETIME / 2)
    assert tokens.after_unauthorized(used, expired=True) is None
    assert invoker.calls == [1]


def test_after_unauthorized_new_generation_rejected_too_is_reported_once_more(
    secrets: FakeSecretsManager, ring: TokenRing, clock: FakeClock, sleep: RecordingSleep
) -> None:
    # Given generation 1 rejected early and rotated to 2, which RingCX rejects too
    invoker = FakeInvoker(rotating(secrets, ring, clock), RefreshOutcome(ok=True, generation=2))
    tokens = loaded(secrets, ring, clock, sleep, invoker)
    second = tokens.after_unauthorized(tokens.current(), expired=True)
    assert second is not None and second.generation == 2

    # When generation 2 meets "expired" 401s as well
    results = [tokens.after_unauthorized(second, expired=True) for _ in range(5)]

    # Then generation 2 is reported once (the refresher decides), and nothing loops
    assert results == [None] * 5
    assert invoker.calls == [1, 2]


def test_after_unauthorized_refresher_that_failed_is_asked_again_after_its_wait(
    secrets: FakeSecretsManager, ring: TokenRing, clock: FakeClock, sleep: RecordingSleep
) -> None:
    # Given a generation RingCX rejected early, and a refresher rate-limited for 20 s
    limited = parse_refresher_reply(
        b'{"ok": false, "statusCode": 429, "message": "limited", "retryAfter": 20}'
    )
    invoker = FakeInvoker(limited)
    tokens = loaded(secrets, ring, clock, sleep, invoker)
    used = tokens.current()
    assert tokens.after_unauthorized(used, expired=True) is None

    # When more 401s come during the wait, and one after it
    clock.advance(10)
    during = tokens.after_unauthorized(used, expired=True)
    clock.advance(11)
    invoker.queue(rotating(secrets, ring, clock))
    after = tokens.after_unauthorized(used, expired=True)

    # Then the refresher was left alone during its penalty and asked again after it, and
    # that request got the rotated generation
    assert during is None
    assert after is not None and after.generation == 2
    assert invoker.calls == [1, 1]


def test_after_unauthorized_expired_verdict_wins_over_the_tokens_exp(
    secrets: FakeSecretsManager, ring: TokenRing, clock: FakeClock, sleep: RecordingSleep
) -> None:
    # Given a token minted a second ago (its exp is almost 5 minutes away)
    invoker = FakeInvoker(rotating(secrets, ring, clock))
    tokens = loaded(secrets, ring, clock, sleep, invoker)
    clock.advance(1)
    used = tokens.current()
    assert used.seconds_left(clock()) > 0.9 * LIFETIME

    # When RingCX says it expired
    retry = tokens.after_unauthorized(used, expired=True)

    # Then the refresher is asked at once and the caller's retry uses the new generation
    assert retry is not None and retry.generation == 2
    assert invoker.calls == [1]
    assert tokens.current().generation == 2


def test_after_unauthorized_other_request_already_moved_on_returns_cached(
    secrets: FakeSecretsManager, ring: TokenRing, clock: FakeClock, sleep: RecordingSleep
) -> None:
    invoker = FakeInvoker()
    tokens = loaded(secrets, ring, clock, sleep, invoker)
    old = tokens.current()
    store(secrets, ring, make_token(2, now=T0 + 10))
    tokens.after_unauthorized(old, expired=False)
    secrets.reset_calls()
    again = tokens.after_unauthorized(old, expired=True)
    assert again is not None and again.generation == 2
    assert secrets.calls == []


# -- /health -----------------------------------------------------------------------


def test_status_fresh_cache_reads_the_ring_once_and_reports_it_current(
    secrets: FakeSecretsManager, ring: TokenRing, clock: FakeClock, sleep: RecordingSleep
) -> None:
    # Given a container that cached the ring's newest generation
    tokens = loaded(secrets, ring, clock, sleep, FakeInvoker())

    # When /health asks
    status = tokens.status()

    # Then one ring read confirms generation 1, and the cache is not behind
    assert status.newest is not None and status.newest.generation == 1
    assert status.describe(clock())["containerCache"] == {"generation": 1, "behind": False}
    assert secrets.reads() == 1


def test_status_newer_generation_in_ring_is_reported_and_cache_is_behind(
    secrets: FakeSecretsManager, ring: TokenRing, clock: FakeClock, sleep: RecordingSleep
) -> None:
    # Given a fresh cached generation 1 while an exchange wrote generation 2
    tokens = loaded(secrets, ring, clock, sleep, FakeInvoker())
    store(secrets, ring, make_token(2, now=T0 + 10))
    clock.advance(20)

    # When /health asks
    body = tokens.status().describe(clock())

    # Then it reports the ring's generation 2 and says this container serves 1,
    # in at most 2 Secrets Manager calls, without changing what the container serves
    assert body["generation"] == 2
    assert body["containerCache"] == {"generation": 1, "behind": True}
    assert secrets.reads() <= 2
    assert tokens.current().generation == 1


def test_status_expired_everywhere_is_unusable_and_never_asks_refresher(
    secrets: FakeSecretsManager, ring: TokenRing, clock: FakeClock, sleep: RecordingSleep
) -> None:
    invoker = FakeInvoker()
    tokens = loaded(secrets, ring, clock, sleep, invoker)
    clock.advance(LIFETIME + 1)
    assert tokens.status().usable(clock()) is None
    assert invoker.calls == []


def test_status_empty_ring_is_unusable(
    ring: TokenRing, clock: FakeClock, sleep: RecordingSleep
) -> None:
    assert source(ring, clock, sleep, FakeInvoker()).status().usable(clock()) is None


def test_status_ring_unreadable_reports_the_cache_and_says_so(
    secrets: FakeSecretsManager, ring: TokenRing, clock: FakeClock, sleep: RecordingSleep
) -> None:
    # Given a cached generation 1 and a Secrets Manager outage
    tokens = loaded(secrets, ring, clock, sleep, FakeInvoker())
    secrets.fail(BATCH, "InternalServiceError")

    # When /health asks
    body = tokens.status().describe(clock())

    # Then the cached token is reported, flagged as not confirmed by the ring
    assert body["generation"] == 1
    assert body["ringReadable"] is False


def test_status_stale_cache_picks_up_newer_generation(
    secrets: FakeSecretsManager, ring: TokenRing, clock: FakeClock, sleep: RecordingSleep
) -> None:
    tokens = loaded(secrets, ring, clock, sleep, FakeInvoker())
    store(secrets, ring, make_token(2, now=T0 + 200))
    clock.advance(LEEWAY_POINT + 1)
    status = tokens.status()
    assert status.newest is not None and status.newest.generation == 2
    assert tokens.cached is not None and tokens.cached.generation == 2


# -- the Lambda invoker -------------------------------------------------------------


def test_lambda_refresher_sends_stale_generation_and_reads_reply() -> None:
    client = FakeLambda(lambda event: {"ok": True, "generation": event["staleGeneration"] + 1})
    invoker = LambdaRefresher(lambda: client, "ringcx-broker-RefreshFunction")
    outcome = invoker.request_refresh(7)
    assert outcome == RefreshOutcome(ok=True, generation=8)
    assert client.invocations == [
        {
            "FunctionName": "ringcx-broker-RefreshFunction",
            "InvocationType": "RequestResponse",
            "Payload": {"staleGeneration": 7},
        }
    ]


def test_lambda_refresher_client_is_created_only_when_needed() -> None:
    created: list[FakeLambda] = []

    def factory() -> FakeLambda:
        created.append(FakeLambda())
        return created[-1]

    invoker = LambdaRefresher(factory, "fn")
    assert created == []
    invoker.request_refresh(1)
    assert len(created) == 1


@pytest.mark.parametrize(
    ("client", "message"),
    [
        (FakeLambda(errors=("TooManyRequestsException",)), "throttled"),
        (FakeLambda(errors=("ServiceException",)), "ServiceException"),
        (FakeLambda(function_error=True), "failed"),
        (FakeLambda(lambda _e: b"not json"), "no JSON"),
    ],
)
def test_lambda_refresher_transient_failure_is_retryable(client: FakeLambda, message: str) -> None:
    outcome = LambdaRefresher(lambda: client, "fn").request_refresh(1)
    assert not outcome.ok
    assert outcome.retryable
    assert message in outcome.message


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"ok": True, "generation": 3, "expiresAt": "x"}, RefreshOutcome(ok=True, generation=3)),
        ({"ok": True}, RefreshOutcome(ok=True, generation=None)),
        ({"ok": True, "generation": True}, RefreshOutcome(ok=True, generation=None)),
        ({"ok": True, "generation": -1}, RefreshOutcome(ok=True, generation=None)),
    ],
)
def test_parse_refresher_reply_success_shape_yields_generation(
    payload: dict[str, Any], expected: RefreshOutcome
) -> None:
    assert parse_refresher_reply(json.dumps(payload).encode()) == expected


def test_parse_refresher_reply_rate_limited_carries_its_retry_after() -> None:
    outcome = parse_refresher_reply(
        b'{"ok": false, "statusCode": 429, "message": "x", "retryAfter": 17}'
    )
    assert outcome.retry_after == 17.0


def test_parse_refresher_reply_refusal_is_final_with_its_message() -> None:
    outcome = parse_refresher_reply(
        b'{"ok": false, "statusCode": 429, "message": "RingCX rate limit reached"}'
    )
    assert not outcome.ok and not outcome.retryable
    assert "429" in outcome.message and "rate limit" in outcome.message


def test_token_source_with_real_refresher_rotates_once_for_many_stale_containers(
    secrets: FakeSecretsManager, ring: TokenRing, clock: FakeClock, sleep: RecordingSleep
) -> None:
    # Given the real refresher behind a fake Lambda, and 5 containers with generation 1
    ringcx = FakeRingCX(clock)
    first = ringcx.issue()
    store(secrets, ring, StoredToken.from_grant(first, 1, clock(), "login"))
    refresher = Refresher(ring, ringcx, FakeLogin(ringcx), POLICY, clock=clock, sleep=sleep)
    client = FakeLambda(lambda event: refresher_handle(event, refresher, clock))
    containers = [
        source(ring, clock, sleep, LambdaRefresher(lambda: client, "fn")) for _ in range(5)
    ]
    for tokens in containers:
        tokens.current()
    # When all of them pass the leeway
    clock.advance(LEEWAY_POINT + 1)
    generations = [tokens.current().generation for tokens in containers]
    # Then RingCX saw one refresh, and every container uses generation 2
    assert generations == [2] * 5
    assert len(ringcx.refresh_calls) == 1
    assert len(client.invocations) == 1  # the others found generation 2 in the ring first
