"""The client's edges: the whole broker run locally with SigV4 verified, a scripted
HTTP server for the answers a healthy local run never gives, moto's CloudFormation."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
import pytest
from botocore.credentials import Credentials

from ringcx_dev.local.apigw import HttpRequest, HttpResponse
from ringcx_dev.local.console import Console
from ringcx_dev.local.httpserver import LoopbackServer
from ringcx_dev.local.runner import LocalRun, RunConfig
from ringcx_dev.local.sigv4 import SigningKey
from ringcx_dev.local.template import DEFAULT_REGION
from ringcx_dev.moto_server import MotoServer

if TYPE_CHECKING:
    from mypy_boto3_cloudformation import CloudFormationClient

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
# The one key the local run accepts in these tests (not the defaults, so that a
# client silently falling back to some other credential chain would fail).
KEY = SigningKey("AKIDCLIENTTEST", "client-test-secret", "client-test-token")
REGION = DEFAULT_REGION
ACCOUNTS = "/voice/api/v1/admin/accounts"
ECHO = "/voice/api/v1/echo"


def credentials(key: SigningKey = KEY) -> Credentials:
    return Credentials(key.access_key_id, key.secret_access_key, key.session_token)


@pytest.fixture(scope="session")
def local_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRun]:
    """``python3 tasks.py local --require-sigv4`` in-process, on free ports."""
    logs = tmp_path_factory.mktemp("local-logs")
    run = LocalRun(
        RunConfig(
            template=TEMPLATE,
            port=0,
            log_dir=logs,
            require_sigv4=True,
            signing_key=KEY,
            # moto keeps its state per process: this run's secrets need their own names
            stack_name=f"client-tests-{uuid.uuid4().hex[:8]}",
        ),
        Console(io.StringIO(), live=False),
    )
    run.start()
    yield run
    run.stop()


@pytest.fixture
def key_env(monkeypatch: pytest.MonkeyPatch) -> SigningKey:
    """The caller's environment holds exactly the accepted key (the normal chain finds it)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY.access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", KEY.secret_access_key)
    monkeypatch.setenv("AWS_SESSION_TOKEN", str(KEY.session_token))
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return KEY


@pytest.fixture
def no_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """An environment where the AWS credential chain finds nothing."""
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_REGION", REGION)


# -- a server that says what the test wants ------------------------------------


def json_answer(
    status: int, body: object, headers: tuple[tuple[str, str], ...] = ()
) -> HttpResponse:
    return HttpResponse(
        status, [("Content-Type", "application/json"), *headers], json.dumps(body).encode()
    )


@dataclass
class ScriptedServer:
    """Answers request n with ``answers[n]`` (the last one repeats), and keeps the requests."""

    answers: list[HttpResponse]
    requests: list[HttpRequest] = field(default_factory=list)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        self.requests.append(request)
        return self.answers[min(len(self.requests), len(self.answers)) - 1]


@pytest.fixture
def scripted() -> Iterator[tuple[ScriptedServer, str]]:
    """A scripted server on loopback; set ``.answers`` in the test. Yields (server, url)."""
    script = ScriptedServer([json_answer(200, {})])
    server = LoopbackServer("127.0.0.1", 0, script, flag="-", label="scripted")
    server.start()
    yield script, server.url
    server.stop()


@dataclass
class FakeClock:
    """A monotonic clock that only moves when the client sleeps."""

    now: float = 1000.0
    sleeps: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


# -- CloudFormation (moto's server) --------------------------------------------


@pytest.fixture
def cloudformation(moto_server: MotoServer) -> CloudFormationClient:
    return boto3.client("cloudformation", endpoint_url=moto_server.url, region_name=REGION)


def make_stack(cloudformation: CloudFormationClient, outputs: dict[str, str]) -> str:
    """A stack whose only resource is an SNS topic (moto can create it) and these outputs."""
    name = f"broker-{uuid.uuid4().hex[:8]}"
    template = {
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {key: {"Value": value} for key, value in outputs.items()},
    }
    cloudformation.create_stack(StackName=name, TemplateBody=json.dumps(template))
    return name
