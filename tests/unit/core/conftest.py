"""Fixtures for the auth layer's unit tests: fakes only, no network, no sleeping."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from ringcx_broker.errors import RateLimited
from ringcx_broker.ring import TokenRing, request_token
from ringcx_broker.tokens import StoredToken
from tests.unit.core.fakes import (
    FakeClock,
    FakeLogin,
    FakeRingCX,
    FakeSecretsManager,
    RecordingMetrics,
    RecordingSleep,
)

RING_SIZE = 3


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sleep() -> RecordingSleep:
    return RecordingSleep()


@pytest.fixture
def metrics() -> RecordingMetrics:
    return RecordingMetrics()


@pytest.fixture
def secrets(clock: FakeClock) -> FakeSecretsManager:
    """Versions are dated by the test's clock, as the write budget reads them."""
    return FakeSecretsManager(clock=clock)


@pytest.fixture
def slot_ids(secrets: FakeSecretsManager) -> tuple[str, ...]:
    """The template's ring: K secrets created as ``{}``, addressed by ARN."""
    slots = tuple(
        secrets.create_secret(Name=f"ringcx-broker/token-slot-{i}", SecretString="{}")["ARN"]
        for i in range(RING_SIZE)
    )
    secrets.reset_calls()
    return slots


@pytest.fixture
def ring(
    secrets: FakeSecretsManager, slot_ids: tuple[str, ...], sleep: RecordingSleep
) -> TokenRing:
    return TokenRing(secrets.client, slot_ids, sleep=sleep, jitter=lambda: 0.5)


@pytest.fixture
def ringcx(clock: FakeClock) -> FakeRingCX:
    return FakeRingCX(clock)


@pytest.fixture
def login(ringcx: FakeRingCX) -> FakeLogin:
    return FakeLogin(ringcx)


def seed(secrets: FakeSecretsManager, ring: TokenRing, *tokens: StoredToken) -> None:
    """Store tokens the way another writer would have, then forget the calls."""
    for token in tokens:
        slot = ring.slot_of(token.generation)
        secrets.external_put(
            slot,
            token.to_secret_string(),
            request_token(token.generation, secrets.current_version(slot)),
        )
    secrets.reset_calls()


def slot_token(secrets: FakeSecretsManager, slot_id: str) -> StoredToken | None:
    return StoredToken.from_secret_string(secrets.current_value(slot_id) or "{}")


def rate_limited_twice(
    call: Callable[[], object], clock: FakeClock, wait: float
) -> tuple[RateLimited, RateLimited]:
    """``call`` raises ``RateLimited``, and again ``wait`` seconds later: both errors."""
    with pytest.raises(RateLimited) as first:
        call()
    clock.advance(wait)
    with pytest.raises(RateLimited) as second:
        call()
    return first.value, second.value
