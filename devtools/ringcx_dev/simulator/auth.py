"""Request validation for the three auth endpoints (RC login, RingCX exchange and refresh).

Strict on purpose: a client that sends JSON, forgets Basic auth or drops
`rcTokenType` must fail here rather than in production. The unfriendly answers
the real services give are switchable in SimConfig: a penalty that restarts,
429s without Retry-After, the session quota, an exchange refused because the
user has no RingCX access, and the undocumented answers to a dead refresh token.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hmac
import math
from collections.abc import Callable
from typing import Final

from .config import SimConfig, dead_refresh_status
from .messages import (
    FormError,
    Headers,
    Reply,
    SimRequest,
    html_reply,
    json_reply,
    method_not_allowed,
    oauth_error,
    rate_limited_reply,
    retry_after_headers,
    ringcx_error,
)
from .ratelimit import RateDecision
from .state import RcxTokens, RefreshFailure, SessionQuotaExceeded, SimState

RC_TOKEN_PATH: Final = "/restapi/oauth/token"
EXCHANGE_PATH: Final = "/api/auth/login/rc/accesstoken"
REFRESH_PATH: Final = "/api/auth/token/refresh"
JWT_BEARER_GRANT: Final = "urn:ietf:params:oauth:grant-type:jwt-bearer"
RC_REFRESH_TOKEN_LIFETIME: Final = 604800
RATE_LIMIT_GROUP: Final = "auth"
SESSION_QUOTA_CODE: Final = "CMN-302"
"""RingCentral does not document which CMN code its session quota uses; one of them."""

_REFRESH_FAILURES: Final = {
    RefreshFailure.SPENT: "Refresh token has already been used",
    RefreshFailure.REVOKED: "Refresh token has been revoked",
    RefreshFailure.UNKNOWN: "Refresh token is invalid",
}


_FormHandler = Callable[[SimState, SimRequest, dict[str, str]], Reply]


def handle_rc_token(state: SimState, request: SimRequest) -> Reply:
    """POST /restapi/oauth/token: the RingCentral JWT-bearer grant."""
    return _serve(state, "rc_token", request, _rc_token)


def handle_exchange(state: SimState, request: SimRequest) -> Reply:
    """POST /api/auth/login/rc/accesstoken: RC access token to RingCX tokens."""
    return _serve(state, "rcx_exchange", request, _exchange)


def handle_refresh(state: SimState, request: SimRequest) -> Reply:
    """POST /api/auth/token/refresh: single-use, rotating refresh."""
    return _serve(state, "rcx_refresh", request, _refresh)


AUTH_HANDLERS: Final[dict[str, Callable[[SimState, SimRequest], Reply]]] = {
    "rc_token": handle_rc_token,
    "rcx_exchange": handle_exchange,
    "rcx_refresh": handle_refresh,
}


def _rc_token(state: SimState, request: SimRequest, form: dict[str, str]) -> Reply:
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
    try:
        session = state.login()
    except SessionQuotaExceeded:
        return _session_quota_reply(config)
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


def _exchange(state: SimState, request: SimRequest, form: dict[str, str]) -> Reply:
    problem = _require(form, "rcAccessToken") or _require_bearer_type(form)
    if problem is not None:
        return problem
    rc_token = form["rcAccessToken"]
    denied = state.config.exchange_denied_status
    if denied and state.rc_token_live(rc_token):
        return _exchange_denied(denied, request, state.now())
    include_refresh = (request.query_value("includeRefresh") or "").lower() == "true"
    tokens = state.exchange(rc_token, include_refresh)
    if tokens is None:
        return oauth_error(401, "invalid_token", "RingCentral access token is invalid or expired")
    return json_reply(200, login_body(tokens, state.config))


def _refresh(state: SimState, request: SimRequest, form: dict[str, str]) -> Reply:
    problem = _require(form, "refresh_token") or _require_bearer_type(form)
    if problem is not None:
        return problem
    result = state.rotate(form["refresh_token"])
    if isinstance(result, RefreshFailure):
        reply = _dead_refresh(state, request, _REFRESH_FAILURES[result])
        return dataclasses.replace(reply, outcome="rejected")
    return json_reply(200, login_body(result, state.config))


def login_body(tokens: RcxTokens, config: SimConfig) -> dict[str, object]:
    """The RingCX login/refresh reply, shaped like the documented example.

    `refreshToken` is always present: null when the exchange had no `includeRefresh=true`.
    """
    body: dict[str, object] = {"refreshToken": tokens.refresh_token}
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


def _serve(state: SimState, endpoint: str, request: SimRequest, handler: _FormHandler) -> Reply:
    """Checks every auth call shares: POST only, rate limit first, then a form body.

    Every answer past the method check carries the X-Rate-Limit-* headers, 429s included.
    """
    if request.method != "POST":
        return method_not_allowed(request.method)
    decision = state.allow_rate(endpoint)
    config = state.config
    if not decision.allowed:
        reply = rate_limited_reply(config.advertised_retry_after(decision.retry_after))
    else:
        reply = _with_form(state, request, handler)
    if not config.rate_limit_headers:
        return reply
    return dataclasses.replace(reply, headers=reply.headers + rate_limit_headers(decision))


def _with_form(state: SimState, request: SimRequest, handler: _FormHandler) -> Reply:
    try:
        form = request.form()
    except FormError as exc:
        return oauth_error(exc.status, "invalid_request", str(exc))
    return handler(state, request, form)


def rate_limit_headers(decision: RateDecision) -> Headers:
    """RingCentral's X-Rate-Limit-* headers for one limiter verdict (window in seconds)."""
    return (
        ("X-Rate-Limit-Group", RATE_LIMIT_GROUP),
        ("X-Rate-Limit-Limit", str(decision.limit)),
        ("X-Rate-Limit-Remaining", str(decision.remaining)),
        ("X-Rate-Limit-Window", str(math.ceil(decision.window))),
    )


