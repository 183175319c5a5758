"""Build once with ``sam build`` and load what it produced the way Lambda does."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ringcx_dev.lambda_process import (
    bootstrap_command,
    find_python313,
    find_sam,
    isolated_env,
    lambda_runtime,
    split_output,
)

ROOT = Path(__file__).parents[2]
EVENTS = ROOT / "events"
FUNCTIONS = ("ExchangeFunction", "RefreshFunction", "ProxyFunction")


def sam_executable() -> str:
    found = find_sam()
    if found is None:
        pytest.fail("sam is not installed: run the README's test command, which installs it")
    return found


def python313() -> str:
    found = find_python313()
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
        proc = subprocess.run(
            bootstrap_command(python313(), paths),
            input=json.dumps(events),
            capture_output=True,
            text=True,
            timeout=120,
            env=isolated_env({**env, "POWERTOOLS_SERVICE_NAME": "ringcx-broker"}),
            check=False,
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        results, logs = split_output(proc.stdout)
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
    return Build(out / "build", lambda_runtime(out / "runtime"))
