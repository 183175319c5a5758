"""cli.py / runner.py: the one command - bad input, real-mode refusal, clean stop, smoke."""

from __future__ import annotations

import io
import json
import os
import re
import selectors
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from ringcx_dev.local import cli
from ringcx_dev.local.cli import UsageError, build_parser, config_from_args
from ringcx_dev.local.console import Console
from ringcx_dev.local.httpserver import PortInUse
from ringcx_dev.local.runner import Credentials, LocalRun, RealServices, RunConfig, StartupError
from ringcx_dev.local.sigv4 import SigningKey, SigV4Verifier
from ringcx_dev.local.smoke import http_call
from ringcx_dev.moto_server import MotoServer
from ringcx_dev.simulator import SimConfig, Simulator
from ringcx_dev.stack import LocalStack

from .fakes import REPO, TEMPLATE

HANDLERS = {name: REPO / "functions" / name / "app.py" for name in ("refresh", "proxy")}


def _placeholders() -> list[str]:
    """Handlers that do not call into the layer yet (the stubs other work replaces)."""
    return [n for n, p in HANDLERS.items() if "ringcx_broker" not in p.read_text()]


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield int(holder.getsockname()[1])


# -- bad input ---------------------------------------------------------------


def test_runner_busy_port_names_port_and_flag(busy_port: int, tmp_path: Path) -> None:
    run = LocalRun(RunConfig(template=TEMPLATE, port=busy_port, log_dir=tmp_path))
    with pytest.raises(PortInUse, match=rf"port {busy_port} .*already in use.*--port N"):
        run.start()
    assert run.simulator is None and run.moto is None and run.functions is None


def test_runner_busy_lambda_port_names_its_flag(busy_port: int, tmp_path: Path) -> None:
    run = LocalRun(RunConfig(template=TEMPLATE, port=0, lambda_port=busy_port, log_dir=tmp_path))
    with pytest.raises(PortInUse, match=r"Lambda API: port .*--lambda-port N"):
        run.start()


