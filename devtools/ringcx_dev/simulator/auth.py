"""Request validation for the three auth endpoints (RC login, RingCX exchange and refresh).

Strict on purpose: a client that sends JSON, forgets Basic auth or drops
`rcTokenType` must fail here rather than in production.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Callable
from typing import Final

from .config import SimConfig
from .messages import (
    FormError,
    Reply,
    SimRequest,
    json_reply,
    method_not_allowed,
    oauth_error,
    rate_limited_reply,
)
from .state import RcxTokens, RefreshFailure, SimState

RC_TOKEN_PATH: Final = "/restapi/oauth/token"
EXCHANGE_PATH: Final = "/api/auth/login/rc/accesstoken"
REFRESH_PATH: Final = "/api/auth/token/refresh"
JWT_BEARER_GRANT: Final = "urn:ietf:params:oauth:grant-type:jwt-bearer"
RC_REFRESH_TOKEN_LIFETIME: Final = 604800

_REFRESH_FAILURES: Final = {
    RefreshFailure.SPENT: "Refresh token has already been used",
    RefreshFailure.REVOKED: "Refresh token has been revoked",
    RefreshFailure.UNKNOWN: "Refresh token is invalid",
}


def handle_rc_token(state: SimState, request: SimRequest) -> Reply:
    """POST /restapi/oauth/token: the RingCentral JWT-bearer grant."""
    form = _accept(state, "rc_token", request)
    if isinstance(form, Reply):
        return form
    config = state.config
    if not _basic_auth_ok(request.header("authorization"), config):
        return oauth_error(401, "invalid_client", "Invalid client credentials")
    if form.get("grant_type") != JWT_BEARER_GRANT:
        return oauth_error(400, "unsupported_grant_type", "Unsupported grant type")
    if not _same(form.get("assertion", ""), config.jwt):
        return json_reply(
            400,
            {
                "error": "invalid_grant",
                "error_description": "Invalid JWT assertion",
                "errors": [{"errorCode": "OAU-251", "message": "Invalid JWT assertion"}],
            },
        )
    session = state.login()
    return json_reply(
        200,
        {
            "access_token": session.access_token,
            "token_type": "bearer",
            "expires_in": session.expires_in,
            "refresh_token": session.refresh_token,
            "refresh_token_expires_in": RC_REFRESH_TOKEN_LIFETIME,
            "scope": "ReadAccounts",
            "owner_id": str(config.rc_user_id),
        },
    )


def handle_exchange(state: SimState, request: SimRequest) -> Reply:
    """POST /api/auth/login/rc/accesstoken: RC access token to RingCX tokens."""
    form = _accept(state, "rcx_exchange", request)
    if isinstance(form, Reply):
        return form
    problem = _require(form, "rcAccessToken") or _require_bearer_type(form)
    if problem is not None:
        return problem
    include_refresh = (request.query_value("includeRefresh") or "").lower() == "true"
    tokens = state.exchange(form["rcAccessToken"], include_refresh)
    if tokens is None:
        return oauth_error(401, "invalid_token", "RingCentral access token is invalid or expired")
    return json_reply(200, login_body(tokens, state.config))


def handle_refresh(state: SimState, request: SimRequest) -> Reply:
    """POST /api/auth/token/refresh: single-use, rotating refresh."""
    form = _accept(state, "rcx_refresh", request)
    if isinstance(form, Reply):
        return form
    problem = _require(form, "refresh_token") or _require_bearer_type(form)
    if problem is not None:
        return problem
    result = state.rotate(form["refresh_token"])
    if isinstance(result, RefreshFailure):
        return oauth_error(401, "invalid_token", _REFRESH_FAILURES[result])
    return json_reply(200, login_body(result, state.config))


AUTH_HANDLERS: Final[dict[str, Callable[[SimState, SimRequest], Reply]]] = {
    "rc_token": handle_rc_token,
    "rcx_exchange": handle_exchange,
    "rcx_refresh": handle_refresh,
}


def login_body(tokens: RcxTokens, config: SimConfig) -> dict[str, object]:
    """The RingCX login/refresh reply, shaped like the documented example."""
    body: dict[str, object] = {}
    if tokens.refresh_token is not None:
        body["refreshToken"] = tokens.refresh_token
    body["accessToken"] = tokens.access_token
    body["tokenType"] = "Bearer"
    body["agentDetails"] = [
        {
            "agentId": config.agent_id,
            "firstName": "John",
            "lastName": "Wang",
            "email": "john.wang@example.com",
            "username": "john.wang@example.com",
            "agentType": "AGENT",
            "rcUserId": config.rc_user_id,
            "accountId": config.account_id,
            "accountName": "RingForce",
            "agentGroupId": None,
            "allowLoginControl": True,
            "allowLoginUpdates": True,
        }
    ]
    body["adminId"] = 1111
    body["adminUrl"] = "/voice/admin/"
    body["agentUrl"] = "/voice/agent/"
    body["ssoLogin"] = True
    body["mainAccountId"] = config.main_account_id
    body["platformId"] = "RC"
    return body


def _accept(state: SimState, endpoint: str, request: SimRequest) -> dict[str, str] | Reply:
    """Checks every auth call shares: POST only, rate limit first, then a form body."""
    if request.method != "POST":
        return method_not_allowed(request.method)
    if not state.allow_rate(endpoint):
        return rate_limited_reply(state.config.retry_after)
    try:
        return request.form()
    except FormError as exc:
        return oauth_error(exc.status, "invalid_request", str(exc))


def _require(form: dict[str, str], name: str) -> Reply | None:
    if form.get(name):
        return None
    return oauth_error(400, "invalid_request", f"Missing required field {name}")


def _require_bearer_type(form: dict[str, str]) -> Reply | None:
    if form.get("rcTokenType", "").lower() == "bearer":
        return None
    return oauth_error(400, "invalid_request", "rcTokenType must be Bearer")


def _basic_auth_ok(header: str | None, config: SimConfig) -> bool:
    """Compare HTTP Basic credentials in constant time."""
    scheme, _, encoded = (header or "").partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    expected = f"{config.client_id}:{config.client_secret}".encode()
    return hmac.compare_digest(decoded, expected)


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))
