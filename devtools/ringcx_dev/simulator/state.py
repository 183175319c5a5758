"""The protocol state machine: sessions, token rotation, rate limits, faults, counters.

Pure and clock-injected so tests can jump past token expiry or a rate-limit
penalty without sleeping. One lock guards everything because concurrent
refreshes racing on one token is exactly what the simulator must judge.

It also keeps the auth call log (`auth_calls()`, see `calllog`) and can revoke
every access token issued so far (`expire_access_tokens()`), which together with
`SimConfig.clock_skew` is how RingCX rejects a token "as expired" before its `exp`.
"""

from __future__ import annotations

import enum
import heapq
import threading
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from .calllog import AUTH_ENDPOINTS, AuthCall, AuthCallLog, max_calls_in_window
from .config import ENDPOINTS, Fault, SimConfig
from .counters import Counters
from .ratelimit import RateDecision, SlidingWindowLimiter
from .tokens import (
    AccessClaims,
    TokenError,
    mint_access_token,
    opaque_token,
    verify_access_token,
)

__all__ = [
    "RATE_LIMITED_ENDPOINTS",
    "AuthCall",
    "BearerCheck",
    "BearerVerdict",
    "RcSession",
    "RcxTokens",
    "RefreshFailure",
    "SessionQuotaExceeded",
    "SimState",
    "max_calls_in_window",
]

RATE_LIMITED_ENDPOINTS: Final = AUTH_ENDPOINTS


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


@dataclass(frozen=True, slots=True)
class BearerVerdict:
    """A bearer check plus the token's claims when its signature was good."""

    check: BearerCheck
    claims: AccessClaims | None


class SessionQuotaExceeded(Exception):
    """RingCentral refuses a login: the user already has `max_rc_sessions` live sessions."""


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
        self._unexpired_access: list[tuple[int, str]] = []  # heap of (exp, jti)
        self._revoked_access: dict[str, int] = {}  # jti -> exp
        self._auth_calls = AuthCallLog()

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
        """Zero all counters and clear the auth call log; tokens, limits and faults are kept."""
        with self._lock:
            self._counters.reset()
            self._auth_calls.clear()

    def record(self, endpoint: str, status: int, outcome: str | None = None) -> None:
        """Count the outcome of a processed (not fault-injected) call.

        `outcome` overrides the classification by status (see `Reply.outcome`).
        """
        with self._lock:
            self._counters.record_status(endpoint, status, outcome)

    def log_call(self, endpoint: str, at: float, status: int) -> None:
        """Add a call to the auth call log; calls to other endpoints are ignored."""
        if endpoint not in AUTH_ENDPOINTS:
            return
        with self._lock:
            self._auth_calls.add(AuthCall(at, endpoint, status))

    def auth_calls(self) -> list[AuthCall]:
        """Every auth call since the last `reset_counters()`, oldest first (bounded)."""
        with self._lock:
            return self._auth_calls.snapshot()

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

    def allow_rate(self, endpoint: str) -> RateDecision:
        """Apply the endpoint's sliding window; a refusal means 429.

        An endpoint without a limit (or refresh with `rate_limit_refresh` off) is always
        allowed and reports its whole budget as remaining.
        """
        with self._lock:
            limiter = self._limiters.get(endpoint)
            config = self._config
            if limiter is None or (endpoint == "rcx_refresh" and not config.rate_limit_refresh):
                return RateDecision(
                    True, config.rate_limit, config.rate_limit, config.rate_window, 0
                )
            return limiter.allow(
                self._clock(),
                config.rate_limit,
                config.rate_window,
                float(config.retry_after),
                restart=config.penalty_restarts,
            )

    # -- RingCentral ---------------------------------------------------------------------

    def login(self) -> RcSession:
        """Issue an RC access token; only the newest `max_rc_sessions` stay valid.

        With `session_quota_429`, a login beyond the quota of live sessions raises
        SessionQuotaExceeded instead of cancelling the oldest session.
        """
        with self._lock:
            now = self._clock()
            config = self._config
            self._drop_expired_sessions(now)
            if config.session_quota_429 and len(self._rc_sessions) >= config.max_rc_sessions:
                raise SessionQuotaExceeded(f"{len(self._rc_sessions)} live sessions")
            token = opaque_token()
            self._rc_sessions[token] = now + config.rc_token_lifetime
            while len(self._rc_sessions) > config.max_rc_sessions:
                self._rc_sessions.popitem(last=False)
            self._counters.bump_protocol("logins")
            return RcSession(token, opaque_token(), max(1, round(config.rc_token_lifetime)))

    def rc_token_live(self, rc_access_token: str) -> bool:
        """Whether a RingCentral access token is a live session."""
        with self._lock:
            expires_at = self._rc_sessions.get(rc_access_token)
            return expires_at is not None and self._clock() < expires_at

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

    def expire_access_tokens(self) -> int:
        """Make every access token issued so far answer "expired"; returns how many were live.

        Models RingCX revoking tokens (or its clock jumping): the broker then meets an
        "expired" 401 for a token whose `exp` is still ahead. Tokens issued afterwards work.
        """
        with self._lock:
            now = self._clock()
            self._forget_expired_access(now)
            self._revoked_access = {j: e for j, e in self._revoked_access.items() if now < e}
            self._revoked_access |= {jti: exp for exp, jti in self._unexpired_access}
            count = len(self._unexpired_access)
            self._unexpired_access = []
            return count

    def check_bearer(self, token: str) -> BearerCheck:
        """Verify an API access token against the signing key and the clock."""
        return self.verify_bearer(token).check

    def verify_bearer(self, token: str) -> BearerVerdict:
        """Like `check_bearer`, plus the claims of a well-signed token.

        RingCX's clock runs `clock_skew` seconds ahead, and revoked tokens count as expired.
        """
        with self._lock:
            config = self._config
            now = self._clock()
        try:
            claims = verify_access_token(token, config.signing_key)
        except TokenError:
            return BearerVerdict(BearerCheck.INVALID, None)
        with self._lock:
            if claims.expired(now + config.clock_skew) or claims.jti in self._revoked_access:
                self._counters.bump_protocol("expired_token_uses")
                return BearerVerdict(BearerCheck.EXPIRED, claims)
        return BearerVerdict(BearerCheck.VALID, claims)

    def _issue(self, include_refresh: bool) -> RcxTokens:
        """Mint an access token and optionally a live refresh token (lock held)."""
        config = self._config
        now = self._clock()
        access, claims = mint_access_token(
            config.signing_key,
            now,
            config.token_lifetime,
            sub=str(config.rc_user_id),
            account_id=config.account_id,
        )
        self._forget_expired_access(now)
        heapq.heappush(self._unexpired_access, (claims.exp, claims.jti))
        refresh = opaque_token() if include_refresh else None
        if refresh is not None:
            self._live_refresh.add(refresh)
        return RcxTokens(access, refresh)

    def _forget_expired_access(self, now: float) -> None:
        """Stop tracking tokens past `exp` (lock held): they are refused anyway, since
        the skew only ever moves expiry earlier. Keeps the bookkeeping bounded."""
        heap = self._unexpired_access
        while heap and now >= heap[0][0]:
            heapq.heappop(heap)

    def _drop_expired_sessions(self, now: float) -> None:
        """Forget RC sessions past their lifetime (lock held)."""
        for token in [t for t, expires_at in self._rc_sessions.items() if now >= expires_at]:
            del self._rc_sessions[token]
