"""Section 3: fleet economy - auth calls, Secrets Manager calls and 429s for
N containers, the broker against a naive client per container.

Both sides run against their own simulator whose token lifetime L is
compressed (10 s by default) and whose auth limits are scaled by the same
ratio (5 calls per 60·L/300 s, a 60·L/300 s penalty), so "5 per minute" keeps
its meaning relative to the token's life.

Time is virtual (``VirtualClock``): the simulator, the refresher, the proxies'
caches and the rate gates all read one clock that the event loop below jumps
from one event to the next. Six lifetimes of a 50-container fleet then take
seconds, not minutes, and every run is repeatable. HTTP (to the simulator)
and Secrets Manager calls (to moto) are real and go over loopback.

- **broker**: N ``ProxyApp`` instances, each with its own ``TokenSource``
  (its own cache, as separate Lambda containers have), plus one
  ``Refresher`` ticking every T = 0.2·L (the template's 60 s at L = 300 s).
  A proxy that finds its token stale "invokes" the refresher in-process
  with ``{"staleGeneration": g}``, as the Lambda invoke would.
- **naive**: N ``NaiveClient`` instances (``naive_client.py``).

Each container sends a steady stream of ``GET /voice/api/v1/admin/accounts``.

Every request also goes through FaultProxies (Secrets Manager for the
containers, Secrets Manager for the refresher, RingCX), which count its round
trips and, with ``FleetConfig.latency``, add AWS-like latency to each. The
injected latency is real time; the virtual clock does not see it, so it
changes what each request costs a caller (its wall time), never when tokens
expire, when the refresher ticks or which requests overlap (none do: the loop
is serial). The counts must therefore match the loopback run's.
"""

from __future__ import annotations

import heapq
import json
import math
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3
import urllib3

from benchmarks.harness import (
    LambdaContext,
    TemplateStack,
    broker_services,
    count_calls,
    load_event,
    scaled_sim_config,
    secrets_client,
    secrets_endpoint,
)
from benchmarks.latency import AUTH_GROUPS, LOOPBACK, Latency
from benchmarks.naive_client import NaiveAuthFailed, NaiveClient, NaiveCredentials
from benchmarks.stats import median, percentile, ratio, rounded
from benchmarks.vclock import VirtualClock
from ringcx_broker import refresher as refresher_module
from ringcx_broker.proxy.app import ProxyApp
from ringcx_broker.proxy.forward import Upstream
from ringcx_broker.proxy.token_source import RefreshOutcome, TokenSource, parse_refresher_reply
from ringcx_broker.refresher import Refresher
from ringcx_broker.ring import TokenRing
from ringcx_broker.timing import TimingPolicy
from ringcx_dev.faultproxy import FaultProxy, aws_operation, path_group
from ringcx_dev.simulator import Simulator

AUTH_ENDPOINTS = ("rc_token", "rcx_exchange", "rcx_refresh")
SCHEDULED_EVENT = {"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}


@dataclass(frozen=True, slots=True)
class FleetConfig:
    lifetime: float = 10.0  # L: compressed token lifetime (production: 300 s)
    lifetimes: int = 6  # how many token lifetimes each run spans
    sizes: tuple[int, ...] = (1, 5, 20, 50)
    requests_per_lifetime: int = 20  # per container
    refresh_fraction: float = 0.4
    leeway_fraction: float = 0.1
    latency: Latency = LOOPBACK

    @property
    def tick(self) -> float:
        """The schedule period, scaled like the token: 60 s at L = 300 s."""
        return 60.0 * self.lifetime / 300.0

    @property
    def interval(self) -> float:
        return self.lifetime / self.requests_per_lifetime

    @property
    def duration(self) -> float:
        return self.lifetime * self.lifetimes


@dataclass(slots=True)
class SideResult:
    """What one side of one fleet size cost, counted at the simulator and at boto3."""

    auth: dict[str, dict[str, int]] = field(default_factory=dict)
    secrets_calls: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)
    extra: dict[str, Any] = field(default_factory=dict)
    costs: list[RequestCost] = field(default_factory=list)

    def summary(self, lifetimes: int) -> dict[str, Any]:
        calls = sum(self.auth[e]["calls"] for e in AUTH_ENDPOINTS)
        return {
            "auth_calls": calls,
            "auth_calls_per_lifetime": rounded(calls / lifetimes),
            "refreshes_per_lifetime": rounded(self.auth["rcx_refresh"]["calls"] / lifetimes),
            "auth_by_endpoint": {e: self.auth[e]["calls"] for e in AUTH_ENDPOINTS},
            "rate_limited": sum(self.auth[e]["rate_limited"] for e in AUTH_ENDPOINTS),
            "secrets_calls": sum(self.secrets_calls.values()),
            "secrets_by_operation": dict(self.secrets_calls),
            "requests": sum(self.statuses.values()),
            "requests_ok": self.statuses.get("200", 0),
            "requests_failed": sum(n for s, n in self.statuses.items() if s != "200"),
            "upstream_calls": self.auth["api"]["calls"],
            **self.extra,
            **per_request(self.costs),
        }


