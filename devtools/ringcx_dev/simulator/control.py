"""The /_sim/ control API, so out-of-process users can drive the simulator over HTTP.

GET  /_sim/health          {"ok": true}
GET  /_sim/counters        per-endpoint outcomes and protocol events
POST /_sim/reset-counters  zero the counters and clear the auth call log
POST /_sim/faults          queue a Fault: {"endpoint", "status", "delay", "drop",
                           "count", "retry_after", "body"}
POST /_sim/revoke          revoke every live refresh token -> {"revoked": n}
POST /_sim/expire-tokens   make every access token issued so far "expired" -> {"expired": n}
GET  /_sim/auth-calls      the auth call log, oldest first, and the most calls per endpoint
                           in any window: {"calls": [{"at", "endpoint", "status"}, ...],
                           "window": 60.0, "maxInWindow": {"rc_token": n, ...}};
                           `?window=S` picks another window in seconds
GET  /_sim/config          the SimConfig as JSON
POST /_sim/config          change SimConfig fields -> {"ok": true, "config": {...}}
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Final

from .calllog import AUTH_ENDPOINTS, max_calls_in_window
from .config import Fault
from .messages import Reply, SimRequest, json_reply, method_not_allowed
from .state import SimState

CONTROL_PREFIX: Final = "/_sim/"

_Handler = Callable[[SimState, SimRequest], Reply]


def handle_control(state: SimState, request: SimRequest) -> Reply:
    """Route a /_sim/ request; bad bodies get 400 with the reason."""
    methods = _ROUTES.get(request.raw_path)
    if methods is None:
        return json_reply(404, {"error": "not_found", "message": request.raw_path})
    handler = methods.get(request.method)
    if handler is None:
        return method_not_allowed(request.method)
    try:
        return handler(state, request)
    except ValueError as exc:
        return json_reply(400, {"error": "invalid_request", "message": str(exc)})


def _health(_state: SimState, _request: SimRequest) -> Reply:
    return json_reply(200, {"ok": True})


def _counters(state: SimState, _request: SimRequest) -> Reply:
    return json_reply(200, state.counters())


def _reset_counters(state: SimState, _request: SimRequest) -> Reply:
    state.reset_counters()
    return json_reply(200, {"ok": True})


def _faults(state: SimState, request: SimRequest) -> Reply:
    body = request.json_body()
    endpoint = body.get("endpoint")
    if not isinstance(endpoint, str):
        raise ValueError("endpoint must be a string")
    state.inject(endpoint, Fault.from_json(body))
    return json_reply(200, {"ok": True})


def _revoke(state: SimState, _request: SimRequest) -> Reply:
    return json_reply(200, {"ok": True, "revoked": state.revoke_refresh_tokens()})


def _expire_tokens(state: SimState, _request: SimRequest) -> Reply:
    return json_reply(200, {"ok": True, "expired": state.expire_access_tokens()})


def _auth_calls(state: SimState, request: SimRequest) -> Reply:
    window = _window(request.query_value("window"))
    calls = state.auth_calls()
    return json_reply(
        200,
        {
            "calls": [call.to_json() for call in calls],
            "window": window,
            "maxInWindow": {e: max_calls_in_window(calls, e, window) for e in AUTH_ENDPOINTS},
        },
    )


def _window(raw: str | None) -> float:
    if raw is None:
        return 60.0
    try:
        window = float(raw)
    except ValueError:
        raise ValueError(f"window must be a number of seconds, got {raw!r}") from None
    if not 0 < window < math.inf:
        raise ValueError("window must be > 0 and finite")
    return window


def _get_config(state: SimState, _request: SimRequest) -> Reply:
    return json_reply(200, state.config.to_json())


def _set_config(state: SimState, request: SimRequest) -> Reply:
    config = state.configure(**request.json_body())
    return json_reply(200, {"ok": True, "config": config.to_json()})


_ROUTES: Final[dict[str, dict[str, _Handler]]] = {
    "/_sim/health": {"GET": _health},
    "/_sim/counters": {"GET": _counters},
    "/_sim/reset-counters": {"POST": _reset_counters},
    "/_sim/faults": {"POST": _faults},
    "/_sim/revoke": {"POST": _revoke},
    "/_sim/expire-tokens": {"POST": _expire_tokens},
    "/_sim/auth-calls": {"GET": _auth_calls},
    "/_sim/config": {"GET": _get_config, "POST": _set_config},
}
