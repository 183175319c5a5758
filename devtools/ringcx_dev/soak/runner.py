"""The soak's event loop: ticks, requests and the schedule, in virtual time.

Every event runs at its time on the virtual clock: EventBridge's tick every
T seconds, each proxy container's requests (a Poisson stream per
container), and the start and end of each scheduled fault. An event that
sleeps (a backoff) moves the clock on, and events due meanwhile run right
after it, late, as they would queue behind a busy container. After every
event the chain is checked (``LostTokens``).
"""

from __future__ import annotations

import heapq
import itertools
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from ringcx_dev.vclock import VirtualClock

from . import apply
from .analysis import analyse
from .chain import LostTokens
from .logscan import LogCapture
from .options import SoakOptions
from .schedule import Episode, Schedule, generate
from .store import sdk_backoff_on
from .world import World

# Same instant: a fault ends, then one starts, then the tick, then requests.
END, START, TICK, REQUEST = range(4)
FIRST_REQUEST = 5.0  # seconds after the first tick, which bootstraps the ring


class EventLoop:
    def __init__(self, clock: VirtualClock) -> None:
        self._clock = clock
        self._queue: list[tuple[float, int, int, Callable[[], None]]] = []
        self._order = itertools.count()

    def at(self, when: float, rank: int, action: Callable[[], None]) -> None:
        heapq.heappush(self._queue, (when, rank, next(self._order), action))

    def run(self, after: Callable[[], None]) -> int:
        events = 0
        while self._queue:
            when, _, _, action = heapq.heappop(self._queue)
            self._clock.set(when)
            action()
            after()
            events += 1
        return events


@dataclass(slots=True)
class SoakResult:
    """The figures (``report``, JSON-ready) and the verdicts of one run."""

    report: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(v["pass"] for v in self.report["verdicts"])


def run_soak(
    options: SoakOptions, store_url: str | None = None, schedule: Schedule | None = None
) -> SoakResult:
    """Run one soak and judge it. ``store_url``: an already running moto
    server to use (one is started otherwise); ``schedule``: replay this one
    instead of generating it from the seed."""
    schedule = schedule or generate(options.seed, options.duration, options.proxies)
    started = time.perf_counter()
    with World(options, store_url) as world:
        logs = LogCapture(world.clock)
        lost = LostTokens()
        with logs.installed(), sdk_backoff_on(world.clock.sleep), _seeded(options.seed):
            origin = world.clock()
            loop = EventLoop(world.clock)
            _plan(loop, world, schedule, origin)
            events = loop.run(after=lambda: lost.observe(world))
        wall = time.perf_counter() - started
        report = analyse(world, schedule, logs, lost.close(), origin, wall, events)
    return SoakResult(report)


def _plan(loop: EventLoop, world: World, schedule: Schedule, origin: float) -> None:
    duration, options = schedule.duration, world.options
    tick = world.settings.timing.tick_seconds
    for n in range(int(duration // tick) + 1):
        loop.at(origin + n * tick, TICK, world.tick)
    rate = options.requests_per_minute / 60.0
    for index in range(options.proxies):
        at = origin + FIRST_REQUEST + world.rng.expovariate(rate)
        while at < origin + duration:
            loop.at(at, REQUEST, _bind(world.request, index))
            at += world.rng.expovariate(rate)
    for number, episode in enumerate(schedule.episodes):
        label = f"{number}:{episode.kind}"
        loop.at(origin + episode.start, START, _episode(apply.start, world, episode, label))
        if episode.duration > 0:
            loop.at(origin + episode.end, END, _episode(apply.finish, world, episode, label))


def _bind(action: Callable[[int], None], index: int) -> Callable[[], None]:
    return lambda: action(index)


def _episode(
    action: Callable[[World, Episode, str], None], world: World, episode: Episode, label: str
) -> Callable[[], None]:
    return lambda: action(world, episode, label)


@contextmanager
def _seeded(seed: int) -> Iterator[None]:
    """botocore draws its retry jitter from the global ``random``: seed it for
    the run (and put it back), so a seed replays the same run."""
    state = random.getstate()
    random.seed(seed)
    try:
        yield
    finally:
        random.setstate(state)
