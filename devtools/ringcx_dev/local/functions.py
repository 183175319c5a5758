"""The template's functions as warm local containers, with Lambda's environment.

Why here and not in the worker: this is where the template meets Lambda's
rules - which variables Lambda itself sets (and the template cannot
override), how a ``FunctionName`` may be spelled (name, ARN, partial ARN),
and reserved concurrency: a function reserved to 1 is *throttled* when its
container is busy (the proxy must cope with that), while others queue.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from importlib import metadata
from pathlib import Path
from urllib.parse import unquote

from ringcx_dev.local.template import FunctionSpec, ResolvedTemplate
from ringcx_dev.local.worker import Container, ContainerBusy, ContainerSpec, Invocation, LogSink

ResultListener = Callable[[FunctionSpec, str, Invocation], None]
"""Called after every invocation with (function, event JSON, outcome)."""


class Throttled(Exception):
    """Lambda would answer 429 TooManyRequestsException (reserved concurrency reached)."""

    def __init__(self, function: str, reason: str) -> None:
        super().__init__(f"{function}: {reason}")
        self.function = function
        self.reason = reason


class LocalFunction:
    """One function: its spec, its container, Lambda's throttling rule."""

    def __init__(self, spec: FunctionSpec, container: Container, notify: ResultListener) -> None:
        self.spec = spec
        self.container = container
        self._notify = notify

    def invoke(
        self, event: str, *, request_id: str | None = None, wait: bool = False
    ) -> Invocation:
        """Invoke; ``wait=True`` (async/scheduled invokes) queues instead of throttling."""
        reserved = self.spec.reserved_concurrency
        if reserved == 0:
            raise Throttled(
                self.spec.logical_id, "ReservedFunctionConcurrentInvocationLimitExceeded"
            )
        block = wait or reserved is None or reserved > 1
        try:
            outcome = self.container.invoke(event, request_id=request_id, block=block)
        except ContainerBusy as exc:
            raise Throttled(
                self.spec.logical_id, "ReservedFunctionConcurrentInvocationLimitExceeded"
            ) from exc
        self._notify(self.spec, event, outcome)
        return outcome


def lambda_environment(spec: FunctionSpec, region: str) -> dict[str, str]:
    """The variables the Lambda runtime sets itself (they win over the template's)."""
    return {
        "AWS_LAMBDA_FUNCTION_NAME": spec.name,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": "local",
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime}",
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "LAMBDA_TASK_ROOT": str(spec.code_dir),
        "_HANDLER": spec.handler,
        "TZ": ":UTC",
        # What `sam local` sets; Powertools' Tracer turns itself off on seeing it.
        "AWS_SAM_LOCAL": "true",
        "LOCAL_FUNCTION_ARN": spec.arn,
        "PYTHONUNBUFFERED": "1",
    }


class LocalFunctions:
    """All functions of a resolved template, each in its own warm container."""

    def __init__(
        self,
        template: ResolvedTemplate,
        *,
        base_env: Mapping[str, str] | None = None,
        extra_env: Mapping[str, str] | None = None,
        overrides: Mapping[str, str] | None = None,
        log_sink: LogSink | None = None,
        python: str = sys.executable,
    ) -> None:
        """``overrides`` replace template variables of the same name (e.g. the
        upstream URLs); ``extra_env`` (emulator endpoints, credentials) is added
        to every function."""
        self.template = template
        self._listeners: list[ResultListener] = []
        self._functions: dict[str, LocalFunction] = {}
        for logical_id, spec in template.functions.items():
            env = {
                **(base_env or {}),
                **spec.environment,
                **{k: v for k, v in (overrides or {}).items() if k in spec.environment},
                **lambda_environment(spec, template.context.region),
                **(extra_env or {}),
            }
            container_spec = ContainerSpec(
                logical_id=logical_id,
                code_dir=spec.code_dir,
                handler=spec.handler,
                environment=env,
                timeout=spec.timeout,
                layer_dirs=spec.layer_dirs,
                python=python,
            )
            self._functions[logical_id] = LocalFunction(
                spec, Container(container_spec, log_sink), self._notify
            )

    def __getitem__(self, logical_id: str) -> LocalFunction:
        return self._functions[logical_id]

    def __iter__(self) -> Iterator[LocalFunction]:
        return iter(self._functions.values())

    def add_listener(self, listener: ResultListener) -> None:
        self._listeners.append(listener)

    def find(self, function_name: str) -> tuple[LocalFunction | None, str | None]:
        """Look up Lambda's ``FunctionName`` forms: name, ARN, partial ARN, ``name:qualifier``."""
        name, qualifier = parse_function_name(unquote(function_name))
        for function in self._functions.values():
            if name in (function.spec.name, function.spec.logical_id):
                return function, qualifier
        return None, qualifier

    def warm_all(self) -> dict[str, Invocation | None]:
        """Cold-start every container in parallel; returns init failures by function."""
        results: dict[str, Invocation | None] = {}
        threads = [
            threading.Thread(
                target=lambda f=f: results.__setitem__(f.spec.logical_id, f.container.warm()),
                name=f"warm-{f.spec.logical_id}",
                daemon=True,
            )
            for f in self._functions.values()
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return results

    def stop_all(self) -> None:
        threads = [
            threading.Thread(target=f.container.stop, daemon=True) for f in self._functions.values()
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=10.0)

    def _notify(self, spec: FunctionSpec, event: str, outcome: Invocation) -> None:
        for listener in list(self._listeners):
            listener(spec, event, outcome)


def parse_function_name(value: str) -> tuple[str, str | None]:
    """``arn:aws:lambda:r:a:function:name[:q]``, ``a:function:name[:q]``, ``name[:q]``."""
    parts = value.split(":")
    if value.startswith("arn:") and len(parts) >= 7 and parts[5] == "function":
        return parts[6], (parts[7] if len(parts) > 7 else None)
    if len(parts) >= 3 and parts[1] == "function":
        return parts[2], (parts[3] if len(parts) > 3 else None)
    if len(parts) == 2:
        return parts[0], parts[1]
    return value, None


def missing_requirements(layer_dir: Path) -> list[str]:
    """Packages a layer's requirements.txt names that this interpreter lacks.

    ``sam build`` installs them into the layer; locally they must be installed
    in the environment that runs the containers.
    """
    requirements = layer_dir / "requirements.txt"
    if not requirements.is_file():
        return []
    missing: list[str] = []
    for line in requirements.read_text(encoding="utf-8").splitlines():
        spec = line.split("#", 1)[0].strip()
        if not spec or spec.startswith("-"):
            continue
        name = spec
        for stop in "<>=!~;[ ":
            name = name.split(stop, 1)[0]
        try:
            metadata.version(name)
        except metadata.PackageNotFoundError:
            missing.append(spec)
    return missing
