"""The fault schedule: deterministic per seed, complete, and separated where no
broker could ride out the combination."""

from __future__ import annotations

import itertools

import pytest

from ringcx_dev.soak.schedule import (
    DAY,
    DEAD_MODES,
    SEPARATIONS,
    SPECS,
    TAIL,
    WARMUP,
    Kind,
    Tag,
    generate,
)

SHORT = 6 * 3600.0


def test_generate_same_seed_gives_the_same_schedule() -> None:
    # Given one seed
    # When the schedule is generated twice
    first, second = generate(42, DAY), generate(42, DAY)

    # Then it is the same, episode for episode
    assert first.episodes == second.episodes


def test_generate_other_seed_gives_another_schedule() -> None:
    # Given two seeds
    # When each generates a schedule
    # Then the schedules differ
    assert generate(1, DAY).episodes != generate(2, DAY).episodes


def test_generate_short_run_forces_every_kind_and_every_dead_refresh_mode() -> None:
    # Given a run of a few hours
    # When its schedule is generated
    schedule = generate(9, SHORT)

    # Then every kind of fault occurs at least once, and every dead-refresh answer
    assert set(schedule.kinds()) == {str(k) for k in Kind}
    modes = {e.mode for e in schedule.episodes if e.kind is Kind.DEAD_REFRESH}
    assert modes == set(DEAD_MODES)
    assert schedule.unplaced == ()


@pytest.mark.parametrize("seed", [1, 9, 2024])
def test_generate_week_places_each_kind_its_daily_count(seed: int) -> None:
    # Given a week
    # When its schedule is generated
    schedule = generate(seed, 7 * DAY)

    # Then each kind occurs per_day times a day, every episode inside the run
    counts = schedule.kinds()
    for kind, spec in SPECS.items():
        assert counts[str(kind)] >= 7 * spec.per_day, kind
    assert all(e.start >= WARMUP and e.end <= 7 * DAY - TAIL for e in schedule.episodes)


@pytest.mark.parametrize("seed", [1, 9])
def test_generate_keeps_every_separation(seed: int) -> None:
    # Given a week's schedule
    schedule = generate(seed, 7 * DAY)

    # When every pair of episodes is checked against the separations
    broken = [
        (a.label(), b.label(), rule)
        for a, b in itertools.combinations(schedule.episodes, 2)
        for rule in SEPARATIONS
        if ((rule.a in a.tags and rule.b in b.tags) or (rule.b in a.tags and rule.a in b.tags))
        and a.gap_to(b) < rule.gap
    ]

    # Then none is broken
    assert broken == []


def test_generate_probes_every_login_blocker_with_an_operator_exchange() -> None:
    # Given a day's schedule
    schedule = generate(9, DAY)

    # When the login blockers are listed
    blockers = [e for e in schedule.episodes if Tag.LOGIN_BLOCK in e.tags]

    # Then an operator exchange falls inside each of them
    operators = [e.start for e in schedule.episodes if e.kind is Kind.OPERATOR_LOGIN]
    assert blockers
    assert all(any(b.start <= at <= b.end for at in operators) for b in blockers)


def test_generate_run_too_short_for_warmup_and_tail_is_refused() -> None:
    # Given a run shorter than the warm-up and the tail
    # When its schedule is generated
    # Then it is refused
    with pytest.raises(ValueError, match="must last more than"):
        generate(9, WARMUP + TAIL)
