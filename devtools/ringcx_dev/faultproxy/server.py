"""The HTTP side: latency, then a queued fault or the forwarded call, then the record."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import cast

from ringcx_dev.httpserver import KeepAliveRequestHandler, LoopbackHTTPServer

from .control import CONTROL_PREFIX, handle_control
from .faults import Reply, batch_with_errors, json_reply
from .request import Classifier, ProxyRequest
from .state import DROPPED, CallRecord, ProxyState, TakenFault
from .upstream import Upstream

IDLE_TIMEOUT = 30.0
"""Seconds an idle keep-alive connection may hold a handler thread."""

Sleep = Callable[[float], None]


class FaultProxyHTTPServer(LoopbackHTTPServer):
    request_queue_size = 128

    def __init__(
        self,
        address: tuple[str, int],
        state: ProxyState,
        upstream: Upstream,
        classify: Classifier,
        sleep: Sleep,
    ) -> None:
        self.state = state
        self.upstream = upstream
        self.classify = classify
        self.sleep = sleep
        super().__init__(address, FaultProxyHandler)


def is_control(raw_path: str) -> bool:
    return raw_path.startswith(CONTROL_PREFIX) or raw_path == CONTROL_PREFIX.rstrip("/")


class FaultProxyHandler(KeepAliveRequestHandler):
    server_version = "ringcx-faultproxy/1"
    timeout = IDLE_TIMEOUT

    def log_message(self, format: str, *args: object) -> None:
        """Silence per-request logging; the call log is the record."""

    @property
    def _proxy(self) -> FaultProxyHTTPServer:
        return cast(FaultProxyHTTPServer, self.server)

    def reply_bad_framing(self, message: str) -> None:
        self._send(json_reply(400, {"error": "bad_request", "message": message}))

    def respond(self, body: bytes) -> None:
        headers = tuple((name, str(value)) for name, value in self.headers.items())
        request = ProxyRequest.from_target(self.command, self.path, headers, body)
        if is_control(request.raw_path):
            self._send(handle_control(self._proxy.state, request))
            return
        try:
            reply = self._process(request)
        except Exception as exc:  # a proxy bug must still produce an HTTP answer
            reply = json_reply(500, {"error": "faultproxy_error", "message": repr(exc)})
        if reply is None:
            self.close_connection = True
            return
        self._send(reply)

    def _process(self, request: ProxyRequest) -> Reply | None:
        """Delay, then fault or forward; None means close without answering."""
        proxy = self._proxy
        operation = proxy.classify(request)
        latency = proxy.state.latency_for(operation)
        if latency > 0:
            proxy.sleep(latency)
        batch = request.is_batch
        taken = proxy.state.take(operation, request.secret_ids(), batch)
        reply = self._answer(request, taken, batch)
        status = DROPPED if reply is None else reply.status
        code = None if not taken else "drop" if reply is None else taken[0].fault.code
        proxy.state.record(CallRecord(operation, status, latency, code))
        return reply

    def _answer(
        self, request: ProxyRequest, taken: Sequence[TakenFault], batch: bool
    ) -> Reply | None:
        proxy = self._proxy
        if not taken:
            return proxy.upstream.forward(request)
        delay = max(t.fault.delay for t in taken)
        if delay > 0:
            proxy.sleep(delay)
        if any(t.fault.drop for t in taken):
            return None
        first = taken[0]
        if not (batch and first.secret_id is not None):
            return first.fault.reply()
        # One secret of a batch fails on its own, inside a 200 reply.
        reply = proxy.upstream.forward(request)
        if reply.status != 200:
            return reply
        failed = [(t.secret_id, t.fault) for t in taken if t.secret_id is not None]
        return Reply(reply.status, reply.headers, batch_with_errors(reply.body, failed))

    def _send(self, reply: Reply) -> None:
        self.send_reply(reply.status, reply.headers, reply.body)
