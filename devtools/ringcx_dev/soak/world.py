"""The soak's world: moto behind a FaultProxy, the simulator on the virtual
clock, and the broker's containers wired the way the template deploys them.

Each container is what one Lambda execution environment holds: its own
boto3 client, HTTP pool, rate gate (sharing penalties with the other auth
caller through tags on the credentials secret, as ``runtime.rate_gate``
does), token ring and caches. Recycling a container builds a new one, so it
starts with no memory, as a new execution environment does.

The proxies invoke the refresher synchronously, in-process, with the same
event and reply shapes as the Lambda invoke (``RefresherInvoke``). The soak
runs one thing at a time, which is what reserved concurrency 1 does to the
refresher; time moves only through the virtual clock, whose ``sleep`` every
backoff (the refresher's, the ring's, the token sources', the SDK's, the
simulator's fault delays) waits on.
"""

from __future__ import annotations

import json
import random
import secrets
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Final

import boto3
import urllib3

from ringcx_broker import exchange as exchange_module
from ringcx_broker import refresher as refresher_module
from ringcx_broker.credentials import Credentials, SecretCredentials
from ringcx_broker.errors import BrokerError
from ringcx_broker.exchange import Exchanger
from ringcx_broker.http import AUTH_TIMEOUT
from ringcx_broker.login import JwtLogin
from ringcx_broker.proxy.app import ProxyApp
from ringcx_broker.proxy.forward import Upstream
from ringcx_broker.proxy.token_source import (
    RefreshOutcome,
    RingReader,
    TokenSource,
    parse_refresher_reply,
)
from ringcx_broker.ratelimit import RateGate, SecretTagPenalties
from ringcx_broker.refresher import Refresher
from ringcx_broker.ring import TokenRing
from ringcx_broker.ringcentral import RingCentralClient
from ringcx_broker.ringcx import RingCXClient
from ringcx_broker.settings import Settings
from ringcx_dev.faultproxy import FaultProxy
from ringcx_dev.moto_server import FAKE_AWS_ENV, MotoServer, patched_env
from ringcx_dev.simulator import SimConfig, Simulator
from ringcx_dev.stack import create_stack, put_credentials
from ringcx_dev.vclock import VirtualClock

from .options import ROOT, Cadence, SoakOptions
from .schedule import Episode, Kind
from .simstate import Grant, SimCall, SoakSimState
from .store import SlotWrite, StoreFaults, StoreWatch

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