def test_cli_busy_port_exits_1_with_message(
    busy_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main(["--port", str(busy_port), "--template", str(TEMPLATE)])
    assert code == 1
    assert f"port {busy_port} on 127.0.0.1 is already in use" in capsys.readouterr().out


def test_cli_missing_template_exits_1_naming_the_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "template.yaml"
    assert cli.main(["--template", str(missing), "--port", "0"]) == 1
    out = capsys.readouterr().out
    assert f"template not found: {missing}" in out
    assert "--template" in out


def test_cli_bad_template_exits_1_naming_the_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "template.yaml"
    bad.write_text("Resources:\n  Fn: {Type: AWS::Serverless::Function\n")
    assert cli.main(["--template", str(bad), "--port", "0"]) == 1
    assert f"{bad} is not a valid template" in capsys.readouterr().out


def test_cli_bad_param_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--param", "NoEquals"]) == 2
    assert "--param expects NAME=VALUE" in capsys.readouterr().err


# -- real mode ---------------------------------------------------------------


def _real_config(
    argv: list[str], env: dict[str, str], region: str | None = None, creds: bool = True
) -> RunConfig:
    args = build_parser().parse_args(["--real", *argv])
    return config_from_args(args, env, aws_probe=lambda: (region, creds))


def test_real_mode_without_inputs_refuses_naming_each_missing_one() -> None:
    with pytest.raises(UsageError) as caught:
        _real_config([], {})
    message = str(caught.value)
    for name in (
        "RINGCENTRAL_CLIENT_ID",
        "RINGCENTRAL_CLIENT_SECRET",
        "RINGCENTRAL_JWT",
        "--credentials-secret-id",
        "--token-secret-ids",
    ):
        assert name in message


def test_real_mode_credentials_file_missing_field_is_named(tmp_path: Path) -> None:
    path = tmp_path / "creds.json"
    path.write_text(json.dumps({"client_id": "id", "client_secret": "s"}))
    with pytest.raises(UsageError, match=rf"jwt in {re.escape(str(path))}"):
        _real_config(["--credentials-file", str(path)], {})


def test_real_mode_unreadable_credentials_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot read --credentials-file"):
        _real_config(["--credentials-file", str(tmp_path / "none.json")], {})


REAL_ENV = {
    "RINGCENTRAL_CLIENT_ID": "id",
    "RINGCENTRAL_CLIENT_SECRET": "secret",
    "RINGCENTRAL_JWT": "jwt",
    "CREDENTIALS_SECRET_ID": "arn:aws:secretsmanager:eu-west-1:1:secret:creds",
    "TOKEN_SECRET_IDS": "s0,s1,s2,s3,s4,s5",
}


def test_real_mode_without_aws_credentials_or_region_refuses() -> None:
    with pytest.raises(UsageError, match=r"an AWS region.*AWS credentials"):
        _real_config([], REAL_ENV, region=None, creds=False)


def test_real_mode_with_everything_builds_real_services() -> None:
    config = _real_config(
        ["--ringcx-url", "https://ringcx.ringcentral.com"], REAL_ENV, region="eu-west-1"
    )
    real = config.real
    assert real is not None
    assert real.token_secret_ids == ("s0", "s1", "s2", "s3", "s4", "s5")
    assert (real.region, real.ringcx_url, real.ringcentral_url) == (
        "eu-west-1",
        "https://ringcx.ringcentral.com",
        None,
    )
    assert "secret" not in repr(real.credentials)


def test_real_mode_ring_size_must_match_the_template(tmp_path: Path) -> None:
    config = _real_config([], {**REAL_ENV, "TOKEN_SECRET_IDS": "s0,s1"}, region="eu-west-1")
    run = LocalRun(
        RunConfig(template=TEMPLATE, port=0, log_dir=tmp_path, real=config.real),
    )
    with pytest.raises(StartupError, match=r"token ring has 6 secrets .* names 2"):
        run.start()
    assert run.functions is None


def test_real_mode_and_smoke_are_exclusive() -> None:
    with pytest.raises(UsageError, match=r"--smoke .* cannot be combined with --real"):
        _real_config(["--smoke"], REAL_ENV, region="eu-west-1")


def test_cli_real_mode_refusal_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in [*REAL_ENV, "AWS_REGION", "AWS_DEFAULT_REGION"]:
        monkeypatch.delenv(name, raising=False)
    assert cli.main(["--real"]) == 2
    assert "--real cannot start; missing RingCentral credentials" in capsys.readouterr().err


# -- the whole command, as a process -----------------------------------------


def _spawn(*argv: str, log_dir: Path) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO / "devtools"),
        "PYTHONUNBUFFERED": "1",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "ringcx_dev.local", "--port", "0", "--log-dir", str(log_dir), *argv],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: everything it starts is in it
    )


def _read_until(process: subprocess.Popen[str], marker: str, timeout: float) -> str:
    assert process.stdout is not None
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if not selector.select(timeout=deadline - time.monotonic()):
                break
            line = process.stdout.readline()
            if not line:
                break
            seen.append(line)
            if marker in line:
                return "".join(seen)
    raise AssertionError(f"{marker!r} not seen in {timeout} s; output:\n{''.join(seen)}")


def _group_members(pgid: int) -> list[int]:
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        state, group = fields[0], int(fields[2])
        if group == pgid and state != "Z":
            members.append(int(entry.name))
    return members


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
@pytest.mark.parametrize(
    "sig", [pytest.param(signal.SIGTERM, id="SIGTERM"), pytest.param(signal.SIGINT, id="SIGINT")]
)
def test_cli_signal_stops_everything_and_leaves_no_child(sig: int, tmp_path: Path) -> None:
    # Given the command running, with its function containers started
    process = _spawn(log_dir=tmp_path)
    try:
        output = _read_until(process, "Ctrl-C stops everything.", timeout=30)
        children = [p for p in _group_members(process.pid) if p != process.pid]
        assert len(children) >= 3, output  # one container per function
        # When it is told to stop
        process.send_signal(sig)
        rest, _ = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    # Then it exits cleanly and nothing it started is still running
    assert process.returncode == 0, output + rest
    assert "stopped; no process left running" in rest
    assert _group_members(process.pid) == []


