"""The /_faultproxy/ control API, so another process can drive a shared proxy.

Control paths are answered here and never forwarded, counted or delayed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from .faults import AwsFault, Reply, json_reply
from .request import ProxyRequest
from .state import ProxyState

CONTROL_PREFIX: Final = "/_faultproxy/"

_Handler = Callable[[ProxyState, ProxyRequest], Reply]


def handle_control(state: ProxyState, request: ProxyRequest) -> Reply:
    """Route a /_faultproxy/ request; a bad body gets 400 with the reason."""
    methods = _ROUTES.get(request.raw_path)
    if methods is None:
        return json_reply(404, {"error": "not_found", "message": request.raw_path})
    handler = methods.get(request.method)
    if handler is None:
        return json_reply(405, {"error": "method_not_allowed", "message": request.method})
    try:
        return handler(state, request)
    except ValueError as exc:
        return json_reply(400, {"error": "invalid_request", "message": str(exc)})


def _body(request: ProxyRequest) -> dict[str, object]:
    if not request.body:
        return {}
    body = request.json_object()
    if body is None:
        raise ValueError("body must be a JSON object")
    return body


def _optional_str(body: dict[str, object], name: str) -> str | None:
    value = body.get(name)
    if value is None or isinstance(value, str):
        return value
    raise ValueError(f"{name} must be a string or null")


def _ok(_state: ProxyState, _request: ProxyRequest) -> Reply:
    return json_reply(200, {"ok": True})


def _counters(state: ProxyState, _request: ProxyRequest) -> Reply:
    return json_reply(200, state.counters())


def _reset_counters(state: ProxyState, _request: ProxyRequest) -> Reply:
    state.reset_counters()
    return json_reply(200, {"ok": True})


def _get_latency(state: ProxyState, _request: ProxyRequest) -> Reply:
    return json_reply(200, state.latency())


def _set_latency(state: ProxyState, request: ProxyRequest) -> Reply:
    body = _body(request)
    seconds = body.get("seconds")
    if not isinstance(seconds, int | float) or isinstance(seconds, bool):
        raise ValueError("seconds must be a number")
    state.set_latency(float(seconds), _optional_str(body, "operation"))
    return json_reply(200, {"ok": True, **state.latency()})


def _clear_latency(state: ProxyState, _request: ProxyRequest) -> Reply:
    state.clear_latency()
    return json_reply(200, {"ok": True})


def _get_faults(state: ProxyState, _request: ProxyRequest) -> Reply:
    return json_reply(200, state.queued())


def _inject(state: ProxyState, request: ProxyRequest) -> Reply:
    body = _body(request)
    operation = _optional_str(body, "operation")
    if operation is None:
        raise ValueError("operation must be a string")
    secret_id = _optional_str(body, "secret_id")
    fields = {k: v for k, v in body.items() if k not in ("operation", "secret_id")}
    state.inject(operation, AwsFault.from_json(fields), secret_id)
    return json_reply(200, {"ok": True})


def _clear_faults(state: ProxyState, request: ProxyRequest) -> Reply:
    state.clear_faults(_optional_str(_body(request), "operation"))
    return json_reply(200, {"ok": True})


_ROUTES: Final[dict[str, dict[str, _Handler]]] = {
    "/_faultproxy/health": {"GET": _ok},
    "/_faultproxy/counters": {"GET": _counters},
    "/_faultproxy/reset-counters": {"POST": _reset_counters},
    "/_faultproxy/latency": {"GET": _get_latency, "POST": _set_latency, "DELETE": _clear_latency},
    "/_faultproxy/faults": {"GET": _get_faults, "POST": _inject, "DELETE": _clear_faults},
}