# -- what each request cost, counted at the proxies ------------------------------

COLD, WARM = "cold", "warm"


@dataclass(frozen=True, slots=True)
class RequestCost:
    """One request's round trips (its container's own and the refresher's,
    when it invoked it) and its wall time, injected latency included."""

    kind: str
    seconds: float
    secrets: int
    refresher_secrets: int
    invokes: int
    ringcx: int
    auth: int


def request_kind(first: bool, invokes: int, auth: int, secrets: int) -> str:
    if first:
        return COLD
    if invokes:
        return "stale: invoked the refresher"
    if auth:
        return "re-authenticated"
    if secrets:
        return "new generation: ring read"
    return WARM


class Meter:
    """Counts each request's round trips at the fleet's proxies.

    The proxies' counters are reset before each request, so what they hold
    afterwards is that request's; the event loop is serial, so nothing else
    runs in between."""

    def __init__(
        self,
        own: FaultProxy,
        ringcx: FaultProxy,
        refresher: FaultProxy | None = None,
        invocations: Callable[[], int] = lambda: 0,
    ) -> None:
        self._proxies = [p for p in (own, ringcx, refresher) if p is not None]
        self._own, self._ringcx, self._refresher = own, ringcx, refresher
        self._invocations = invocations
        self.costs: list[RequestCost] = []

    def measure[T](self, first: bool, call: Callable[[], T]) -> T:
        for proxy in self._proxies:
            proxy.reset_counters()
        invoked = self._invocations()
        started = time.perf_counter()
        try:
            return call()
        finally:
            seconds = time.perf_counter() - started
            invokes = self._invocations() - invoked
            auth = sum(self._ringcx.calls(group) for group in AUTH_GROUPS)
            secrets = self._own.calls()
            self.costs.append(
                RequestCost(
                    request_kind(first, invokes, auth, secrets),
                    seconds,
                    secrets,
                    self._refresher.calls() if self._refresher else 0,
                    invokes,
                    self._ringcx.calls(),
                    auth,
                )
            )


def per_request(costs: Sequence[RequestCost]) -> dict[str, Any]:
    """Round trips and wall time per kind of request, and what a cold request adds."""
    kinds: dict[str, list[RequestCost]] = {}
    for cost in costs:
        kinds.setdefault(cost.kind, []).append(cost)
    table = {}
    for kind, group in sorted(kinds.items(), key=lambda kv: _KIND_ORDER.get(kv[0], 9)):
        ms = [c.seconds * 1000 for c in group]
        table[kind] = {
            "requests": len(group),
            "median_ms": rounded(median(ms), 2),
            "p95_ms": rounded(percentile(ms, 95), 2),
            "secrets_round_trips": _range(c.secrets for c in group),
            "refresher_secrets_round_trips": _range(c.refresher_secrets for c in group),
            "invoke_round_trips": _range(c.invokes for c in group),
            "ringcx_round_trips": _range(c.ringcx for c in group),
        }
    added = None
    if COLD in table and WARM in table:
        added = rounded(table[COLD]["median_ms"] - table[WARM]["median_ms"], 2)
    return {"per_request": table, "cold_request_added_ms": added} if costs else {}


_KIND_ORDER = {COLD: 0, WARM: 1}


def _range(values: Iterator[int] | Sequence[int]) -> list[int]:
    """[min, max]: usually equal, which shows the kind is one code path."""
    items = list(values)
    return [min(items), max(items)]


@dataclass(frozen=True, slots=True)
class FleetProxies:
    containers: FaultProxy  # Secrets Manager, as the containers reach it
    refresher: FaultProxy  # Secrets Manager, as the refresher reaches it
    ringcx: FaultProxy

    def client(self, proxy: FaultProxy) -> Any:
        return boto3.client("secretsmanager", endpoint_url=proxy.url)


@contextmanager
def fleet_proxies(secrets_url: str, ringcx_url: str, latency: Latency) -> Iterator[FleetProxies]:
    with ExitStack() as stack:
        started = FleetProxies(
            stack.enter_context(FaultProxy(secrets_url, aws_operation)),
            stack.enter_context(FaultProxy(secrets_url, aws_operation)),
            stack.enter_context(FaultProxy(ringcx_url, path_group)),
        )
        started.containers.set_latency(latency.secrets)
        started.refresher.set_latency(latency.secrets)
        started.ringcx.set_latency(latency.ringcx)
        yield started


