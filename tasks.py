#!/usr/bin/env python3
"""One entry point for a fresh clone: it makes the Python 3.13 virtualenv,
installs everything (sam included), then runs what you asked for.

    python3 tasks.py local [--port 3000 ...]   run the whole broker on loopback
    python3 tasks.py test                      ruff, mypy and the whole test suite
    python3 tasks.py smoke                     scripted end-to-end session (CI runs it)
    python3 tasks.py bench                     the benchmarks of benchmarks/README
    python3 tasks.py soak [--days 7 --seed 9]  chaos soak: the real broker under every fault

Only the standard library is used here, and it runs on any Python 3.9+, so it
can bootstrap from whatever ``python3`` a machine has.
"""

from __future__ import annotations

import glob
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".installed"
# The caller client is a package of its own; the dev environment has it installed
# (editable) so that its tests and mypy see it exactly as callers will import it.
CLIENT = ROOT / "clients" / "python"
MANIFESTS = (ROOT / "pyproject.toml", CLIENT / "pyproject.toml")
NO_TESTS_COLLECTED = 5


def find_python313() -> str:
    """python3.13 on PATH, or pyenv's, whose shim fails unless selected."""
    candidates = [shutil.which("python3.13")]
    pyenv_root = os.environ.get("PYENV_ROOT") or str(Path.home() / ".pyenv")
    candidates += sorted(glob.glob(f"{pyenv_root}/versions/3.13*/bin/python3.13"), reverse=True)
    for candidate in candidates:
        if (
            candidate
            and subprocess.run(
                [candidate, "-c", "import sys; assert sys.version_info[:2] == (3, 13)"],
                capture_output=True,
                check=False,
            ).returncode
            == 0
        ):
            return candidate
    sys.exit("tasks.py: Python 3.13 is required (the Lambda runtime); install it and retry")


def ensure_env() -> dict[str, str]:
    """Create/refresh .venv when a pyproject.toml changed; return the run env."""
    python = find_python313()
    digest = hashlib.sha256(b"".join(path.read_bytes() for path in MANIFESTS)).hexdigest()
    if not (BIN / "python").exists():
        print(f"tasks.py: creating .venv with {python}", flush=True)
        subprocess.run([python, "-m", "venv", str(VENV)], check=True)
    if not STAMP.exists() or STAMP.read_text() != digest:
        print(
            "tasks.py: installing dependencies (pyproject.toml [dependency-groups] dev, "
            "and clients/python)",
            flush=True,
        )
        pip = [str(BIN / "python"), "-m", "pip", "--disable-pip-version-check", "-q"]
        subprocess.run([*pip, "install", "--upgrade", "pip>=25.1"], check=True)
        subprocess.run([*pip, "install", "--group", "dev"], cwd=ROOT, check=True)
        subprocess.run([*pip, "install", "--editable", str(CLIENT)], cwd=ROOT, check=True)
        STAMP.write_text(digest)
    env = dict(os.environ)
    # sam build shells out to python3.13; the venv's bin provides sam itself.
    env["PATH"] = os.pathsep.join([str(BIN), str(Path(python).parent), env.get("PATH", "")])
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "layers" / "auth"), str(ROOT / "devtools")])
    env.setdefault("SAM_CLI_TELEMETRY", "0")
    env.pop("VIRTUAL_ENV", None)
    return env


def run(cmd: list[str], env: dict[str, str]) -> int:
    print("$ " + " ".join(cmd), flush=True)
    child = subprocess.Popen(cmd, cwd=ROOT, env=env)
    try:
        return child.wait()
    except KeyboardInterrupt:  # Ctrl-C reached the child too: let it stop cleanly, quietly
        return child.wait()


def task_test(args: list[str], env: dict[str, str]) -> int:
    py = str(BIN / "python")
    for step in (
        [py, "-m", "ruff", "check", "."],
        [py, "-m", "ruff", "format", "--check", "."],
        [py, "-m", "mypy"],
    ):
        if run(step, env) != 0:
            return 1
    code = run([py, "-m", "pytest", *args], env)
    if code == NO_TESTS_COLLECTED:
        print("tasks.py: pytest collected no tests; that is a failure", flush=True)
        return 1
    return code


def main() -> int:
    tasks = {
        "test": task_test,
        "local": lambda a, e: run([str(BIN / "python"), "-m", "ringcx_dev.local", *a], e),
        "smoke": lambda a, e: run(
            [str(BIN / "python"), "-m", "ringcx_dev.local", "--smoke", *a], e
        ),
        "bench": lambda a, e: run([str(BIN / "python"), "benchmarks/run_all.py", *a], e),
        "soak": lambda a, e: run([str(BIN / "python"), "-m", "ringcx_dev.soak", *a], e),
    }
    if len(sys.argv) < 2 or sys.argv[1] not in tasks:
        print(__doc__)
        return 2
    env = ensure_env()
    return tasks[sys.argv[1]](sys.argv[2:], env)


if __name__ == "__main__":
    sys.exit(main())
