"""A small threaded loopback HTTP server shared by the local API and the Lambda API.

Why not bare ``ThreadingHTTPServer``: a busy port must become a message that
names the port and the flag to change it; keep-alive connections must be cut
on stop so that Ctrl-C ends the run at once; and request bodies may be
chunked.
"""

from __future__ import annotations

import contextlib
import errno
import socket
import socketserver
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast

from ringcx_dev.local.apigw import HttpRequest, HttpResponse

Handler = Callable[[HttpRequest], HttpResponse]


class PortInUse(Exception):
    """The port is taken; the message says which and how to pick another."""


class BadFraming(Exception):
    """Broken Content-Length or chunked encoding."""


class LoopbackServer(ThreadingHTTPServer):
    """Serves ``handler`` on host:port in a background thread."""

    daemon_threads = True
    request_queue_size = 64

    def __init__(self, host: str, port: int, handler: Handler, *, flag: str, label: str) -> None:
        self.handler = handler
        self.label = label
        self._connections: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        try:
            super().__init__((host, port), _RequestHandler)
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                raise PortInUse(
                    f"{label}: port {port} on {host} is already in use (or not allowed); "
                    f"choose another with {flag} N (0 picks a free port)"
                ) from exc
            raise

    def server_bind(self) -> None:
        """Bind without HTTPServer's reverse-DNS lookup, which can stall start-up."""
        socketserver.TCPServer.server_bind(self)
        host, port = self.socket.getsockname()[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    @property
    def url(self) -> str:
        return f"http://{self.server_name}:{self.server_port}"

    def start(self) -> str:
        self._thread = threading.Thread(
            target=self.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"{self.label}:{self.server_port}",
            daemon=True,
        )
        self._thread.start()
        return self.url

    def stop(self) -> None:
        if self._thread is not None:
            self.shutdown()
            self._thread.join(timeout=5.0)
            self._thread = None
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        self.server_close()

    def track(self, connection: socket.socket, open_: bool) -> None:
        with self._lock:
            if open_:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return  # a client hanging up is normal
        super().handle_error(request, client_address)


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ringcx-local/1"
    timeout = 60.0
    disable_nagle_algorithm = True

    @property
    def _server(self) -> LoopbackServer:
        return cast(LoopbackServer, self.server)

    def version_string(self) -> str:
        return self.server_version

    def setup(self) -> None:
        super().setup()
        self._server.track(self.connection, open_=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self._server.track(self.connection, open_=False)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the local API reports requests itself."""

    def _serve(self) -> None:
        try:
            body = self._read_body()
        except BadFraming as exc:
            self.close_connection = True
            self._send(HttpResponse(400, [("Content-Type", "text/plain")], str(exc).encode()))
            return
        path, _, query = self.path.partition("?")
        request = HttpRequest(
            method=self.command,
            raw_path=path or "/",
            raw_query=query,
            headers=tuple((k, str(v)) for k, v in self.headers.items()),
            body=body,
            source_ip=str(self.client_address[0]),
            protocol=self.request_version,
            port=self._server.server_port,
        )
        try:
            response = self._server.handler(request)
        except Exception as exc:  # a bug in the local runner still gets an HTTP answer
            response = HttpResponse(
                500, [("Content-Type", "text/plain")], f"local runner error: {exc!r}".encode()
            )
        self._send(response)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        length = self.headers.get("Content-Length")
        if length is None:
            return b""
        if not (length.isascii() and length.isdigit()):
            raise BadFraming("invalid Content-Length")
        return self.rfile.read(int(length))

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        while True:
            line = self.rfile.readline(1024).split(b";", 1)[0].strip()
            try:
                size = int(line, 16)
            except ValueError as exc:
                raise BadFraming("invalid chunk size") from exc
            if size == 0:
                break
            chunks.append(self.rfile.read(size))
            self.rfile.readline(8)
        while self.rfile.readline(8192).strip():
            pass  # trailers are ignored
        return b"".join(chunks)

    def _send(self, response: HttpResponse) -> None:
        self.send_response(response.status)
        for name, value in response.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD" and response.body:
            self.wfile.write(response.body)
