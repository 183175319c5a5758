"""The protocol state machine: sessions, token rotation, rate limits, faults, counters.

Pure and clock-injected so tests can jump past token expiry or a rate-limit
penalty without sleeping. One lock guards everything because concurrent
refreshes racing on one token is exactly what the simulator must judge.
"""

from __future__ import annotations

import enum
import threading
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from .config import ENDPOINTS, Fault, SimConfig
from .counters import Counters
from .ratelimit import SlidingWindowLimiter
from .tokens import TokenError, mint_access_token, opaque_token, verify_access_token

RATE_LIMITED_ENDPOINTS: Final = ("rc_token", "rcx_exchange", "rcx_refresh")


@dataclass(frozen=True, slots=True)
class RcSession:
    """A RingCentral login result."""

    access_token: str
    refresh_token: str
    expires_in: int


@dataclass(frozen=True, slots=True)
class RcxTokens:
    """A RingCX access token, plus a refresh token when one was issued."""

    access_token: str
    refresh_token: str | None


class RefreshFailure(enum.Enum):
    """Why a refresh token was refused; RingCX answers 401 for all of them."""

    SPENT = "spent"
    REVOKED = "revoked"
    UNKNOWN = "unknown"


class BearerCheck(enum.Enum):
    """Outcome of checking an API bearer token."""

    VALID = "valid"
    INVALID = "invalid"
    EXPIRED = "expired"


@dataclass(slots=True)
class _QueuedFault:
    fault: Fault
    remaining: int


