"""Load a built function the way the python3.13 Lambda runtime does.

A fresh ``python3.13 -I -S`` process whose ``sys.path`` is the function's
code folder, its layer's ``python/`` folder and a folder holding only the
packages the runtime ships (boto3 and its dependencies), and nothing from
this repository's virtualenv.

Why shared: the packaging tests prove that the ``sam build`` output works,
and the benchmarks time the very same cold start. Both must load code
exactly alike, or the benchmark would time something nobody deploys.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

# What the python3.13 Lambda runtime ships besides the standard library.
RUNTIME_PACKAGES: Final = (
    "boto3",
    "botocore",
    "s3transfer",
    "jmespath",
    "dateutil",
    "six",
    "urllib3",
)
RESULT_MARKER: Final = "@@RESULT@@"
MEMORY_MARKER: Final = "@@MEMORY@@"

# Runs inside the fresh interpreter: put the given folders first on sys.path,
# import the handler module (argv[2], default "app"), invoke
# ``lambda_handler`` once per event read from stdin, and print each result as
# one JSON line after a marker (the function's own logs share stdout). With
# "--report-memory" (argv[3]) it then prints the process's peak RSS: VmHWM,
# not getrusage, whose ru_maxrss starts from the parent's RSS at fork time.
BOOTSTRAP: Final = """
import json, sys
paths = json.loads(sys.argv[1]); sys.path[:0] = paths
module = sys.argv[2] if len(sys.argv) > 2 else "app"
report_memory = sys.argv[3:4] == ["--report-memory"]
events = json.loads(sys.stdin.read())
class Context:
    function_name = "local"; memory_limit_in_mb = 256; aws_request_id = "req-1"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:local"
    def get_remaining_time_in_millis(self): return 30000
__import__(module)  # not importlib: -X importtime only sees the import statement's path
app = sys.modules[module]
for event in events:
    try:
        result = {"result": app.lambda_handler(event, Context())}
    except Exception as exc:
        result = {"error": type(exc).__name__, "message": str(exc)}
    print("@@RESULT@@" + json.dumps(result), flush=True)
if report_memory:
    try:
        with open("/proc/self/status") as status:
            hwm = [l for l in status if l.startswith("VmHWM:")][0]
        peak_kb = int(hwm.split()[1])
    except (OSError, IndexError, ValueError):
        import resource
        peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print("@@MEMORY@@" + json.dumps({"peak_rss_kb": peak_kb}), flush=True)
"""


@dataclass(frozen=True, slots=True)
class BuiltStack:
    """A ``sam build`` output folder plus the runtime-packages folder."""

    root: Path
    runtime: Path

    def function_dir(self, logical_id: str) -> Path:
        return self.root / logical_id

    @property
    def layer_dir(self) -> Path:
        return self.root / "AuthLayer" / "python"

    def sys_path(self, logical_id: str) -> list[str]:
        """What Lambda puts first on ``sys.path``: code, then layer, then runtime."""
        return [str(self.function_dir(logical_id)), str(self.layer_dir), str(self.runtime)]


def find_python313() -> str | None:
    """python3.13 on PATH, else pyenv's (whose shim fails unless selected)."""
    pyenv_root = os.environ.get("PYENV_ROOT") or str(Path.home() / ".pyenv")
    candidates = [shutil.which("python3.13")]
    candidates += sorted(glob.glob(f"{pyenv_root}/versions/3.13*/bin/python3.13"), reverse=True)
    for candidate in candidates:
        if candidate and _is_python313(candidate):
            return candidate
    return None


def _is_python313(python: str) -> bool:
    probe = [python, "-c", "import sys; assert sys.version_info[:2] == (3, 13)"]
    return subprocess.run(probe, capture_output=True, check=False).returncode == 0


def find_sam() -> str | None:
    """The ``sam`` next to this interpreter (the venv's), else on PATH."""
    return shutil.which("sam", path=str(Path(sys.executable).parent)) or shutil.which("sam")


def sam_build(
    project: Path, build_dir: Path, cache_dir: Path, env: Mapping[str, str]
) -> subprocess.CompletedProcess[str]:
    """``sam build`` into ``build_dir``; the caller decides what a failure means."""
    sam = find_sam()
    if sam is None:
        raise FileNotFoundError("sam is not installed: run `python3 tasks.py test` once")
    command = [sam, "build", "--build-dir", str(build_dir), "--cache-dir", str(cache_dir)]
    return subprocess.run(
        command, cwd=project, capture_output=True, text=True, env=dict(env), check=False
    )


def lambda_runtime(target: Path, site: Path | None = None) -> Path:
    """A site folder holding only what the Lambda runtime ships (boto3 & co),
    copied from ``site`` (default: where this interpreter's boto3 lives)."""
    if site is None:
        import boto3

        site = Path(boto3.__file__).parents[1]
    target.mkdir(parents=True, exist_ok=True)
    for name in RUNTIME_PACKAGES:
        source = site / name
        if source.is_dir():
            shutil.copytree(source, target / name, dirs_exist_ok=True)
        else:
            shutil.copy2(site / f"{name}.py", target / f"{name}.py")
    return target


def isolated_env(env: Mapping[str, str], base: Mapping[str, str] | None = None) -> dict[str, str]:
    """``base`` (default ``os.environ``) without ``PYTHON*``/``VIRTUAL_ENV``, plus ``env``."""
    source = os.environ if base is None else base
    clean = {k: v for k, v in source.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    return {**clean, **env}


def bootstrap_command(
    python: str,
    paths: Sequence[str],
    module: str = "app",
    flags: Sequence[str] = (),
    report_memory: bool = False,
) -> list[str]:
    """The command line of one isolated invocation process."""
    tail = ["--report-memory"] if report_memory else []
    return [python, "-I", "-S", *flags, "-c", BOOTSTRAP, json.dumps(list(paths)), module, *tail]


def memory_line(line: str) -> int | None:
    """Peak RSS in KB from a ``--report-memory`` line, or None for any other line."""
    if not line.startswith(MEMORY_MARKER):
        return None
    return int(json.loads(line.removeprefix(MEMORY_MARKER))["peak_rss_kb"])


def result_line(line: str) -> dict[str, Any] | None:
    """One bootstrap result (``{"result": ...}`` or ``{"error": ...}``), or None for a log line."""
    if not line.startswith(RESULT_MARKER):
        return None
    parsed: dict[str, Any] = json.loads(line.removeprefix(RESULT_MARKER))
    return parsed


def split_output(stdout: str) -> tuple[list[dict[str, Any]], str]:
    """Separate the bootstrap's result lines from the function's own logs."""
    results: list[dict[str, Any]] = []
    logs: list[str] = []
    for line in stdout.splitlines():
        parsed = result_line(line)
        if memory_line(line) is not None:
            continue
        if parsed is None:
            logs.append(line)
        else:
            results.append(parsed)
    return results, "\n".join(logs)
