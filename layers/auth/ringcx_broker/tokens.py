"""Token objects that know their own expiry (the authlib habit).

``TokenGrant`` is what RingCX returned; ``StoredToken`` is one generation of
the ring in Secrets Manager. Token fields are excluded from ``repr`` so that a
stray log line or traceback cannot print them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from ringcx_broker.errors import UpstreamUnavailable
from ringcx_broker.jwt_claims import lifetime_of

_AGENT_FIELDS = ("agentId", "accountId", "rcUserId", "firstName", "lastName", "email", "username")


@dataclass(frozen=True, slots=True)
class AccountInfo:
    """Who the token belongs to: the non-secret part of a RingCX login reply."""

    account_ids: tuple[str, ...] = ()
    main_account_id: str | None = None
    admin_id: str | None = None
    agents: tuple[Mapping[str, Any], ...] = ()

    @classmethod
    def from_reply(cls, reply: Mapping[str, Any]) -> AccountInfo:
        raw_agents = reply.get("agentDetails")
        agents = tuple(
            {k: a[k] for k in _AGENT_FIELDS if k in a}
            for a in (raw_agents if isinstance(raw_agents, list) else [])
            if isinstance(a, Mapping)
        )
        ids = tuple(dict.fromkeys(str(a["accountId"]) for a in agents if a.get("accountId")))
        main, admin = reply.get("mainAccountId"), reply.get("adminId")
        return cls(
            account_ids=ids,
            main_account_id=None if main is None else str(main),
            admin_id=None if admin is None else str(admin),
            agents=agents,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "accountIds": list(self.account_ids),
            "mainAccountId": self.main_account_id,
            "adminId": self.admin_id,
            "agents": [dict(a) for a in self.agents],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AccountInfo:
        return cls(
            account_ids=tuple(str(i) for i in data.get("accountIds") or ()),
            main_account_id=data.get("mainAccountId"),
            admin_id=data.get("adminId"),
            agents=tuple(a for a in data.get("agents") or () if isinstance(a, Mapping)),
        )


@dataclass(frozen=True, slots=True)
class TokenGrant:
    """A RingCX login or refresh reply, validated."""

    access_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    token_type: str
    issued_at: float
    expires_at: float
    account: AccountInfo

    @classmethod
    def from_reply(cls, reply: Mapping[str, Any], now: float) -> TokenGrant:
        access = reply.get("accessToken")
        if not isinstance(access, str) or not access:
            raise UpstreamUnavailable("RingCX replied without an accessToken")
        refresh = reply.get("refreshToken")
        life = lifetime_of(access, now)
        return cls(
            access_token=access,
            refresh_token=refresh if isinstance(refresh, str) and refresh else None,
            token_type=str(reply.get("tokenType") or "Bearer"),
            issued_at=life.issued_at,
            expires_at=life.expires_at,
            account=AccountInfo.from_reply(reply),
        )


class MalformedSlot(ValueError):
    """A ring slot holds something that is not a stored token."""


@dataclass(frozen=True, slots=True)
class StoredToken:
    """One generation of the token ring."""

    generation: int
    access_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    token_type: str
    issued_at: float
    expires_at: float
    refreshed_at: float
    source: str
    account: AccountInfo
    # True when this generation replaced one that RingCX rejected as expired
    # before its ``exp``. Such a generation is never force-rotated in turn, so
    # a RingCX that rejects every token cannot drive a rotation loop.
    forced: bool = False

    @classmethod
    def from_grant(
        cls, grant: TokenGrant, generation: int, now: float, source: str, forced: bool = False
    ) -> StoredToken:
        return cls(
            generation=generation,
            access_token=grant.access_token,
            refresh_token=grant.refresh_token,
            token_type=grant.token_type,
            issued_at=grant.issued_at,
            expires_at=grant.expires_at,
            refreshed_at=now,
            source=source,
            account=grant.account,
            forced=forced,
        )

    def successor(
        self, grant: TokenGrant, now: float, source: str, forced: bool = False
    ) -> StoredToken:
        """The next generation. A reply without a refresh token keeps ours: if
        RingCX did spend it, the next refresh fails as dead and re-logs in; if
        it did not, the chain lives on."""
        nxt = StoredToken.from_grant(grant, self.generation + 1, now, source, forced)
        if nxt.refresh_token is None:
            nxt = replace(nxt, refresh_token=self.refresh_token)
        return nxt

    @property
    def lifetime(self) -> float:
        return self.expires_at - self.issued_at

    def seconds_left(self, now: float) -> float:
        return self.expires_at - now

    def is_expired(self, now: float) -> bool:
        return now >= self.expires_at

    def has_more_than(self, fraction: float, now: float) -> bool:
        """True while more than ``fraction`` of the token's own lifetime is left."""
        return self.seconds_left(now) > fraction * self.lifetime

    @property
    def authorization(self) -> str:
        return f"{self.token_type or 'Bearer'} {self.access_token}"

    def summary(self, now: float, agents: bool = False) -> dict[str, Any]:
        """What callers may see: timing and account ids, never a token.

        Agents' names and email addresses only with ``agents`` (the exchange's
        reply to the admin who logged in); ``/health`` and the refresher's
        replies carry ids and timings alone.
        """
        account = self.account.to_json()
        if not agents:
            account.pop("agents")
        return {
            "generation": self.generation,
            "expiresAt": _iso(self.expires_at),
            "secondsLeft": max(0, int(self.seconds_left(now))),
            "lifetimeSeconds": int(self.lifetime),
            "lastRefreshedAt": _iso(self.refreshed_at),
            "source": self.source,
            **account,
        }

    def to_secret_string(self) -> str:
        """Deterministic JSON, so a retried write of one generation is byte-identical."""
        return json.dumps(
            {
                "generation": self.generation,
                "accessToken": self.access_token,
                "refreshToken": self.refresh_token,
                "tokenType": self.token_type,
                "issuedAt": self.issued_at,
                "expiresAt": self.expires_at,
                "refreshedAt": self.refreshed_at,
                "source": self.source,
                "forced": self.forced,
                "account": self.account.to_json(),
            },
            sort_keys=True,
            separators=(",", ":"),
        )

    @classmethod
    def from_secret_string(cls, text: str) -> StoredToken | None:
        """Parse a slot. ``{}`` is an empty slot (None); anything else odd raises."""
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise MalformedSlot("slot is not valid JSON") from exc
        if not isinstance(data, dict):
            raise MalformedSlot("slot is not a JSON object")
        if not data:
            return None
        generation, access = data.get("generation"), data.get("accessToken")
        if not isinstance(generation, int) or isinstance(generation, bool) or generation < 1:
            raise MalformedSlot("slot has no valid generation")
        if not isinstance(access, str) or not access:
            raise MalformedSlot("slot has no access token")
        account = data.get("account") or {}
        if not isinstance(account, Mapping):
            raise MalformedSlot("slot's account is not an object")
        refresh = data.get("refreshToken")
        issued = _timestamp(data.get("issuedAt"), "issuedAt")
        return cls(
            generation=generation,
            access_token=access,
            refresh_token=refresh if isinstance(refresh, str) and refresh else None,
            token_type=str(data.get("tokenType") or "Bearer"),
            issued_at=issued,
            expires_at=_timestamp(data.get("expiresAt"), "expiresAt"),
            refreshed_at=_timestamp(data.get("refreshedAt", issued), "refreshedAt"),
            source=str(data.get("source") or "unknown"),
            account=_account(account),
            forced=data.get("forced") is True,
        )


def _account(data: Mapping[str, Any]) -> AccountInfo:
    try:
        return AccountInfo.from_json(data)
    except (TypeError, ValueError) as exc:
        raise MalformedSlot("slot's account is malformed") from exc


def _timestamp(value: object, name: str) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            seconds = float(value)
        except OverflowError:
            seconds = math.inf
        if math.isfinite(seconds):
            return seconds
    raise MalformedSlot(f"slot has no valid {name}")


def _iso(epoch: float) -> str:
    stamp = datetime.fromtimestamp(epoch, tz=UTC).isoformat(timespec="seconds")
    return stamp.replace("+00:00", "Z")
