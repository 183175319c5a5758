"""ring.py: the token ring over an in-memory Secrets Manager with real semantics."""

from __future__ import annotations

import json
import logging
from http import HTTPStatus

import pytest

from ringcx_broker.errors import ConfigurationError, RingWriteConflict, SecretStoreUnavailable
from ringcx_broker.ring import TokenRing, request_token
from ringcx_broker.tokens import StoredToken
from tests.unit.core.conftest import RING_SIZE, seed, slot_token
from tests.unit.core.fakes import FakeSecretsManager, RecordingSleep, make_token

GET, PUT = "get_secret_value", "put_secret_value"
TRANSIENT = [
    "ThrottlingException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "InternalServiceError",
    "InternalFailure",
    "ServiceUnavailable",
    "EndpointConnectionError",
]

# -- identity ---------------------------------------------------------------------


def test_request_token_same_generation_and_slot_state_is_stable_and_valid() -> None:
    # Given generations 1..1000 written over one of two slot versions
    pairs = [(g, v) for g in range(1, 1001) for v in ("version-a", "")]
    tokens = [request_token(g, v) for g, v in pairs]

    # When their ClientRequestTokens are derived
    # Then each is stable (racing writers collide), distinct per (generation, replaced
    # version), and of a length Secrets Manager accepts (32..64)
    assert tokens == [request_token(g, v) for g, v in pairs]
    assert len(set(tokens)) == len(tokens)
    assert all(len(t) == 36 for t in tokens)


def test_token_ring_without_slots_raises_configuration_error(secrets: FakeSecretsManager) -> None:
    # Given no slot ids
    # When a ring is built
    with pytest.raises(ConfigurationError) as caught:
        TokenRing(secrets.client, [])

    # Then the missing variable is named
    assert "TOKEN_SECRET_IDS" in caught.value.message


@pytest.mark.parametrize(
    ("generation", "index"), [(0, 0), (1, 1), (2, 2), (3, 0), (7, 1), (3002, 2)]
)
def test_token_ring_slot_of_generation_is_generation_mod_k(
    ring: TokenRing, slot_ids: tuple[str, ...], generation: int, index: int
) -> None:
    # Given a ring of K = 3
    # When the slot of a generation is asked
    # Then it is slot g mod K
    assert ring.size == RING_SIZE
    assert ring.slot_of(generation) == slot_ids[index]


# -- newest: one round trip --------------------------------------------------------

BATCH = "batch_get_secret_value"


@pytest.fixture
def single_reads(secrets: FakeSecretsManager, slot_ids: tuple[str, ...]) -> TokenRing:
    """A ring whose endpoint or policy offers no BatchGetSecretValue."""
    return TokenRing(secrets.client, slot_ids, sleep=RecordingSleep(), batch=False)


def test_token_ring_newest_template_ring_is_empty(
    ring: TokenRing, secrets: FakeSecretsManager
) -> None:
    # Given the template's ring: every slot is {}
    # When the newest generation is read
    newest = ring.newest()

    # Then there is none, after one round trip for the whole ring
    assert newest is None
    assert secrets.calls == [(BATCH, ",".join(ring.slot_ids))]


def test_token_ring_newest_picks_highest_generation_across_slots(
    ring: TokenRing, secrets: FakeSecretsManager
) -> None:
    # Given generations 3, 4 and 5 spread over the ring
    seed(secrets, ring, make_token(3), make_token(4), make_token(5))

    # When the newest is read
    newest = ring.newest()

    # Then it is generation 5, complete with its refresh token, in one round trip
    assert newest == make_token(5)
    assert newest is not None
    assert newest.refresh_token == "rt-g5"
    assert secrets.reads() == 1


