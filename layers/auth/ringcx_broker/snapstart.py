"""Lambda SnapStart: what may live in the snapshot, and what must not.

With ``EnableSnapStart``, Lambda initialises ProxyFunction once, snapshots
the process and resumes copies of it on cold starts. The snapshot may hold
imported modules (the expensive part of a Python cold start), never anything
tied to one moment or one process:

- no pooled connection (its TCP state would be shared by every copy);
- no SDK client (it caches credentials from snapshot time);
- no token: nothing is fetched before the snapshot, the ring is read on the
  first request after a restore;
- no shared random state: every copy would draw the same backoff jitter.

So ``install`` imports what the cold path needs when the init is a SnapStart
one, and registers hooks that drop pools and clients before the snapshot and
again after each restore, and reseed ``random``. The hooks never raise: a
restore that fails costs a lazily rebuilt client, not a failed container.
``snapshot_restore_py`` ships with the Python managed runtimes; elsewhere
(tests, the local run) a no-op stands in.
"""

from __future__ import annotations

import importlib
import os
import random
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger

logger = Logger(child=True)

Hook = Callable[[], None]
# What a first proxied request imports; loading it into the snapshot is the gain.
PRIMED_MODULES = (
    "boto3",
    "botocore.client",
    "botocore.auth",
    "ringcx_broker.ring",
    "ringcx_broker.proxy.token_source",
    "ringcx_broker.proxy.forward",
)


def _registrars() -> tuple[Callable[[Hook], Any], Callable[[Hook], Any]]:
    try:
        from snapshot_restore_py import (  # type: ignore[import-not-found,unused-ignore]
            register_after_restore,
            register_before_snapshot,
        )
    except ImportError:  # not in Lambda: nothing will snapshot this process

        def register_after_restore(hook: Hook) -> None:
            return None

        register_before_snapshot = register_after_restore
    return register_before_snapshot, register_after_restore


def install(
    env: dict[str, str] | None = None,
    registrars: tuple[Callable[[Hook], Any], Callable[[Hook], Any]] | None = None,
) -> None:
    """Register the hooks, and prime the imports if this init is a SnapStart one."""
    environ = os.environ if env is None else env
    before, after = registrars or _registrars()
    before(before_snapshot)
    after(after_restore)
    if environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") == "snap-start":
        for name in PRIMED_MODULES:
            importlib.import_module(name)


def before_snapshot() -> None:
    _forget_process_state("before snapshot")


def after_restore() -> None:
    random.seed()  # each restored copy draws its own jitter
    _forget_process_state("after restore")


def _forget_process_state(moment: str) -> None:
    try:
        from ringcx_broker import http, runtime

        http.reset_shared_pool()
        runtime.forget_clients()
    except Exception as exc:  # a hook must never fail the snapshot or the restore
        logger.error("SnapStart hook failed", extra={"moment": moment, "error": type(exc).__name__})
