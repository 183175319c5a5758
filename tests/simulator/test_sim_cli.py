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

from ringcx_dev.simulator.__main__ import config_from_args, main, parse_args

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
        [
            sys.executable,
            "-m",
            "ringcx_dev.simulator",
            "--port",
            "0",
            "--token-lifetime",
            "15",
            "--no-retry-after-header",
        ],
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
    assert config["retry_after_header"] is False
    assert process.returncode == 0
    assert stdout == ""
    assert stderr == ""


@pytest.mark.parametrize(
    ("argv", "field", "expected"),
    [
        (["--expired-message", "JWT is expired."], "expired_message", "JWT is expired."),
        (["--clock-skew", "30"], "clock_skew", 30.0),
        (["--exchange-denied-status", "403"], "exchange_denied_status", 403),
        (["--dead-refresh-reply", "200-html"], "dead_refresh_reply", "200-html"),
        (["--dead-refresh-reply", "503"], "dead_refresh_reply", "503"),
        (["--no-retry-after-header"], "retry_after_header", False),
        (["--no-penalty-restarts"], "penalty_restarts", False),
        (["--no-rate-limit-headers"], "rate_limit_headers", False),
        (["--session-quota-429"], "session_quota_429", True),
        (["--latency", "0.1"], "latency", 0.1),
        (["--max-rc-sessions", "2"], "max_rc_sessions", 2),
        ([], "penalty_restarts", True),
    ],
)
def test_cli_flag_sets_the_config_field(argv: list[str], field: str, expected: object) -> None:
    # Given command-line flags
    # When parsing them into a config
    config = config_from_args(parse_args(argv))

    # Then the field of the same name holds the value, with the field's type
    assert getattr(config, field) == expected
    assert type(getattr(config, field)) is type(expected)


@pytest.mark.parametrize(
    "argv",
    [["--dead-refresh-reply", "nope"], ["--clock-skew", "-1"], ["--latency", "-0.5"]],
)
def test_cli_invalid_config_value_exits_with_reason(argv: list[str]) -> None:
    # Given a flag value SimConfig refuses
    # When starting the CLI with it
    # Then it exits before serving, naming the problem
    with pytest.raises(SystemExit, match=r"ringcx_dev\.simulator: \w"):
        main(argv)


def test_cli_exchange_denied_status_outside_choices_is_a_usage_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given a status the exchange cannot be denied with
    # When parsing it
    # Then argparse refuses it as a usage error
    with pytest.raises(SystemExit):
        parse_args(["--exchange-denied-status", "401"])
    assert "invalid choice" in capsys.readouterr().err
