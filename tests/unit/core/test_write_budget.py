"""write_budget.py: unplanned ring writes stop well below the versions quota."""

from __future__ import annotations

import logging
from http import HTTPStatus

import pytest

from ringcx_broker.write_budget import DAY, WriteBudget, WriteBudgetExceeded
from tests.unit.core.fakes import T0, FakeClock, FakeSecretsManager


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def secrets(clock: FakeClock) -> FakeSecretsManager:
    return FakeSecretsManager(clock=clock)


def slot_with_versions(
    secrets: FakeSecretsManager, clock: FakeClock, count: int, every: float
) -> str:
    """A slot written ``count`` times, ``every`` seconds apart, ending now."""
    arn = secrets.create_secret(Name="ring/slot-0")["ARN"]
    clock.advance(-count * every)
    for i in range(count):
        clock.advance(every)
        secrets.external_put(arn, f'{{"n": {i}}}')
    return arn


@pytest.mark.parametrize("count", [0, 1, 89])
def test_write_budget_slot_with_room_lets_the_write_through(
    secrets: FakeSecretsManager, clock: FakeClock, count: int
) -> None:
    # Given a slot with fewer than 90 versions from the last 24 h
    slot = slot_with_versions(secrets, clock, count, every=60)

    # When an unplanned write is checked
    # Then nothing is raised
    WriteBudget(secrets.client, clock=clock).check(slot, "the exchange")


def test_write_budget_full_slot_refuses_with_the_time_until_room_frees(
    secrets: FakeSecretsManager, clock: FakeClock
) -> None:
    # Given a slot written 95 times in the last 95 minutes (a caller hammering)
    slot = slot_with_versions(secrets, clock, 95, every=60)

    # When an unplanned write is checked
    with pytest.raises(WriteBudgetExceeded) as caught:
        WriteBudget(secrets.client, clock=clock).check(slot, "the exchange")

    # Then it is a 429 whose Retry-After is when the 6th-oldest version passes 24 h
    assert caught.value.status == HTTPStatus.TOO_MANY_REQUESTS
    oldest_needed = T0 - 94 * 60 + 5 * 60
    assert caught.value.retry_after == int(oldest_needed + DAY - T0)
    assert "the exchange refused" in caught.value.message
    assert "95 versions" in caught.value.message


def test_write_budget_counts_only_the_last_24_hours(
    secrets: FakeSecretsManager, clock: FakeClock
) -> None:
    # Given 120 versions, one every 20 minutes: 40 hours' worth (72 in the last 24 h)
    slot = slot_with_versions(secrets, clock, 120, every=1200)

    # When an unplanned write is checked
    # Then only the 72 recent ones count, so it passes
    WriteBudget(secrets.client, clock=clock).check(slot, "a forced refresh")


def test_write_budget_reads_every_page_of_versions(
    secrets: FakeSecretsManager, clock: FakeClock
) -> None:
    # Given 150 recent versions (two pages of 100)
    slot = slot_with_versions(secrets, clock, 150, every=10)

    # When checked
    with pytest.raises(WriteBudgetExceeded) as caught:
        WriteBudget(secrets.client, clock=clock).check(slot, "the exchange")

    # Then all 150 were counted
    assert "150 versions" in caught.value.message
    assert secrets.count("list_secret_version_ids") == 2


def test_write_budget_unlistable_slot_lets_the_write_through_with_a_warning(
    secrets: FakeSecretsManager, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a slot whose versions cannot be listed (an old IAM policy, a throttle)
    slot = slot_with_versions(secrets, clock, 95, every=60)
    secrets.fail("list_secret_version_ids", "AccessDeniedException")

    # When checked
    with caplog.at_level(logging.WARNING):
        WriteBudget(secrets.client, clock=clock).check(slot, "the exchange")

    # Then the operator's action is not refused, and the gap is logged
    assert any("budget unchecked" in r.getMessage() for r in caplog.records)
