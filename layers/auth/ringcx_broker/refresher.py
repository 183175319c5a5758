"""RefreshFunction: keep the single-use refresh-token chain alive forever.

Order of every rotation (design 4.1): read the newest generation, spend its
refresh token at RingCX, durably write generation g+1, and only then report
success. Each step is safe to repeat: the write is idempotent per generation,
and a dead refresh token first re-reads the ring (another writer may have
rotated) before it falls back to a full re-login.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol, TypeVar

from aws_lambda_powertools import Logger

from ringcx_broker.errors import (
    BadRequest,
    BrokerError,
    CredentialsNotConfigured,
    InternalError,
    RateLimited,
    RefreshTokenRejected,
    RingWriteConflict,
    SecretStoreUnavailable,
    TokenPersistFailed,
    UpstreamUnavailable,
)
from ringcx_broker.events import direct_error
from ringcx_broker.ring import TokenRing
from ringcx_broker.ringcx import RingCXClient
from ringcx_broker.timing import Clock, Sleep, TimingPolicy, ring_size_for, system_clock
from ringcx_broker.tokens import StoredToken, TokenGrant

logger = Logger(child=True)
T = TypeVar("T")


class Kind(StrEnum):
    TICK = "tick"
    FORCE = "force"
    STALE = "stale"


class Action(StrEnum):
    FRESH = "fresh"  # nothing to do: the newest token has enough life left
    NEWER_EXISTS = "newer-exists"  # another writer already rotated
    ROTATED = "rotated"
    RELOGIN = "relogin"  # the chain was dead or empty: full JWT login


class Login(Protocol):
    def login(self) -> TokenGrant: ...


class MetricsSink(Protocol):
    """Powertools ``Metrics`` satisfies this; tests pass a recording fake."""

    def add_metric(self, name: str, unit: Any, value: float) -> None: ...


class ScheduledRefreshFailed(Exception):
    """Raised by a failed scheduled run so Lambda's Errors metric and alarm see
    it. Its message is a ``BrokerError`` message: it never holds a secret."""


@dataclass(frozen=True, slots=True)
class RefreshRequest:
    kind: Kind
    stale_generation: int | None = None

    @classmethod
    def from_event(cls, event: object) -> RefreshRequest:
        """Operators send ``force``, proxies ``staleGeneration``; anything
        else, including a scheduled event of unexpected shape, is a tick."""
        if not isinstance(event, Mapping):
            return cls(Kind.TICK)
        if "staleGeneration" in event:
            stale = event["staleGeneration"]
            if not isinstance(stale, int) or isinstance(stale, bool) or stale < 0:
                raise BadRequest("staleGeneration must be a non-negative integer")
            return cls(Kind.STALE, stale)
        if "force" in event:
            if not isinstance(event["force"], bool):
                raise BadRequest("force must be true or false")
            return cls(Kind.FORCE if event["force"] else Kind.TICK)
        return cls(Kind.TICK)


@dataclass(frozen=True, slots=True)
class RefreshResult:
    action: Action
    token: StoredToken

    def summary(self, now: float) -> dict[str, Any]:
        return {"ok": True, "action": str(self.action), **self.token.summary(now)}


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Bounded retries with exponential backoff and full jitter for 5xx/timeouts."""

    attempts: int = 3
    base: float = 0.5
    cap: float = 4.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("RetryPolicy needs at least one attempt")


