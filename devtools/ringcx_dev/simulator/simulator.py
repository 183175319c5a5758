"""The public facade: start/stop the server and drive the state from Python."""

from __future__ import annotations

import time
from collections.abc import Callable
from types import TracebackType

from ringcx_dev.httpserver import BackgroundServer

from .calllog import AuthCall
from .config import Fault, SimConfig
from .server import SimHTTPServer, Sleep
from .state import SimState


class Simulator:
    """A RingCentral + RingCX simulator on loopback; one base URL serves both hosts."""

    def __init__(
        self,
        config: SimConfig | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Sleep = time.sleep,
    ) -> None:
        """`clock` drives the protocol (expiry, limits); `sleep` makes latency and delays."""
        self.state = SimState(config or SimConfig(), clock)
        self._sleep = sleep
        self._served = BackgroundServer()
        self._server: SimHTTPServer | None = None
        self._base_url: str | None = None

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Bind (port 0 picks a free port), serve in a background thread, return the base URL.

        Calling it again while running returns the same URL when `port` is 0 or the
        bound port, so `with Simulator() as sim: sim.start()` works too.
        """
        if self._server is not None:
            if port in (0, self._server.server_port):
                return self.base_url
            raise RuntimeError(f"simulator already running at {self.base_url}")
        server = SimHTTPServer((host, port), self.state, self._sleep)
        bound_host, bound_port = server.server_name, server.server_port
        display_host = f"[{bound_host}]" if ":" in bound_host else bound_host
        self._base_url = f"http://{display_host}:{bound_port}"
        self._server = server
        self._served.start(server, f"ringcx-simulator:{bound_port}")
        return self._base_url

    def stop(self) -> None:
        """Stop serving, cut keep-alive connections and release the port; idempotent."""
        self._server = None
        self._served.stop()

    @property
    def base_url(self) -> str:
        """`http://host:port` of the running server."""
        if self._base_url is None:
            raise RuntimeError("simulator not started")
        return self._base_url

    @property
    def running(self) -> bool:
        """Whether the server is serving."""
        return self._server is not None

    def counters(self) -> dict[str, dict[str, int]]:
        """Same JSON as GET /_sim/counters."""
        return self.state.counters()

    def reset_counters(self) -> None:
        """Zero all counters."""
        self.state.reset_counters()

    def inject(self, endpoint: str, fault: Fault) -> None:
        """Queue a fault for `endpoint` in {"rc_token", "rcx_exchange", "rcx_refresh", "api"}."""
        self.state.inject(endpoint, fault)

    def revoke_refresh_tokens(self) -> int:
        """Make every RingCX refresh token invalid; returns how many were live."""
        return self.state.revoke_refresh_tokens()

    def expire_access_tokens(self) -> int:
        """Make every RingCX access token issued so far answer "expired"; returns how many."""
        return self.state.expire_access_tokens()

    def auth_calls(self) -> list[AuthCall]:
        """Every auth call since the last counter reset, with simulator-clock timestamps."""
        return self.state.auth_calls()

    def configure(self, **changes: object) -> SimConfig:
        """Change SimConfig fields at run time, e.g. `configure(token_lifetime=15.0)`."""
        return self.state.configure(**changes)

    def __enter__(self) -> Simulator:
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
