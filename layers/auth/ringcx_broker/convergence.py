"""How the refresher converges from whatever RingCX answers.

RingCX does not document what a spent, revoked or invalid refresh token gets
back: it may be a 4xx, a 5xx, or a 200 without a token. So every answer maps
to one of four verdicts, and each verdict to one move::

    refresh answer                      verdict       move
    ----------------------------------  ------------  -------------------------------------
    200 with an access token            OK            store generation g+1
    429, or 503 with Retry-After        RATE_LIMITED  wait out the penalty; never re-login
    any other 4xx                       DEAD          re-login now (JWT -> RC -> exchange)
    5xx, timeout, 200 without a token,  TRANSIENT     keep g serving, retry at the next
    a body that is not JSON                           chance; re-login now if g would run
                                                      out before that chance

When RingCX has already rejected g early ("expired" before its exp), g cannot
serve anyone: a rotation of it that fails, transiently or by a rate limit on
the refresh endpoint, re-logs in at once (the re-login uses other endpoints).
A rate limit alone never re-logs in; one that meets a re-login already due
because this chain's refresh kept failing does not block it.

A re-login that fails is reported and retried at a bounded pace
(``AttemptPacer``) that stays far inside the 5-per-minute auth limits. The
full picture, with the arithmetic, is in docs/design.md ("Self-healing").
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum

from ringcx_broker.errors import (
    BrokerError,
    RateLimited,
    RefreshTokenRejected,
    UpstreamUnavailable,
)
from ringcx_broker.tokens import StoredToken

AUTH_LIMIT_WINDOW = 60.0  # RingCX and RingCentral allow 5 auth requests per minute
SELF_LIMIT = 4  # ... and we send at most 4, so a stray call elsewhere cannot tip it


class Verdict(StrEnum):
    RATE_LIMITED = "rate-limited"
    DEAD = "dead"
    TRANSIENT = "transient"
    OTHER = "other"  # not an answer from RingCX refresh (say, the store failed)


class ReloginReason(StrEnum):
    """Why the chain was restarted; each has its own metric (``Relogin<Reason>``)."""

    BOOTSTRAP = "Bootstrap"  # the ring was empty
    DEAD_REFRESH_TOKEN = "DeadRefreshToken"  # noqa: S105 (RingCX refused the refresh token)
    REFRESH_FAILING = "RefreshFailing"  # refresh kept failing and g was about to run out
    NO_REFRESH_TOKEN = "NoRefreshToken"  # noqa: S105 (the newest generation carries none)
    REJECTED_TOKEN = "RejectedToken"  # noqa: S105 (RingCX rejected it early; refresh failed)


def verdict_of(error: BrokerError) -> Verdict:
    if isinstance(error, RateLimited):
        return Verdict.RATE_LIMITED
    if isinstance(error, RefreshTokenRejected):
        return Verdict.DEAD
    if isinstance(error, UpstreamUnavailable):
        return Verdict.TRANSIENT
    return Verdict.OTHER


@dataclass(frozen=True, slots=True)
class ConvergencePolicy:
    """When a persisting transient failure must give way to a re-login.

    The next chance to refresh is the next tick, ``tick_seconds`` away. If
    the newest token would then have less than ``margin_fraction`` of its
    life left (the proxies' leeway), waiting is a bet on RingCX recovering in
    time; a re-login now is not. With L = 300 s, T = 60 s and a 0.1 margin,
    a refresh that fails at 120 s left is retried at the next tick, and one
    that fails at 60 s left re-logs in at once.
    """

    tick_seconds: float
    margin_fraction: float

    def must_relogin(self, token: StoredToken, now: float) -> bool:
        left_at_next_chance = token.seconds_left(now) - self.tick_seconds
        return left_at_next_chance < self.margin_fraction * token.lifetime

    @property
    def retry_spacing(self) -> float:
        """The least time between two failing attempts of one kind: a quarter
        tick (15 s at T = 60 s) keeps any endpoint at 4 calls a minute or less."""
        return self.tick_seconds / 4


@dataclass(slots=True)
class AttemptPacer:
    """One container's memory of failed attempts, by kind ("refresh",
    "relogin"): after ``n`` failures in a row the next attempt waits
    ``spacing * 2**(n-1)``, capped at ``cap``. A success clears it."""

    spacing: float
    cap: float
    _failures: dict[str, int] = field(default_factory=dict)
    _not_before: dict[str, float] = field(default_factory=dict)

    def wait(self, kind: str, now: float) -> float:
        """Seconds until ``kind`` may be attempted again (0 when it may now)."""
        return max(0.0, self._not_before.get(kind, 0.0) - now)

    def failed(self, kind: str, now: float) -> float:
        """Record a failure; returns the wait before the next attempt."""
        count = self._failures.get(kind, 0) + 1
        self._failures[kind] = count
        delay = min(self.cap, self.spacing * 2.0 ** (count - 1))
        self._not_before[kind] = now + delay
        return delay

    def succeeded(self, kind: str) -> None:
        self._failures.pop(kind, None)
        self._not_before.pop(kind, None)

    def failures(self, kind: str) -> int:
        return self._failures.get(kind, 0)


class HeldBack(UpstreamUnavailable):
    """We chose not to call RingCX: the attempt budget for this window is spent.

    Transient by verdict, so a token about to run out still re-logs in; never
    retried within the run, since nothing changes until the window moves.
    """


@dataclass(slots=True)
class AttemptBudget:
    """At most ``limit`` attempts in any ``window`` seconds (a sliding log).

    The window is the auth limit's minute, or the tick when the clock is
    compressed (a 3-second tick stands for 60 s), so compressed runs keep
    the same proportions.
    """

    window: float
    limit: int = SELF_LIMIT
    _sent: deque[float] = field(default_factory=deque)

    @classmethod
    def for_tick(cls, tick_seconds: float) -> AttemptBudget:
        return cls(window=min(tick_seconds, AUTH_LIMIT_WINDOW))

    def seed(self, times: list[float], now: float) -> None:
        """Count calls another container made (it was recycled mid-minute)."""
        theirs = [t for t in times if now - self.window < t <= now]
        self._sent = deque(sorted([*self._sent, *theirs]))

    def recent(self) -> list[float]:
        return list(self._sent)

    def take(self, now: float) -> float:
        """Record an attempt and return 0, or return the seconds until one is allowed."""
        while self._sent and self._sent[0] <= now - self.window:
            self._sent.popleft()
        if len(self._sent) >= self.limit:
            return self._sent[0] + self.window - now
        self._sent.append(now)
        return 0.0