@pytest.mark.parametrize(
    "garbage",
    ["not json", "[]", '{"generation": 0}', '{"generation": 1}', '"{}"'],
    ids=["not-json", "array", "generation-zero", "no-fields", "json-string"],
)
def test_token_ring_newest_corrupt_slot_is_skipped_and_others_still_read(
    ring: TokenRing,
    secrets: FakeSecretsManager,
    slot_ids: tuple[str, ...],
    garbage: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given slot 0 holds garbage, slots 1 and 2 hold generations 4 and 2
    seed(secrets, ring, make_token(4), make_token(2))
    secrets.external_put(slot_ids[0], garbage)
    secrets.reset_calls()

    # When the newest is read
    with caplog.at_level(logging.WARNING):
        newest = ring.newest()

    # Then the garbage is skipped (with a warning), and the good slots still count
    assert newest is not None
    assert newest.generation == 4
    assert secrets.reads() == 1
    assert any(r.getMessage() == "Skipping corrupt token slot" for r in caplog.records)


def test_token_ring_newest_slot_with_non_object_account_is_skipped(
    ring: TokenRing, secrets: FakeSecretsManager, slot_ids: tuple[str, ...]
) -> None:
    # Given slot 0 holds a token-like object whose account is a list
    seed(secrets, ring, make_token(4))
    corrupt = json.loads(make_token(6).to_secret_string()) | {"account": ["15300002"]}
    secrets.external_put(slot_ids[0], json.dumps(corrupt))

    # When the newest is read
    newest = ring.newest()

    # Then the corrupt slot is skipped like any other
    assert newest is not None
    assert newest.generation == 4


def test_token_ring_newest_token_in_wrong_slot_is_ignored(
    ring: TokenRing, secrets: FakeSecretsManager, slot_ids: tuple[str, ...]
) -> None:
    # Given generation 7 (which belongs in slot 1) copied into slot 0, and generation 5 in place
    seed(secrets, ring, make_token(5))
    secrets.external_put(slot_ids[0], make_token(7).to_secret_string())

    # When the newest is read
    newest = ring.newest()

    # Then the misplaced token does not count
    assert newest is not None
    assert newest.generation == 5


@pytest.mark.parametrize("batch", [True, False], ids=["batch", "single-reads"])
def test_token_ring_newest_deleted_slot_is_skipped_with_a_warning(
    secrets: FakeSecretsManager,
    slot_ids: tuple[str, ...],
    caplog: pytest.LogCaptureFixture,
    batch: bool,
) -> None:
    # Given a ring whose first slot secret was deleted, and generation 2 in its own slot
    slots = ("ringcx-broker/token-slot-deleted", *slot_ids[1:])
    ring = TokenRing(secrets.client, slots, batch=batch)
    seed(secrets, ring, make_token(2))

    # When the ring is read
    with caplog.at_level(logging.WARNING):
        newest = ring.newest()

    # Then the readable slots still give the newest generation, and the gap is logged
    assert newest == make_token(2)
    assert any(r.getMessage() == "Skipping unreadable token slot" for r in caplog.records)


@pytest.mark.parametrize("code", ["ResourceNotFoundException", "AccessDeniedException"])
def test_token_ring_newest_no_readable_slot_raises_configuration_error(
    secrets: FakeSecretsManager, slot_ids: tuple[str, ...], code: str
) -> None:
    # Given every slot fails for good (deleted secrets, or a policy that denies them)
    ring = TokenRing(secrets.client, slot_ids)
    for slot_id in slot_ids:
        secrets.fail(BATCH, code, secret_id=slot_id)

    # When the ring is read
    with pytest.raises(ConfigurationError) as caught:
        ring.newest()

    # Then the deployment error names what to check (500)
    assert "TOKEN_SECRET_IDS" in caught.value.message
    assert "IAM" in caught.value.message
    assert caught.value.status == HTTPStatus.INTERNAL_SERVER_ERROR


def test_token_ring_newest_partial_transient_error_rereads_that_slot(
    ring: TokenRing, secrets: FakeSecretsManager, slot_ids: tuple[str, ...]
) -> None:
    # Given generation 5 in slot 2, which the batch reply lists under Errors as throttled
    seed(secrets, ring, make_token(4), make_token(5))
    secrets.fail(BATCH, "ThrottlingException", secret_id=slot_ids[2])

    # When the ring is read
    newest = ring.newest()

    # Then that one slot is read again on its own, and generation 5 is found
    assert newest == make_token(5)
    assert secrets.count(BATCH) == 1
    assert secrets.calls[1] == (GET, slot_ids[2])


def test_token_ring_newest_partial_transient_error_that_persists_raises(
    ring: TokenRing, secrets: FakeSecretsManager, slot_ids: tuple[str, ...]
) -> None:
    # Given slot 2 throttled in the batch reply and on its own read
    seed(secrets, ring, make_token(4), make_token(5))
    secrets.fail(BATCH, "ThrottlingException", secret_id=slot_ids[2])
    secrets.fail(GET, "ThrottlingException", secret_id=slot_ids[2])

    # When the ring is read
    with pytest.raises(SecretStoreUnavailable) as caught:
        ring.newest()

    # Then no partial answer is given: the hidden slot may hold the newest generation
    assert "ThrottlingException" in caught.value.message
    assert caught.value.status == HTTPStatus.SERVICE_UNAVAILABLE


@pytest.mark.parametrize(
    "code", ["ThrottlingException", "InternalServiceError", "EndpointConnectionError"]
)
def test_token_ring_newest_batch_call_failure_raises_secret_store_unavailable(
    ring: TokenRing, secrets: FakeSecretsManager, code: str
) -> None:
    # Given Secrets Manager failing the whole batch call (after the SDK's own retries)
    secrets.fail(BATCH, code)

    # When the ring is read
    with pytest.raises(SecretStoreUnavailable) as caught:
        ring.newest()

    # Then the store is reported unavailable (503), naming the failure, without a fallback
    # storm of single reads
    assert code in caught.value.message
    assert caught.value.status == HTTPStatus.SERVICE_UNAVAILABLE
    assert secrets.count(GET) == 0


@pytest.mark.parametrize("code", ["AccessDeniedException", "UnknownOperationException"])
def test_token_ring_newest_batch_unavailable_falls_back_to_single_reads_for_good(
    ring: TokenRing, secrets: FakeSecretsManager, code: str
) -> None:
    # Given a policy without BatchGetSecretValue (or an endpoint without the call)
    seed(secrets, ring, make_token(4), make_token(5))
    secrets.fail(BATCH, code)

    # When the ring is read twice
    first, second = ring.newest(), ring.newest()

    # Then both reads find generation 5 with one GetSecretValue per slot, and the batch
    # call is not tried again
    assert first == second == make_token(5)
    assert secrets.count(BATCH) == 1
    assert secrets.count(GET) == 2 * RING_SIZE


def test_token_ring_newest_single_reads_failure_raises_secret_store_unavailable(
    single_reads: TokenRing, secrets: FakeSecretsManager, slot_ids: tuple[str, ...]
) -> None:
    # Given single reads, one of which is throttled
    secrets.fail(GET, "ThrottlingException", secret_id=slot_ids[1])

    # When the ring is read
    with pytest.raises(SecretStoreUnavailable) as caught:
        single_reads.newest()

    # Then the store is reported unavailable, naming the failure
    assert "ThrottlingException" in caught.value.message


# -- newer_than -------------------------------------------------------------------


def test_token_ring_newer_than_nothing_newer_uses_one_round_trip(
    ring: TokenRing, secrets: FakeSecretsManager
) -> None:
    # Given generation 4 is the newest
    seed(secrets, ring, make_token(2), make_token(4))
    known = make_token(4)

    # When a warm container asks for anything newer
    latest = ring.newer_than(known)

    # Then it keeps what it knows, after one round trip
    assert latest is known
    assert secrets.reads() == 1


@pytest.mark.parametrize("newest", [5, 6, 9], ids=["next", "two-ahead", "lapped"])
def test_token_ring_newer_than_finds_the_newest_in_one_round_trip(
    ring: TokenRing, secrets: FakeSecretsManager, newest: int
) -> None:
    # Given the container knows 4 while newer generations were written since
    seed(secrets, ring, *(make_token(g) for g in range(4, newest + 1)))

    # When it asks for anything newer
    latest = ring.newer_than(make_token(4))

    # Then it gets the newest, however far ahead, in one round trip
    assert latest.generation == newest
    assert secrets.reads() == 1


def test_token_ring_newer_than_finds_a_generation_stored_past_a_skipped_slot(
    ring: TokenRing, secrets: FakeSecretsManager
) -> None:
    # Given generation 5 was skipped (its slot was unwritable) and 6 stored instead
    seed(secrets, ring, make_token(4), make_token(6))

    # When a container that knows 4 asks
    latest = ring.newer_than(make_token(4))

    # Then it finds 6
    assert latest.generation == 6


def test_token_ring_single_reads_newer_than_reads_every_slot_in_parallel(
    single_reads: TokenRing, secrets: FakeSecretsManager, slot_ids: tuple[str, ...]
) -> None:
    # Given generation 4 is the newest, and a reader without batch reads that knows it
    seed(secrets, single_reads, make_token(2), make_token(4))
    known = make_token(4)

    # When it asks for anything newer
    latest = single_reads.newer_than(known)

    # Then it keeps what it knows, after one read of every slot (one round trip of latency)
    assert latest is known
    assert sorted(s for _, s in secrets.calls) == sorted(slot_ids)


@pytest.mark.parametrize("newest", [5, 6], ids=["next", "past-a-skipped-slot"])
def test_token_ring_single_reads_newer_than_finds_the_newest_past_any_gap(
    single_reads: TokenRing, secrets: FakeSecretsManager, newest: int
) -> None:
    # Given the reader knows 4, and the next generation was stored in the slot after a
    # skipped one (found by the soak: a forward walk stopped at the skipped slot)
    seed(secrets, single_reads, make_token(4), make_token(newest))

    # When it asks for anything newer
    latest = single_reads.newer_than(make_token(4))

    # Then it finds it
    assert latest.generation == newest


def test_token_ring_single_reads_newer_than_token_in_wrong_slot_is_ignored(
    single_reads: TokenRing, secrets: FakeSecretsManager, slot_ids: tuple[str, ...]
) -> None:
    # Given the known generation 3, and generation 8 (belongs in slot 2) copied into slot 1
    seed(secrets, single_reads, make_token(3))
    secrets.external_put(slot_ids[1], make_token(8).to_secret_string())

    # When a warm reader reads
    latest = single_reads.newer_than(make_token(3))

    # Then the misplaced token is ignored, as newest() ignores it
    assert latest.generation == 3


def test_token_ring_latest_cold_and_warm_each_take_one_round_trip(
    ring: TokenRing, secrets: FakeSecretsManager
) -> None:
    # Given generation 2 stored
    seed(secrets, ring, make_token(2))

    # When a cold container (nothing known) and a warm one ask for the latest
    cold = ring.latest(None)
    cold_reads = secrets.reads()
    warm = ring.latest(make_token(2))

    # Then each takes one round trip
    assert cold == warm == make_token(2)
    assert cold_reads == 1
    assert secrets.reads() == 2


# -- store: skipping an unwritable slot ----------------------------------------------


@pytest.mark.parametrize(
    "code", ["LimitExceededException", "AccessDeniedException", "ResourceNotFoundException"]
)
def test_token_ring_store_unwritable_slot_stores_next_generation_in_next_slot(
    ring: TokenRing,
    secrets: FakeSecretsManager,
    slot_ids: tuple[str, ...],
    caplog: pytest.LogCaptureFixture,
    code: str,
) -> None:
    # Given generation 4's slot refuses every write (versions quota full, denied, deleted)
    seed(secrets, ring, make_token(3))
    secrets.fail(PUT, code, times=99, secret_id=slot_ids[4 % RING_SIZE])

    # When generation 4 is stored
    with caplog.at_level(logging.ERROR):
        stored = ring.store(make_token(4))

    # Then it lands as generation 5 in the next slot, the newest readers see, with a loud log
    assert stored.generation == 5
    assert stored.refresh_token == "rt-g4"
    assert ring.newest() == stored
    assert any("cannot be written" in r.getMessage() for r in caplog.records)


def test_token_ring_store_no_writable_slot_raises_secret_store_unavailable(
    ring: TokenRing, secrets: FakeSecretsManager, slot_ids: tuple[str, ...]
) -> None:
    # Given every slot over its versions quota
    for slot_id in slot_ids:
        secrets.fail(PUT, "LimitExceededException", times=99, secret_id=slot_id)

    # When a generation is stored
    with pytest.raises(SecretStoreUnavailable) as caught:
        ring.store(make_token(4))

    # Then the failure is a store outage (the caller keeps the token), after trying each slot once
    assert "no token ring secret can be written" in caught.value.message
    assert secrets.count(PUT) == RING_SIZE


# -- write ------------------------------------------------------------------------


def test_token_ring_write_stores_generation_in_its_slot_with_derived_request_token(
    ring: TokenRing, secrets: FakeSecretsManager, slot_ids: tuple[str, ...]
) -> None:
    # Given an empty ring and generation 4
    token = make_token(4)

    # Then slot 4 mod 3 holds it, as version request_token(4, <version it replaced>);
    # other slots are untouched
    replaced = secrets.current_version(slot_ids[1])
    ring.write(token)
    assert slot_token(secrets, slot_ids[1]) == token
    version = secrets.get_secret_value(SecretId=slot_ids[1])["VersionId"]
    assert version == request_token(4, replaced)
    assert secrets.current_value(slot_ids[0]) == "{}"
    assert secrets.current_value(slot_ids[2]) == "{}"
    assert secrets.count(PUT) == 1


def test_token_ring_write_same_generation_again_is_a_no_op(
    ring: TokenRing, secrets: FakeSecretsManager, slot_ids: tuple[str, ...]
) -> None:
    # Given generation 4 already written by us
    token = make_token(4)
    ring.write(token)

    # When the same write is retried
    ring.write(token)

    # Then no second put happens and no extra version is created
    assert secrets.count(PUT) == 1
    assert secrets.version_count(slot_ids[1]) == 2  # the template's {} and generation 4


def test_token_ring_write_lost_response_retries_idempotently(
    ring: TokenRing, secrets: FakeSecretsManager, slot_ids: tuple[str, ...], sleep: RecordingSleep
) -> None:
    # Given a put that lands but whose response is lost (InternalServiceError)
    secrets.fail(PUT, "InternalServiceError", after_apply=True)
    token = make_token(4)

    # When the generation is written
    ring.write(token)

    # Then the retry with the same ClientRequestToken is a no-op: one version, no conflict
    assert secrets.count(PUT) == 2
    assert secrets.version_count(slot_ids[1]) == 2
    assert slot_token(secrets, slot_ids[1]) == token
    assert len(sleep.delays) == 1


def test_token_ring_write_other_writer_stored_same_generation_raises_conflict(
    ring: TokenRing, secrets: FakeSecretsManager, slot_ids: tuple[str, ...]
) -> None:
    # Given another writer already stored its own generation 4
    theirs = make_token(4, refresh_token="rt-theirs")
    seed(secrets, ring, theirs)

    # When we try to store a different generation 4
    with pytest.raises(RingWriteConflict) as caught:
        ring.write(make_token(4, refresh_token="rt-ours"))

    # Then we collide instead of overwriting their refresh token (409), without a put
    assert caught.value.status == HTTPStatus.CONFLICT
    assert slot_token(secrets, slot_ids[1]) == theirs
    assert secrets.count(PUT) == 0
    assert "rt-ours" not in caught.value.message


def test_token_ring_write_race_lost_at_put_raises_conflict(
    ring: TokenRing, secrets: FakeSecretsManager, slot_ids: tuple[str, ...]
) -> None:
    # Given another writer whose generation 4 lands between our read and our put
    theirs = make_token(4, refresh_token="rt-theirs")
    secrets.before_next(
        PUT,
        lambda: secrets.external_put(
            slot_ids[1],
            theirs.to_secret_string(),
            request_token(4, secrets.current_version(slot_ids[1])),
        ),
    )

    # When we write our generation 4
    with pytest.raises(RingWriteConflict) as caught:
        ring.write(make_token(4, refresh_token="rt-ours"))

    # Then Secrets Manager's ResourceExistsException surfaces as a conflict; theirs stays
    assert "already written by another writer" in caught.value.message
    assert slot_token(secrets, slot_ids[1]) == theirs
    assert secrets.count(PUT) == 1


def test_token_ring_write_stale_writer_is_refused(
    ring: TokenRing, secrets: FakeSecretsManager, slot_ids: tuple[str, ...]
) -> None:
    # Given slot 1 already holds generation 7, newer than the 4 we hold
    seed(secrets, ring, make_token(7))

    # When we (a stale writer) write generation 4
    with pytest.raises(RingWriteConflict) as caught:
        ring.write(make_token(4))

    # Then the newer token is never overwritten
    assert "generation 4 is stale: slot holds 7" in caught.value.message
    assert slot_token(secrets, slot_ids[1]) == make_token(7)
    assert secrets.count(PUT) == 0


def test_token_ring_write_over_corrupt_slot_succeeds(
    ring: TokenRing, secrets: FakeSecretsManager, slot_ids: tuple[str, ...]
) -> None:
    # Given slot 1 holds garbage
    secrets.external_put(slot_ids[1], "garbage")

    # When generation 4 is written
    ring.write(make_token(4))

    # Then the slot is repaired
    assert slot_token(secrets, slot_ids[1]) == make_token(4)


def test_token_ring_write_after_slot_was_reset_is_not_blocked_by_old_version(
    ring: TokenRing, secrets: FakeSecretsManager, slot_ids: tuple[str, ...]
) -> None:
    # Given generation 4 stored, then the slot reset to {} by an operator
    ring.write(make_token(4, refresh_token="rt-before-reset"))
    secrets.external_put(slot_ids[1], "{}")

    # When a different generation 4 is written (say, a login after the repair)
    again = make_token(4, refresh_token="rt-after-reset")
    ring.write(again)

    # Then it lands: its ClientRequestToken differs because it replaces another version
    assert slot_token(secrets, slot_ids[1]) == again


@pytest.mark.parametrize("code", TRANSIENT)
def test_token_ring_write_transient_failure_is_retried_with_backoff(
    ring: TokenRing,
    secrets: FakeSecretsManager,
    slot_ids: tuple[str, ...],
    sleep: RecordingSleep,
    code: str,
) -> None:
    # Given Secrets Manager failing a put twice with a transient error
    secrets.fail(PUT, code, times=2)

    # When generation 4 is written
    ring.write(make_token(4))

    # Then it is stored on the third attempt after exponential backoff (0.2 s, 0.4 s)
    assert slot_token(secrets, slot_ids[1]) == make_token(4)
    assert secrets.count(PUT) == 3
    assert sleep.delays == pytest.approx([0.2, 0.4])


def test_token_ring_write_transient_failures_exhausted_raises_secret_store_unavailable(
    ring: TokenRing, secrets: FakeSecretsManager, sleep: RecordingSleep
) -> None:
    # Given Secrets Manager throttling every put
    secrets.fail(PUT, "ThrottlingException", times=10)
    token = make_token(4)

    # When generation 4 is written
    with pytest.raises(SecretStoreUnavailable) as caught:
        ring.write(token)

    # Then it gives up after 4 attempts and 3 backoffs, with a token-free message
    assert secrets.count(PUT) == 4
    assert sleep.delays == pytest.approx([0.2, 0.4, 0.8])
    assert caught.value.message == "could not write token generation 4 (ThrottlingException)"
    assert str(token.refresh_token) not in caught.value.message


@pytest.mark.parametrize(
    "code",
    ["AccessDeniedException", "LimitExceededException", "DecryptionFailure", "ValidationException"],
)
def test_token_ring_write_permanent_failure_raises_at_once(
    ring: TokenRing, secrets: FakeSecretsManager, sleep: RecordingSleep, code: str
) -> None:
    # Given a put failure that retrying cannot fix
    secrets.fail(PUT, code)

    # When generation 4 is written
    with pytest.raises(SecretStoreUnavailable) as caught:
        ring.write(make_token(4))

    # Then it fails after one attempt, without sleeping
    assert code in caught.value.message
    assert secrets.count(PUT) == 1
    assert sleep.delays == []


@pytest.mark.parametrize("attempts", [0, 1])
def test_token_ring_write_single_attempt_ring_does_not_retry(
    secrets: FakeSecretsManager, slot_ids: tuple[str, ...], attempts: int
) -> None:
    # Given a ring configured with at most one attempt
    sleep = RecordingSleep()
    ring = TokenRing(secrets.client, slot_ids, sleep=sleep, write_attempts=attempts)
    secrets.fail(PUT, "ThrottlingException")

    # When a write is throttled
    with pytest.raises(SecretStoreUnavailable):
        ring.write(make_token(4))

    # Then there is exactly one put and no sleep
    assert secrets.count(PUT) == 1
    assert sleep.delays == []


def test_token_ring_write_with_real_jitter_stays_within_backoff_bounds(
    secrets: FakeSecretsManager, slot_ids: tuple[str, ...]
) -> None:
    # Given the default jitter and a throttled store
    sleep = RecordingSleep()
    ring = TokenRing(secrets.client, slot_ids, sleep=sleep, backoff_base=0.1)
    secrets.fail(PUT, "ThrottlingException", times=3)

    # When a write is retried
    ring.write(make_token(4))

    # Then each delay is base * 2^attempt * [0.5, 1.5)
    for attempt, delay in enumerate(sleep.delays):
        assert 0.05 * 2**attempt <= delay < 0.15 * 2**attempt


def test_token_ring_write_read_failure_raises_before_any_put(
    ring: TokenRing, secrets: FakeSecretsManager
) -> None:
    # Given Secrets Manager failing the read that guards the write
    secrets.fail(GET, "ThrottlingException")

    # When a generation is written
    with pytest.raises(SecretStoreUnavailable):
        ring.write(make_token(4))

    # Then nothing was put blind
    assert secrets.count(PUT) == 0


def test_token_ring_round_trip_keeps_tokens_exact(
    ring: TokenRing, secrets: FakeSecretsManager
) -> None:
    # Given a generation with both tokens
    token = make_token(9, refresh_token="rt-exact-9")

    # When it is written and read back by a cold reader
    ring.write(token)
    back = ring.newest()

    # Then the tokens are intact (the secret is where they live)
    assert isinstance(back, StoredToken)
    assert back.refresh_token == "rt-exact-9"
    assert back.access_token == token.access_token


def test_token_ring_lost_tells_only_what_the_last_latest_call_read(
    ring: TokenRing, secrets: FakeSecretsManager, slot_ids: tuple[str, ...]
) -> None:
    # Given generation 4 whose slot the batch read reports as denied
    seed(secrets, ring, make_token(3), make_token(4))
    secrets.fail(BATCH, "AccessDeniedException", secret_id=slot_ids[4 % RING_SIZE])

    # When a whole-ring read misses it, and a later read finds the slot readable again
    ring.latest(make_token(4))
    first = ring.lost(make_token(4))
    ring.latest(make_token(4))

    # Then the token counted as lost only while its slot could not be read
    assert first is True
    assert ring.lost(make_token(4)) is False


def test_token_ring_single_reads_lost_sees_an_unreadable_slot_too(
    single_reads: TokenRing, secrets: FakeSecretsManager, slot_ids: tuple[str, ...]
) -> None:
    # Given a ring without batch reads, and generation 4's slot denied
    seed(secrets, single_reads, make_token(3), make_token(4))
    secrets.fail(GET, "AccessDeniedException", secret_id=slot_ids[4 % RING_SIZE])

    # When a warm reader asks for anything newer
    single_reads.latest(make_token(4))

    # Then generation 4 counts as lost, as with the batch read
    assert single_reads.lost(make_token(4)) is True
