"""The simulator's state as the soak runs it: faults that last a while, and
a record of everything the verdicts need.

``SoakSimState`` is the simulator's own ``SimState`` (so every protocol rule
is the simulator's), extended through its public methods:

- ``admit``: besides the queued faults, a fault *window* (``SimWindow``)
  answers the calls that arrive while it lasts, up to a number of calls.
  Queued faults wait for their calls however long that takes; a window
  ends on time, which is what "a 10-minute outage" means.
- ``login``, ``exchange``, ``rotate``: every token issued is remembered, so
  the log scan can look for each of them, and every refresh token with the
  container that asked for it, so one that only lives in a container's
  memory can be told apart from a lost one.
- ``allow_rate``, ``log_call``: the end of every penalty a 429 (or a 503
  with ``Retry-After``) announced, and every auth call the stack sent before
  it ended.

Calls are attributed to an *actor* ("refresher#2", "exchange", "operator",
"proxy#0"): the soak runs one thing at a time, so whoever it is running made
the call.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from ringcx_dev.simulator import Fault, SimConfig, SimState
from ringcx_dev.simulator.calllog import AUTH_ENDPOINTS
from ringcx_dev.simulator.ratelimit import RateDecision
from ringcx_dev.simulator.state import RcSession, RcxTokens, RefreshFailure

MIN_WAIT_WITHOUT_RETRY_AFTER: Final = 30.0
"""RingCentral: a 429 without Retry-After still means "wait at least 30 s"."""
STACK_ACTORS: Final = ("refresher", "exchange")


def is_stack(actor: str) -> bool:
    """The broker's own auth callers (an operator or another app is not the stack)."""
    return actor.split("#", 1)[0] in STACK_ACTORS


@dataclass(frozen=True, slots=True)
class SimWindow:
    """``fault`` for calls to ``endpoint`` in [start, end), at most ``calls`` of them."""

    label: str
    endpoint: str
    fault: Fault
    start: float
    end: float
    calls: int | None = None


@dataclass(slots=True)
class _Open:
    window: SimWindow
    left: int | None


@dataclass(frozen=True, slots=True)
class SimCall:
    """One call the simulator admitted: when, where, by whom, and the fault it met."""

    at: float
    endpoint: str
    actor: str
    fault: Fault | None = None
    window: str | None = None  # the label of the window that injected ``fault``


@dataclass(frozen=True, slots=True)
class Grant:
    """A refresh token RingCX issued (by rotation or exchange), and who asked for it."""

    at: float
    actor: str
    refresh_token: str
    via: str  # "refresh" or "exchange"


@dataclass(frozen=True, slots=True)
class PenaltyBreach:
    """An auth call the stack sent while a penalty the stack had been told of still ran."""

    at: float
    endpoint: str
    actor: str
    early_by: float
    penalised: str  # the actor whose call was answered with the penalty

    def to_json(self) -> dict[str, object]:
        return {
            "at": self.at,
            "endpoint": self.endpoint,
            "actor": self.actor,
            "earlyBySeconds": round(self.early_by, 3),
            "penaltyToldTo": self.penalised,
        }


class SoakSimState(SimState):
    def __init__(self, config: SimConfig, clock: Callable[[], float], actor: Callable[[], str]):
        super().__init__(config, clock)
        self._actor = actor
        self._open: list[_Open] = []
        self._last_fault: dict[str, Fault | None] = {}
        self._limiter_retry_after: dict[str, int | None] = {}
        self._penalty: dict[str, tuple[float, str]] = {}
        self.calls: list[SimCall] = []
        self.issued: set[str] = set()
        self.grants: list[Grant] = []
        self.breaches: list[PenaltyBreach] = []
        self.window_hits: Counter[str] = Counter()

    # -- faults that last a while ----------------------------------------------------

    def open_window(self, window: SimWindow) -> None:
        self._open.append(_Open(window, window.calls))

    def admit(self, endpoint: str) -> Fault | None:
        now, actor = self.now(), self._actor()
        self._check_penalty(endpoint, now, actor)
        fault = super().admit(endpoint)
        label = None
        if fault is None:
            found = self._window_for(endpoint, now)
            if found is not None:
                fault, label = found.fault, found.label
                self.window_hits[label] += 1
        self.calls.append(SimCall(now, endpoint, actor, fault, label))
        self._last_fault[endpoint] = fault
        return fault

    def _window_for(self, endpoint: str, now: float) -> SimWindow | None:
        self._open = [o for o in self._open if now < o.window.end and o.left != 0]
        for opened in self._open:
            window = opened.window
            if window.endpoint == endpoint and window.start <= now:
                if opened.left is not None:
                    opened.left -= 1
                return window
        return None

    # -- tokens issued ---------------------------------------------------------------

    def login(self) -> RcSession:
        session = super().login()
        self.issued.update((session.access_token, session.refresh_token))
        return session

    def exchange(self, rc_access_token: str, include_refresh: bool) -> RcxTokens | None:
        tokens = super().exchange(rc_access_token, include_refresh)
        if tokens is not None:
            self._remember(tokens, "exchange")
        return tokens

    def rotate(self, refresh_token: str) -> RcxTokens | RefreshFailure:
        result = super().rotate(refresh_token)
        if isinstance(result, RcxTokens):
            self._remember(result, "refresh")
        return result

    def _remember(self, tokens: RcxTokens, via: str) -> None:
        self.issued.add(tokens.access_token)
        if tokens.refresh_token is not None:
            self.issued.add(tokens.refresh_token)
            self.grants.append(Grant(self.now(), self._actor(), tokens.refresh_token, via))

    # -- penalties -------------------------------------------------------------------

    def allow_rate(self, endpoint: str) -> RateDecision:
        decision = super().allow_rate(endpoint)
        if not decision.allowed:
            advertised = self.config.advertised_retry_after(decision.retry_after)
            self._limiter_retry_after[endpoint] = advertised
        return decision

    def log_call(self, endpoint: str, at: float, status: int) -> None:
        super().log_call(endpoint, at, status)
        if endpoint not in AUTH_ENDPOINTS:
            return
        fault = self._last_fault.pop(endpoint, None)
        limiter = self._limiter_retry_after.pop(endpoint, None)
        rate_limited = status == 429
        overloaded = status == 503 and fault is not None and fault.retry_after is not None
        if not (rate_limited or overloaded):
            return
        config = self.config
        if fault is not None:
            advertised = fault.retry_after
            if advertised is None and fault.status == 429:
                advertised = config.advertised_retry_after(config.retry_after)
        elif limiter is not None:
            advertised = limiter
        else:  # the session quota's 429
            advertised = config.advertised_retry_after(config.retry_after)
        wait = float(advertised) if advertised is not None else MIN_WAIT_WITHOUT_RETRY_AFTER
        until = max(at + wait, self._penalty.get(endpoint, (0.0, ""))[0])
        self._penalty[endpoint] = (until, self._actor())

    def _check_penalty(self, endpoint: str, now: float, actor: str) -> None:
        until, told = self._penalty.get(endpoint, (0.0, ""))
        if now < until and is_stack(actor) and is_stack(told):
            self.breaches.append(PenaltyBreach(now, endpoint, actor, until - now, told))