class Refresher:
    def __init__(
        self,
        ring: TokenRing,
        ringcx: RingCXClient,
        login: Login,
        timing: TimingPolicy,
        clock: Clock = system_clock,
        sleep: Sleep = time.sleep,
        metrics: MetricsSink | None = None,
        retry: RetryPolicy = RetryPolicy(),
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self._ring = ring
        self._ringcx = ringcx
        self._login = login
        self._timing = timing
        self._clock = clock
        self._sleep = sleep
        self._metrics = metrics
        self._retry = retry
        self._jitter = jitter
        self._known: StoredToken | None = None  # newest generation this container saw
        self._pending: StoredToken | None = None  # rotated at RingCX, not yet stored
        self._lock = threading.Lock()
        self._timing_checked = False

    def run(self, request: RefreshRequest) -> RefreshResult:
        with self._lock:
            try:
                return self._run(request)
            except BrokerError:
                self._metric("RefreshFailures", "Count", 1)
                raise

    def _run(self, request: RefreshRequest) -> RefreshResult:
        self._flush_pending()
        newest = self._ring.latest(self._known)
        if newest is None:
            logger.info("Token ring is empty; bootstrapping with a JWT login")
            result = self._relogin(None)
        elif self._should_rotate(request, newest):
            result = self._rotate(newest)
        else:
            action = Action.FRESH
            if (
                request.stale_generation is not None
                and newest.generation > request.stale_generation
            ):
                action = Action.NEWER_EXISTS
            result = RefreshResult(action, newest)
        self._known = result.token
        self._check_timing(result.token.lifetime)
        self._metric("TokenSecondsLeft", "Seconds", result.token.seconds_left(self._clock()))
        return result

    def _check_timing(self, lifetime: float) -> None:
        """Warn once per container when the deployed fractions and schedule break
        the arithmetic of design 4.3 for the tokens RingCX actually issues."""
        if self._timing_checked:
            return
        self._timing_checked = True
        problems = self._timing.problems(lifetime)
        needed = ring_size_for(lifetime, self._timing)
        if self._ring.size < needed:
            problems.append(
                f"a ring of {self._ring.size} secrets is too small for {lifetime:.0f} s tokens: "
                f"{needed} keep each secret at one write per 15 minutes"
            )
        for problem in problems:
            logger.warning("Refresh timing is unsafe", extra={"problem": problem})

    def _should_rotate(self, request: RefreshRequest, newest: StoredToken) -> bool:
        now = self._clock()
        if request.kind is Kind.FORCE:
            return True
        if request.kind is Kind.STALE:
            assert request.stale_generation is not None
            if newest.generation > request.stale_generation:
                return not newest.has_more_than(self._timing.leeway_fraction, now)
            # A proxy saw "Jwt is expired" on a token minted moments ago: that is
            # clock skew or a RingCX fault, and rotating again would not help.
            return now - newest.refreshed_at >= self._timing.leeway_fraction * newest.lifetime
        return not newest.has_more_than(self._timing.refresh_fraction, now)

    def _rotate(self, newest: StoredToken) -> RefreshResult:
        if newest.refresh_token is None:
            return self._relogin(newest)
        refresh_token = newest.refresh_token
        try:
            grant = self._with_retries(lambda: self._ringcx.refresh(refresh_token))
        except RefreshTokenRejected:
            self._metric("DeadRefreshTokens", "Count", 1)
            latest = self._ring.newer_than(newest)
            if latest.generation > newest.generation:
                logger.info(
                    "Refresh token was spent by another writer",
                    extra={"generation": latest.generation},
                )
                return RefreshResult(Action.NEWER_EXISTS, latest)
            logger.warning(
                "Refresh token is dead; re-logging in", extra={"generation": newest.generation}
            )
            return self._relogin(newest)
        except RateLimited:
            self._metric("RateLimited", "Count", 1)
            raise
        token = newest.successor(grant, self._clock(), "refresh")
        result = self._persist(token, Action.ROTATED, newest)
        self._metric("Refreshes", "Count", 1)
        return result

    def _relogin(self, newest: StoredToken | None) -> RefreshResult:
        try:
            grant = self._login.login()
        except CredentialsNotConfigured as exc:
            if newest is None:
                raise
            raise CredentialsNotConfigured(
                "the refresh token is dead and no RingCentral credentials are configured: "
                f"{exc.message}; store them, or POST an RC token to /auth/exchange"
            ) from exc
        generation = (newest.generation if newest else 0) + 1
        token = StoredToken.from_grant(grant, generation, self._clock(), "relogin")
        result = self._persist(token, Action.RELOGIN, newest)
        self._metric("Relogins", "Count", 1)
        return result

    def _persist(
        self, token: StoredToken, action: Action, predecessor: StoredToken | None
    ) -> RefreshResult:
        try:
            self._ring.write(token)
        except RingWriteConflict:
            latest = self._ring.latest(predecessor)
            self._metric("RingConflicts", "Count", 1)
            if latest is None or latest.generation < token.generation:
                raise
            logger.warning(
                "Lost a ring race; keeping the winner's generation",
                extra={"generation": latest.generation},
            )
            return RefreshResult(Action.NEWER_EXISTS, latest)
        except SecretStoreUnavailable as exc:
            self._pending = token
            self._metric("PersistFailures", "Count", 1)
            logger.error(
                "RingCX issued a new refresh token that could not be stored; "
                "it is kept in memory and written on the next run",
                extra={"generation": token.generation, "reason": exc.message},
            )
            raise TokenPersistFailed(
                f"token generation {token.generation} could not be stored: {exc.message}"
            ) from exc
        logger.info("Stored token", extra={"generation": token.generation, "action": str(action)})
        return RefreshResult(action, token)

    def _flush_pending(self) -> None:
        """Store a rotation that an earlier run could not write (idempotent)."""
        pending = self._pending
        if pending is None:
            return
        try:
            self._ring.write(pending)
        except RingWriteConflict:
            logger.warning(
                "A pending generation was superseded", extra={"generation": pending.generation}
            )
        except SecretStoreUnavailable as exc:
            raise TokenPersistFailed(
                f"token generation {pending.generation} is still not stored: {exc.message}"
            ) from exc
        else:
            logger.info("Stored pending generation", extra={"generation": pending.generation})
            self._known = pending
        self._pending = None

    def _with_retries(self, call: Callable[[], T]) -> T:
        for attempt in range(self._retry.attempts):
            try:
                return call()
            except UpstreamUnavailable as exc:
                self._metric("UpstreamFailures", "Count", 1)
                if attempt + 1 == self._retry.attempts:
                    raise
                delay = min(self._retry.cap, self._retry.base * 2**attempt) * self._jitter()
                logger.warning(
                    "RingCX refresh failed; retrying",
                    extra={"reason": exc.message, "delay": round(delay, 3)},
                )
                self._sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _metric(self, name: str, unit: str, value: float) -> None:
        if self._metrics is not None:
            self._metrics.add_metric(name=name, unit=unit, value=value)


def handle(event: object, refresher: Refresher, clock: Clock = system_clock) -> dict[str, Any]:
    """Serve a scheduled tick or a direct invoke.

    Direct invokes always get a JSON reply. A failed *tick* raises
    ``ScheduledRefreshFailed`` so that Lambda counts an error; an unconfigured
    broker does not, so a fresh stack without credentials is not a crash loop.
    """
    try:
        request = RefreshRequest.from_event(event)
    except BadRequest as error:
        return direct_error(error)
    try:
        return refresher.run(request).summary(clock())
    except BrokerError as error:
        failure = error
    except Exception as exc:  # a bug: log its type only, a traceback may quote a token
        logger.error("Refresh crashed", extra={"error": type(exc).__name__})
        failure = InternalError()
    logger.warning(
        "Refresh failed",
        extra={"kind": str(request.kind), "status": int(failure.status), "reason": failure.message},
    )
    if request.kind is Kind.TICK and not isinstance(failure, CredentialsNotConfigured):
        raise ScheduledRefreshFailed(failure.message) from None
    return direct_error(failure)
