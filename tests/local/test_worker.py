"""worker.py / functions.py: warm containers that fail the way Lambda sandboxes do."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from ringcx_dev.local.functions import (
    LocalFunction,
    LocalFunctions,
    Throttled,
    missing_requirements,
    parse_function_name,
)
from ringcx_dev.local.template import ResolvedTemplate
from ringcx_dev.local.worker import Container, ContainerSpec, Status


def _event(**fields: object) -> str:
    return json.dumps(fields)


@pytest.fixture
def worker(fake_functions: LocalFunctions) -> LocalFunction:
    """The fake project's plain function: it reports its pid and call count."""
    return fake_functions["Worker"]


def _pid(function: LocalFunction) -> int:
    """The pid of the process that serves a plain invocation."""
    return function.invoke(_event()).result()["pid"]


def test_container_warm_invokes_share_one_process_and_module_state(worker: LocalFunction) -> None:
    first = worker.invoke(_event())
    second = worker.invoke(_event())
    assert first.ok and second.ok
    assert first.cold_start and not second.cold_start
    assert first.result()["pid"] == second.result()["pid"]
    assert (first.result()["calls"], second.result()["calls"]) == (1, 2)


def test_container_child_sees_lambdas_sys_path_env_and_context(
    fake_functions: LocalFunctions, fake_resolved: ResolvedTemplate
) -> None:
    spec = fake_resolved.functions["Worker"]
    info = fake_functions["Worker"].invoke(_event(), request_id="req-1").result()
    # sys.path starts with the function's code, then its layer; cwd is the code
    assert info["path"] == [str(spec.code_dir), str(spec.layer_dirs[0])]
    assert info["layer"] == "from-the-layer"
    assert info["cwd"] == str(spec.code_dir)
    # template variables, Lambda's own, and the runner's extras
    assert info["env"] == {
        "GREETING": "hello",
        "AWS_LAMBDA_FUNCTION_NAME": spec.name,
        "X": "from-the-runner",
    }
    assert info["requestId"] == "req-1"
    assert 0 < info["remainingMs"] <= spec.timeout * 1000


def test_container_child_cannot_import_the_dev_tools(tmp_path: Path) -> None:
    # Given a handler that tries to import the runner itself
    (tmp_path / "app.py").write_text(
        "def lambda_handler(event, context):\n"
        "    try:\n"
        "        import ringcx_dev\n"
        "    except ImportError:\n"
        "        return 'isolated'\n"
        "    return 'leaked'\n"
    )
    container = Container(ContainerSpec("Iso", tmp_path, "app.lambda_handler", {}, timeout=5))
    try:
        assert container.invoke("{}").result() == "isolated"
    finally:
        container.stop()


def test_container_crash_reports_reason_then_next_invoke_gets_fresh_process(
    worker: LocalFunction,
) -> None:
    before = _pid(worker)
    # When the process dies mid-invocation
    crash = worker.invoke(_event(action="crash"))
    # Then the invocation reports why, with the last thing the function printed
    assert crash.status is Status.CRASH
    assert "exited with status 3" in crash.reason
    assert "about to crash hard" in crash.reason
    # And the next invocation is served by a new process, cold
    after = worker.invoke(_event())
    assert after.ok and after.cold_start
    assert after.result()["pid"] != before
    assert after.result()["calls"] == 1


def test_container_sys_exit_in_handler_is_a_crash(worker: LocalFunction) -> None:
    outcome = worker.invoke(_event(action="exit"))
    assert outcome.status is Status.CRASH
    assert "exited with status 2" in outcome.reason
    assert outcome.error is not None and outcome.error["errorType"] == "Runtime.ExitError"


def test_container_handler_exception_is_a_function_error_and_process_stays_warm(
    worker: LocalFunction,
) -> None:
    pid = _pid(worker)
    outcome = worker.invoke(_event(action="raise"))
    assert outcome.status is Status.ERROR
    assert outcome.error is not None
    assert (outcome.error["errorType"], outcome.error["errorMessage"]) == (
        "ValueError",
        "boom from the handler",
    )
    assert outcome.error["stackTrace"]
    assert _pid(worker) == pid


def test_container_unserialisable_result_is_a_marshal_error(worker: LocalFunction) -> None:
    outcome = worker.invoke(_event(action="unserialisable"))
    assert outcome.status is Status.ERROR
    assert outcome.error is not None and outcome.error["errorType"] == "Runtime.MarshalError"


def test_container_timeout_kills_process_and_next_invoke_is_cold(
    fake_functions: LocalFunctions,
) -> None:
    slow = fake_functions["Slow"]  # Timeout: 1
    outcome = slow.invoke(_event(action="sleep", seconds=5))
    assert outcome.status is Status.TIMEOUT
    assert outcome.reason == "Task timed out after 1.00 seconds"
    assert outcome.duration < 3
    assert slow.invoke(_event()).cold_start


def test_container_import_error_is_reported_as_lambda_does(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("import not_a_module\n")
    container = Container(ContainerSpec("Broken", tmp_path, "app.lambda_handler", {}, timeout=5))
    try:
        outcome = container.invoke("{}")
    finally:
        container.stop()
    assert outcome.status is Status.ERROR
    assert outcome.error is not None
    assert outcome.error["errorType"] == "Runtime.ImportModuleError"
    assert "Unable to import module 'app'" in outcome.error["errorMessage"]
    assert container.pid is None


def test_reserved_concurrency_one_throttles_a_second_concurrent_invoke(
    fake_functions: LocalFunctions,
) -> None:
    single = fake_functions["Single"]  # ReservedConcurrentExecutions: 1
    single.container.warm()
    busy = threading.Thread(target=single.invoke, args=(_event(action="sleep", seconds=1),))
    busy.start()
    try:
        while not single.container.busy:
            time.sleep(0.01)
        with pytest.raises(Throttled, match="ReservedFunctionConcurrentInvocationLimitExceeded"):
            single.invoke(_event())
        # async-style invokes queue instead
        assert single.invoke(_event(), wait=True).ok
    finally:
        busy.join()


def test_stop_all_leaves_no_process(fake_functions: LocalFunctions) -> None:
    pids = [f.invoke(_event()).pid for f in fake_functions]
    fake_functions.stop_all()
    for pid in pids:
        assert pid is not None
        assert not Path(f"/proc/{pid}").exists() or "Z" in _state(pid)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("my-fn", ("my-fn", None)),
        ("my-fn:$LATEST", ("my-fn", "$LATEST")),
        ("arn:aws:lambda:us-east-1:123456789012:function:my-fn", ("my-fn", None)),
        ("arn:aws:lambda:us-east-1:123456789012:function:my-fn:7", ("my-fn", "7")),
        ("123456789012:function:my-fn", ("my-fn", None)),
    ],
)
def test_parse_function_name_accepts_lambdas_forms(
    value: str, expected: tuple[str, str | None]
) -> None:
    assert parse_function_name(value) == expected


def test_missing_requirements_names_uninstalled_packages(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text(
        "urllib3>=2\n# comment\nno-such-package-xyz==1.0 ; python_version > '3'\n"
    )
    assert missing_requirements(tmp_path) == ["no-such-package-xyz==1.0 ; python_version > '3'"]
