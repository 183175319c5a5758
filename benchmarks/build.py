"""``sam build`` into an ignored folder, plus the Lambda runtime's packages.

Why build at all: the cold start and the footprint must be those of what
``sam build`` packages (the layer's pinned dependencies, the functions'
code), not of this checkout's virtualenv.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.harness import ROOT
from ringcx_dev.lambda_process import BuiltStack, find_python313, lambda_runtime, sam_build

BUILD_ROOT = ROOT / ".aws-sam" / "bench"


class BuildFailed(RuntimeError):
    """sam build failed, or a prerequisite (sam, python3.13) is missing."""


@dataclass(frozen=True, slots=True)
class Build:
    stack: BuiltStack
    python: str
    seconds: float
    reused: bool


def build(out: Path = BUILD_ROOT, reuse: bool = False) -> Build:
    """Build (or, with ``reuse``, take the previous build) and return where it is."""
    python = find_python313()
    if python is None:
        raise BuildFailed("python3.13 not found on PATH or under pyenv: the cold start needs it")
    stack = BuiltStack(out / "build", out / "runtime")
    started = time.perf_counter()
    if reuse and stack.layer_dir.is_dir() and stack.runtime.is_dir():
        return Build(stack, python, 0.0, reused=True)
    shutil.rmtree(out / "build", ignore_errors=True)
    env = {
        **os.environ,
        "SAM_CLI_TELEMETRY": "0",
        # sam shells out to python3.13 to build the layer; pyenv's shim cannot.
        "PATH": os.pathsep.join([str(Path(python).parent), os.environ.get("PATH", "")]),
    }
    done = sam_build(ROOT, out / "build", out / "cache", env)
    if done.returncode != 0:
        raise BuildFailed("sam build failed:\n" + (done.stdout + done.stderr)[-3000:])
    shutil.rmtree(stack.runtime, ignore_errors=True)
    lambda_runtime(stack.runtime)
    return Build(stack, python, time.perf_counter() - started, reused=False)


def tree_size(path: Path) -> int:
    """Bytes of every file under ``path`` (unzipped, as Lambda's limits count)."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