@pytest.mark.slow
@pytest.mark.skipif(
    bool(_placeholders()),
    reason=f"refresh/proxy handlers are still placeholders: {', '.join(_placeholders())}",
)
def test_cli_smoke_mode_passes_end_to_end(tmp_path: Path) -> None:
    started = time.monotonic()
    process = _spawn("--smoke", log_dir=tmp_path)
    try:
        output, _ = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode == 0, output
    assert "smoke passed" in output
    assert output.count("PASS") == 8  # signed client call and the unsigned 403 included
    # The suggested calls and the report never show a bearer token
    assert "Bearer " not in output
    assert "--aws-sigv4" in output
    first = re.search(r"first proxied query: .* -> 200, ([\d.]+) s after start", output)
    assert first is not None, output
    assert float(first.group(1)) < 60
    assert time.monotonic() - started < 90
    assert _group_members(process.pid) == []


@pytest.mark.integration
def test_runner_real_mode_uses_given_hosts_and_secret_store(
    moto_server: MotoServer,
    stack: LocalStack,
    simulator: Simulator,
    sim_config: SimConfig,
    tmp_path: Path,
) -> None:
    # Given "real" services that are stand-ins: the simulator as the hosts and moto
    # (reached through the operator's AWS_ENDPOINT_URL_SECRETS_MANAGER) as Secrets Manager
    real = RealServices(
        credentials=Credentials(sim_config.client_id, sim_config.client_secret, sim_config.jwt),
        credentials_secret_id=stack.credentials_secret_id,
        token_secret_ids=stack.token_secret_ids,
        region="us-east-1",
        ringcx_url=simulator.base_url,
        ringcentral_url=simulator.base_url,
    )
    run = LocalRun(RunConfig(template=TEMPLATE, port=0, log_dir=tmp_path, real=real))
    try:
        # When the run starts in real mode
        run.start()
        status, _, _ = http_call(run.api_url, "GET", "/voice/api/v1/admin/accounts")
        stored = boto3.client("secretsmanager").get_secret_value(
            SecretId=stack.credentials_secret_id
        )
    finally:
        run.stop()
    # Then it started no emulator of its own, stored the credentials, logged in once
    assert (run.simulator, run.moto) == (None, None)
    assert run.bootstrap_result is not None and run.bootstrap_result["generation"] == 1
    assert status == 200
    assert json.loads(stored["SecretString"])["client_id"] == sim_config.client_id
    assert simulator.counters()["protocol"]["logins"] == 1


def test_cli_bad_parameter_override_fails_before_starting_anything(
    capsys: pytest.CaptureFixture[str],
) -> None:
    started = time.monotonic()
    code = cli.main(
        ["--template", str(TEMPLATE), "--port", "0", "--param", "RefreshIntervalMinutes=9"]
    )
    assert code == 1
    assert "RefreshIntervalMinutes='9' is not one of: 1, 2, 3, 4, 5" in capsys.readouterr().out
    assert time.monotonic() - started < 1.0


# -- SigV4, the free smoke port, the suggested calls ----------------------------


