"""RingCX auth client: exchange an RC token, and rotate the refresh token."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import urllib3

from ringcx_broker.errors import (
    BrokerError,
    NoRingCXAccess,
    RateLimited,
    RefreshTokenRejected,
    TokenRejected,
)
from ringcx_broker.http import Rejection, UpstreamRejected, post_form, shared_pool
from ringcx_broker.ratelimit import RateGate
from ringcx_broker.timing import Clock, system_clock
from ringcx_broker.tokens import TokenGrant

SERVICE = "RingCX"


class RingCXClient:
    def __init__(
        self,
        server_url: str,
        pool: urllib3.PoolManager | None = None,
        gate: RateGate | None = None,
        clock: Clock = system_clock,
    ) -> None:
        base = server_url.rstrip("/")
        self._exchange_url = f"{base}/api/auth/login/rc/accesstoken?includeRefresh=true"
        self._refresh_url = f"{base}/api/auth/token/refresh"
        self._pool = pool or shared_pool()
        self._gate = gate or RateGate(clock)
        self._clock = clock

    def exchange(self, rc_access_token: str) -> TokenGrant:
        """RingCentral access token -> RingCX access + refresh token."""
        reply = self._post(
            "rcx_exchange",
            self._exchange_url,
            {"rcAccessToken": rc_access_token, "rcTokenType": "Bearer"},
            _exchange_rejection,
        )
        return TokenGrant.from_reply(reply, self._clock())

    def refresh(self, refresh_token: str) -> TokenGrant:
        """Spend ``refresh_token``; the grant carries its replacement."""
        reply = self._post(
            "rcx_refresh",
            self._refresh_url,
            {"refresh_token": refresh_token, "rcTokenType": "Bearer"},
            lambda r: RefreshTokenRejected(
                f"RingCX rejected the refresh token (HTTP {r.status} {r.code})"
            ),
        )
        return TokenGrant.from_reply(reply, self._clock())

    def _post(
        self,
        endpoint: str,
        url: str,
        fields: Mapping[str, str],
        rejected: Callable[[Rejection], BrokerError],
    ) -> dict[str, Any]:
        self._gate.check(endpoint, SERVICE)
        try:
            return post_form(self._pool, url, fields, SERVICE)
        except RateLimited as exc:
            self._gate.penalise(endpoint, exc.retry_after)
            raise
        except UpstreamRejected as exc:
            raise rejected(exc.rejection) from exc


def _exchange_rejection(rejection: Rejection) -> BrokerError:
    """403/404 mean "this RingCentral user has no RingCX access", which a caller
    must be able to tell from "this RingCentral token is bad" (401/400)."""
    if rejection.status in (403, 404):
        return NoRingCXAccess(
            "the RingCentral user has no RingCX access: RingCX answered the exchange with "
            f"HTTP {rejection.status} {rejection.code}; enable RingCX for this user or log in "
            "as one who has it"
        )
    return TokenRejected(
        f"RingCX rejected the RingCentral access token (HTTP {rejection.status} {rejection.code})"
    )