PROXY_EVENT: Final = ROOT / "events" / "proxy-get-accounts.json"
SCHEDULED_EVENT: Final = {"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}
REFRESH_FUNCTION: Final = "soak-refresher"


class RecordingMetrics:
    """A ``MetricsSink`` that keeps every metric with the virtual time it was emitted."""

    def __init__(self, clock: VirtualClock) -> None:
        self._clock = clock
        self.records: list[tuple[float, str, float]] = []
        self._units: dict[str, str] = {}

    def add_metric(self, name: str, unit: Any, value: float) -> None:
        self.records.append((self._clock(), name, float(value)))
        self._units[name] = str(unit)

    def totals(self) -> Counter[str]:
        """The sum of each count metric (gauges such as TokenSecondsLeft are left out)."""
        totals: Counter[str] = Counter()
        for _, name, value in self.records:
            if self._units.get(name) == "Count":
                totals[name] += int(value)
        return totals


class Outcome(StrEnum):
    """What a proxied request's caller got, and whose doing it was."""

    OK = "ok"
    UPSTREAM = "upstream-error"  # RingCX's own (injected) error reached the caller
    REJECTED_ALL = "rejected-every-token"  # RingCX's clock is a lifetime ahead: nothing works
    # RingCX rate-limited the refresh past the token's expiry: the broker waits, as it must
    # (a rate limit never re-logs in), so the outage is RingCX's
    REFRESH_LIMITED = "refresh-rate-limited-past-expiry"
    BROKER = "broker"  # 503 "no usable token", a 401 passed through, any other broker error


@dataclass(frozen=True, slots=True)
class RequestOutcome:
    at: float
    proxy: int
    status: int
    outcome: Outcome

    @property
    def failed(self) -> bool:
        return self.outcome is not Outcome.OK


@dataclass(frozen=True, slots=True)
class Kill:
    """Something that ended the refresh chain: no broker can keep it alive."""

    at: float
    cause: str


class LambdaContext:
    """The attributes of the Lambda context object the resolver may read."""

    function_name = "soak-proxy"
    memory_limit_in_mb = 256
    aws_request_id = "soak-request"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:soak-proxy"

    def get_remaining_time_in_millis(self) -> int:
        return 29_000


@dataclass(slots=True)
class RefresherContainer:
    name: str
    refresher: Refresher


@dataclass(slots=True)
class ProxyContainer:
    name: str
    app: ProxyApp


class RefresherInvoke:
    """The proxies' synchronous invoke of whichever refresher container runs now."""

    def __init__(self, world: World) -> None:
        self._world = world

    def request_refresh(self, stale_generation: int) -> RefreshOutcome:
        reply = self._world.run_refresher({"staleGeneration": stale_generation})
        return parse_refresher_reply(json.dumps(reply).encode())


def _pool() -> urllib3.PoolManager:
    return urllib3.PoolManager(num_pools=2, maxsize=2, retries=False, timeout=AUTH_TIMEOUT)


class World:
    """Start with ``with World(options) as world``; the soak's loop drives it."""

    def __init__(self, options: SoakOptions, store_url: str | None = None) -> None:
        self.options = options
        self.cadence = Cadence.from_template()
        self.clock = VirtualClock()
        self.rng = random.Random(options.seed * 7919 + 1)
        self.actor = "soak"
        self.sim_config = SimConfig(
            token_lifetime=options.lifetime,
            client_secret=secrets.token_urlsafe(24),
            jwt=secrets.token_urlsafe(48),
        )
        self._store_url = store_url
        self._exit = ExitStack()
        self.metrics = RecordingMetrics(self.clock)
        self.kills: list[Kill] = []
        self.requests: list[RequestOutcome] = []
        self.replies: list[str] = []  # every reply the broker's functions gave, for the scan
        self.active: dict[str, Episode] = {}  # label -> episode, while it lasts
        self.slot_gone: list[tuple[str, float, float]] = []  # (slot, from, to)
        self.failed_ticks: Counter[str] = Counter()
        self.actions: Counter[str] = Counter()
        self.operator: Counter[str] = Counter()
        self._pending_loss: str | None = None
        self.refreshers = 0  # refresher containers started
        self._event = json.loads(PROXY_EVENT.read_text())
        self._context = LambdaContext()

    # -- lifecycle -------------------------------------------------------------------

    def __enter__(self) -> World:
        try:
            self._start()
        except BaseException:
            self._exit.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._exit.close()

    def _start(self) -> None:
        self._exit.enter_context(patched_env(dict(FAKE_AWS_ENV)))
        if self._store_url is None:
            moto = MotoServer()
            self._store_url = moto.start()
            self._exit.callback(moto.stop)
        self.store = self._exit.enter_context(FaultProxy(self._store_url, sleep=self.clock.sleep))
        self.store_faults = StoreFaults(self.store)
        self.sim = Simulator(self.sim_config, clock=self.clock, sleep=self.clock.sleep)
        # The soak's own state, before the server starts: the simulator's rules,
        # plus fault windows and the records the verdicts need.
        self.simstate = SoakSimState(self.sim_config, self.clock, lambda: self.actor)
        self.sim.state = self.simstate
        self._exit.enter_context(self.sim)
        self.admin = boto3.client("secretsmanager", endpoint_url=self._store_url)
        stack = create_stack(self.admin, ring_size=self.cadence.ring_size)
        config = self.sim_config
        put_credentials(
            self.admin,
            stack.credentials_secret_id,
            config.client_id,
            config.client_secret,
            config.jwt,
        )
        self.settings = Settings(
            ringcx_url=self.sim.base_url,
            ringcentral_url=self.sim.base_url,
            credentials_secret_id=stack.credentials_secret_id,
            token_secret_ids=stack.token_secret_ids,
            timing=self.cadence.timing,
            refresh_function_name=REFRESH_FUNCTION,
        )
        self.watch = StoreWatch(self.clock, lambda: self.actor, stack.token_secret_ids)
        self._invoke = RefresherInvoke(self)
        self.refresher = self._new_refresher()
        self.exchanger = self._new_exchanger()
        self.proxies = [self._new_proxy(i) for i in range(self.options.proxies)]
        self._operator = RingCentralClient(
            self.sim.base_url, pool=_pool(), gate=RateGate(self.clock)
        )

    @contextmanager
    def acting(self, actor: str) -> Iterator[None]:
        """Calls made inside the block are ``actor``'s."""
        saved, self.actor = self.actor, actor
        try:
            yield
        finally:
            self.actor = saved

    # -- containers ------------------------------------------------------------------

    def _client(self) -> SecretsManagerClient:
        """A container's Secrets Manager client: through the FaultProxy, as boto3 defaults."""
        client = boto3.client("secretsmanager", endpoint_url=self.store.url)
        self.watch.attach(client)
        return client

    def _shared(self, client: SecretsManagerClient) -> SecretTagPenalties:
        """The credentials secret's tags: penalties, and failing calls' times."""
        return SecretTagPenalties(client, self._credentials_id, self.clock)

    @property
    def _credentials_id(self) -> str:
        secret_id = self.settings.credentials_secret_id
        assert secret_id is not None
        return secret_id

    def _ring(self, client: SecretsManagerClient) -> TokenRing:
        slots = self.settings.token_secret_ids
        return TokenRing(client, slots, sleep=self.clock.sleep, jitter=self.rng.random)

    def _auth(
        self, client: SecretsManagerClient, shared: SecretTagPenalties
    ) -> tuple[RingCXClient, JwtLogin]:
        gate, pool, url = RateGate(self.clock, shared=shared), _pool(), self.sim.base_url
        ringcx = RingCXClient(url, pool=pool, gate=gate, clock=self.clock)
        login = JwtLogin(
            SecretCredentials(client, self._credentials_id),
            RingCentralClient(url, pool=pool, gate=gate),
            ringcx,
        )
        return ringcx, login

    def _new_refresher(self) -> RefresherContainer:
        self.refreshers += 1
        client = self._client()
        shared = self._shared(client)
        ringcx, login = self._auth(client, shared)
        refresher = Refresher(
            self._ring(client),
            ringcx,
            login,
            self.settings.timing,
            clock=self.clock,
            sleep=self.clock.sleep,
            metrics=self.metrics,
            jitter=self.rng.random,
            calls=shared,
        )
        return RefresherContainer(f"refresher#{self.refreshers}", refresher)

    def _new_exchanger(self) -> Exchanger:
        client = self._client()
        ringcx, login = self._auth(client, self._shared(client))
        return Exchanger(self._ring(client), ringcx, login, clock=self.clock)

    def _new_proxy(self, index: int) -> ProxyContainer:
        client = self._client()

        def ring() -> RingReader:
            return self._ring(client)

        tokens = TokenSource(
            ring, self._invoke, self.settings.timing, clock=self.clock, sleep=self.clock.sleep
        )
        upstream = Upstream(self.settings.ringcx_url, _pool(), self.settings.upstream_timeout)
        return ProxyContainer(
            f"proxy#{index}", ProxyApp(self.settings, tokens, upstream, clock=self.clock)
        )

    def recycle_refresher(self) -> None:
        pending = self.unstored_grant()
        if pending is not None and pending.actor == self.refresher.name:
            self.kills.append(Kill(self.clock(), "recycled between a rotation and its write"))
        self.refresher = self._new_refresher()

    def recycle_proxy(self, index: int) -> None:
        self.proxies[index] = self._new_proxy(index)

    # -- what the loop runs ------------------------------------------------------------

    def tick(self) -> None:
        try:
            self.run_refresher(SCHEDULED_EVENT)
        except refresher_module.ScheduledRefreshFailed as exc:
            self.failed_ticks[_reason(str(exc))] += 1

    def run_refresher(self, event: dict[str, Any]) -> dict[str, Any]:
        """One invocation of the refresher container that runs now."""
        container = self.refresher
        try:
            with self.acting(container.name):
                reply = refresher_module.handle(event, container.refresher, self.clock)
        finally:
            self._after_refresher_run()
        self.replies.append(json.dumps(reply))
        self.actions[str(reply.get("action", "failed"))] += 1
        return reply

    def request(self, index: int) -> None:
        container = self.proxies[index]
        first = len(self.simstate.calls)
        with self.acting(container.name):
            reply = container.app.handle(self._event, self._context)
        status = int(reply["statusCode"])
        api = [c for c in self.simstate.calls[first:] if c.endpoint == "api"]
        self.requests.append(
            RequestOutcome(self.clock(), index, status, self._outcome(status, api))
        )
        self.replies.append(str(reply.get("body") or ""))

    def _outcome(self, status: int, api: list[SimCall]) -> Outcome:
        if status < 400:
            return Outcome.OK
        if api and api[-1].fault is not None:
            return Outcome.UPSTREAM
        if status == 401 and self.is_active(Kind.CLOCK_SKEW_TOTAL):
            return Outcome.REJECTED_ALL
        if status == 503 and self._refresh_rate_limited():
            return Outcome.REFRESH_LIMITED
        return Outcome.BROKER

    def _refresh_rate_limited(self) -> bool:
        """The refresher's last refresh calls met only injected rate limits."""
        from .chain import is_rate_limit

        for call in reversed(self.simstate.calls):
            if call.endpoint == "rcx_refresh" and call.actor.startswith("refresher"):
                return call.fault is not None and is_rate_limit(call.fault)
        return False

    def operator_exchange(self, post_rc_token: bool) -> None:
        """An operator's ``POST /auth/exchange``: empty (JWT login), or with an
        RC token they got from RingCentral themselves."""
        event: dict[str, Any] = {}
        if post_rc_token:
            config = self.sim_config
            credentials = Credentials(config.client_id, config.client_secret, config.jwt)
            try:
                with self.acting("operator"):
                    event = {"rcAccessToken": self._operator.login_jwt(credentials)}
            except BrokerError:
                self.operator["rc-login-failed"] += 1
                return
        with self.acting("exchange"):
            reply = exchange_module.handle(event, self.exchanger, self.clock)
        self.replies.append(json.dumps(reply))
        self.operator["ok" if reply.get("ok") else f"failed-{reply.get('statusCode')}"] += 1

    # -- pending rotations -------------------------------------------------------------

    def unstored_grant(self) -> Grant | None:
        """The refresher's newest grant from RingCX if its refresh token is live
        but in no slot: it exists only in that container's memory."""
        live = self.sim.state.live_refresh_tokens
        for grant in reversed(self.simstate.grants):
            if grant.actor.startswith("refresher"):
                stored = grant.refresh_token in self.watch.refresh_tokens
                return grant if grant.refresh_token in live and not stored else None
        return None

    def arm_pending_loss(self, label: str) -> None:
        """Recycle the refresher right after its next rotation that cannot be
        stored (the window ``label`` makes every write fail)."""
        self._pending_loss = label

    def disarm_pending_loss(self, label: str) -> None:
        if self._pending_loss == label:
            self._pending_loss = None

    def _after_refresher_run(self) -> None:
        label = self._pending_loss
        held = self.unstored_grant() is not None or self.refresher.refresher.holds_unstored_token
        if label is not None and held:
            self._pending_loss = None
            self.store_faults.close(label)
            self.recycle_refresher()

    # -- the schedule's state ----------------------------------------------------------

    def is_active(self, kind: Kind) -> bool:
        return any(e.kind is kind for e in self.active.values())

    def slot_id(self, index: int) -> str:
        return self.settings.token_secret_ids[index % len(self.settings.token_secret_ids)]

    def newest(self) -> SlotWrite | None:
        return self.watch.newest()


def _reason(message: str) -> str:
    """A failure message without its numbers, so equal causes count together."""
    return "".join("#" if c.isdigit() else c for c in message)[:120]
