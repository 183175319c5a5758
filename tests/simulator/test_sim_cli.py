"""The CLI entry point, run as a real subprocess."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from http import HTTPStatus
from pathlib import Path

import pytest
import urllib3

ROOT = Path(__file__).resolve().parents[2]


def _env() -> dict[str, str]:
    paths = [str(ROOT / "devtools"), os.environ.get("PYTHONPATH", "")]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p)}


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_cli_signal_stops_server_cleanly_with_exit_0(
    http: urllib3.PoolManager, signum: signal.Signals
) -> None:
    # Given the simulator started from the command line on a free port
    process = subprocess.Popen(
        [sys.executable, "-m", "ringcx_dev.simulator", "--port", "0", "--token-lifetime", "15"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_env(),
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        base_url = line.removeprefix("simulator listening on ")
        health = http.request("GET", base_url + "/_sim/health")
        config = http.request("GET", base_url + "/_sim/config").json()

        # When it receives the signal
        process.send_signal(signum)
        stdout, stderr = process.communicate(timeout=5)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()

    # Then it had served with the CLI options and exits 0 without noise
    assert line.startswith("simulator listening on http://127.0.0.1:")
    assert health.status == HTTPStatus.OK
    assert config["token_lifetime"] == 15.0
    assert process.returncode == 0
    assert stdout == ""
    assert stderr == ""
