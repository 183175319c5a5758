"""Window maxima and runs, the shapes of the soak's figures."""

from __future__ import annotations

import pytest

from ringcx_dev.soak.figures import Run, densest, longest_run


@pytest.mark.parametrize(
    ("times", "window", "expected"),
    [
        ([], 60.0, (0, None)),
        ([5.0], 60.0, (1, 5.0)),
        ([0.0, 10.0, 59.9, 61.0], 60.0, (3, 0.0)),
        ([0.0, 60.0, 120.0], 60.0, (1, 0.0)),  # half-open: 60 s apart share no window
        ([100.0, 0.0, 130.0, 150.0, 20.0], 60.0, (3, 100.0)),  # unsorted input
    ],
)
def test_densest_counts_the_busiest_half_open_window(
    times: list[float], window: float, expected: tuple[int, float | None]
) -> None:
    # Given event times
    # When the busiest window is found
    # Then it has the expected count and start
    assert densest(times, window) == expected


def test_longest_run_finds_the_longest_stretch_of_bad_outcomes() -> None:
    # Given outcomes with two bad stretches, the second longer
    outcomes = [(0.0, True), (1.0, False), (2.0, True), (3.0, True), (4.0, True), (5.0, False)]

    # When the longest run is found
    run = longest_run(outcomes)

    # Then it is the second stretch
    assert run == Run(3, 2.0, 4.0)
    assert run.seconds == 2.0


def test_longest_run_tie_keeps_the_earliest() -> None:
    # Given two equally long bad stretches
    outcomes = [(0.0, True), (1.0, False), (2.0, True)]

    # When the longest run is found
    # Then the earlier one wins
    assert longest_run(outcomes) == Run(1, 0.0, 0.0)


def test_longest_run_nothing_bad_is_none() -> None:
    # Given only good outcomes
    # When the longest run is found
    # Then there is none
    assert longest_run([(0.0, False), (1.0, False)]) is None
