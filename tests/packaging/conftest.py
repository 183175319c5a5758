"""Build once with ``sam build`` and load what it produced the way Lambda does."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).parents[2]
EVENTS = ROOT / "events"
FUNCTIONS = ("ExchangeFunction", "RefreshFunction", "ProxyFunction")
# What the python3.13 Lambda runtime ships besides the standard library.
RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six", "urllib3")

# Runs inside the fresh interpreter: import the handler, invoke it once per
# event, print each result as one JSON line after a marker.
BOOTSTRAP = """
import json, sys, importlib
paths = json.loads(sys.argv[1]); sys.path[:0] = paths
events = json.loads(sys.stdin.read())
class Context:
    function_name = "local"; memory_limit_in_mb = 256; aws_request_id = "req-1"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:local"
    def get_remaining_time_in_millis(self): return 30000
app = importlib.import_module("app")
for event in events:
    try:
        result = {"result": app.lambda_handler(event, Context())}
    except Exception as exc:
        result = {"error": type(exc).__name__, "message": str(exc)}
    print("@@RESULT@@" + json.dumps(result), flush=True)
"""


def sam_executable() -> str:
    found = shutil.which("sam", path=str(Path(sys.executable).parent)) or shutil.which("sam")
    if found is None:
        pytest.fail("sam is not installed: run the README's test command, which installs it")
    return found


def python313() -> str:
    found = shutil.which("python3.13")
    if found is None:
        pytest.fail("sam build needs python3.13 on PATH (see .ci/run)")
    return found


@dataclass(frozen=True)
class Build:
    root: Path
    runtime: Path

    def function_dir(self, name: str) -> Path:
        return self.root / name

    @property
    def layer_dir(self) -> Path:
        return self.root / "AuthLayer" / "python"

    def invoke(
        self, function: str, events: list[Any], env: Mapping[str, str]
    ) -> tuple[list[dict[str, Any]], str]:
        """Invoke the built function in a fresh, isolated python3.13 process."""
        paths = [str(self.function_dir(function)), str(self.layer_dir), str(self.runtime)]
        clean_env = {
            k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))
        }
        proc = subprocess.run(
            [python313(), "-I", "-S", "-c", BOOTSTRAP, json.dumps(paths)],
            input=json.dumps(events),
            capture_output=True,
            text=True,
            timeout=120,
            env={**clean_env, **env, "POWERTOOLS_SERVICE_NAME": "ringcx-broker"},
            check=False,
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        results = [
            json.loads(line.removeprefix("@@RESULT@@"))
            for line in proc.stdout.splitlines()
            if line.startswith("@@RESULT@@")
        ]
        lines = proc.stdout.splitlines()
        logs = "\n".join(x for x in lines if not x.startswith("@@RESULT@@"))
        return results, logs + proc.stderr


@pytest.fixture(scope="session")
def sam_build(tmp_path_factory: pytest.TempPathFactory) -> Build:
    """``sam validate --lint`` then ``sam build`` into a temporary folder."""
    out = tmp_path_factory.mktemp("sam")
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0"}
    sam = sam_executable()
    python313()
    lint = subprocess.run(
        [sam, "validate", "--lint"], cwd=ROOT, capture_output=True, text=True, env=env, check=False
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr
    build = subprocess.run(
        [sam, "build", "--build-dir", str(out / "build"), "--cache-dir", str(out / "cache")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    return Build(out / "build", _lambda_runtime(out / "runtime"))


def _lambda_runtime(target: Path) -> Path:
    """A site folder holding only what the Lambda runtime ships (boto3 & co)."""
    import boto3

    site = Path(boto3.__file__).parents[1]
    target.mkdir()
    for name in RUNTIME_PACKAGES:
        source = site / name
        if source.is_dir():
            shutil.copytree(source, target / name)
        else:
            shutil.copy2(site / f"{name}.py", target / f"{name}.py")
    return target
