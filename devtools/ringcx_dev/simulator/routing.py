"""Map request paths to endpoint groups and run the processing for one group.

One server answers both the RingCentral and the RingCX paths, so a single base
URL can stand in for both hosts.
"""

from __future__ import annotations

from typing import Final

from .auth import AUTH_HANDLERS, EXCHANGE_PATH, RC_TOKEN_PATH, REFRESH_PATH
from .control import CONTROL_PREFIX
from .messages import Reply, SimRequest
from .state import SimState
from .voice import API_PREFIX, handle_api

CONTROL: Final = "control"

_EXACT: Final = {
    RC_TOKEN_PATH: "rc_token",
    EXCHANGE_PATH: "rcx_exchange",
    REFRESH_PATH: "rcx_refresh",
}


def classify(raw_path: str) -> str | None:
    """The endpoint group of a path, CONTROL for /_sim/, or None if nothing lives there."""
    if raw_path in _EXACT:
        return _EXACT[raw_path]
    if raw_path == API_PREFIX or raw_path.startswith(API_PREFIX + "/"):
        return "api"
    if raw_path.startswith(CONTROL_PREFIX):
        return CONTROL
    return None


def dispatch(state: SimState, endpoint: str, request: SimRequest) -> Reply:
    """Process a call that got past fault injection, and count its outcome."""
    handler = AUTH_HANDLERS.get(endpoint, handle_api)
    reply = handler(state, request)
    state.record(endpoint, reply.status, reply.outcome)
    return reply