class SimState:
    """Everything the simulated services remember between requests."""

    def __init__(self, config: SimConfig, clock: Callable[[], float]) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._config = config
        self._counters = Counters()
        self._limiters = {name: SlidingWindowLimiter() for name in RATE_LIMITED_ENDPOINTS}
        self._faults: dict[str, deque[_QueuedFault]] = {name: deque() for name in ENDPOINTS}
        self._rc_sessions: OrderedDict[str, float] = OrderedDict()
        self._live_refresh: set[str] = set()
        self._spent_refresh: set[str] = set()
        self._revoked_refresh: set[str] = set()

    # -- configuration -------------------------------------------------------------------

    @property
    def config(self) -> SimConfig:
        """The current configuration (swapped atomically by `configure`)."""
        with self._lock:
            return self._config

    def configure(self, **changes: object) -> SimConfig:
        """Apply field changes at run time; raises ValueError on bad fields or types."""
        with self._lock:
            self._config = self._config.with_changes(changes)
            return self._config

    def now(self) -> float:
        """The injected clock."""
        return self._clock()

    # -- counters and inspection ---------------------------------------------------------

    def counters(self) -> dict[str, dict[str, int]]:
        """Snapshot in the JSON shape of GET /_sim/counters."""
        with self._lock:
            return self._counters.snapshot()

    def reset_counters(self) -> None:
        """Zero all counters; tokens, limits and faults are kept."""
        with self._lock:
            self._counters.reset()

    def record(self, endpoint: str, status: int) -> None:
        """Count the outcome of a processed (not fault-injected) call."""
        with self._lock:
            self._counters.record_status(endpoint, status)

    @property
    def spent_refresh_reuse(self) -> int:
        """How often a client presented a refresh token that was already spent."""
        with self._lock:
            return self._counters.protocol("spent_refresh_reuse")

    @property
    def expired_token_uses(self) -> int:
        """How often a client called the API with an expired access token."""
        with self._lock:
            return self._counters.protocol("expired_token_uses")

    @property
    def live_refresh_tokens(self) -> frozenset[str]:
        """Refresh tokens that would currently be accepted."""
        with self._lock:
            return frozenset(self._live_refresh)

    # -- faults --------------------------------------------------------------------------

    def inject(self, endpoint: str, fault: Fault) -> None:
        """Queue `fault` (FIFO) for the next `fault.count` calls of `endpoint`."""
        if endpoint not in self._faults:
            raise ValueError(f"unknown endpoint {endpoint!r}; expected one of {ENDPOINTS}")
        with self._lock:
            self._faults[endpoint].append(_QueuedFault(fault, fault.count))

    def admit(self, endpoint: str) -> Fault | None:
        """Count a call and hand out the fault it must suffer, if any."""
        with self._lock:
            self._counters.bump(endpoint, "calls")
            queue = self._faults[endpoint]
            if not queue:
                return None
            head = queue[0]
            head.remaining -= 1
            if head.remaining <= 0:
                queue.popleft()
            self._counters.bump(endpoint, "faults")
            return head.fault

    # -- rate limits ---------------------------------------------------------------------

    def allow_rate(self, endpoint: str) -> bool:
        """Apply the endpoint's sliding window; False means 429."""
        with self._lock:
            limiter = self._limiters.get(endpoint)
            config = self._config
            if limiter is None or (endpoint == "rcx_refresh" and not config.rate_limit_refresh):
                return True
            return limiter.allow(
                self._clock(), config.rate_limit, config.rate_window, float(config.retry_after)
            )

    # -- RingCentral ---------------------------------------------------------------------

    def login(self) -> RcSession:
        """Issue an RC access token; only the newest `max_rc_sessions` stay valid."""
        with self._lock:
            now = self._clock()
            config = self._config
            token = opaque_token()
            self._rc_sessions[token] = now + config.rc_token_lifetime
            while len(self._rc_sessions) > config.max_rc_sessions:
                self._rc_sessions.popitem(last=False)
            self._counters.bump_protocol("logins")
            return RcSession(token, opaque_token(), max(1, round(config.rc_token_lifetime)))

    # -- RingCX --------------------------------------------------------------------------

    def exchange(self, rc_access_token: str, include_refresh: bool) -> RcxTokens | None:
        """Trade a live RC access token for RingCX tokens; None if the RC token is not live."""
        with self._lock:
            expires_at = self._rc_sessions.get(rc_access_token)
            if expires_at is None or self._clock() >= expires_at:
                return None
            self._counters.bump_protocol("exchanges")
            return self._issue(include_refresh)

    def rotate(self, refresh_token: str) -> RcxTokens | RefreshFailure:
        """Spend a refresh token and issue a new pair; a token works exactly once."""
        with self._lock:
            if refresh_token in self._live_refresh:
                self._live_refresh.discard(refresh_token)
                self._spent_refresh.add(refresh_token)
                self._counters.bump_protocol("refresh_rotations")
                return self._issue(include_refresh=True)
            if refresh_token in self._spent_refresh:
                self._counters.bump_protocol("spent_refresh_reuse")
                return RefreshFailure.SPENT
            if refresh_token in self._revoked_refresh:
                return RefreshFailure.REVOKED
            return RefreshFailure.UNKNOWN

    def revoke_refresh_tokens(self) -> int:
        """Invalidate every live refresh token, as an admin revocation would; returns how many."""
        with self._lock:
            count = len(self._live_refresh)
            self._revoked_refresh |= self._live_refresh
            self._live_refresh = set()
            return count

    def check_bearer(self, token: str) -> BearerCheck:
        """Verify an API access token against the signing key and the clock."""
        with self._lock:
            config = self._config
            now = self._clock()
        try:
            claims = verify_access_token(token, config.signing_key)
        except TokenError:
            return BearerCheck.INVALID
        if claims.expired(now):
            with self._lock:
                self._counters.bump_protocol("expired_token_uses")
            return BearerCheck.EXPIRED
        return BearerCheck.VALID

    def _issue(self, include_refresh: bool) -> RcxTokens:
        """Mint an access token and optionally a live refresh token (lock held)."""
        config = self._config
        access, _ = mint_access_token(
            config.signing_key,
            self._clock(),
            config.token_lifetime,
            sub=str(config.rc_user_id),
            account_id=config.account_id,
        )
        refresh = opaque_token() if include_refresh else None
        if refresh is not None:
            self._live_refresh.add(refresh)
        return RcxTokens(access, refresh)
