"""The RingCX API under /voice/api: bearer checks plus a few routes for proxy tests.

The echo, binary and large routes do not exist at RingCX; they let proxy tests
see byte for byte what was forwarded and what came back. The echo never shows
the caller's bearer token (a local run prints echo replies): it says
`Bearer [redacted]` and reports the token's non-secret claims under `bearer`.

Errors follow RingCX's `Errors` schema (see `messages.ringcx_error`); the
expired-token 401 alone is plain text (`SimConfig.expired_message`).
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from .config import SimConfig
from .messages import Reply, SimRequest, json_reply, ringcx_error, text_reply
from .state import BearerCheck, SimState
from .tokens import AccessClaims

API_PREFIX: Final = "/voice/api"
V1: Final = "/voice/api/v1"
ECHO: Final = V1 + "/echo"
ACCOUNTS: Final = V1 + "/admin/accounts"
MAX_GENERATED_BYTES: Final = 64 * 1024 * 1024
REDACTED: Final = "[redacted]"
ACCESS_DENIED: Final = "access.denied.exception"
_PATTERN: Final = bytes(range(256))


@dataclass(frozen=True, slots=True)
class ApiCall:
    """An authorised API request with what the routes need to answer it."""

    request: SimRequest
    config: SimConfig
    now: float
    claims: AccessClaims

    def error(self, status: int, message: str, error_code: str | None = None) -> Reply:
        """A RingCX `Errors` reply for this request."""
        return ringcx_error(
            status, message, request_uri=self.request.raw_path, now=self.now, error_code=error_code
        )


_Route = Callable[[ApiCall], Reply]


def handle_api(state: SimState, request: SimRequest) -> Reply:
    """Authorise the bearer token like RingCX, then route."""
    verdict = state.verify_bearer(_bearer(request.header("authorization")))
    config, now = state.config, state.now()
    if verdict.check is BearerCheck.EXPIRED:
        return text_reply(401, config.expired_message)
    if verdict.claims is None:  # BearerCheck.INVALID
        return ringcx_error(
            401, "Invalid or missing access token", request_uri=request.raw_path, now=now
        )
    return route(ApiCall(request, config, now, verdict.claims))


def route(call: ApiCall) -> Reply:
    """Pick the route for an authorised request."""
    path = call.request.raw_path
    if path == ECHO or path.startswith(ECHO + "/"):
        return echo(call)
    handler = _GET_ROUTES.get(path)
    if handler is None and path.startswith(ACCOUNTS + "/"):
        handler = _account
    if handler is None:
        return call.error(404, f"No resource at {path}")
    if call.request.method not in ("GET", "HEAD"):
        return call.error(405, f"Request method '{call.request.method}' is not supported")
    return handler(call)


def echo(call: ApiCall) -> Reply:
    """Mirror the request so proxy tests can assert what was forwarded.

    The Authorization value is redacted (scheme kept); `bearer` names the token
    that was used by its claims, which are not secret.
    """
    request = call.request
    headers: dict[str, str] = {}
    for name, value in request.headers:
        key = name.lower()
        shown = redact_authorization(value) if key == "authorization" else value
        headers[key] = f"{headers[key]}, {shown}" if key in headers else shown
    try:
        body_text: str | None = request.body.decode("utf-8")
    except UnicodeDecodeError:
        body_text = None
    payload = {
        "method": request.method,
        "path": request.path,
        "rawPath": request.raw_path,
        "rawQuery": request.raw_query,
        "query": request.query(),
        "headers": headers,
        "bodyBase64": base64.b64encode(request.body).decode("ascii"),
        "bodyText": body_text,
        "bearer": {
            "valid": True,
            "jti": call.claims.jti,
            "iat": call.claims.iat,
            "exp": call.claims.exp,
        },
    }
    return json_reply(200, payload, headers=(("Set-Cookie", "sim=1"), ("X-Sim-Echo", "1")))


def redact_authorization(value: str) -> str:
    """`Bearer eyJ...` becomes `Bearer [redacted]`; a value without a scheme is all redacted."""
    scheme, separator, _ = value.strip().partition(" ")
    return f"{scheme} {REDACTED}" if separator else REDACTED


def binary_pattern(size: int) -> bytes:
    """`size` deterministic bytes cycling through all 256 values."""
    return (_PATTERN * (size // 256 + 1))[:size]


def large_json(size: int) -> bytes:
    """A valid JSON document of exactly `size` bytes (empty when size is 0)."""
    if size >= 11:
        return b'{"data":"' + b"x" * (size - 11) + b'"}'
    if size >= 2:
        return b'"' + b"x" * (size - 2) + b'"'
    return b"0" * size


def _accounts(call: ApiCall) -> Reply:
    return json_reply(200, [_account_json(call.config)])


def _account(call: ApiCall) -> Reply:
    account_id = call.request.raw_path.removeprefix(ACCOUNTS + "/")
    if account_id != call.config.account_id:
        return call.error(404, f"No account {account_id}")
    return json_reply(200, _account_json(call.config))


def _users(call: ApiCall) -> Reply:
    config = call.config
    user = {
        "userId": 1111,
        "firstName": "John",
        "lastName": "Wang",
        "userName": "john.wang@example.com",
        "email": "john.wang@example.com",
        "rcUserId": config.rc_user_id,
        "accountId": config.account_id,
        "enabled": True,
    }
    return json_reply(200, [user])


def _binary(call: ApiCall) -> Reply:
    size = _size(call.request, "size", 1024)
    if size is None:
        return call.error(400, f"size must be 0..{MAX_GENERATED_BYTES}")
    return Reply(200, binary_pattern(size), "application/octet-stream")


def _large(call: ApiCall) -> Reply:
    size = _size(call.request, "bytes", 1024)
    if size is None:
        return call.error(400, f"bytes must be 0..{MAX_GENERATED_BYTES}")
    return Reply(200, large_json(size), "application/json")


def _forbidden(call: ApiCall) -> Reply:
    return call.error(403, "Access is denied", ACCESS_DENIED)


_GET_ROUTES: Final[dict[str, _Route]] = {
    ACCOUNTS: _accounts,
    V1 + "/admin/users": _users,
    V1 + "/binary": _binary,
    V1 + "/large": _large,
    V1 + "/forbidden": _forbidden,
}


def _account_json(config: SimConfig) -> dict[str, object]:
    return {
        "accountId": config.account_id,
        "accountName": "RingForce",
        "mainAccountId": config.main_account_id,
    }


def _size(request: SimRequest, name: str, default: int) -> int | None:
    raw = request.query_value(name)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit()):
        return None
    size = int(raw)
    return size if size <= MAX_GENERATED_BYTES else None


def _bearer(header: str | None) -> str:
    scheme, _, token = (header or "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""
