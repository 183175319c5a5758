"""Settings read from the environment the template sets (docs/contract.md).

Read when a handler first runs, never at import, so tests build ``Settings``
directly instead of patching ``os.environ`` and re-importing modules.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from ringcx_broker.errors import ConfigurationError
from ringcx_broker.timing import TimingPolicy

DEFAULT_RINGCX_URL = "https://engage.ringcentral.com"
DEFAULT_RINGCENTRAL_URL = "https://platform.ringcentral.com"
API_GATEWAY_TIMEOUT = 29.0


@dataclass(frozen=True, slots=True)
class Settings:
    ringcx_url: str = DEFAULT_RINGCX_URL
    ringcentral_url: str = DEFAULT_RINGCENTRAL_URL
    credentials_secret_id: str | None = None
    token_secret_ids: tuple[str, ...] = ()
    timing: TimingPolicy = field(default_factory=TimingPolicy)
    refresh_function_name: str | None = None
    allowed_methods: frozenset[str] = frozenset({"GET", "POST"})
    upstream_timeout: float = 20.0
    token_endpoint_enabled: bool = False
    expected_main_account_id: str | None = None  # a deployment's account pin
    exchange_cooldown: float = 60.0  # seconds between two stored exchanges

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        return cls(
            ringcx_url=_url(env, "RINGCX_SERVER_URL", DEFAULT_RINGCX_URL),
            ringcentral_url=_url(env, "RINGCENTRAL_SERVER_URL", DEFAULT_RINGCENTRAL_URL),
            credentials_secret_id=env.get("CREDENTIALS_SECRET_ID") or None,
            token_secret_ids=tuple(
                s.strip() for s in env.get("TOKEN_SECRET_IDS", "").split(",") if s.strip()
            ),
            timing=TimingPolicy(
                refresh_fraction=_fraction(env, "REFRESH_FRACTION", 0.4),
                leeway_fraction=_fraction(env, "PROXY_LEEWAY_FRACTION", 0.1),
                tick_seconds=_number(env, "REFRESH_INTERVAL_SECONDS", 60.0),
            ),
            refresh_function_name=env.get("REFRESH_FUNCTION_NAME") or None,
            allowed_methods=_methods(env),
            upstream_timeout=_timeout(env),
            token_endpoint_enabled=env.get("TOKEN_ENDPOINT_ENABLED", "false").lower() == "true",
            expected_main_account_id=(env.get("EXPECTED_MAIN_ACCOUNT_ID") or "").strip() or None,
            exchange_cooldown=_number(env, "EXCHANGE_COOLDOWN_SECONDS", 60.0, allow_zero=True),
        )

    def require_ring(self) -> tuple[str, ...]:
        if not self.token_secret_ids:
            raise ConfigurationError("TOKEN_SECRET_IDS is not set: the token ring has no secrets")
        return self.token_secret_ids


def _url(env: Mapping[str, str], name: str, default: str) -> str:
    value = (env.get(name) or default).rstrip("/")
    parts = urlsplit(value)
    extras = parts.path or parts.query or parts.fragment or parts.username or parts.password
    if parts.scheme not in ("http", "https") or not parts.hostname or extras:
        raise ConfigurationError(f"{name} must be a bare http(s) origin, got {value!r}")
    return value


def _number(env: Mapping[str, str], name: str, default: float, allow_zero: bool = False) -> float:
    raw = env.get(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise ConfigurationError(f"{name} must be a number, got {raw!r}") from exc
    if not math.isfinite(value):
        raise ConfigurationError(f"{name} must be a finite number, got {raw!r}")
    if value < 0 or (value == 0 and not allow_zero):
        raise ConfigurationError(f"{name} must be positive, got {raw!r}")
    return value


def _fraction(env: Mapping[str, str], name: str, default: float) -> float:
    value = _number(env, name, default)
    if not 0 < value < 1:
        raise ConfigurationError(f"{name} must be between 0 and 1, got {value}")
    return value


def _timeout(env: Mapping[str, str]) -> float:
    value = _number(env, "UPSTREAM_TIMEOUT_SECONDS", 20.0)
    if value >= API_GATEWAY_TIMEOUT:
        raise ConfigurationError(
            f"UPSTREAM_TIMEOUT_SECONDS must stay below API Gateway's {API_GATEWAY_TIMEOUT:.0f} s"
        )
    return value


def _methods(env: Mapping[str, str]) -> frozenset[str]:
    raw = env.get("ALLOWED_METHODS", "GET,POST")
    methods = frozenset(m.strip().upper() for m in raw.split(",") if m.strip())
    if not methods or not all(m.isalpha() for m in methods):
        raise ConfigurationError(f"ALLOWED_METHODS must list HTTP methods, got {raw!r}")
    return methods
