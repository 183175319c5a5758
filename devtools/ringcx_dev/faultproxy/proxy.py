"""The facade: start a fault-and-latency proxy in front of one target, drive it from Python."""

from __future__ import annotations

import time
from types import TracebackType

from ringcx_dev.httpserver import BackgroundServer

from .faults import AwsFault
from .request import Classifier, aws_operation
from .server import FaultProxyHTTPServer, Sleep
from .state import CallRecord, ProxyState
from .upstream import Upstream


class FaultProxy:
    """A threaded HTTP reverse proxy on loopback that forwards every request
    to ``target`` and can add latency and inject faults on the way.

    Requests are named by ``classify`` (AWS operations by default); latency,
    faults and counters are kept per name. ``sleep`` is injectable so tests
    can record the delays instead of waiting them out.
    """

    def __init__(
        self,
        target: str,
        classify: Classifier = aws_operation,
        *,
        sleep: Sleep = time.sleep,
        timeout: float = 60.0,
    ) -> None:
        self.target = target.rstrip("/")
        self.state = ProxyState()
        self._classify = classify
        self._sleep = sleep
        self._timeout = timeout
        self._served = BackgroundServer()
        self._server: FaultProxyHTTPServer | None = None
        self._url: str | None = None

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Bind (port 0 picks a free one), serve in a background thread, return the base URL."""
        if self._server is not None:
            if port in (0, self._server.server_port):
                return self.url
            raise RuntimeError(f"fault proxy already running at {self.url}")
        upstream = Upstream(self.target, timeout=self._timeout)
        server = FaultProxyHTTPServer(
            (host, port), self.state, upstream, self._classify, self._sleep
        )
        self._server = server
        self._url = f"http://{server.server_name}:{server.server_port}"
        self._served.start(server, f"faultproxy:{server.server_port}")
        return self._url

    def stop(self) -> None:
        """Stop serving, cut open connections, release the port; idempotent."""
        server, self._server = self._server, None
        if self._served.stop() is not None and server is not None:
            server.upstream.close()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:port`` of the running proxy."""
        if self._url is None or self._server is None:
            raise RuntimeError("fault proxy not started")
        return self._url

    def __enter__(self) -> FaultProxy:
        if self._server is None:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # -- what it adds -----------------------------------------------------------

    def set_latency(self, seconds: float, operation: str | None = None) -> None:
        """Seconds added before forwarding a call of ``operation`` (None: every
        operation without a value of its own). Faulted calls wait it too."""
        self.state.set_latency(seconds, operation)

    def clear_latency(self) -> None:
        self.state.clear_latency()

    def inject(self, operation: str, fault: AwsFault, secret_id: str | None = None) -> None:
        """Queue ``fault`` (FIFO) for the next ``fault.count`` calls of
        ``operation``; with ``secret_id``, only for calls whose body names that
        secret (``SecretId``, or in a batch's ``SecretIdList``: that secret
        then fails alone, in the reply's ``Errors``)."""
        self.state.inject(operation, fault, secret_id)

    def clear_faults(self, operation: str | None = None) -> None:
        self.state.clear_faults(operation)

    # -- what it saw ------------------------------------------------------------

    def calls(self, operation: str | None = None) -> int:
        """Calls seen since the last reset (control calls never count)."""
        return self.state.calls(operation)

    def log(self) -> list[tuple[str, int]]:
        """``(operation, status)`` per call, in order; status 0 = dropped."""
        return [(r.operation, r.status) for r in self.state.records()]

    def records(self) -> list[CallRecord]:
        """The full record per call: also the latency added and the fault that answered."""
        return self.state.records()

    def reset_counters(self) -> None:
        self.state.reset_counters()
