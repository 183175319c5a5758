"""snapstart.py: nothing tied to one moment or process survives a snapshot."""

from __future__ import annotations

import json
import logging
import random
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from ringcx_broker import http, runtime, snapstart

ROOT = Path(__file__).parents[3]
Hook = Callable[[], None]


class Registry:
    """Stands in for snapshot_restore_py's two registration functions."""

    def __init__(self) -> None:
        self.before: list[Hook] = []
        self.after: list[Hook] = []

    @property
    def registrars(self) -> tuple[Callable[[Hook], None], Callable[[Hook], None]]:
        return self.before.append, self.after.append


@pytest.mark.parametrize(
    ("init_type", "primed"), [("snap-start", True), ("on-demand", False), (None, False)]
)
def test_snapstart_install_registers_hooks_and_primes_only_a_snapstart_init(
    monkeypatch: pytest.MonkeyPatch, init_type: str | None, primed: bool
) -> None:
    # Given an init of some type, and a record of imports
    imported: list[str] = []
    monkeypatch.setattr(snapstart.importlib, "import_module", imported.append)
    registry = Registry()
    env = {"AWS_LAMBDA_INITIALIZATION_TYPE": init_type} if init_type else {}

    # When the hooks are installed
    snapstart.install(env, registry.registrars)

    # Then both hooks are registered, and the cold path's imports happen only when they
    # will be kept in a snapshot
    assert registry.before == [snapstart.before_snapshot]
    assert registry.after == [snapstart.after_restore]
    assert imported == (list(snapstart.PRIMED_MODULES) if primed else [])


@pytest.mark.parametrize("hook", [snapstart.before_snapshot, snapstart.after_restore])
def test_snapstart_hooks_drop_sdk_clients_and_pooled_connections(
    monkeypatch: pytest.MonkeyPatch, hook: Hook
) -> None:
    # Given a container that built its Secrets Manager client and opened a pool
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    runtime.secrets_client()
    pool = http.shared_pool()
    pool.connection_from_url("https://engage.ringcentral.com")
    assert runtime.secrets_client.cache_info().currsize == 1

    # When the hook runs
    hook()

    # Then the client is forgotten (it cached credentials) and the pool holds no connection
    assert runtime.secrets_client.cache_info().currsize == 0
    assert len(pool.pools) == 0


def test_snapstart_after_restore_gives_each_copy_its_own_random_state() -> None:
    # Given two copies restored from one snapshot (the same random state)
    state = random.getstate()
    snapstart.after_restore()
    first = random.random()
    random.setstate(state)
    snapstart.after_restore()
    second = random.random()

    # Then their backoff jitter differs
    assert first != second


def test_snapstart_failing_hook_logs_and_never_raises(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Given clearing the pool fails after a restore
    def broken() -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(http, "reset_shared_pool", broken)

    # When the restore hook runs
    with caplog.at_level(logging.ERROR):
        snapstart.after_restore()

    # Then the restore goes on (the container rebuilds lazily), and the failure is logged
    assert any(r.getMessage() == "SnapStart hook failed" for r in caplog.records)


RESTORE_SCRIPT = """
import json, sys
import app  # the handler module, as Lambda imports it during the SnapStart init
from ringcx_broker import http, runtime
import snapshot_restore_py as hooks
before_init = {
    "pool": http._pool is not None,
    "clients": runtime.secrets_client.cache_info().currsize,
    "primed": "boto3" in sys.modules,
}
for hook in reversed(hooks.BEFORE):
    hook()
for hook in hooks.AFTER:
    hook()
print(json.dumps({**before_init, "before": len(hooks.BEFORE), "after": len(hooks.AFTER)}))
"""

FAKE_HOOKS = """
BEFORE, AFTER = [], []
def register_before_snapshot(func): BEFORE.append(func)
def register_after_restore(func): AFTER.append(func)
"""


def test_snapstart_proxy_init_fetches_nothing_and_survives_a_simulated_restore(
    tmp_path: Path,
) -> None:
    # Given the proxy handler imported the way a SnapStart init imports it, with a
    # snapshot_restore_py that records the hooks
    (tmp_path / "snapshot_restore_py.py").write_text(FAKE_HOOKS)
    path = [tmp_path, ROOT / "functions" / "proxy", ROOT / "layers" / "auth"]
    env = {
        "PYTHONPATH": ":".join(str(p) for p in path),
        "AWS_LAMBDA_INITIALIZATION_TYPE": "snap-start",
        "AWS_DEFAULT_REGION": "us-east-1",
        "TOKEN_SECRET_IDS": "slot-0,slot-1",
        "PATH": "/usr/bin:/bin",
    }

    # When the snapshot is taken and restored (hooks run in Lambda's order)
    done = subprocess.run(
        [sys.executable, "-c", RESTORE_SCRIPT], env=env, capture_output=True, text=True, check=False
    )

    # Then the init primed the imports but opened no connection and built no client (so no
    # credential or token can be in the snapshot), and both hooks ran without failing
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report == {"pool": False, "clients": 0, "primed": True, "before": 1, "after": 1}
    assert "SnapStart hook failed" not in done.stdout + done.stderr
