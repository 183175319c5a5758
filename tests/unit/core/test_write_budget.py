"""write_budget.py: unplanned ring writes stop before any slot can reach its quota."""

from __future__ import annotations

import logging
from http import HTTPStatus

import pytest

from ringcx_broker.timing import TimingPolicy
from ringcx_broker.write_budget import DAY, WriteBudget, WriteBudgetExceeded, projected_peak
from tests.unit.core.fakes import T0, FakeClock, FakeSecretsManager

K = 6
P = 180.0  # the schedule's rotation period with the defaults (f = 0.4, L = 300 s, T = 60 s)
SCHEDULE_PER_DAY = int(DAY / P)  # 480 rotations, 80 per slot


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def secrets(clock: FakeClock) -> FakeSecretsManager:
    return FakeSecretsManager(clock=clock)


@pytest.fixture
def slots(secrets: FakeSecretsManager) -> tuple[str, ...]:
    return tuple(secrets.create_secret(Name=f"ring/slot-{i}")["ARN"] for i in range(K))


def write_history(
    secrets: FakeSecretsManager, clock: FakeClock, slots: tuple[str, ...], ages: list[float]
) -> None:
    """Round-robin writes that are ``ages`` seconds old now."""
    now = clock()
    for i, age in enumerate(sorted(ages, reverse=True)):
        clock.now = now - age
        secrets.external_put(slots[i % K], f'{{"n": {i}}}')
    clock.now = now


def budget(secrets: FakeSecretsManager, slots: tuple[str, ...], clock: FakeClock) -> WriteBudget:
    return WriteBudget(secrets.client, slots, TimingPolicy(), clock=clock)


# -- the projection -------------------------------------------------------------------


def test_projected_peak_steady_schedule_stays_at_the_designed_rate() -> None:
    # Given a day of scheduled rotations, one every P
    ages = [i * P for i in range(SCHEDULE_PER_DAY)]

    # When the next 24 h are projected with one more write
    peak = projected_peak(ages, P)

    # Then the ring never holds more than a day's schedule plus ours (81 per slot)
    assert peak == SCHEDULE_PER_DAY + 3
    assert -(-peak // K) == 81


def test_projected_peak_a_recent_burst_counts_with_the_schedule_that_follows() -> None:
    # Given 60 writes in the last minutes (a caller hammering), nothing older
    ages = [float(i) for i in range(60)]

    # When projected
    peak = projected_peak(ages, P)

    # Then the burst stays counted for a day while the schedule adds on top: just before
    # the oldest (59 s) write ages out, 479 periods have passed, plus one at once and ours
    assert peak == 60 + (SCHEDULE_PER_DAY - 1) + 1 + 1


# -- the check -------------------------------------------------------------------------


def test_write_budget_steady_ring_with_room_lets_an_unplanned_write_through(
    secrets: FakeSecretsManager, clock: FakeClock, slots: tuple[str, ...]
) -> None:
    # Given a day of scheduled rotations over the ring
    write_history(secrets, clock, slots, [i * P for i in range(SCHEDULE_PER_DAY)])

    # When an unplanned write is checked
    # Then it fits: the slots peak at 81 of the 94 allowed
    budget(secrets, slots, clock).check(300.0, "the exchange")


def test_write_budget_hammered_ring_refuses_with_the_time_until_room_frees(
    secrets: FakeSecretsManager, clock: FakeClock, slots: tuple[str, ...]
) -> None:
    # Given 90 unplanned writes in the last 90 minutes on top of a steady schedule
    steady = [i * P for i in range(SCHEDULE_PER_DAY)]
    burst = [i * 60.0 + 1 for i in range(90)]
    write_history(secrets, clock, slots, steady + burst)

    # When one more is checked
    with pytest.raises(WriteBudgetExceeded) as caught:
        budget(secrets, slots, clock).check(300.0, "the exchange")

    # Then it is a 429 naming the projected peak, with a Retry-After within the day
    assert caught.value.status == HTTPStatus.TOO_MANY_REQUESTS
    assert "the exchange refused" in caught.value.message
    assert "the budget for unplanned writes stops at 94" in caught.value.message
    assert 0 < caught.value.retry_after <= DAY


def test_write_budget_refuses_a_hammering_caller_without_listing_again(
    secrets: FakeSecretsManager, clock: FakeClock, slots: tuple[str, ...]
) -> None:
    # Given a refusal
    write_history(secrets, clock, slots, [float(i) for i in range(90)])
    checker = budget(secrets, slots, clock)
    with pytest.raises(WriteBudgetExceeded) as first:
        checker.check(300.0, "the exchange")
    listed = secrets.count("list_secret_version_ids")

    # When the caller asks again a minute later
    clock.advance(60)
    with pytest.raises(WriteBudgetExceeded) as second:
        checker.check(300.0, "the exchange")

    # Then it is refused at once, counting down to the same moment, at no Secrets Manager call
    assert second.value.retry_after == first.value.retry_after - 60
    assert secrets.count("list_secret_version_ids") == listed


def test_write_budget_retry_after_is_when_the_same_write_would_fit(
    secrets: FakeSecretsManager, clock: FakeClock, slots: tuple[str, ...]
) -> None:
    # Given a burst that the budget refuses now
    write_history(secrets, clock, slots, [float(i) for i in range(90)])
    checker = budget(secrets, slots, clock)
    with pytest.raises(WriteBudgetExceeded) as caught:
        checker.check(300.0, "a forced refresh")

    # When the Retry-After has passed (and the schedule wrote nothing, as it would not if
    # someone kept the token fresh)
    clock.advance(caught.value.retry_after)

    # Then the same write fits (a new container, with no memory of the refusal, agrees)
    checker.check(300.0, "a forced refresh")
    budget(secrets, slots, clock).check(300.0, "a forced refresh")


def test_write_budget_counts_only_the_last_24_hours(
    secrets: FakeSecretsManager, clock: FakeClock, slots: tuple[str, ...]
) -> None:
    # Given 1,000 writes, all between 25 and 30 hours old
    write_history(secrets, clock, slots, [25 * 3600 + i * 18.0 for i in range(1000)])

    # When checked
    # Then none of them counts
    budget(secrets, slots, clock).check(300.0, "the exchange")


def test_write_budget_reads_every_page_of_versions(
    secrets: FakeSecretsManager, clock: FakeClock, slots: tuple[str, ...]
) -> None:
    # Given 1,200 recent writes (200 per slot: two pages each)
    write_history(secrets, clock, slots, [float(i) for i in range(1200)])

    # When checked
    with pytest.raises(WriteBudgetExceeded) as caught:
        budget(secrets, slots, clock).check(300.0, "the exchange")

    # Then every page of every slot was read
    assert "with the 1200 ring writes" in caught.value.message
    assert secrets.count("list_secret_version_ids") == 2 * K


def test_write_budget_unlistable_slot_lets_the_write_through_with_a_warning(
    secrets: FakeSecretsManager,
    clock: FakeClock,
    slots: tuple[str, ...],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given a hammered ring whose versions cannot be listed (an old IAM policy, a throttle)
    write_history(secrets, clock, slots, [float(i) for i in range(200)])
    secrets.fail("list_secret_version_ids", "AccessDeniedException")

    # When checked
    with caplog.at_level(logging.WARNING):
        budget(secrets, slots, clock).check(300.0, "the exchange")

    # Then the operator's action is not refused, and the gap is logged
    assert any("budget unchecked" in r.getMessage() for r in caplog.records)