def _session_quota_reply(config: SimConfig) -> Reply:
    """RingCentral's 429 when the user already holds the most sessions it allows."""
    message = f"Session limit exceeded: at most {config.max_rc_sessions} active sessions"
    error = {"errorCode": SESSION_QUOTA_CODE, "message": message}
    return json_reply(
        429,
        {**error, "errors": [error]},
        headers=retry_after_headers(config.advertised_retry_after(config.retry_after)),
    )


def _exchange_denied(status: int, request: SimRequest, now: float) -> Reply:
    """A valid RC token whose user has no RingCX access: 403 or 404, never 401."""
    if status == 403:
        return ringcx_error(
            403,
            "Access is denied: the RingCentral user has no RingCX access",
            request_uri=request.raw_path,
            now=now,
            error_code="access.denied.exception",
        )
    return ringcx_error(
        status,
        "No RingCX agent or admin found for the RingCentral user",
        request_uri=request.raw_path,
        now=now,
    )


def _dead_refresh(state: SimState, request: SimRequest, message: str) -> Reply:
    """The configured answer to a spent, revoked or unknown refresh token.

    RingCX does not document it, so clients must survive every choice: 400/401 with an
    OAuth-style body, other statuses with RingCX's Errors body (429 looks like a rate
    limit), or a 200 that carries no token at all (JSON nulls or an HTML page).
    """
    config = state.config
    kind = config.dead_refresh_reply
    if kind == "200-no-token":
        return json_reply(200, {"accessToken": None, "refreshToken": None, "tokenType": None})
    if kind == "200-html":
        return html_reply(200, title="Sign in", text="Your session has ended. Please sign in.")
    status = dead_refresh_status(kind) or 401
    if status in (400, 401):
        return oauth_error(status, "invalid_grant" if status == 400 else "invalid_token", message)
    if status == 429:
        return rate_limited_reply(config.advertised_retry_after(config.retry_after))
    return ringcx_error(status, message, request_uri=request.raw_path, now=state.now())


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
