"""moto's server mode on a loopback port: the Secrets Manager that tests,
the local run and the benchmarks reach through plain boto3 over real HTTP."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager

from moto.server import ThreadedMotoServer

# boto3 needs a region and some credentials even for an emulator.
FAKE_AWS_ENV = {
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}


class MotoServer:
    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
        self.url = ""

    def start(self) -> str:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.url = f"http://{host}:{port}"
        return self.url

    def stop(self) -> None:
        self._server.stop()

    def env(self) -> dict[str, str]:
        """What a process needs so plain boto3 reaches this server."""
        return {**FAKE_AWS_ENV, "AWS_ENDPOINT_URL_SECRETS_MANAGER": self.url}


@contextmanager
def patched_env(
    values: dict[str, str], env: MutableMapping[str, str] | None = None
) -> Iterator[None]:
    """Set variables for the duration of a block, restoring what was there."""
    target = os.environ if env is None else env
    saved = {k: target.get(k) for k in values}
    target.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                target.pop(key, None)
            else:
                target[key] = old
