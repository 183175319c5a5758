"""The soak's event loop: time order, then rank, on the virtual clock."""

from __future__ import annotations

from ringcx_dev.soak.runner import END, REQUEST, START, TICK, EventLoop
from ringcx_dev.vclock import VirtualClock


def test_event_loop_runs_in_time_then_rank_order_and_checks_after_each() -> None:
    # Given events queued out of order, three of them at one instant
    clock = VirtualClock(start=0.0)
    loop = EventLoop(clock)
    ran: list[tuple[str, float]] = []
    for when, rank, name in (
        (20.0, REQUEST, "late request"),
        (10.0, REQUEST, "request"),
        (10.0, TICK, "tick"),
        (10.0, START, "start"),
        (10.0, END, "end"),
    ):
        loop.at(when, rank, lambda name=name: ran.append((name, clock())))
    checks: list[float] = []

    # When the loop runs
    events = loop.run(after=lambda: checks.append(clock()))

    # Then each ran at its time: fault ends, starts, the tick, then requests; a check after each
    assert ran == [
        ("end", 10.0),
        ("start", 10.0),
        ("tick", 10.0),
        ("request", 10.0),
        ("late request", 20.0),
    ]
    assert checks == [10.0, 10.0, 10.0, 10.0, 20.0]
    assert events == 5


def test_event_loop_event_due_during_a_sleep_runs_late_never_back_in_time() -> None:
    # Given an event that sleeps 30 s, and one due 10 s after it starts
    clock = VirtualClock(start=0.0)
    loop = EventLoop(clock)
    seen: list[float] = []
    loop.at(0.0, TICK, lambda: clock.sleep(30.0))
    loop.at(10.0, REQUEST, lambda: seen.append(clock()))

    # When the loop runs
    loop.run(after=lambda: None)

    # Then the second ran after the first finished, at t = 30
    assert seen == [30.0]
