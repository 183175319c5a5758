"""Settings of the simulator and of injected faults.

Both are frozen so a running server can swap a whole config atomically
instead of seeing half-applied changes. Every field can be changed while the
server runs (`Simulator.configure(...)` or `POST /_sim/config`), so one test or
soak can walk RingCX and RingCentral through their less friendly moods.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

ENDPOINTS: Final = ("rc_token", "rcx_exchange", "rcx_refresh", "api")
"""Endpoint groups that are counted and can receive faults."""

EXCHANGE_DENIED_STATUSES: Final = (0, 403, 404)
"""0 (off) or what RingCX's exchange answers a RingCentral user without RingCX access."""

DEAD_REFRESH_BODIES: Final = ("200-no-token", "200-html")
"""The 200 answers to a dead refresh token, besides plain statuses "400".."599"."""

FAULT_BODIES: Final = ("json", "html", "text", "empty")
"""What an injected status fault carries: our JSON, an HTML error page, plain text, nothing."""


@dataclass(frozen=True, slots=True)
class SimConfig:
    """What the simulated RingCentral and RingCX accounts accept and how strict they are."""

    client_id: str = "sim-client-id"
    client_secret: str = "sim-client-secret"
    jwt: str = "sim.jwt.assertion"
    token_lifetime: float = 300.0
    rc_token_lifetime: float = 3600.0
    rate_limit: int = 5
    rate_window: float = 60.0
    retry_after: int = 60
    rate_limit_refresh: bool = True
    signing_key: bytes = b"sim-signing-key"
    max_rc_sessions: int = 5
    account_id: str = "333333"
    main_account_id: str = "111111"
    agent_id: int = 111111
    rc_user_id: int = 222222
    expired_message: str = "Jwt is expired"
    """Plain-text body of the expired-token 401; some RingCX endpoints say `JWT is expired.`."""
    clock_skew: float = 0.0
    """Seconds RingCX's bearer check runs ahead: tokens die this long before their `exp`."""
    exchange_denied_status: int = 0
    """403 or 404: the exchange refuses a valid RC token (the user has no RingCX access)."""
    dead_refresh_reply: str = "401"
    """How a spent/revoked/unknown refresh token is answered: "400".."599", "200-no-token",
    "200-html". RingCX does not document it, so clients must survive all of them."""
    retry_after_header: bool = True
    """False: 429s come without Retry-After (RingCentral says "usually" it is there)."""
    penalty_restarts: bool = True
    """RingCentral restarts the auth penalty on every request made while it runs."""
    rate_limit_headers: bool = True
    """Auth replies carry X-Rate-Limit-Group/-Limit/-Remaining/-Window."""
    session_quota_429: bool = False
    """True: a login beyond `max_rc_sessions` live sessions is a 429 instead of evicting the
    oldest session (RingCentral does either, depending on the account)."""
    latency: float = 0.0
    """Real seconds (not the injected clock) before each non-control reply: wire latency."""

    def __post_init__(self) -> None:
        _check(self.token_lifetime > 0, "token_lifetime must be > 0")
        _check(self.rc_token_lifetime > 0, "rc_token_lifetime must be > 0")
        _check(self.rate_limit >= 1, "rate_limit must be >= 1")
        _check(self.rate_window > 0, "rate_window must be > 0")
        _check(self.retry_after >= 1, "retry_after must be >= 1")
        _check(self.max_rc_sessions >= 1, "max_rc_sessions must be >= 1")
        _check(bool(self.signing_key), "signing_key must not be empty")
        _check(bool(self.expired_message), "expired_message must not be empty")
        _check(0 <= self.clock_skew < math.inf, "clock_skew must be >= 0 and finite")
        _check(
            self.exchange_denied_status in EXCHANGE_DENIED_STATUSES,
            f"exchange_denied_status must be one of {EXCHANGE_DENIED_STATUSES}",
        )
        _check(
            dead_refresh_status(self.dead_refresh_reply) is not None
            or self.dead_refresh_reply in DEAD_REFRESH_BODIES,
            f'dead_refresh_reply must be "400".."599" or one of {DEAD_REFRESH_BODIES}',
        )
        _check(0 <= self.latency < math.inf, "latency must be >= 0 and finite")

    def advertised_retry_after(self, seconds: int) -> int | None:
        """The Retry-After a 429 carries: `seconds`, or None when `retry_after_header` is off."""
        return seconds if self.retry_after_header else None

    def with_changes(self, changes: Mapping[str, object]) -> SimConfig:
        """Return a copy with `changes` applied; JSON-ish values are coerced to field types.

        Raises ValueError for unknown fields or values of the wrong type, so the
        control endpoint can answer 400 instead of running with a broken config.
        """
        values: dict[str, Any] = {}
        for name, value in changes.items():
            if name not in _FIELD_NAMES:
                raise ValueError(f"unknown config field: {name}")
            values[name] = _coerce(name, getattr(self, name), value)
        return dataclasses.replace(self, **values)

    def to_json(self) -> dict[str, object]:
        """A JSON-safe view for the control API."""
        view: dict[str, object] = dataclasses.asdict(self)
        view["signing_key"] = self.signing_key.decode("utf-8", "replace")
        return view


