"""The proxy's view of the token ring (docs/design.md, "The proxy").

Each container keeps one ``StoredToken`` in memory:

- **Warm**: while more than ``leeway_fraction`` of the token's own lifetime
  is left, a request touches neither Secrets Manager nor the refresher.
- **Near expiry**, and **cold**: read the whole ring in one round trip
  (``TokenRing.newer_than`` / ``newest``).
- **Still stale**: invoke the refresher synchronously with
  ``{"staleGeneration": g}``; on success read the slot of the generation it
  names. On a throttle or an invoke error, wait briefly and re-read the ring
  (the refresher that did get through has probably just rotated).
- A token that is stale but not expired still works, so it keeps serving
  when nothing fresher can be had; the container then waits a little before
  trying again instead of retrying on every request. Only when no unexpired
  token exists does a request get 503.

Proxies never call RingCX auth endpoints and never write the ring.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from aws_lambda_powertools import Logger

from ringcx_broker.errors import NoUsableToken, SecretStoreUnavailable
from ringcx_broker.timing import Clock, Sleep, TimingPolicy, system_clock
from ringcx_broker.tokens import StoredToken

if TYPE_CHECKING:
    from mypy_boto3_lambda import LambdaClient

logger = Logger(child=True)

THROTTLE_CODES = frozenset(
    {"TooManyRequestsException", "ThrottlingException", "Throttling", "RequestLimitExceeded"}
)
DEFAULT_WAITS = (0.25, 0.5)  # seconds between re-reads after a throttle or failed invoke
RETRY_QUIET_FRACTION = 0.02  # of the lifetime: pause after a renewal that found nothing fresh
MIN_RETRY_QUIET = 0.5
_DEFAULT_PROBLEM = "no usable RingCX token: the broker could not obtain a fresh one"


class RingReader(Protocol):
    """The reading half of ``TokenRing``."""

    def slot_of(self, generation: int) -> str: ...

    def read_slot(self, slot_id: str) -> StoredToken | None: ...

    def newest(self) -> StoredToken | None: ...

    def newer_than(self, known: StoredToken) -> StoredToken: ...


@dataclass(frozen=True, slots=True)
class RefreshOutcome:
    """What asking the refresher gave: a generation, or why not."""

    ok: bool
    generation: int | None = None
    retryable: bool = False  # throttled or the invoke failed: wait, re-read, maybe ask again
    message: str = ""
    retry_after: float | None = None  # the refresher's own Retry-After, when it was limited


class RefreshInvoker(Protocol):
    def request_refresh(self, stale_generation: int) -> RefreshOutcome: ...


class LambdaRefresher:
    """Invokes the RefreshFunction synchronously through boto3's Lambda client.

    The client comes from a factory so it is built only when a refresh is
    needed; warm requests never import or construct it.
    """

    def __init__(self, client: Callable[[], LambdaClient], function_name: str) -> None:
        self._client = client
        self._function_name = function_name

    def request_refresh(self, stale_generation: int) -> RefreshOutcome:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            reply = self._client().invoke(
                FunctionName=self._function_name,
                InvocationType="RequestResponse",
                Payload=json.dumps({"staleGeneration": stale_generation}).encode(),
            )
            payload = reply["Payload"].read()
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "") or "error"
            throttled = code in THROTTLE_CODES
            return RefreshOutcome(
                ok=False,
                retryable=True,
                message="the refresher is busy (throttled)"
                if throttled
                else f"invoking the refresher failed ({code})",
            )
        except BotoCoreError as exc:
            return RefreshOutcome(
                ok=False,
                retryable=True,
                message=f"invoking the refresher failed ({type(exc).__name__})",
            )
        if reply.get("FunctionError"):
            return RefreshOutcome(ok=False, retryable=True, message="the refresher failed")
        return parse_refresher_reply(payload)


def parse_refresher_reply(payload: bytes) -> RefreshOutcome:
    """Read ``{"ok": true, "generation": G, ...}`` or
    ``{"ok": false, "statusCode": N, "message": ...}``."""
    try:
        data = json.loads(payload or b"null")
    except ValueError:
        data = None
    if not isinstance(data, dict):
        return RefreshOutcome(ok=False, retryable=True, message="the refresher sent no JSON object")
    if data.get("ok") is True:
        generation = data.get("generation")
        valid = isinstance(generation, int) and not isinstance(generation, bool) and generation > 0
        return RefreshOutcome(ok=True, generation=generation if valid else None)
    status = data.get("statusCode")
    message = data.get("message")
    detail = message[:200] if isinstance(message, str) else "no message"
    wait = data.get("retryAfter")
    return RefreshOutcome(
        ok=False,
        retryable=False,
        message=f"the refresher could not refresh (HTTP {status}): {detail}",
        retry_after=float(wait) if isinstance(wait, int) and not isinstance(wait, bool) else None,
    )


class TokenSource:
    """One container's token cache. Thread-safe; the warm path takes no lock."""

    def __init__(
        self,
        ring: Callable[[], RingReader],
        refresher: RefreshInvoker | None,
        policy: TimingPolicy,
        clock: Clock = system_clock,
        sleep: Sleep = time.sleep,
        waits: Sequence[float] = DEFAULT_WAITS,
    ) -> None:
        self._ring_factory = ring
        self._ring: RingReader | None = None
        self._refresher = refresher
        self._leeway = policy.leeway_fraction
        self._clock = clock
        self._sleep = sleep
        self._waits = tuple(waits)
        self._token: StoredToken | None = None
        self._quiet_until = 0.0
        self._reported = 0  # highest generation this container reported as rejected
        self._report_again_at = math.inf  # ... and when, if the refresher failed, to ask again
        self._last_outcome: RefreshOutcome | None = None
        self._problem = _DEFAULT_PROBLEM
        self._lock = threading.Lock()

    @property
    def cached(self) -> StoredToken | None:
        return self._token

    def current(self) -> StoredToken:
        """A token to use now, or ``NoUsableToken`` (503)."""
        token, now = self._token, self._clock()
        if token is not None and token.has_more_than(self._leeway, now):
            return token
        if now < self._quiet_until:  # a renewal just failed: do not retry on every request
            if token is not None and not token.is_expired(now):
                return token
            raise NoUsableToken(self._problem)
        with self._lock:
            return self._renew()

    def status(self) -> RingStatus:
        """For ``/health``: the ring's newest generation and this container's.

        One ring read (the whole ring in one round trip), never a refresher
        invoke. A cache that is empty or stale adopts what was read; a fresh
        one is left alone, so ``behind`` tells what this container serves.
        """
        with self._lock:
            now, cached = self._clock(), self._token
            try:
                newest = self._read_latest(cached, now)
                readable = True
            except SecretStoreUnavailable:
                logger.warning("Token ring unreadable during a health check")
                newest, readable = cached, False
            best = _newer(cached, newest)
            stale = cached is None or not cached.has_more_than(self._leeway, now)
            if stale and best is not None and not best.is_expired(now):
                self._token = best
            return RingStatus(newest=best, cached=cached, ring_readable=readable)

    def after_unauthorized(self, used: StoredToken, expired: bool) -> StoredToken | None:
        """RingCX said 401 to ``used``: the token to retry with once, or None to pass it on.

        A newer generation in the ring is always worth one retry. Otherwise
        only RingCX's "expired" verdict asks the refresher to rotate, even if
        ``used`` has life left by its ``exp``: RingCX's verdict wins. Each
        container reports a generation once, and the refresher rotates a
        generation at most once fleet-wide, so a misbehaving upstream can
        never turn every 401 into a rotation.
        """
        with self._lock:
            now = self._clock()
            cached = self._token
            if cached is not None and cached.generation > used.generation:
                return cached  # another request already moved on
            try:
                newer = self._ring_reader().newer_than(used)
            except SecretStoreUnavailable:
                logger.warning(
                    "Token ring unreadable; keeping the cached token",
                    extra={"after": "RingCX answered 401", "generation": used.generation},
                )
                newer = used
            if newer.generation > used.generation:
                self._token = newer
                return newer
            if not expired or self._refresher is None or not self._may_report(used, now):
                return None
            self._reported, self._report_again_at = used.generation, math.inf
            logger.info(
                "RingCX says the token expired; asking the refresher",
                extra={"generation": used.generation, "secondsLeft": int(used.seconds_left(now))},
            )
            fresh = self._refresh(used, now)
            if fresh is None or fresh.generation <= used.generation or fresh.is_expired(now):
                self._ask_again_if_it_failed(used, now)
                return None
            self._token = fresh
            return fresh

    def _may_report(self, used: StoredToken, now: float) -> bool:
        """Once per generation; again only after the refresher failed to answer."""
        if used.generation != self._reported:
            return used.generation > self._reported
        return now >= self._report_again_at

    def _ask_again_if_it_failed(self, used: StoredToken, now: float) -> None:
        """A refresher that declined has decided; one that failed (a rate limit, a
        throttle) has not, so the next 401 may ask again once the wait is over."""
        outcome = self._last_outcome
        if outcome is None or outcome.ok:
            return
        wait = outcome.retry_after or max(MIN_RETRY_QUIET, RETRY_QUIET_FRACTION * used.lifetime)
        self._report_again_at = now + wait

    # -- internals (lock held) -------------------------------------------------

    def _renew(self) -> StoredToken:
        now = self._clock()
        cached = self._token
        if cached is not None and cached.has_more_than(self._leeway, now):
            return cached  # another thread renewed while we waited for the lock
        self._problem = _DEFAULT_PROBLEM
        best = cached
        try:
            best = _newer(best, self._read_latest(best, now))
        except SecretStoreUnavailable as exc:
            if best is None or best.is_expired(now):
                self._quiet_until = now + MIN_RETRY_QUIET
                self._problem = exc.message
                raise
            logger.warning("Token ring unreadable; keeping the cached token")
        if best is None or not best.has_more_than(self._leeway, now):
            best = _newer(best, self._refresh(best, now))
        now = self._clock()
        if best is not None and best.has_more_than(self._leeway, now):
            self._token = best
            return best
        self._quiet_until = now + max(
            MIN_RETRY_QUIET, RETRY_QUIET_FRACTION * (best.lifetime if best else 0.0)
        )
        if best is None or best.is_expired(now):
            raise NoUsableToken(self._problem)
        logger.warning(
            "No fresh token; serving a stale but valid one",
            extra={"generation": best.generation, "secondsLeft": int(best.seconds_left(now))},
        )
        self._token = best
        return best

    def _refresh(self, known: StoredToken | None, now: float) -> StoredToken | None:
        """Ask the refresher, then read what it wrote. Returns the best token seen."""
        if self._refresher is None:
            self._problem = "no usable RingCX token, and no refresher is configured to ask for one"
            return known
        best = known
        for wait in (*self._waits, None):
            stale = best.generation if best is not None else 0
            outcome = self._refresher.request_refresh(stale)
            self._last_outcome = outcome
            if outcome.ok:
                return _newer(best, self._read_after_refresh(best, outcome.generation, now))
            logger.warning("Refresher did not deliver", extra={"reason": outcome.message})
            self._problem = f"no usable RingCX token: {outcome.message}"
            if not outcome.retryable or wait is None:
                return best
            self._sleep(wait)
            try:
                best = _newer(best, self._read_latest(best, self._clock()))
            except SecretStoreUnavailable:
                # Asking again may still work: the refresher answers with the
                # generation it wrote, and that one slot may be readable.
                logger.warning("Token ring unreadable after a refresh")
                continue
            if best is not None and best.has_more_than(self._leeway, self._clock()):
                return best
        return best

    def _read_after_refresh(
        self, known: StoredToken | None, generation: int | None, now: float
    ) -> StoredToken | None:
        if known is not None and generation is not None and generation <= known.generation:
            return known  # the refresher found nothing to do: nothing new to read
        ring = self._ring_reader()
        try:
            if generation is not None:
                token = ring.read_slot(ring.slot_of(generation))
                if token is not None and token.generation >= generation:
                    return token
            return self._read_latest(known, now)
        except SecretStoreUnavailable:
            logger.warning("Token ring unreadable after a refresh")
            return None

    def _read_latest(self, known: StoredToken | None, now: float) -> StoredToken | None:
        ring = self._ring_reader()
        if known is None:
            return ring.newest()
        return ring.newer_than(known)

    def _ring_reader(self) -> RingReader:
        if self._ring is None:
            self._ring = self._ring_factory()
        return self._ring


def _newer(a: StoredToken | None, b: StoredToken | None) -> StoredToken | None:
    if a is None:
        return b
    if b is None:
        return a
    return b if b.generation > a.generation else a


@dataclass(frozen=True, slots=True)
class RingStatus:
    """What ``/health`` reports: the newest generation known, and this container's."""

    newest: StoredToken | None
    cached: StoredToken | None
    ring_readable: bool = True

    def usable(self, now: float) -> StoredToken | None:
        if self.newest is None or self.newest.is_expired(now):
            return None
        return self.newest

    def describe(self, now: float) -> dict[str, Any]:
        """``/health``'s body: ids and timings, never a token, name or address."""
        newest = self.usable(now)
        assert newest is not None
        cached = self.cached.generation if self.cached is not None else None
        return {
            "ok": True,
            **newest.summary(now),
            "ringReadable": self.ring_readable,
            "containerCache": {
                "generation": cached,
                "behind": cached is None or cached < newest.generation,
            },
        }
