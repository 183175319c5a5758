"""RefreshFunction: keep the single-use refresh-token chain alive forever.

Order of every rotation (docs/design.md, "The token ring"): read the newest generation, spend its
refresh token at RingCX, durably write generation g+1, and only then report
success. Each step is safe to repeat: the write is idempotent per generation,
and a dead refresh token first re-reads the ring (another writer may have
rotated) before it falls back to a full re-login.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, Protocol, TypeVar

from aws_lambda_powertools import Logger

from ringcx_broker.account_pin import AccountMismatch, AccountPin
from ringcx_broker.convergence import (
    AttemptBudget,
    AttemptPacer,
    ConvergencePolicy,
    HeldBack,
    ReloginReason,
    Verdict,
    verdict_of,
)
from ringcx_broker.errors import (
    BadRequest,
    BrokerError,
    CredentialsNotConfigured,
    InternalError,
    RateLimited,
    ReloginBackoff,
    RingWriteConflict,
    SecretStoreUnavailable,
    TokenPersistFailed,
    UpstreamUnavailable,
)
from ringcx_broker.events import direct_error
from ringcx_broker.ratelimit import CallLog
from ringcx_broker.refresh_request import Kind, RefreshRequest
from ringcx_broker.ring import TokenRing
from ringcx_broker.ringcx import RingCXClient
from ringcx_broker.timing import Clock, Sleep, TimingPolicy, system_clock
from ringcx_broker.tokens import StoredToken, TokenGrant
from ringcx_broker.write_budget import WriteBudget, WriteBudgetExceeded

logger = Logger(child=True)
T = TypeVar("T")


class Action(StrEnum):
    FRESH = "fresh"  # nothing to do: the newest token has enough life left
    NEWER_EXISTS = "newer-exists"  # another writer already rotated
    ROTATED = "rotated"
    RELOGIN = "relogin"  # the chain was dead or empty: full JWT login
    DECLINED = "declined"  # an early-expiry rotation was refused (see Move.DECLINE)


class Login(Protocol):
    def login(self) -> TokenGrant: ...


class MetricsSink(Protocol):
    """Powertools ``Metrics`` satisfies this; tests pass a recording fake."""

    def add_metric(self, name: str, unit: Any, value: float) -> None: ...


class ScheduledRefreshFailed(Exception):
    """Raised by a failed scheduled run so Lambda's Errors metric and alarm see
    it. Its message is a ``BrokerError`` message: it never holds a secret."""


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


REFRESH, RELOGIN = "refresh", "relogin"  # the AttemptPacer's kinds
REFRESH_ENDPOINT = "rcx_refresh"


class Move(StrEnum):
    """What a run decides to do with the newest generation."""

    KEEP = "keep"  # it has enough life left, or a newer one exists
    ROTATE = "rotate"
    FORCED_ROTATE = "forced-rotate"  # RingCX rejected it before its exp: rotate once
    DECLINE = "decline"  # rejected early, but it already replaced a rejected one


class Refresher:
    """One refresher container. ``run`` is serialised by a lock (and, across
    containers, by reserved concurrency 1 and the ring's write tokens)."""

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
        budget: WriteBudget | None = None,
        expected_main_account: str | None = None,
        calls: CallLog | None = None,
    ) -> None:
        self._ring = ring
        self._calls = calls  # failing refresh calls, shared with this container's successor
        self._calls_loaded = calls is None
        self._write_budget = budget  # for writes the schedule did not plan
        self._expected_main_account = expected_main_account
        self._ringcx = ringcx
        self._login = login
        self._timing = timing
        self._clock = clock
        self._sleep = sleep
        self._metrics = metrics
        self._retry = retry
        self._jitter = jitter
        self._policy = ConvergencePolicy(timing.tick_seconds, timing.leeway_fraction)
        self._pacer = AttemptPacer(spacing=self._policy.retry_spacing, cap=timing.tick_seconds)
        self._attempts = AttemptBudget.for_tick(timing.tick_seconds)  # RingCX refresh calls
        self._known: StoredToken | None = None  # newest generation this container saw
        self._pending: StoredToken | None = None  # rotated at RingCX, not yet stored
        self._dead_generation = 0  # its refresh token was refused: never present it again
        self._rejected_generation = 0  # RingCX rejected its access token early
        self._lock = threading.Lock()
        self._timing_checked = False

    @property
    def holds_unstored_token(self) -> bool:
        """A token this container rotated or re-stored but could not write yet:
        it exists only in this container's memory until the next run stores it."""
        return self._pending is not None

    def run(self, request: RefreshRequest) -> RefreshResult:
        with self._lock:
            try:
                return self._run(request)
            except BadRequest:
                raise
            except BrokerError:
                self._metric("RefreshFailures", "Count", 1)
                raise

    def _run(self, request: RefreshRequest) -> RefreshResult:
        self._flush_pending()
        newest = self._latest()
        if request.stale_generation is not None and request.stale_generation > _generation(newest):
            # A proxy saw a newer generation than this container's view: a warm
            # slot-by-slot read cannot see one stored past a skipped slot. Only a
            # whole-ring read may call the proxy wrong.
            newest = _newer(newest, self._ring.newest())
        _check_stale_generation(request, newest)
        if newest is None:
            logger.info("Token ring is empty; bootstrapping with a JWT login")
            result = self._relogin(None, ReloginReason.BOOTSTRAP)
        else:
            result = self._act(request, newest)
        self._known = result.token
        self._check_timing(result.token.lifetime)
        self._metric("TokenSecondsLeft", "Seconds", result.token.seconds_left(self._clock()))
        return result

    def _latest(self) -> StoredToken | None:
        """The newest generation, as readers will see it.

        If this container remembers a generation whose slot readers can no
        longer read (denied, deleted, overwritten with garbage), that
        generation is stranded: proxies would serve the older one until it
        expires. Its tokens are still in memory, so store them again as the
        next generation, in the next slot.
        """
        known = self._known
        newest = self._ring.latest(known)
        if known is None or newest is not known or not self._ring.lost(known):
            return newest
        logger.warning(
            "The newest generation's slot can no longer be read; storing it again in the next slot",
            extra={"generation": known.generation, "slot": self._ring.slot_of(known.generation)},
        )
        again = replace(known, generation=known.generation + 1)
        return self._persist(again, Action.ROTATED, known).token

    def _act(self, request: RefreshRequest, newest: StoredToken) -> RefreshResult:
        move = self._move(request, newest)
        if move is Move.KEEP:
            newer = request.stale_generation is not None and (
                newest.generation > request.stale_generation
            )
            return RefreshResult(Action.NEWER_EXISTS if newer else Action.FRESH, newest)
        if move is Move.DECLINE:
            logger.warning(
                "RingCX rejected a generation that already replaced a rejected one; "
                "not rotating again until the schedule does",
                extra={"generation": newest.generation},
            )
            self._metric("ForcedRotationsDeclined", "Count", 1)
            return RefreshResult(Action.DECLINED, newest)
        if request.kind is Kind.FORCE or move is Move.FORCED_ROTATE:
            self._check_budget(
                newest,
                "an operator's forced refresh"
                if request.kind is Kind.FORCE
                else "an early-expiry rotation",
            )
        return self._rotate(newest, forced=move is Move.FORCED_ROTATE)

    def _check_budget(self, newest: StoredToken, what: str) -> None:
        """Unplanned writes must leave the slot room for the schedule's."""
        if self._write_budget is None:
            return
        try:
            self._write_budget.check(newest.lifetime, what)
        except WriteBudgetExceeded:
            self._metric("WriteBudgetRefusals", "Count", 1)
            raise

    def _move(self, request: RefreshRequest, newest: StoredToken) -> Move:
        now = self._clock()
        if request.kind is Kind.FORCE:
            return Move.ROTATE
        if request.kind is Kind.TICK:
            if newest.generation == self._rejected_generation and not newest.forced:
                return Move.FORCED_ROTATE  # an early-expiry rotation that failed: try again
            return (
                Move.KEEP
                if newest.has_more_than(self._timing.refresh_fraction, now)
                else (Move.ROTATE)
            )
        assert request.stale_generation is not None
        if not newest.has_more_than(self._timing.leeway_fraction, now):
            return Move.ROTATE  # stale by its own clock, whoever asks
        if newest.generation > request.stale_generation:
            return Move.KEEP  # the proxy only needs to read the ring again
        # The proxy's generation is the newest and, by its exp, fresh: RingCX said
        # "expired" anyway (revocation, RingCX's clock). RingCX's verdict wins, once
        # per generation: the product of a forced rotation is never forced again.
        if newest.forced:
            return Move.DECLINE
        self._rejected_generation = newest.generation
        return Move.FORCED_ROTATE

    def _check_timing(self, lifetime: float) -> None:
        """Warn once per container when the deployed fractions and schedule
        break the cadence arithmetic (docs/design.md, "Cadence") for the tokens
        RingCX actually issues."""
        if self._timing_checked:
            return
        self._timing_checked = True
        for problem in self._timing.problems(lifetime, ring_size=self._ring.size):
            logger.warning("Refresh timing is unsafe", extra={"problem": problem})

    # -- rotation ----------------------------------------------------------------

    def _rotate(self, newest: StoredToken, forced: bool) -> RefreshResult:
        if newest.refresh_token is None:
            return self._relogin(newest, ReloginReason.NO_REFRESH_TOKEN, forced)
        if newest.generation == self._dead_generation:
            return self._relogin(newest, ReloginReason.DEAD_REFRESH_TOKEN, forced)
        refresh_token = newest.refresh_token
        now = self._clock()
        wait = self._pacer.wait(REFRESH, now)
        if wait > 0:
            if forced:
                return self._relogin(newest, ReloginReason.REJECTED_TOKEN, forced)
            if self._policy.must_relogin(newest, now):
                return self._relogin(newest, ReloginReason.REFRESH_FAILING, forced)
            raise UpstreamUnavailable(
                f"RingCX refresh failed moments ago; the next attempt is in {_seconds(wait)} s "
                "and the current token keeps serving"
            )
        try:
            grant = self._with_retries(lambda: self._ringcx.refresh(refresh_token))
        except BrokerError as error:
            return self._after_refresh_failure(error, newest, forced)
        self._pacer.succeeded(REFRESH)
        token = newest.successor(grant, self._clock(), "refresh", forced)
        result = self._persist(token, Action.ROTATED, newest)
        self._metric("Refreshes", "Count", 1)
        if forced:
            self._metric("ForcedRotations", "Count", 1)
        return result

    def _after_refresh_failure(
        self, error: BrokerError, newest: StoredToken, forced: bool
    ) -> RefreshResult:
        """The convergence policy's moves (``convergence`` has the table)."""
        verdict = verdict_of(error)
        if verdict is Verdict.DEAD:
            self._metric("DeadRefreshTokens", "Count", 1)
            self._dead_generation = newest.generation
            latest = self._ring.newer_than(newest)
            if latest.generation > newest.generation:
                logger.info(
                    "Refresh token was spent by another writer",
                    extra={"generation": latest.generation},
                )
                return RefreshResult(Action.NEWER_EXISTS, latest)
            logger.warning(
                "Refresh token is dead; re-logging in",
                extra={"generation": newest.generation, "reason": error.message},
            )
            return self._relogin(newest, ReloginReason.DEAD_REFRESH_TOKEN, forced)
        now = self._clock()
        if verdict is Verdict.RATE_LIMITED or isinstance(error, HeldBack):
            return self._after_pause(error, newest, forced, now)
        if verdict is Verdict.TRANSIENT:
            delay = self._pacer.failed(REFRESH, now)
            if forced:  # RingCX already refuses this token: there is nothing to wait for
                logger.warning(
                    "RingCX rejected the token and its refresh failed; re-logging in",
                    extra={"generation": newest.generation, "reason": error.message},
                )
                return self._relogin(newest, ReloginReason.REJECTED_TOKEN, forced)
            if self._policy.must_relogin(newest, now):
                logger.warning(
                    "RingCX refresh keeps failing and the token would run out before the "
                    "next chance; re-logging in",
                    extra={"generation": newest.generation, "reason": error.message},
                )
                return self._relogin(newest, ReloginReason.REFRESH_FAILING, forced)
            logger.warning(
                "RingCX refresh failed; the current token keeps serving",
                extra={
                    "generation": newest.generation,
                    "reason": error.message,
                    "nextAttemptSeconds": _seconds(delay),
                    "secondsLeft": int(newest.seconds_left(now)),
                },
            )
        raise error

    def _after_pause(
        self, error: BrokerError, newest: StoredToken, forced: bool, now: float
    ) -> RefreshResult:
        """A 429 (RingCX asks for calm) or our own budget holding a call back.

        Neither says the chain is dead, so neither re-logs in by itself. But a
        re-login already due (RingCX rejected the token itself, or this chain's
        refresh kept failing and the token runs out) uses other endpoints,
        whose limits this pause is not about.
        """
        if isinstance(error, RateLimited):
            self._metric("RateLimited", "Count", 1)
            if forced:
                return self._relogin(newest, ReloginReason.REJECTED_TOKEN, forced)
        if self._pacer.failures(REFRESH) > 0 and self._policy.must_relogin(newest, now):
            return self._relogin(newest, ReloginReason.REFRESH_FAILING, forced)
        raise error

    def _relogin(
        self, newest: StoredToken | None, reason: ReloginReason, forced: bool = False
    ) -> RefreshResult:
        now = self._clock()
        wait = self._pacer.wait(RELOGIN, now)
        if wait > 0:
            raise ReloginBackoff(
                f"a re-login failed moments ago; the next attempt is in {_seconds(wait)} s"
            )
        try:
            grant = self._login.login()
        except CredentialsNotConfigured as exc:
            if newest is None:
                raise  # a new stack waiting for its credentials: not a failure to alarm on
            self._relogin_failed(exc, reason, now)
            raise CredentialsNotConfigured(
                "the refresh token is dead and no RingCentral credentials are configured: "
                f"{exc.message}; store them, or POST an RC token to /auth/exchange"
            ) from exc
        except BrokerError as exc:
            self._relogin_failed(exc, reason, now)
            raise
        pin = AccountPin.of(self._expected_main_account, newest)
        if pin is not None:
            try:
                pin.check(grant.account, replace=False)
            except AccountMismatch as exc:  # the credentials now belong to another account
                self._relogin_failed(exc, reason, now)
                raise
        self._pacer.succeeded(RELOGIN)
        self._pacer.succeeded(REFRESH)  # a new chain: the old one's failures say nothing of it
        generation = (newest.generation if newest else 0) + 1
        token = StoredToken.from_grant(grant, generation, self._clock(), "relogin", forced)
        result = self._persist(token, Action.RELOGIN, newest)
        self._metric("Relogins", "Count", 1)
        self._metric(f"Relogin{reason}", "Count", 1)
        return result

    def _relogin_failed(self, error: BrokerError, reason: ReloginReason, now: float) -> None:
        delay = self._pacer.failed(RELOGIN, now)
        self._metric("ReloginFailures", "Count", 1)
        logger.error(
            "Re-login failed; the token chain cannot heal until a re-login succeeds",
            extra={
                "cause": str(reason),
                "status": int(error.status),
                "reason": error.message,
                "failures": self._pacer.failures(RELOGIN),
                "nextAttemptSeconds": _seconds(delay),
            },
        )

    # -- storing -----------------------------------------------------------------

    def _persist(
        self, token: StoredToken, action: Action, predecessor: StoredToken | None
    ) -> RefreshResult:
        try:
            stored = self._ring.store(token)
        except RingWriteConflict:
            # The whole ring: a winner stored past a skipped slot is invisible to
            # a warm slot-by-slot read, and this container would conflict forever.
            latest = _newer(self._ring.newest(), predecessor)
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
        if stored.generation != token.generation:
            self._metric("SlotsSkipped", "Count", stored.generation - token.generation)
        logger.info("Stored token", extra={"generation": stored.generation, "action": str(action)})
        return RefreshResult(action, stored)

    def _flush_pending(self) -> None:
        """Store a rotation that an earlier run could not write (idempotent)."""
        pending = self._pending
        if pending is None:
            return
        try:
            stored = self._ring.store(pending)
        except RingWriteConflict:
            logger.warning(
                "A pending generation was superseded", extra={"generation": pending.generation}
            )
        except SecretStoreUnavailable as exc:
            raise TokenPersistFailed(
                f"token generation {pending.generation} is still not stored: {exc.message}"
            ) from exc
        else:
            logger.info("Stored pending generation", extra={"generation": stored.generation})
            self._known = stored
        self._pending = None

    def _with_retries(self, call: Callable[[], T]) -> T:
        if not self._calls_loaded and self._calls is not None:
            self._calls_loaded = True
            self._attempts.seed(self._calls.recent_calls(REFRESH_ENDPOINT), self._clock())
        failures: list[UpstreamUnavailable] = []
        clean = False
        try:
            result = self._attempt(call, failures)
            clean = not failures
            return result
        finally:
            # A run that failed at all may be followed by a recycle and a successor
            # that retries at once; one clean call is the margin the budget of 4 keeps.
            if not clean and self._calls is not None:
                self._calls.save_calls(REFRESH_ENDPOINT, self._attempts.recent())

    def _attempt(self, call: Callable[[], T], failures: list[UpstreamUnavailable]) -> T:
        """Retries within the per-minute budget. When the budget stops the
        retries, the verdict is RingCX's last failure, not the pause: a fresh
        container must see that the refresh is failing to re-login in time."""
        for attempt in range(self._retry.attempts):
            wait = self._attempts.take(self._clock())
            if wait > 0:
                if failures:
                    raise failures[-1]
                raise HeldBack(
                    "RingCX refresh held back to stay under its 5-per-minute limit; "
                    f"the next attempt is in {_seconds(wait)} s"
                )
            try:
                return call()
            except UpstreamUnavailable as exc:
                failures.append(exc)
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


def _generation(token: StoredToken | None) -> int:
    return token.generation if token is not None else 0


def _newer(a: StoredToken | None, b: StoredToken | None) -> StoredToken | None:
    if a is None or (b is not None and b.generation > a.generation):
        return b
    return a


def _check_stale_generation(request: RefreshRequest, newest: StoredToken | None) -> None:
    """A proxy can only know generations the ring holds: a higher one is a bug
    or a forged invoke, and must not rotate the chain."""
    stale, ring = request.stale_generation, newest.generation if newest else 0
    if stale is not None and stale > ring:
        raise BadRequest(
            f"staleGeneration {stale} is newer than the ring's newest generation {ring}"
        )


def _seconds(value: float) -> int:
    return max(1, int(value + 0.999))


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
