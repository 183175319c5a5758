"""``python -m ringcx_broker_client``: JSON out, one exit status per kind of failure,
the broker's message on stderr, never a traceback or a credential."""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from ringcx_broker_client import cli
from ringcx_dev.local.apigw import HttpResponse
from ringcx_dev.local.runner import LocalRun
from ringcx_dev.local.sigv4 import SigningKey
from ringcx_dev.moto_server import MotoServer

from .conftest import ACCOUNTS, ECHO, KEY, REGION, ScriptedServer, json_answer, make_stack

if TYPE_CHECKING:
    from mypy_boto3_cloudformation import CloudFormationClient


def _run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def _assert_clean(text: str) -> None:
    """No traceback and no credential in anything the CLI printed."""
    assert "Traceback" not in text
    assert KEY.secret_access_key not in text
    assert str(KEY.session_token) not in text


def test_cli_get_prints_the_json_answer(local_broker: LocalRun, key_env: SigningKey) -> None:
    # Given the caller's key in the environment / When the CLI GETs the accounts
    code, out, err = _run("GET", ACCOUNTS, "--url", local_broker.api_url, "--region", REGION)
    # Then exit 0 and RingCX's JSON on stdout
    assert (code, err) == (cli.EXIT_OK, "")
    assert json.loads(out)[0]["accountId"]


def test_cli_health_prints_the_token_status(local_broker: LocalRun, key_env: SigningKey) -> None:
    code, out, _ = _run("health", "--url", local_broker.api_url, "--region", REGION)
    assert code == cli.EXIT_OK
    assert json.loads(out)["ok"] is True


def test_cli_query_in_path_and_options_are_both_sent(
    local_broker: LocalRun, key_env: SigningKey
) -> None:
    code, out, _ = _run(
        "get", f"{ECHO}?b=2&a=x%20y", "-q", "a=z", "--url", local_broker.api_url, "--region", REGION
    )
    assert code == cli.EXIT_OK
    assert json.loads(out)["query"] == {"b": ["2"], "a": ["x y", "z"]}


def test_cli_post_data_is_the_json_body(local_broker: LocalRun, key_env: SigningKey) -> None:
    code, out, _ = _run(
        "POST", ECHO, "--data", '{"n": 1}', "--url", local_broker.api_url, "--region", REGION
    )
    assert code == cli.EXIT_OK
    assert json.loads(json.loads(out)["bodyText"]) == {"n": 1}


