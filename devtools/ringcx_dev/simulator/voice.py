"""The RingCX API under /voice/api: bearer checks plus a few routes for proxy tests.

The echo, binary and large routes do not exist at RingCX; they let proxy tests
see byte for byte what was forwarded and what came back.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Final

from .config import SimConfig
from .messages import Reply, SimRequest, json_reply, method_not_allowed, text_reply
from .state import BearerCheck, SimState

API_PREFIX: Final = "/voice/api"
V1: Final = "/voice/api/v1"
ECHO: Final = V1 + "/echo"
ACCOUNTS: Final = V1 + "/admin/accounts"
MAX_GENERATED_BYTES: Final = 64 * 1024 * 1024
_PATTERN: Final = bytes(range(256))

_Route = Callable[[SimRequest, SimConfig], Reply]


def handle_api(state: SimState, request: SimRequest) -> Reply:
    """Authorise the bearer token like RingCX, then route."""
    check = state.check_bearer(_bearer(request.header("authorization")))
    if check is BearerCheck.EXPIRED:
        return text_reply(401, "Jwt is expired")
    if check is BearerCheck.INVALID:
        return _error(401, "invalid.token.exception", "Invalid or missing access token")
    return route(request, state.config)


def route(request: SimRequest, config: SimConfig) -> Reply:
    """Pick the route for an authorised request."""
    path = request.raw_path
    if path == ECHO or path.startswith(ECHO + "/"):
        return echo(request)
    handler = _GET_ROUTES.get(path)
    if handler is None and path.startswith(ACCOUNTS + "/"):
        handler = _account
    if handler is None:
        return _error(404, "not.found", f"No resource at {path}")
    if request.method not in ("GET", "HEAD"):
        return method_not_allowed(request.method)
    return handler(request, config)


def echo(request: SimRequest) -> Reply:
    """Mirror the request so proxy tests can assert what was forwarded."""
    headers: dict[str, str] = {}
    for name, value in request.headers:
        key = name.lower()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
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
    }
    return json_reply(200, payload, headers=(("Set-Cookie", "sim=1"), ("X-Sim-Echo", "1")))


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


def _accounts(_request: SimRequest, config: SimConfig) -> Reply:
    return json_reply(200, [_account_json(config)])


def _account(request: SimRequest, config: SimConfig) -> Reply:
    account_id = request.raw_path.removeprefix(ACCOUNTS + "/")
    if account_id != config.account_id:
        return _error(404, "not.found", f"No account {account_id}")
    return json_reply(200, _account_json(config))


def _users(_request: SimRequest, config: SimConfig) -> Reply:
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


def _binary(request: SimRequest, _config: SimConfig) -> Reply:
    size = _size(request, "size", 1024)
    if size is None:
        return _error(400, "invalid.parameter", f"size must be 0..{MAX_GENERATED_BYTES}")
    return Reply(200, binary_pattern(size), "application/octet-stream")


def _large(request: SimRequest, _config: SimConfig) -> Reply:
    size = _size(request, "bytes", 1024)
    if size is None:
        return _error(400, "invalid.parameter", f"bytes must be 0..{MAX_GENERATED_BYTES}")
    return Reply(200, large_json(size), "application/json")


def _forbidden(_request: SimRequest, _config: SimConfig) -> Reply:
    return _error(403, "access.denied.exception", "Access is denied")


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


def _error(status: int, code: str, message: str) -> Reply:
    """RingCX API error body."""
    return json_reply(status, {"errorCode": code, "generalMessage": message})
