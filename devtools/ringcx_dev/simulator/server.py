"""The HTTP adapter: latency, routing, fault injection, the auth call log, JSON errors.

Standard library only, so the simulator starts in milliseconds in tests and in
the local runner; the keep-alive, framing and stop mechanics are in
`ringcx_dev.httpserver`.

`SimConfig.latency` and `Fault.delay` are real sleeps, not the injected clock:
they model time on the wire, which a virtual clock cannot make a client wait for.
The sleep function is injectable so tests can see the waits without waiting.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import cast

from ringcx_dev.httpserver import KeepAliveRequestHandler, LoopbackHTTPServer

from .calllog import DROPPED
from .config import Fault
from .control import handle_control
from .messages import Reply, SimRequest, fault_reply, json_reply
from .routing import CONTROL, classify, dispatch
from .state import SimState

IDLE_TIMEOUT = 30.0
"""Seconds an idle keep-alive connection may hold a handler thread."""

Sleep = Callable[[float], None]


class SimHTTPServer(LoopbackHTTPServer):
    """Threaded server that knows its state; IPv6 hosts bind an IPv6 socket."""

    request_queue_size = 128

    def __init__(
        self, address: tuple[str, int], state: SimState, sleep: Sleep = time.sleep
    ) -> None:
        self.state = state
        self.sleep = sleep
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
        state, sleep = self._sim_server.state, self._sim_server.sleep
        endpoint = classify(request.raw_path)
        if endpoint == CONTROL:
            return handle_control(state, request)
        latency = state.config.latency
        if latency > 0:
            sleep(latency)
        if endpoint is None:
            return json_reply(404, {"error": "not_found", "message": request.raw_path})
        arrived = state.now()
        reply = _serve(state, endpoint, request, sleep)
        state.log_call(endpoint, arrived, DROPPED if reply is None else reply.status)
        return reply

    def _send(self, reply: Reply) -> None:
        content_type = () if reply.content_type is None else (("Content-Type", reply.content_type),)
        self.send_reply(reply.status, [*content_type, *reply.headers], reply.body)


def _serve(state: SimState, endpoint: str, request: SimRequest, sleep: Sleep) -> Reply | None:
    """Apply the next queued fault of `endpoint`, if any, else process the request."""
    fault = state.admit(endpoint)
    if fault is None:
        return dispatch(state, endpoint, request)
    if fault.delay > 0:
        sleep(fault.delay)
    if fault.drop:
        return None
    if fault.status is not None:
        return fault_reply(fault.status, _fault_retry_after(fault, state), fault.body)
    return dispatch(state, endpoint, request)


def _fault_retry_after(fault: Fault, state: SimState) -> int | None:
    """An explicit `Fault.retry_after` always; else a 429 gets the configured one."""
    if fault.retry_after is not None:
        return fault.retry_after
    if fault.status == 429:
        config = state.config
        return config.advertised_retry_after(config.retry_after)
    return None