def test_cli_bad_signature_exits_3_with_the_gateways_message(
    local_broker: LocalRun, key_env: SigningKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a caller whose secret is wrong
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    # When it calls
    code, out, err = _run("GET", ACCOUNTS, "--url", local_broker.api_url, "--region", REGION)
    # Then exit 3, API Gateway's message, a hint, and nothing secret
    assert (code, out) == (cli.EXIT_NOT_AUTHORIZED, "")
    assert err.startswith("error: HTTP 403 InvalidSignatureException: The request signature")
    assert "execute-api:Invoke" in err
    _assert_clean(err)
    assert "not-the-secret" not in err


def test_cli_stack_name_finds_the_url(
    local_broker: LocalRun,
    key_env: SigningKey,
    cloudformation: CloudFormationClient,
    moto_server: MotoServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a stack whose ApiUrl is the local broker, CloudFormation reached via the
    # standard endpoint variable
    stack = make_stack(cloudformation, {"ApiUrl": local_broker.api_url})
    monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDFORMATION", moto_server.url)
    # When the CLI is given only the stack name / Then it calls the broker
    code, out, _ = _run("GET", ACCOUNTS, "--stack", stack, "--region", REGION)
    assert code == cli.EXIT_OK
    assert json.loads(out)


def test_cli_stack_without_api_url_exits_5(
    key_env: SigningKey,
    cloudformation: CloudFormationClient,
    moto_server: MotoServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stack = make_stack(cloudformation, {"Other": "x"})
    monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDFORMATION", moto_server.url)
    code, _, err = _run("health", "--stack", stack, "--region", REGION)
    assert code == cli.EXIT_SETUP
    assert f"stack '{stack}' has no ApiUrl output" in err
    _assert_clean(err)


def test_cli_without_credentials_exits_5(local_broker: LocalRun, no_credentials: None) -> None:
    code, _, err = _run("health", "--url", local_broker.api_url, "--region", REGION)
    assert code == cli.EXIT_SETUP
    assert err.startswith("error: no AWS credentials found to sign with")


def test_cli_unknown_profile_exits_5(key_env: SigningKey, no_credentials: None) -> None:
    code, _, err = _run("health", "--url", "http://127.0.0.1:1", "--profile", "nobody")
    assert code == cli.EXIT_SETUP
    assert "cannot use AWS profile 'nobody'" in err


def test_cli_503_after_the_retries_exits_4(
    scripted: tuple[ScriptedServer, str], key_env: SigningKey
) -> None:
    server, url = scripted
    server.answers = [json_answer(503, {"message": "No usable token"}, (("Retry-After", "0"),))]
    code, _, err = _run("health", "--url", url, "--region", REGION, "--max-attempts", "2")
    assert code == cli.EXIT_TRY_LATER
    assert err.strip() == (
        "error: HTTP 503: No usable token (after 2 attempt(s); the broker asks to retry after 0 s)"
    )
    assert len(server.requests) == 2


def test_cli_non_json_answer_exits_1(
    scripted: tuple[ScriptedServer, str], key_env: SigningKey
) -> None:
    server, url = scripted
    server.answers = [HttpResponse(200, [("Content-Type", "text/html")], b"<html>hi</html>")]
    code, _, err = _run("health", "--url", url, "--region", REGION)
    assert code == cli.EXIT_BROKER_ERROR
    assert "the answer is not JSON (Content-Type text/html)" in err


def test_cli_closed_port_exits_6(key_env: SigningKey) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        port = holder.getsockname()[1]
    code, _, err = _run("health", "--url", f"http://127.0.0.1:{port}", "--region", REGION)
    assert code == cli.EXIT_UNREACHABLE
    assert err.startswith(f"error: cannot reach http://127.0.0.1:{port}")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        pytest.param(["health"], "say where the broker is", id="no-url"),
        pytest.param(["FETCH", "/x", "--url", "http://h"], "unknown command 'FETCH'", id="verb"),
        pytest.param(["GET", "--url", "http://h"], "GET needs a path", id="no-path"),
        pytest.param(["health", "/x", "--url", "http://h"], "health takes no path", id="path"),
        pytest.param(["POST", "/x", "--data", "{", "--url", "http://h"], "--data is not JSON"),
        pytest.param(["health", "--url", "ftp://h", "--region", REGION], "must be an http(s) URL"),
    ],
)
def test_cli_bad_command_line_exits_2(
    argv: list[str], message: str, key_env: SigningKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(cli.URL_VARIABLE, raising=False)
    monkeypatch.delenv(cli.STACK_VARIABLE, raising=False)
    code, _, err = _run(*argv)
    assert code == cli.EXIT_USAGE
    assert message in err


def test_cli_module_runs_from_the_installed_package(
    local_broker: LocalRun, key_env: SigningKey, tmp_path: Path
) -> None:
    # Given a plain process outside the repository, without PYTHONPATH: the package
    # must come from the installation (tasks.py installs clients/python)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env[cli.URL_VARIABLE] = local_broker.api_url
    # When `python -m ringcx_broker_client health` runs
    done = subprocess.run(
        [sys.executable, "-m", "ringcx_broker_client", "health", "--region", REGION],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    # Then it answers with the JSON status
    assert done.returncode == cli.EXIT_OK, done.stderr
    assert json.loads(done.stdout)["ok"] is True


def test_cli_unknown_route_says_the_path_is_wrong(
    local_broker: LocalRun, key_env: SigningKey
) -> None:
    # Given a signed call to a path the API does not have / Then exit 3 and a path hint
    code, _, err = _run("GET", "/nowhere", "--url", local_broker.api_url, "--region", REGION)
    assert code == cli.EXIT_NOT_AUTHORIZED
    assert "MissingAuthenticationTokenException: Missing Authentication Token" in err
    assert "no such method and path" in err