# -- the event loop ----------------------------------------------------------------


def request_times(n: int, cfg: FleetConfig, start: float) -> list[tuple[float, int, int]]:
    """(time, priority, container) for every request: containers are evenly
    phase-shifted within one interval, so load is steady rather than bursty."""
    events = []
    for container in range(n):
        t = start + cfg.interval * (container + 0.5) / n
        while t < start + cfg.duration:
            events.append((t, 1, container))
            t += cfg.interval
    return events


def drive(
    clock: VirtualClock,
    events: list[tuple[float, int, int]],
    on_event: Callable[[int, int], None],
) -> None:
    """Run events in time order (ticks, priority 0, before requests at the same instant)."""
    heapq.heapify(events)
    while events:
        when, kind, index = heapq.heappop(events)
        clock.set(when)
        on_event(kind, index)


# -- broker ------------------------------------------------------------------------


class InProcessRefresher:
    """Stands in for ``LambdaRefresher``: the synchronous invoke of the
    RefreshFunction, run in-process with the same event and reply shapes."""

    def __init__(self, refresher: Refresher, clock: VirtualClock, latency: float = 0.0) -> None:
        self._refresher = refresher
        self._clock = clock
        self._latency = latency
        self.invocations = 0

    def request_refresh(self, stale_generation: int) -> RefreshOutcome:
        """The refresher's reply; waits the Invoke round trip in real time
        (not on the virtual clock), as the caller would wait on Lambda."""
        self.invocations += 1
        if self._latency > 0:
            time.sleep(self._latency)
        reply = refresher_module.handle(
            {"staleGeneration": stale_generation}, self._refresher, self._clock
        )
        return parse_refresher_reply(json.dumps(reply).encode())


def run_broker(n: int, cfg: FleetConfig) -> SideResult:
    clock = VirtualClock()
    sim_config = scaled_sim_config(cfg.lifetime)
    pool = urllib3.PoolManager(maxsize=4, retries=False)
    result = SideResult()
    with (
        Simulator(sim_config, clock=clock) as sim,
        fleet_proxies(secrets_endpoint(), sim.base_url, cfg.latency) as via,
    ):
        writer_client, reader_client = via.client(via.refresher), via.client(via.containers)
        stack = TemplateStack.create(secrets_client(), sim_config)
        writer_calls, reader_calls = count_calls(writer_client), count_calls(reader_client)
        timing = TimingPolicy(cfg.refresh_fraction, cfg.leeway_fraction, cfg.tick)
        settings = stack.settings(via.ringcx.url, timing)
        services = broker_services(settings, writer_client, clock, clock.sleep, pool)
        invoker = InProcessRefresher(services.refresher, clock, cfg.latency.invoke)
        meter = Meter(via.containers, via.ringcx, via.refresher, lambda: invoker.invocations)

        def ring() -> TokenRing:
            return TokenRing(reader_client, settings.token_secret_ids, sleep=clock.sleep)

        proxies = [
            ProxyApp(
                settings,
                TokenSource(ring, invoker, timing, clock=clock, sleep=clock.sleep),
                Upstream(settings.ringcx_url, pool, 5.0),
                clock=clock,
            )
            for _ in range(n)
        ]
        served: set[int] = set()
        event, context = load_event(), LambdaContext()
        start = clock()
        events = request_times(n, cfg, start)
        ticks = 0
        while ticks * cfg.tick < cfg.duration:
            events.append((start + ticks * cfg.tick, 0, ticks))
            ticks += 1
        failed_ticks = Counter[str]()

        def on_event(kind: int, index: int) -> None:
            if kind == 0:
                try:
                    refresher_module.handle(SCHEDULED_EVENT, services.refresher, clock)
                except refresher_module.ScheduledRefreshFailed as exc:
                    failed_ticks[str(exc)[:60]] += 1
                return
            first = index not in served
            served.add(index)
            reply = meter.measure(first, lambda: proxies[index].handle(event, context))
            result.statuses[str(reply["statusCode"])] += 1

        drive(clock, events, on_event)
        result.auth = sim.counters()
        result.secrets_calls = writer_calls + reader_calls
        result.costs = meter.costs
        newest = services.ring.newest()
        generations = newest.generation if newest else 0
        result.extra = {
            "refresher_ticks": ticks,
            "failed_ticks": sum(failed_ticks.values()),
            "refresher_invocations_by_proxies": invoker.invocations,
            "generations": generations,
            "auth_calls_per_generation": rounded(
                sum(result.auth[e]["calls"] for e in AUTH_ENDPOINTS) / max(1, generations), 2
            ),
            # After the bootstrap (one JWT login + exchange for generation 1), every
            # generation should cost exactly one refresh call, whatever N is.
            "refreshes_per_rotation": rounded(
                result.auth["rcx_refresh"]["calls"] / max(1, generations - 1), 2
            ),
            "secrets_writes": writer_calls.get("PutSecretValue", 0),
            "secrets_reads_by_proxies": sum(reader_calls.values()),
        }
    return result


