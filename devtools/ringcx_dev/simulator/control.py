"""The /_sim/ control API, so out-of-process users can drive the simulator over HTTP."""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

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
    "/_sim/config": {"GET": _get_config, "POST": _set_config},
}
