"""The soak's fault schedule: which misbehaviour starts when, for how long.

Deterministic per seed (one ``random.Random(seed)`` draws everything), so a
finding can be replayed exactly. Every kind of fault is placed a number of
times per virtual day at uniformly random moments, with random durations and
parameters, subject to a few separations (``SEPARATIONS``). The separations
only keep apart combinations that no broker could ride out, so that an
outage in the figures is the broker's doing rather than the schedule's: a
re-login needs RingCentral and the RingCX exchange, so a fault that blocks
logins for minutes is never placed where a fault that kills the refresh
chain needs one; Secrets Manager outages never meet a cold container or a
re-login; two early expiries are spaced so the once-per-generation bound on
forced rotations is not what is being measured.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

DAY: Final = 86_400.0
WARMUP: Final = 900.0  # seconds of calm after the start: the fleet bootstraps first
TAIL: Final = 600.0  # no episode starts in the last ten minutes: the run ends calm
PLACEMENT_TRIES: Final = 200


class Kind(StrEnum):
    # RingCX refresh
    REFRESH_5XX_BURST = "refresh-5xx-burst"
    REFRESH_5XX_OUTAGE = "refresh-5xx-outage"
    REFRESH_DROP = "refresh-dropped"
    REFRESH_429 = "refresh-429"
    REFRESH_429_BARE = "refresh-429-without-retry-after"
    REFRESH_503_RETRY_AFTER = "refresh-503-retry-after"
    DEAD_REFRESH = "dead-refresh-token"
    # RingCentral login
    LOGIN_5XX_BURST = "login-5xx-burst"
    LOGIN_5XX_OUTAGE = "login-5xx-outage"
    LOGIN_429 = "login-429"
    LOGIN_429_BARE = "login-429-without-retry-after"
    LOGIN_503_RETRY_AFTER = "login-503-retry-after"
    SESSION_QUOTA = "login-session-quota"
    # RingCX exchange
    EXCHANGE_DENIED = "exchange-denied"
    EXCHANGE_5XX = "exchange-5xx"
    # early expiry
    EARLY_EXPIRY = "early-expiry"
    CLOCK_SKEW = "clock-skew"
    CLOCK_SKEW_TOTAL = "clock-skew-beyond-lifetime"
    # RingCX API (proxied requests)
    API_5XX = "api-5xx"
    API_401 = "api-401"
    API_EXPIRED_VARIANT = "api-jwt-is-expired"
    # Secrets Manager
    STORE_THROTTLE = "store-throttling"
    STORE_5XX = "store-5xx"
    STORE_OUTAGE = "store-outage"
    SLOT_LIMIT = "slot-limit-exceeded"
    SLOT_DENIED = "slot-access-denied"
    SLOT_MISSING = "slot-not-found"
    BATCH_DENIED = "batch-denied"
    SLOT_GARBAGE = "slot-garbage"
    # containers and operators
    RECYCLE_REFRESHER = "recycle-refresher"
    RECYCLE_PROXY = "recycle-proxy"
    PENDING_LOSS = "recycle-refresher-after-failed-write"
    OPERATOR_LOGIN = "operator-exchange-jwt"
    OPERATOR_RC_TOKEN = "operator-exchange-rc-token"


class Tag(StrEnum):
    """What an episode threatens or blocks, for the separations."""

    CHAIN_THREAT = "chain-threat"  # the refresh chain dies or is abandoned: a re-login follows
    LOGIN_BLOCK = "login-block"  # logins fail for minutes
    LOGIN_DELAY = "login-delay"  # the next login or two fail (a 5xx, a 429...)
    REFRESH_DELAY = "refresh-delay"  # the next refresh call or few fail
    EXPIRY = "expiry"  # RingCX rejects the current tokens early
    SLOT_GONE = "slot-gone"  # one ring slot refuses reads or writes for a while
    STORE_DOWN = "store-down"  # Secrets Manager fails everything for a while
    COLD_PROXY = "cold-proxy"  # a proxy container starts cold
    PUT_FAULTS = "put-faults"  # faults on every PutSecretValue
    # SimConfig fields: only one episode at a time may change each
    SKEW = "config:clock_skew"
    EXPIRED_MESSAGE = "config:expired_message"
    RETRY_AFTER_HEADER = "config:retry_after_header"
    SESSIONS = "config:session_quota"
    EXCHANGE_ACCESS = "config:exchange_denied_status"


@dataclass(frozen=True, slots=True)
class Separation:
    """Episodes tagged ``a`` and ``b`` keep ``gap`` seconds between their windows."""

    a: Tag
    b: Tag
    gap: float


SEPARATIONS: Final = (
    # a re-login follows a chain threat within about a token lifetime; give it 12 min
    Separation(Tag.CHAIN_THREAT, Tag.LOGIN_BLOCK, 720.0),
    Separation(Tag.CHAIN_THREAT, Tag.STORE_DOWN, 600.0),
    # one pending delay at a time: stacked, they would be a blocker in disguise
    Separation(Tag.LOGIN_DELAY, Tag.LOGIN_DELAY, 60.0),
    Separation(Tag.LOGIN_DELAY, Tag.LOGIN_BLOCK, 60.0),
    Separation(Tag.REFRESH_DELAY, Tag.REFRESH_DELAY, 60.0),
    Separation(Tag.COLD_PROXY, Tag.STORE_DOWN, 300.0),
    Separation(Tag.PUT_FAULTS, Tag.STORE_DOWN, 60.0),
    Separation(Tag.STORE_DOWN, Tag.STORE_DOWN, 60.0),
    Separation(Tag.EXPIRY, Tag.EXPIRY, 600.0),
    Separation(Tag.SLOT_GONE, Tag.SLOT_GONE, 60.0),
    Separation(Tag.SKEW, Tag.SKEW, 60.0),
    Separation(Tag.EXPIRED_MESSAGE, Tag.EXPIRED_MESSAGE, 60.0),
    Separation(Tag.RETRY_AFTER_HEADER, Tag.RETRY_AFTER_HEADER, 60.0),
    Separation(Tag.SESSIONS, Tag.SESSIONS, 60.0),
    Separation(Tag.EXCHANGE_ACCESS, Tag.EXCHANGE_ACCESS, 60.0),
)


@dataclass(frozen=True, slots=True)
class Episode:
    """One fault: ``kind`` from ``start`` (seconds after the soak began) for
    ``duration`` seconds (0 for a moment), with the parameters its kind uses."""

    kind: Kind
    start: float
    duration: float = 0.0
    status: int | None = None
    count: int | None = None  # calls it fails (None: every call while it lasts)
    retry_after: int | None = None
    mode: str | None = None  # dead_refresh_reply
    skew: float | None = None
    operation: str | None = None  # a Secrets Manager operation, or "all"
    slot: int | None = None
    proxy: int | None = None

    @property
    def end(self) -> float:
        return self.start + self.duration

    @property
    def tags(self) -> frozenset[Tag]:
        return SPECS[self.kind].tags

    def gap_to(self, other: Episode) -> float:
        """Seconds between the two windows (0 when they overlap)."""
        return max(0.0, other.start - self.end, self.start - other.end)

    def to_json(self) -> dict[str, Any]:
        data = {k: v for k, v in dataclasses.asdict(self).items() if v is not None}
        data["kind"] = str(self.kind)
        data["start"] = round(self.start, 3)
        data["duration"] = round(self.duration, 3)
        return data

    def label(self) -> str:
        """``kind(param=value, ...)`` for reports."""
        params = {k: v for k, v in self.to_json().items() if k not in ("kind", "start", "duration")}
        inner = ", ".join(f"{k}={v}" for k, v in params.items())
        return f"{self.kind}({inner})" if inner else str(self.kind)


def conflicts(a: Episode, b: Episode) -> bool:
    tags_a, tags_b = a.tags, b.tags
    for rule in SEPARATIONS:
        pair = (rule.a in tags_a and rule.b in tags_b) or (rule.b in tags_a and rule.a in tags_b)
        if pair and a.gap_to(b) < rule.gap:
            return True
    return False


Params = dict[str, Any]
Draw = Callable[[random.Random], Params]


def _nothing(_rng: random.Random) -> Params:
    return {}


@dataclass(frozen=True, slots=True)
class KindSpec:
    """How often a kind occurs, how long it lasts, and its parameters.

    ``variants`` must each occur at least once (per day in a long run, and at
    least once in any run), for example every ``dead_refresh_reply`` mode.
    """

    per_day: int
    duration: tuple[float, float] = (0.0, 0.0)
    tags: frozenset[Tag] = frozenset()
    draw: Draw = _nothing
    variants: tuple[Params, ...] = ()


def _pick(values: Sequence[Any], name: str) -> Draw:
    return lambda rng: {name: rng.choice(values)}


def _burst(statuses: Sequence[int], most: int) -> Draw:
    return lambda rng: {"status": rng.choice(statuses), "count": rng.randint(1, most)}


def _draws(*draws: Draw) -> Draw:
    def draw(rng: random.Random) -> Params:
        merged: Params = {}
        for one in draws:
            merged |= one(rng)
        return merged

    return draw


SERVER_ERRORS: Final = (500, 502, 503, 504)
DEAD_MODES: Final = ("400", "401", "500", "503", "200-no-token", "200-html")
STORE_READS_AND_WRITES: Final = ("BatchGetSecretValue", "GetSecretValue", "PutSecretValue")
_T = frozenset
_SLOTS = _pick(range(6), "slot")
_DR = _T({Tag.REFRESH_DELAY})
_DL = _T({Tag.LOGIN_DELAY})

SPECS: Final[Mapping[Kind, KindSpec]] = {
    # Chain threats and login blockers first: they are the hardest to place.
    Kind.DEAD_REFRESH: KindSpec(
        6, tags=_T({Tag.CHAIN_THREAT}), variants=tuple({"mode": m} for m in DEAD_MODES)
    ),
    Kind.REFRESH_5XX_OUTAGE: KindSpec(
        3, (90.0, 720.0), _T({Tag.CHAIN_THREAT}), _pick(SERVER_ERRORS, "status")
    ),
    Kind.PENDING_LOSS: KindSpec(3, (900.0, 900.0), _T({Tag.CHAIN_THREAT, Tag.PUT_FAULTS})),
    Kind.SLOT_GARBAGE: KindSpec(3, tags=_T({Tag.CHAIN_THREAT}), draw=_SLOTS),
    Kind.LOGIN_5XX_OUTAGE: KindSpec(
        3, (180.0, 600.0), _T({Tag.LOGIN_BLOCK}), _pick(SERVER_ERRORS, "status")
    ),
    Kind.SESSION_QUOTA: KindSpec(3, (300.0, 1200.0), _T({Tag.LOGIN_BLOCK, Tag.SESSIONS})),
    Kind.EXCHANGE_DENIED: KindSpec(
        4,
        (300.0, 1200.0),
        _T({Tag.LOGIN_BLOCK, Tag.EXCHANGE_ACCESS}),
        variants=({"status": 403}, {"status": 404}),
    ),
    Kind.STORE_OUTAGE: KindSpec(
        3,
        (20.0, 90.0),
        _T({Tag.STORE_DOWN}),
        _pick((500, 503), "status"),
        variants=({"operation": "all"}, {"operation": "PutSecretValue"}),
    ),
    Kind.CLOCK_SKEW_TOTAL: KindSpec(
        2, (300.0, 1200.0), _T({Tag.SKEW}), lambda rng: {"skew": float(rng.randint(300, 900))}
    ),
    Kind.CLOCK_SKEW: KindSpec(
        3, (600.0, 3600.0), _T({Tag.SKEW}), lambda rng: {"skew": float(rng.randint(10, 110))}
    ),
    Kind.EARLY_EXPIRY: KindSpec(4, tags=_T({Tag.EXPIRY})),
    Kind.API_EXPIRED_VARIANT: KindSpec(3, (1200.0, 3600.0), _T({Tag.EXPIRY, Tag.EXPIRED_MESSAGE})),
    Kind.REFRESH_429_BARE: KindSpec(
        3, (600.0, 600.0), _T({Tag.RETRY_AFTER_HEADER, Tag.REFRESH_DELAY})
    ),
    Kind.LOGIN_429_BARE: KindSpec(
        3, (900.0, 1800.0), _T({Tag.RETRY_AFTER_HEADER, Tag.LOGIN_DELAY})
    ),
    Kind.SLOT_LIMIT: KindSpec(2, (1800.0, 14_400.0), _T({Tag.SLOT_GONE}), _SLOTS),
    Kind.SLOT_DENIED: KindSpec(2, (1200.0, 7200.0), _T({Tag.SLOT_GONE}), _SLOTS),
    Kind.SLOT_MISSING: KindSpec(2, (1200.0, 7200.0), _T({Tag.SLOT_GONE}), _SLOTS),
    Kind.RECYCLE_PROXY: KindSpec(8, tags=_T({Tag.COLD_PROXY}), draw=_pick(range(64), "proxy")),
    # Delays fail the next call or few (of a window's calls) and may meet a
    # chain threat: a re-login that fails once or twice must still heal in time.
    Kind.REFRESH_5XX_BURST: KindSpec(4, (600.0, 600.0), _DR, _burst(SERVER_ERRORS, 3)),
    Kind.REFRESH_DROP: KindSpec(4, (600.0, 600.0), _DR, lambda rng: {"count": rng.randint(1, 3)}),
    Kind.REFRESH_429: KindSpec(3, (600.0, 600.0), _DR, _pick((10, 30, 60), "retry_after")),
    Kind.REFRESH_503_RETRY_AFTER: KindSpec(
        3, (600.0, 600.0), _DR, _pick((5, 20, 60), "retry_after")
    ),
    Kind.LOGIN_5XX_BURST: KindSpec(3, (900.0, 1800.0), _DL, _burst(SERVER_ERRORS, 2)),
    Kind.LOGIN_429: KindSpec(3, (900.0, 1800.0), _DL, _pick((30, 60), "retry_after")),
    Kind.LOGIN_503_RETRY_AFTER: KindSpec(
        3, (900.0, 1800.0), _DL, _pick((10, 30, 60), "retry_after")
    ),
    Kind.EXCHANGE_5XX: KindSpec(3, (900.0, 1800.0), _DL, _burst(SERVER_ERRORS, 2)),
    # The rest may meet anything.
    Kind.API_5XX: KindSpec(4, (30.0, 300.0), draw=_pick(SERVER_ERRORS, "status")),
    Kind.API_401: KindSpec(3, (600.0, 600.0), draw=lambda rng: {"count": rng.randint(1, 3)}),
    Kind.STORE_THROTTLE: KindSpec(
        6,
        draw=_draws(
            _pick(STORE_READS_AND_WRITES, "operation"), lambda r: {"count": r.randint(1, 8)}
        ),
        variants=tuple({"operation": op} for op in STORE_READS_AND_WRITES),
    ),
    Kind.STORE_5XX: KindSpec(
        6,
        draw=_draws(
            _pick(STORE_READS_AND_WRITES, "operation"),
            _burst((500, 503), 8),
        ),
        variants=tuple({"operation": op} for op in STORE_READS_AND_WRITES),
    ),
    Kind.BATCH_DENIED: KindSpec(3, (600.0, 7200.0)),
    Kind.RECYCLE_REFRESHER: KindSpec(6),
    Kind.OPERATOR_LOGIN: KindSpec(3),
    Kind.OPERATOR_RC_TOKEN: KindSpec(3),
}


@dataclass(frozen=True, slots=True)
class Schedule:
    episodes: tuple[Episode, ...]
    duration: float
    seed: int
    unplaced: tuple[Kind, ...] = field(default=())  # occurrences no free moment was found for

    def kinds(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for episode in self.episodes:
            counts[str(episode.kind)] = counts.get(str(episode.kind), 0) + 1
        return counts


def generate(seed: int, duration: float, proxies: int = 3) -> Schedule:
    """Place every kind ``per_day`` times per virtual day (at least once, and at
    least once per variant) between the warm-up and the tail, and an
    operator's exchange inside every login blocker."""
    if duration <= WARMUP + TAIL:
        raise ValueError(f"a soak must last more than {WARMUP + TAIL:g} s, got {duration:g}")
    rng = random.Random(seed)
    placed: list[Episode] = []
    unplaced: list[Kind] = []
    for kind, spec in SPECS.items():
        for params in _occurrences(spec, duration / DAY, rng):
            episode = _place(kind, spec, params, duration, placed, rng, proxies)
            if episode is None:
                unplaced.append(kind)
            else:
                placed.append(episode)
    placed += [_probe(blocker, rng) for blocker in placed if Tag.LOGIN_BLOCK in blocker.tags]
    placed.sort(key=lambda e: (e.start, str(e.kind)))
    return Schedule(tuple(placed), duration, seed, tuple(unplaced))


