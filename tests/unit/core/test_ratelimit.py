"""ratelimit.py: after a 429, fail fast until the penalty ends."""

from __future__ import annotations

from http import HTTPStatus

import pytest

from ringcx_broker.errors import RateLimited
from ringcx_broker.ratelimit import RateGate
from tests.unit.core.fakes import FakeClock


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