@pytest.mark.parametrize(
    ("argv", "port", "sigv4"),
    [
        pytest.param([], cli.DEFAULT_PORT, False, id="local-default"),
        pytest.param(["--require-sigv4"], cli.DEFAULT_PORT, True, id="local-sigv4"),
        pytest.param(["--smoke"], 0, True, id="smoke-free-port"),
        pytest.param(["--smoke", "--port", "3005"], 3005, True, id="smoke-given-port"),
    ],
)
def test_cli_config_port_and_sigv4_follow_the_mode(argv: list[str], port: int, sigv4: bool) -> None:
    # Given the flags / When turned into a run's config
    config = config_from_args(build_parser().parse_args(argv), {})
    # Then smoke takes a free port (it can run beside `local`) and always checks SigV4
    assert (config.port, config.require_sigv4) == (port, sigv4)


def test_cli_config_signing_key_is_the_callers_environment_key() -> None:
    env = {"AWS_ACCESS_KEY_ID": "AKIDME", "AWS_SECRET_ACCESS_KEY": "my-secret"}
    config = config_from_args(build_parser().parse_args(["--require-sigv4"]), env)
    assert config.signing_key == SigningKey("AKIDME", "my-secret", None, source="environment")


def _suggestions(verifier: SigV4Verifier | None) -> str:
    stream = io.StringIO()
    cli.print_suggestions(
        Console(stream, live=False), "http://127.0.0.1:3000", "us-east-1", verifier
    )
    return stream.getvalue()


def test_cli_open_run_suggests_plain_curl_and_no_echo() -> None:
    text = _suggestions(None)
    assert "curl -s http://127.0.0.1:3000/voice/api/v1/admin/accounts" in text
    assert "curl -s http://127.0.0.1:3000/health" in text
    # The echo mirrors what the proxy sent upstream, bearer token included: never suggested
    assert "echo" not in text


def test_cli_sigv4_run_suggests_signed_calls_with_the_default_key() -> None:
    text = _suggestions(SigV4Verifier(SigningKey.from_env({}), "us-east-1"))
    assert "export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing" in text
    assert (
        "-m ringcx_broker_client GET /voice/api/v1/admin/accounts "
        "--url http://127.0.0.1:3000 --region us-east-1" in text
    )
    assert 'curl -s --aws-sigv4 "aws:amz:us-east-1:execute-api"' in text
    assert "echo" not in text


def test_cli_sigv4_run_never_prints_a_secret_from_the_environment() -> None:
    key = SigningKey.from_env(
        {
            "AWS_ACCESS_KEY_ID": "AKIDME",
            "AWS_SECRET_ACCESS_KEY": "s3cr3t",
            "AWS_SESSION_TOKEN": "t0k",
        }
    )
    text = _suggestions(SigV4Verifier(key, "us-east-1"))
    assert "AKIDME" in text
    assert "s3cr3t" not in text and "t0k" not in text


@pytest.mark.parametrize(
    ("tick", "parameters", "expected"),
    [
        pytest.param(2.5, {}, 2.5, id="tick-seconds"),
        pytest.param(None, {"RefreshIntervalMinutes": "2"}, 120.0, id="template-rate"),
    ],
)
def test_runner_functions_are_told_the_period_the_schedule_fires_at(
    tmp_path: Path, tick: float | None, parameters: dict[str, str], expected: float
) -> None:
    # Given a run with a compressed clock, or the template's own rate
    run = LocalRun(
        RunConfig(
            template=TEMPLATE,
            port=0,
            log_dir=tmp_path,
            tick_seconds=tick,
            parameters=parameters,
            # moto keeps its state per process: each run in this process needs its own secrets
            stack_name=f"period-{uuid.uuid4().hex[:8]}",
        )
    )
    try:
        # When it starts
        run.start()
        assert run.functions is not None
        told = {
            f.spec.logical_id: f.container.spec.environment["REFRESH_INTERVAL_SECONDS"]
            for f in run.functions
        }
        period = run.schedulers[0].period
    finally:
        run.stop()
    # Then every function's REFRESH_INTERVAL_SECONDS is the period the schedule fires at
    assert period == expected
    assert {float(v) for v in told.values()} == {expected}