def _probe(blocker: Episode, rng: random.Random) -> Episode:
    """An operator's exchange while logins are blocked: chain threats are kept
    away from blockers, so without it a blocker would meet no login at all."""
    return Episode(Kind.OPERATOR_LOGIN, blocker.start + rng.uniform(0.2, 0.8) * blocker.duration)


def _occurrences(spec: KindSpec, days: float, rng: random.Random) -> list[Params]:
    count = max(1, len(spec.variants), round(spec.per_day * days))
    variants = list(spec.variants)
    rng.shuffle(variants)
    chosen = [variants[i % len(variants)] if variants else {} for i in range(count)]
    return [spec.draw(rng) | variant for variant in chosen]


def _place(
    kind: Kind,
    spec: KindSpec,
    params: Params,
    duration: float,
    placed: Sequence[Episode],
    rng: random.Random,
    proxies: int,
) -> Episode | None:
    if "proxy" in params:
        params = params | {"proxy": params["proxy"] % proxies}
    for _ in range(PLACEMENT_TRIES):
        length = rng.uniform(*spec.duration)
        latest = duration - TAIL - length
        if latest <= WARMUP:
            continue  # too long for this run: draw another length
        candidate = Episode(kind, rng.uniform(WARMUP, latest), length, **params)
        if not any(conflicts(candidate, other) for other in placed):
            return candidate
    return None
