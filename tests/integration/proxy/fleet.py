"""Pieces of the fleet test: the refresher behind a real Lambda Invoke API on
loopback, and the body of one proxy container (a separate process).

Each container is a spawned Python process that imports
``functions/proxy/app.py`` exactly as Lambda would, with the template's
environment: its own module singletons, token cache, boto3 clients and pool.
It reaches moto through ``AWS_ENDPOINT_URL_SECRETS_MANAGER`` and the refresher
through ``AWS_ENDPOINT_URL_LAMBDA`` with plain, unconfigured boto3.
"""

from __future__ import annotations

import contextlib
import copy
import importlib.util
import json
import os
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
INVOKE_PREFIX = "/2015-03-31/functions/"


class RefresherEndpoint:
    """The Lambda Invoke API for one function, run in this process.

    With ``reserved`` (ReservedConcurrentExecutions 1) a second concurrent
    invocation gets 429 ``TooManyRequestsException``, as Lambda answers.
    ``run_exclusive`` lets the schedule share that one slot.
    """

    def __init__(self, handler: Callable[[Any], Any], reserved: bool = True) -> None:
        self._handler = handler
        self._reserved = reserved
        self._slot = threading.Lock()
        self._count_lock = threading.Lock()
        self.invocations = 0
        self.throttles = 0
        self.scheduled = 0
        self.events: list[Any] = []
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> str:
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                payload = self.rfile.read(length)
                if not self.path.startswith(INVOKE_PREFIX):
                    self._reply(
                        404,
                        {"Type": "User", "message": "Unknown operation"},
                        "UnknownOperationException",
                    )
                    return
                status, body, error = endpoint.invoke(json.loads(payload or b"{}"))
                self._reply(status, body, error)

            def _reply(self, status: int, body: Any, error: str | None = None) -> None:
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                if error:
                    self.send_header("x-amzn-ErrorType", error)
                else:
                    self.send_header("X-Amz-Executed-Version", "$LATEST")
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, format: str, *args: Any) -> None:
                return

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        self._server = server
        return f"http://127.0.0.1:{server.server_port}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def invoke(self, event: Any) -> tuple[int, Any, str | None]:
        if self._reserved and not self._slot.acquire(blocking=False):
            with self._count_lock:
                self.throttles += 1
            return 429, {"Type": "User", "message": "Rate Exceeded."}, "TooManyRequestsException"
        try:
            with self._count_lock:
                self.invocations += 1
                self.events.append(event)
            return 200, self._handler(event), None
        finally:
            if self._reserved:
                self._slot.release()

    def run_exclusive(self, event: Any) -> Any:
        """An EventBridge tick: waits for the reserved slot instead of failing."""
        with self._slot if self._reserved else contextlib.nullcontext():
            with self._count_lock:
                self.scheduled += 1
            return self._handler(event)


@dataclass(frozen=True)
class FakeContext:
    function_name: str = "ringcx-broker-ProxyFunction"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = (
        "arn:aws:lambda:us-east-1:123456789012:function:ringcx-broker-ProxyFunction"
    )
    aws_request_id: str = "00000000-0000-4000-8000-000000000000"


def run_container(
    env: dict[str, str], event: dict[str, Any], start_at: float, until: float, pause: float
) -> dict[str, Any]:
    """One proxy container: import the handler, wait for the start, then hammer."""
    os.environ.update(env)
    spec = importlib.util.spec_from_file_location(
        "proxy_function_app", ROOT / "functions" / "proxy" / "app.py"
    )
    assert spec is not None and spec.loader is not None
    function = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(function)

    from ringcx_broker import runtime
    from ringcx_broker.proxy import app as proxy_app

    reads = Counter[str]()
    runtime.secrets_client().meta.events.register(
        "before-call.secrets-manager.GetSecretValue",
        lambda **_: reads.update(["get"]),
    )
    statuses = Counter[int]()
    generations: set[int] = set()
    slowest = 0.0
    context = FakeContext()
    time.sleep(max(0.0, start_at - time.time()))
    while time.time() < until:
        started = time.perf_counter()
        response = function.lambda_handler(copy.deepcopy(event), context)
        slowest = max(slowest, time.perf_counter() - started)
        statuses[response["statusCode"]] += 1
        cached = proxy_app.default_app().tokens.cached
        if cached is not None:
            generations.add(cached.generation)
        time.sleep(pause)
    return {
        "statuses": dict(statuses),
        "reads": reads["get"],
        "generations": sorted(generations),
        "slowest": slowest,
    }
