"""A small threaded loopback HTTP server shared by the local API and the Lambda API.

Why not bare ``ThreadingHTTPServer``: a busy port must become a message that
names the port and the flag to change it, and the server runs in its own
thread with a start/stop pair. Prompt stop (keep-alive connections cut so that
Ctrl-C ends the run at once) and chunked bodies come from
``ringcx_dev.httpserver``.
"""

from __future__ import annotations

import errno
import threading
from collections.abc import Callable
from typing import cast

from ringcx_dev.httpserver import KeepAliveRequestHandler, LoopbackHTTPServer
from ringcx_dev.local.apigw import HttpRequest, HttpResponse

Handler = Callable[[HttpRequest], HttpResponse]


class PortInUse(Exception):
    """The port is taken; the message says which and how to pick another."""


class LoopbackServer(LoopbackHTTPServer):
    """Serves ``handler`` on host:port in a background thread."""

    request_queue_size = 64

    def __init__(self, host: str, port: int, handler: Handler, *, flag: str, label: str) -> None:
        self.handler = handler
        self.label = label
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

    @property
    def url(self) -> str:
        return f"http://{self.server_name}:{self.server_port}"

    def start(self) -> str:
        self._thread = threading.Thread(
            target=self.serve, name=f"{self.label}:{self.server_port}", daemon=True
        )
        self._thread.start()
        return self.url

    def stop(self) -> None:
        if self._thread is not None:
            self.request_stop()
            self._thread.join(timeout=5.0)
            self._thread = None
        self.close_connections()
        self.server_close()


class _RequestHandler(KeepAliveRequestHandler):
    server_version = "ringcx-local/1"
    timeout = 60.0

    @property
    def _server(self) -> LoopbackServer:
        return cast(LoopbackServer, self.server)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the local API reports requests itself."""

    def reply_bad_framing(self, message: str) -> None:
        self._send(HttpResponse(400, [("Content-Type", "text/plain")], message.encode()))

    def respond(self, body: bytes) -> None:
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

    def _send(self, response: HttpResponse) -> None:
        self.send_reply(response.status, response.headers, response.body)
