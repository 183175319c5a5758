"""The HTTP adapter: routing, fault injection and JSON errors over the shared server.

Standard library only, so the simulator starts in milliseconds in tests and in
the local runner; the keep-alive, framing and stop mechanics are in
`ringcx_dev.httpserver`.
"""

from __future__ import annotations

import socket
import time
from typing import cast

from ringcx_dev.httpserver import KeepAliveRequestHandler, LoopbackHTTPServer

from .control import handle_control
from .messages import Reply, SimRequest, fault_reply, json_reply
from .routing import CONTROL, classify, dispatch
from .state import SimState

IDLE_TIMEOUT = 30.0
"""Seconds an idle keep-alive connection may hold a handler thread."""


class SimHTTPServer(LoopbackHTTPServer):
    """Threaded server that knows its state; IPv6 hosts bind an IPv6 socket."""

    request_queue_size = 128

    def __init__(self, address: tuple[str, int], state: SimState) -> None:
        self.state = state
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, SimRequestHandler)


class SimRequestHandler(KeepAliveRequestHandler):
    """Turns each HTTP request into a SimRequest and writes back the Reply."""

    server_version = "ringcx-simulator/1"
    timeout = IDLE_TIMEOUT

    def log_message(self, format: str, *args: object) -> None:
        """Silence per-request logging; counters are the record."""

    @property
    def _sim_server(self) -> SimHTTPServer:
        return cast(SimHTTPServer, self.server)

    def reply_bad_framing(self, message: str) -> None:
        self._send(json_reply(400, {"error": "bad_request", "message": message}))

    def respond(self, body: bytes) -> None:
        headers = tuple((name, str(value)) for name, value in self.headers.items())
        request = SimRequest.from_target(self.command, self.path, headers, body)
        try:
            reply = self._process(request)
        except Exception as exc:  # a simulator bug must still produce an HTTP answer
            reply = json_reply(500, {"error": "simulator_error", "message": repr(exc)})
        if reply is None:
            self.close_connection = True
            return
        self._send(reply)

    def _process(self, request: SimRequest) -> Reply | None:
        """Route the request; None means drop the connection without answering."""
        state = self._sim_server.state
        endpoint = classify(request.raw_path)
        if endpoint is None:
            return json_reply(404, {"error": "not_found", "message": request.raw_path})
        if endpoint == CONTROL:
            return handle_control(state, request)
        fault = state.admit(endpoint)
        if fault is None:
            return dispatch(state, endpoint, request)
        if fault.delay > 0:
            time.sleep(fault.delay)
        if fault.drop:
            return None
        if fault.status is not None:
            return fault_reply(fault.status, state.config.retry_after)
        return dispatch(state, endpoint, request)

    def _send(self, reply: Reply) -> None:
        self.send_reply(
            reply.status, [("Content-Type", reply.content_type), *reply.headers], reply.body
        )