@dataclass(frozen=True, slots=True)
class Fault:
    """One queued misbehaviour for the next `count` calls of an endpoint."""

    status: int | None = None
    delay: float = 0.0
    drop: bool = False
    count: int = 1
    retry_after: int | None = None
    """Retry-After on the injected reply; RingCentral sends a 503 with it when overloaded."""
    body: str = "json"
    """One of FAULT_BODIES: proxies and gateways answer with HTML, text or nothing too."""

    def __post_init__(self) -> None:
        _check(self.status is None or 100 <= self.status <= 599, "status must be 100..599")
        _check(self.delay >= 0, "delay must be >= 0")
        _check(self.count >= 1, "count must be >= 1")
        _check(self.retry_after is None or self.retry_after >= 0, "retry_after must be >= 0")
        _check(self.body in FAULT_BODIES, f"body must be one of {FAULT_BODIES}")
        _check(
            self.status is not None or (self.retry_after is None and self.body == "json"),
            "retry_after and body only apply to a fault with a status",
        )

    @classmethod
    def from_json(cls, body: Mapping[str, object]) -> Fault:
        """Build a fault from a control-API body, rejecting wrong types."""
        status = body.get("status")
        retry_after = body.get("retry_after")
        return cls(
            status=None if status is None else _as_int("status", status),
            delay=_as_float("delay", body.get("delay", 0.0)),
            drop=_as_bool("drop", body.get("drop", False)),
            count=_as_int("count", body.get("count", 1)),
            retry_after=None if retry_after is None else _as_int("retry_after", retry_after),
            body=_as_str("body", body.get("body", "json")),
        )


def dead_refresh_status(reply: str) -> int | None:
    """The HTTP status a `dead_refresh_reply` stands for when it is a plain status, else None."""
    if reply.isascii() and reply.isdigit() and 400 <= int(reply) <= 599:
        return int(reply)
    return None


_FIELD_NAMES: Final = frozenset(f.name for f in dataclasses.fields(SimConfig))


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


def _as_int(name: str, value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise ValueError(f"{name}: expected an integer, got {value!r}")


def _as_float(name: str, value: object) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    raise ValueError(f"{name}: expected a number, got {value!r}")


def _as_bool(name: str, value: object) -> bool:
    if isinstance(value, bool):
        return value
    raise ValueError(f"{name}: expected a boolean, got {value!r}")


def _as_str(name: str, value: object) -> str:
    if isinstance(value, str):
        return value
    raise ValueError(f"{name}: expected a string, got {value!r}")


def _as_bytes(name: str, value: object) -> bytes:
    if isinstance(value, bytes):
        return value
    return _as_str(name, value).encode("utf-8")


def _coerce(name: str, current: object, value: object) -> object:
    """Coerce `value` to the type of the current field value; bool never counts as a number."""
    if isinstance(current, bool):
        return _as_bool(name, value)
    if isinstance(current, int):
        return _as_int(name, value)
    if isinstance(current, float):
        return _as_float(name, value)
    if isinstance(current, bytes):
        return _as_bytes(name, value)
    return _as_str(name, value)
