"""``python -m ringcx_dev.faultproxy`` as a real subprocess, driven over its control API."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from ringcx_dev.faultproxy import FaultProxyClient
from ringcx_dev.faultproxy.__main__ import parse_args
from ringcx_dev.simulator import Simulator

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def _env() -> dict[str, str]:
    paths = [str(ROOT / "devtools"), os.environ.get("PYTHONPATH", "")]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p)}


def test_cli_serves_with_its_latencies_and_stops_on_sigterm(simulator: Simulator) -> None:
    # Given the proxy started from the command line in front of the simulator
    command = [
        sys.executable,
        "-m",
        "ringcx_dev.faultproxy",
        simulator.base_url,
        "--classify",
        "path",
        "--latency",
        "0.001",
        "--latency-of",
        "api=0.002",
    ]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env(), text=True
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        url = line.removeprefix("faultproxy listening on ").split(" -> ")[0]
        remote = FaultProxyClient(url)
        latency = remote.latency()

        # When it receives SIGTERM
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=5)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()

    # Then it had served with the CLI's latencies and exits 0 without noise
    assert line.endswith(f"-> {simulator.base_url}")
    assert latency == {"default": 0.001, "operations": {"api": 0.002}}
    assert (process.returncode, stdout, stderr) == (0, "", "")


@pytest.mark.parametrize(
    "argv",
    [
        ["http://x", "--latency-of", "api"],
        ["http://x", "--latency", "-1"],
        ["http://x", "--classify", "dns"],
    ],
)
def test_cli_bad_arguments_exit_with_usage(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        parse_args(argv)
    assert raised.value.code == 2
