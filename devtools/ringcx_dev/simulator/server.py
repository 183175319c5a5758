"""The HTTP adapter: http.server with keep-alive, threads and fault injection.

Standard library only, so the simulator starts in milliseconds in tests and in
the local runner.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import socketserver
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast

from .control import handle_control
from .messages import Reply, SimRequest, fault_reply, json_reply
from .routing import CONTROL, classify, dispatch
from .state import SimState

IDLE_TIMEOUT = 30.0
"""Seconds an idle keep-alive connection may hold a handler thread."""


class BadRequestError(Exception):
    """The request framing is broken (bad Content-Length or chunking)."""


class SimHTTPServer(ThreadingHTTPServer):
    """Threaded server that knows its state and can cut open connections on stop."""

    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], state: SimState) -> None:
        self.state = state
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        self._stopping = threading.Event()
        self._wake_reader, self._wake_writer = socket.socketpair()  # closed by server_close
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, SimRequestHandler)

    def serve(self) -> None:
        """Accept connections until `request_stop`.

        Unlike serve_forever this does not poll: a wake-up socket ends the loop
        at once, so tests that start a simulator each do not pay a poll interval.
        """
        with selectors.DefaultSelector() as selector:
            selector.register(self.socket, selectors.EVENT_READ)
            selector.register(self._wake_reader, selectors.EVENT_READ)
            while not self._stopping.is_set():
                ready = selector.select()
                if not self._stopping.is_set() and any(
                    key.fileobj is self.socket for key, _ in ready
                ):
                    self.handle_request()

    def request_stop(self) -> None:
        """Make `serve` return promptly; safe to call from any thread."""
        self._stopping.set()
        with contextlib.suppress(OSError):
            self._wake_writer.send(b"\0")

    def server_close(self) -> None:
        super().server_close()
        self._wake_reader.close()
        self._wake_writer.close()

    def server_bind(self) -> None:
        """Bind without HTTPServer's reverse-DNS lookup, which can stall start-up."""
        socketserver.TCPServer.server_bind(self)
        host, port = self.socket.getsockname()[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def track(self, connection: socket.socket, open_: bool) -> None:
        """Remember open connections so `close_connections` can end keep-alive threads."""
        with self._connections_lock:
            if open_:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def close_connections(self) -> None:
        """Shut down every open client connection (used when the simulator stops)."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(
        self, request: socket.socket | tuple[bytes, socket.socket], client_address: Any
    ) -> None:
        """Clients hanging up (drop tests, timeouts) are normal; other errors still show."""
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)


class SimRequestHandler(BaseHTTPRequestHandler):
    """Turns each HTTP request into a SimRequest and writes back the Reply."""

    protocol_version = "HTTP/1.1"
    server_version = "ringcx-simulator/1"
    timeout = IDLE_TIMEOUT
    disable_nagle_algorithm = True  # headers and body are separate writes; avoid 40 ms stalls

    def version_string(self) -> str:
        """Server header without the Python version."""
        return self.server_version

    def setup(self) -> None:
        super().setup()
        self._sim_server.track(self.connection, open_=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self._sim_server.track(self.connection, open_=False)

    def log_message(self, format: str, *args: object) -> None:
        """Silence per-request logging; counters are the record."""

    @property
    def _sim_server(self) -> SimHTTPServer:
        return cast(SimHTTPServer, self.server)

    def _serve(self) -> None:
        try:
            request = self._read_request()
        except BadRequestError as exc:
            self.close_connection = True
            self._send(json_reply(400, {"error": "bad_request", "message": str(exc)}))
            return
        try:
            reply = self._process(request)
        except Exception as exc:  # a simulator bug must still produce an HTTP answer
            reply = json_reply(500, {"error": "simulator_error", "message": repr(exc)})
        if reply is None:
            self.close_connection = True
            return
        self._send(reply)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

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

    def _read_request(self) -> SimRequest:
        headers = tuple((name, str(value)) for name, value in self.headers.items())
        return SimRequest.from_target(self.command, self.path, headers, self._read_body())

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        length = self.headers.get("Content-Length")
        if length is None:
            return b""
        if not (length.isascii() and length.isdigit()):
            raise BadRequestError("invalid Content-Length")
        return self.rfile.read(int(length))

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        while True:
            line = self.rfile.readline(1024).split(b";", 1)[0].strip()
            try:
                size = int(line, 16)
            except ValueError as exc:
                raise BadRequestError("invalid chunk size") from exc
            if size == 0:
                break
            chunks.append(self.rfile.read(size))
            self.rfile.readline(8)
        while self.rfile.readline(8192).strip():
            pass  # trailers are ignored
        return b"".join(chunks)

    def _send(self, reply: Reply) -> None:
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        for name, value in reply.headers:
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(reply.body)
