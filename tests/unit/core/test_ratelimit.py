"""ratelimit.py: after a 429, fail fast until the penalty ends."""

from __future__ import annotations

from http import HTTPStatus

import pytest

from ringcx_broker.errors import RateLimited
from ringcx_broker.ratelimit import CALLS_PREFIX, TAG_PREFIX, RateGate, SecretTagPenalties
from tests.unit.core.fakes import FakeClock, FakeSecretsManager


def passes(gate: RateGate, endpoint: str) -> bool:
    """True when the gate lets a call to ``endpoint`` through."""
    try:
        gate.check(endpoint, "RingCX")
    except RateLimited:
        return False
    return True


def test_rate_gate_never_penalised_lets_calls_through() -> None:
    # Given a fresh gate
    gate = RateGate(FakeClock())

    # When an endpoint is checked
    # Then nothing is raised
    assert passes(gate, "rcx_refresh")


def test_rate_gate_penalised_endpoint_fails_fast_until_penalty_passes() -> None:
    # Given an endpoint that just got a 429 with Retry-After: 60
    clock = FakeClock()
    gate = RateGate(clock)
    gate.penalise("rc_token", 60)

    # When it is checked during the penalty
    with pytest.raises(RateLimited) as caught:
        gate.check("rc_token", "RingCentral")

    # Then the caller is told to wait the full penalty (429)
    assert caught.value.retry_after == 60
    assert caught.value.status == HTTPStatus.TOO_MANY_REQUESTS
    assert caught.value.message == "RingCentral rate limit reached; retry after 60 s"

    # And once the penalty has passed, calls go through again
    clock.advance(60)
    assert passes(gate, "rc_token")


@pytest.mark.parametrize(
    ("elapsed", "expected"),
    [(0.0, 60), (0.5, 60), (30.0, 30), (58.9, 2), (59.0, 1), (59.9, 1)],
)
def test_rate_gate_remaining_penalty_rounds_up_to_whole_seconds(
    elapsed: float, expected: int
) -> None:
    # Given a 60 s penalty, part of which has passed
    clock = FakeClock()
    gate = RateGate(clock)
    gate.penalise("rcx_exchange", 60)
    clock.advance(elapsed)

    # When the endpoint is checked
    with pytest.raises(RateLimited) as caught:
        gate.check("rcx_exchange", "RingCX")

    # Then Retry-After is the remaining time rounded up, never 0
    assert caught.value.retry_after == expected


def test_rate_gate_penalty_is_per_endpoint() -> None:
    # Given a penalty on the exchange endpoint
    gate = RateGate(FakeClock())
    gate.penalise("rcx_exchange", 60)

    # When another endpoint is checked
    # Then it is not blocked
    assert passes(gate, "rcx_refresh")
    with pytest.raises(RateLimited):
        gate.check("rcx_exchange", "RingCX")


def test_rate_gate_new_penalty_replaces_old_one() -> None:
    # Given a long penalty followed by a shorter, newer one
    clock = FakeClock()
    gate = RateGate(clock)
    gate.penalise("rc_token", 300)
    clock.advance(10)
    gate.penalise("rc_token", 5)

    # When the shorter one has passed
    clock.advance(5)

    # Then the latest Retry-After is what counts
    assert passes(gate, "rc_token")


# -- shared across the stack's functions ---------------------------------------------


@pytest.fixture
def store() -> tuple[FakeSecretsManager, str]:
    secrets = FakeSecretsManager()
    arn = secrets.create_secret(Name="ringcx-broker/credentials", SecretString="{}")["ARN"]
    secrets.reset_calls()
    return secrets, arn


def test_rate_gate_penalty_seen_by_one_function_stops_the_other(
    store: tuple[FakeSecretsManager, str],
) -> None:
    # Given the exchange and the refresher, each with its own gate over the credentials secret
    secrets, arn = store
    clock = FakeClock()
    exchange = RateGate(clock, shared=SecretTagPenalties(secrets.client, arn, clock))
    refresher = RateGate(clock, shared=SecretTagPenalties(secrets.client, arn, clock))

    # When the exchange gets a 429 with Retry-After: 60
    exchange.penalise("rc_token", 60)

    # Then the refresher does not send a login during the penalty, and may after it
    clock.advance(30)
    with pytest.raises(RateLimited) as caught:
        refresher.check("rc_token", "RingCentral")
    assert caught.value.retry_after == 30
    clock.advance(31)
    assert passes(refresher, "rc_token")