# -- naive -------------------------------------------------------------------------


def run_naive(n: int, cfg: FleetConfig) -> SideResult:
    clock = VirtualClock()
    sim_config = scaled_sim_config(cfg.lifetime)
    pool = urllib3.PoolManager(maxsize=4, retries=False)
    result = SideResult()
    with (
        Simulator(sim_config, clock=clock) as sim,
        fleet_proxies(secrets_endpoint(), sim.base_url, cfg.latency) as via,
    ):
        client = via.client(via.containers)
        stack = TemplateStack.create(secrets_client(), sim_config)
        calls = count_calls(client)
        meter = Meter(via.containers, via.ringcx)
        clients: list[NaiveClient | None] = [None] * n
        path = load_event()["path"]
        secret_id = stack.stack.credentials_secret_id
        auth_failures: Counter[str] = Counter()

        def request(index: int) -> str:
            naive = clients[index]
            if naive is None:  # this container's cold start
                credentials = NaiveCredentials.from_secret(client, secret_id)
                naive = clients[index] = NaiveClient(
                    via.ringcx.url, via.ringcx.url, credentials, pool
                )
            try:
                return str(naive.get(path))
            except NaiveAuthFailed as exc:
                auth_failures[f"{exc.step} {exc.status}"] += 1
                return f"auth {exc.status}"

        def on_event(_kind: int, index: int) -> None:
            result.statuses[meter.measure(clients[index] is None, lambda: request(index))] += 1

        drive(clock, request_times(n, cfg, clock()), on_event)
        result.auth = sim.counters()
        result.secrets_calls = calls
        result.costs = meter.costs
        result.extra = {"auth_failures": dict(auth_failures)}
    return result


# -- the section -------------------------------------------------------------------


def counts_match(loopback: dict[str, Any], slow: dict[str, Any]) -> dict[str, bool]:
    """Per N run in both: whether latency left every count unchanged, as a
    virtual clock must (auth calls, Secrets Manager calls, failed requests)."""
    keys = ("auth_by_endpoint", "secrets_by_operation", "requests", "requests_failed")
    fast = {row["containers"]: row for row in loopback["rows"]}
    return {
        str(row["containers"]): all(
            row[side][key] == fast[row["containers"]][side][key]
            for side in ("broker", "naive")
            for key in keys
        )
        for row in slow["rows"]
        if row["containers"] in fast
    }


def measure(cfg: FleetConfig, sizes: Sequence[int] | None = None) -> dict[str, Any]:
    rows = []
    for n in sizes or cfg.sizes:
        broker = run_broker(n, cfg).summary(cfg.lifetimes)
        naive = run_naive(n, cfg).summary(cfg.lifetimes)
        rows.append(
            {
                "containers": n,
                "broker": broker,
                "naive": naive,
                "auth_ratio_naive_over_broker": rounded(
                    ratio(naive["auth_calls"], broker["auth_calls"]), 2
                ),
            }
        )
    period = math.ceil(round((1 - cfg.refresh_fraction) * cfg.lifetime / cfg.tick, 9)) * cfg.tick
    return {
        "clock": "virtual (simulator, refresher, proxies and rate gates share one clock)",
        "latency": cfg.latency.to_json(),
        "rotation_period_s": period,
        "expected_refreshes_per_lifetime": rounded(cfg.lifetime / period, 2),
        "notes": [
            f"the broker rotates every P = {period:g} s = (1 - f)·L rounded up to a tick, so "
            f"it spends L/P = {cfg.lifetime / period:.2f} refreshes per lifetime, plus one "
            "JWT login + exchange to bootstrap the ring, whatever N is;",
            "the naive client refreshes only when RingCX says 'Jwt is expired' (one extra 401 "
            "round trip per container per lifetime) and honours no Retry-After.",
        ],
        "lifetime_s": cfg.lifetime,
        "lifetimes": cfg.lifetimes,
        "tick_s": cfg.tick,
        "rate_limit": f"5 per {60 * cfg.lifetime / 300:g} s per auth endpoint",
        "requests_per_container_per_lifetime": cfg.requests_per_lifetime,
        "rows": rows,
    }
