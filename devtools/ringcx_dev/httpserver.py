"""Loopback HTTP/1.1 plumbing shared by the simulator and the local runner's servers.

Why not bare ``ThreadingHTTPServer``: stopping must be prompt (no poll
interval, and keep-alive connections are cut so their handler threads end),
start-up must not do a reverse-DNS lookup, clients hanging up must not print
tracebacks, request bodies may be chunked, and small replies must not wait on
Nagle's algorithm. What each server answers, and how it logs, stays with it.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import socketserver
import sys
import threading
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast


class BadFramingError(Exception):
    """The request framing is broken (bad Content-Length or chunking)."""


class LoopbackHTTPServer(ThreadingHTTPServer):
    """Threaded server that stops without polling and can cut open connections."""

    daemon_threads = True

    def __init__(
        self, address: tuple[str, int], handler_class: type[BaseHTTPRequestHandler]
    ) -> None:
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        self._stopping = threading.Event()
        self._wake_reader, self._wake_writer = socket.socketpair()  # closed by server_close
        super().__init__(address, handler_class)

    def serve(self) -> None:
        """Accept connections until `request_stop`.

        Unlike serve_forever this does not poll: a wake-up socket ends the loop
        at once, so starting and stopping a server costs no poll interval.
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
        """Also close the wake-up sockets (TCPServer calls this if binding fails)."""
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
        """Shut down every open client connection, so idle keep-alive threads end now."""
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


class KeepAliveRequestHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive handler: reads the body, then hands it to `respond`.

    Subclasses set `server_version` and `timeout`, and implement `respond` and
    `reply_bad_framing` with their own reply format.
    """

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are separate writes; avoid 40 ms stalls

    def version_string(self) -> str:
        """Server header without the Python version."""
        return self.server_version

    def setup(self) -> None:
        super().setup()
        self._loopback_server.track(self.connection, open_=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self._loopback_server.track(self.connection, open_=False)

    @property
    def _loopback_server(self) -> LoopbackHTTPServer:
        return cast(LoopbackHTTPServer, self.server)

    def _serve(self) -> None:
        try:
            body = self.read_body()
        except BadFramingError as exc:
            self.close_connection = True
            self.reply_bad_framing(str(exc))
            return
        self.respond(body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

    def respond(self, body: bytes) -> None:
        """Answer the request whose line and headers are parsed and whose body is `body`."""
        raise NotImplementedError

    def reply_bad_framing(self, message: str) -> None:
        """Answer 400 for broken framing; the connection is closed afterwards."""
        raise NotImplementedError

    def read_body(self) -> bytes:
        """The request body, by Content-Length or chunked; raises BadFramingError."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        length = self.headers.get("Content-Length")
        if length is None:
            return b""
        if not (length.isascii() and length.isdigit()):
            raise BadFramingError("invalid Content-Length")
        return self.rfile.read(int(length))

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        while True:
            line = self.rfile.readline(1024).split(b";", 1)[0].strip()
            try:
                size = int(line, 16)
            except ValueError as exc:
                raise BadFramingError("invalid chunk size") from exc
            if size == 0:
                break
            chunks.append(self.rfile.read(size))
            self.rfile.readline(8)
        while self.rfile.readline(8192).strip():
            pass  # trailers are ignored
        return b"".join(chunks)

    def send_reply(self, status: int, headers: Iterable[tuple[str, str]], body: bytes) -> None:
        """Write status, `headers`, Content-Length (and Connection: close) and the body."""
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)


class BackgroundServer:
    """One ``LoopbackHTTPServer`` served on a daemon thread: the start and
    prompt stop that the simulator and the fault proxy share."""

    def __init__(self) -> None:
        self._server: LoopbackHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def server(self) -> LoopbackHTTPServer | None:
        return self._server

    def start(self, server: LoopbackHTTPServer, name: str) -> None:
        self._server = server
        self._thread = threading.Thread(target=server.serve, name=name, daemon=True)
        self._thread.start()

    def stop(self) -> LoopbackHTTPServer | None:
        """Stop serving, cut keep-alive connections and release the port;
        returns the stopped server (None if none ran), for any extra cleanup."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None:
            return None
        server.request_stop()
        if thread is not None:
            thread.join()
        server.close_connections()
        server.server_close()
        return server