def test_rate_gate_shared_penalty_costs_no_secret_version(
    store: tuple[FakeSecretsManager, str],
) -> None:
    # Given a penalty shared through the credentials secret
    secrets, arn = store
    versions = secrets.version_count(arn)
    RateGate(FakeClock(), shared=SecretTagPenalties(secrets.client, arn)).penalise("rcx_refresh", 5)

    # Then it is a tag, not a new version of the secret (the write quota is untouched)
    tags = secrets.describe_secret(SecretId=arn)["Tags"]
    assert [t["Key"] for t in tags] == [TAG_PREFIX + "rcx_refresh"]
    assert secrets.version_count(arn) == versions
    assert secrets.count("put_secret_value") == 0


def test_rate_gate_reads_the_shared_store_at_most_once_a_second(
    store: tuple[FakeSecretsManager, str],
) -> None:
    # Given a gate over the shared store
    secrets, arn = store
    clock = FakeClock()
    gate = RateGate(clock, shared=SecretTagPenalties(secrets.client, arn, clock))

    # When a login checks both of its endpoints at once, and another login comes a minute later
    gate.check("rc_token", "RingCentral")
    gate.check("rcx_exchange", "RingCX")
    clock.advance(60)
    gate.check("rc_token", "RingCentral")

    # Then each login read the shared penalties once
    assert secrets.count("describe_secret") == 2


@pytest.mark.parametrize("operation", ["describe_secret", "tag_resource"])
def test_rate_gate_shared_store_failure_falls_back_to_the_containers_memory(
    store: tuple[FakeSecretsManager, str], operation: str
) -> None:
    # Given Secrets Manager refusing the tag calls (an old IAM policy, or an outage)
    secrets, arn = store
    secrets.fail(operation, "AccessDeniedException", times=5)
    clock = FakeClock()
    gate = RateGate(clock, shared=SecretTagPenalties(secrets.client, arn, clock))

    # When a penalty is recorded and checked
    gate.penalise("rc_token", 60)

    # Then the container still honours it, and nothing raised
    assert not passes(gate, "rc_token")
    clock.advance(61)
    assert passes(gate, "rc_token")


def test_secret_tag_penalties_ignore_foreign_and_garbled_tags(
    store: tuple[FakeSecretsManager, str],
) -> None:
    # Given the credentials secret tagged by an operator and one garbled penalty tag
    secrets, arn = store
    secrets.tag_resource(
        SecretId=arn,
        Tags=[
            {"Key": "team", "Value": "contact-center"},
            {"Key": TAG_PREFIX + "rc_token", "Value": "soon"},
            {"Key": TAG_PREFIX + "rcx_exchange", "Value": "1800000100"},
        ],
    )

    # When the penalties are loaded
    ends = SecretTagPenalties(secrets.client, arn).load()

    # Then only the well-formed penalty counts
    assert ends == {"rcx_exchange": 1800000100.0}


def test_secret_tag_call_times_round_trip_below_a_second_and_keep_the_last_eight(
    store: tuple[FakeSecretsManager, str],
) -> None:
    # Given a container that saw ten failing calls, a tenth of a second apart
    secrets, arn = store
    clock = FakeClock()
    shared = SecretTagPenalties(secrets.client, arn, clock)
    times = [1800000000.0 + i / 10 for i in range(10)]

    # When it saves them and its successor reads them
    shared.save_calls("rcx_refresh", times)
    read = SecretTagPenalties(secrets.client, arn, clock).recent_calls("rcx_refresh")

    # Then the successor sees the last eight, each still distinct, as a tag not a version
    assert read == pytest.approx(times[-8:], abs=0.001)
    assert secrets.count("put_secret_value") == 0


def test_secret_tag_call_times_garbled_or_missing_read_as_none(
    store: tuple[FakeSecretsManager, str],
) -> None:
    # Given one endpoint's call-times tag garbled, and none for another
    secrets, arn = store
    secrets.tag_resource(SecretId=arn, Tags=[{"Key": CALLS_PREFIX + "rcx_refresh", "Value": "x"}])
    shared = SecretTagPenalties(secrets.client, arn, FakeClock())

    # Then neither yields calls to count
    assert shared.recent_calls("rcx_refresh") == []
    assert shared.recent_calls("rc_token") == []


def test_secret_tags_one_read_serves_penalties_and_call_times_until_a_write(
    store: tuple[FakeSecretsManager, str],
) -> None:
    # Given one container's shared state
    secrets, arn = store
    shared = SecretTagPenalties(secrets.client, arn, FakeClock())

    # When a cold refresher reads its call times and then its gate reads penalties
    shared.recent_calls("rcx_refresh")
    shared.load()
    assert secrets.count("describe_secret") == 1

    # Then a write of its own makes the next read go to Secrets Manager again
    shared.save("rcx_refresh", 1800000060)
    assert shared.load() == {"rcx_refresh": 1800000060.0}
    assert secrets.count("describe_secret") == 2
