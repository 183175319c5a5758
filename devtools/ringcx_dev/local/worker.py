"""One warm Lambda "container": a child process that runs one function.

Why a process per function: module-scope state (boto3 clients, caches,
Powertools) must behave as in Lambda - warm between invokes, lost when the
sandbox dies - and a crash must not take the local stack down. Like Lambda:

- one invocation at a time per container (a lock);
- the first invoke after a (re)start is a cold start (init, then invoke);
- a timeout kills the process; a crash or exit is reported with its reason,
  and the next invocation starts a fresh process.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import IO, Any, Final

BOOTSTRAP: Final = Path(__file__).with_name("bootstrap.py")
MAX_RESPONSE_BYTES: Final = 6_291_556  # Lambda's synchronous response limit
INIT_TIMEOUT: Final = 10.0  # Lambda's init phase limit
_LOG_NOISE: Final = ("START RequestId:", "END RequestId:", "REPORT RequestId:")

LogSink = Callable[[str, str], None]
"""Receives (function logical id, one line of the function's output)."""


class Status(StrEnum):
    OK = "ok"
    ERROR = "error"  # the handler raised (or init failed): a function error
    CRASH = "crash"  # the process died or could not start
    TIMEOUT = "timeout"  # the function ran past its Timeout and was killed


@dataclass(frozen=True, slots=True)
class Invocation:
    """The outcome of one invoke."""

    status: Status
    request_id: str
    payload: str | None = None  # the result as JSON text (OK only)
    error: Mapping[str, Any] | None = None  # Lambda's error object (all but OK)
    reason: str = ""
    duration: float = 0.0
    cold_start: bool = False
    pid: int | None = None

    @property
    def ok(self) -> bool:
        return self.status is Status.OK

    def result(self) -> Any:
        """The handler's return value (OK only)."""
        if self.payload is None:
            raise ValueError(f"invocation {self.request_id} has no result ({self.status})")
        return json.loads(self.payload)


@dataclass(frozen=True, slots=True)
class ContainerSpec:
    logical_id: str
    code_dir: Path
    handler: str
    environment: Mapping[str, str]
    timeout: float
    layer_dirs: tuple[Path, ...] = ()
    init_timeout: float = INIT_TIMEOUT
    python: str = sys.executable


class ContainerBusy(Exception):
    """The container is running an invocation and the caller would not wait."""


class _Process:
    """A started child with its reply queue and output tail."""

    def __init__(self, spec: ContainerSpec, sink: LogSink | None, tail: int) -> None:
        read_fd, write_fd = os.pipe()
        command = [
            spec.python,
            "-I",  # no PYTHONPATH, no user site, no script directory on sys.path
            str(BOOTSTRAP),
            "--handler",
            spec.handler,
            "--code",
            str(spec.code_dir),
            *(arg for layer in spec.layer_dirs for arg in ("--layer", str(layer))),
            "--reply-fd",
            str(write_fd),
        ]
        try:
            self.popen = subprocess.Popen(
                command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=dict(spec.environment),
                pass_fds=(write_fd,),
                cwd=spec.code_dir,
            )
        except BaseException:
            os.close(read_fd)
            raise
        finally:
            os.close(write_fd)
        self.replies: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.tail: deque[str] = deque(maxlen=tail)
        self.cold = True
        self._name = spec.logical_id
        self._sink = sink
        replies = os.fdopen(read_fd, "rb")
        self._reply_thread = threading.Thread(
            target=self._read_replies, args=(replies,), name=f"{self._name}-replies", daemon=True
        )
        assert self.popen.stdout is not None
        self._log_thread = threading.Thread(
            target=self._read_logs,
            args=(self.popen.stdout,),
            name=f"{self._name}-logs",
            daemon=True,
        )
        self._reply_thread.start()
        self._log_thread.start()

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def send(self, message: Mapping[str, Any]) -> bool:
        stdin = self.popen.stdin
        assert stdin is not None
        try:
            stdin.write(json.dumps(message).encode() + b"\n")
            stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            return False
        return True

    def death_reason(self) -> str:
        """Why the process ended, with the last lines it printed."""
        try:
            code = self.popen.wait(timeout=2.0)
        except subprocess.TimeoutExpired:
            return "stopped answering"
        self._log_thread.join(timeout=1.0)
        if code < 0:
            with contextlib.suppress(ValueError):
                how = f"was killed by {signal.Signals(-code).name}"
                return self._with_tail(how)
            return self._with_tail(f"was killed by signal {-code}")
        return self._with_tail(f"exited with status {code}")

    def _with_tail(self, how: str) -> str:
        lines = [line for line in self.tail if line.strip() and not line.startswith(_LOG_NOISE)]
        last = " | ".join(lines[-3:])
        return f"{self._name} process {how}" + (f"; last output: {last}" if last else "")

    def stop(self, grace: float) -> None:
        stdin = self.popen.stdin
        with contextlib.suppress(OSError, ValueError):
            if stdin is not None:
                stdin.close()
        for action in (None, self.popen.terminate, self.popen.kill):
            if action is not None and self.popen.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    action()
            try:
                self.popen.wait(timeout=grace)
                break
            except subprocess.TimeoutExpired:
                continue
        self._reply_thread.join(timeout=1.0)
        self._log_thread.join(timeout=1.0)
        if self.popen.stdout is not None:
            with contextlib.suppress(OSError):
                self.popen.stdout.close()

    def _read_replies(self, stream: IO[bytes]) -> None:
        with stream:
            for raw in stream:
                try:
                    message = json.loads(raw)
                except ValueError:
                    continue
                if isinstance(message, dict):
                    self.replies.put(message)
        self.replies.put(None)

    def _read_logs(self, stream: IO[bytes]) -> None:
        for raw in stream:
            line = raw.decode("utf-8", errors="replace").rstrip("\n")
            self.tail.append(line)
            if self._sink is not None:
                with contextlib.suppress(Exception):
                    self._sink(self._name, line)


class Container:
    """A warm container for one function; thread-safe, one invocation at a time."""

    def __init__(
        self, spec: ContainerSpec, log_sink: LogSink | None = None, tail: int = 40
    ) -> None:
        self.spec = spec
        self._sink = log_sink
        self._tail = tail
        self._lock = threading.Lock()
        self._process: _Process | None = None
        self._closed = False
        self.starts = 0

    @property
    def pid(self) -> int | None:
        process = self._process
        return process.pid if process is not None and process.alive() else None

    @property
    def busy(self) -> bool:
        return self._lock.locked()

    def warm(self) -> Invocation | None:
        """Start the process and run init now; an init failure is returned."""
        with self._lock:
            return self._ensure_process(str(uuid.uuid4()))

    def invoke(
        self, event: str, *, request_id: str | None = None, block: bool = True
    ) -> Invocation:
        """Run the handler on ``event`` (JSON text). ``block=False``: raise if busy."""
        request_id = request_id or str(uuid.uuid4())
        if not self._lock.acquire(blocking=block):
            raise ContainerBusy(self.spec.logical_id)
        try:
            started = time.monotonic()
            failure = self._ensure_process(request_id)
            if failure is not None:
                return failure
            process = self._process
            if process is None:  # stop() ran while this invoke was starting
                return _crash(request_id, f"{self.spec.logical_id} container is stopped")
            cold, process.cold = process.cold, False
            # Like Lambda, init has its own limit; the Timeout covers the invoke alone.
            outcome = self._run(process, event, request_id, time.monotonic())
            if outcome.status is not Status.OK and outcome.status is not Status.ERROR:
                self._discard()
            return replace(outcome, cold_start=cold, duration=time.monotonic() - started)
        finally:
            self._lock.release()

    def stop(self, grace: float = 2.0) -> None:
        """Stop the process (after its current invoke if it ends within ``grace``)."""
        self._closed = True
        process, self._process = self._process, None
        if process is not None:
            process.stop(grace)

    def _ensure_process(self, request_id: str) -> Invocation | None:
        if self._closed:
            return _crash(request_id, f"{self.spec.logical_id} container is stopped")
        if self._process is not None and self._process.alive():
            return None
        self._discard()
        try:
            process = _Process(self.spec, self._sink, self._tail)
        except OSError as exc:
            return _crash(request_id, f"{self.spec.logical_id} could not start: {exc}")
        self.starts += 1
        self._process = process
        try:
            message = process.replies.get(timeout=self.spec.init_timeout)
        except queue.Empty:
            self._discard()
            return _crash(
                request_id,
                f"{self.spec.logical_id} init did not finish in {self.spec.init_timeout:.0f} s",
            )
        if message is not None and message.get("type") == "ready":
            return None
        if message is None:
            reason = process.death_reason()
            self._discard()
            return _crash(request_id, f"init failed: {reason}")
        error = _init_error(self.spec.handler, message.get("error") or {})
        self._discard()
        return Invocation(
            Status.ERROR,
            request_id,
            error=error,
            reason=f"init failed: {error['errorType']}: {error['errorMessage']}",
            pid=process.pid,
        )

    def _run(self, process: _Process, event: str, request_id: str, started: float) -> Invocation:
        deadline = started + self.spec.timeout
        message = {
            "type": "invoke",
            "id": request_id,
            "requestId": request_id,
            "event": event,
            "deadlineMs": int((time.time() + self.spec.timeout) * 1000),
        }
        if not process.send(message):
            return _crash(request_id, process.death_reason(), process.pid)
        while True:
            try:
                reply = process.replies.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                with contextlib.suppress(ProcessLookupError):
                    process.popen.kill()  # Lambda ends the sandbox at the deadline
                return _timeout(request_id, self.spec.timeout, process.pid)
            if reply is None:
                return _crash(request_id, process.death_reason(), process.pid)
            if reply.get("id") == request_id:
                return _outcome(reply, request_id, process.pid)

    def _discard(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            process.stop(grace=0.5)


def _outcome(reply: Mapping[str, Any], request_id: str, pid: int) -> Invocation:
    if reply.get("type") == "result":
        payload = str(reply.get("payload"))
        if len(payload.encode()) > MAX_RESPONSE_BYTES:
            error = {
                "errorMessage": "Response payload size exceeded maximum allowed payload size "
                f"({MAX_RESPONSE_BYTES} bytes).",
                "errorType": "Function.ResponseSizeTooLarge",
            }
            return Invocation(
                Status.ERROR, request_id, error=error, reason=error["errorMessage"], pid=pid
            )
        return Invocation(Status.OK, request_id, payload=payload, pid=pid)
    error = dict(reply.get("error") or {})
    reason = f"{error.get('errorType', 'Error')}: {error.get('errorMessage', '')}"
    return Invocation(Status.ERROR, request_id, error=error, reason=reason, pid=pid)


def _init_error(handler: str, raw: Mapping[str, Any]) -> dict[str, Any]:
    """Lambda's names for init failures (Runtime.ImportModuleError and friends)."""
    kind, message = str(raw.get("errorType", "Error")), str(raw.get("errorMessage", ""))
    module = handler.rpartition(".")[0]
    if kind in ("ModuleNotFoundError", "ImportError", "SyntaxError"):
        return {
            "errorMessage": f"Unable to import module '{module}': {message}",
            "errorType": "Runtime.ImportModuleError",
            "stackTrace": [],
        }
    if kind == "AttributeError":
        return {
            "errorMessage": f"Handler '{handler}' missing on module '{module}'",
            "errorType": "Runtime.HandlerNotFound",
            "stackTrace": [],
        }
    return {"errorMessage": message, "errorType": kind, "stackTrace": raw.get("stackTrace", [])}


def _crash(request_id: str, reason: str, pid: int | None = None) -> Invocation:
    error = {
        "errorType": "Runtime.ExitError",
        "errorMessage": f"RequestId: {request_id} Error: Runtime exited: {reason}",
    }
    return Invocation(Status.CRASH, request_id, error=error, reason=reason, pid=pid)


def _timeout(request_id: str, seconds: float, pid: int) -> Invocation:
    message = f"Task timed out after {seconds:.2f} seconds"
    error = {
        "errorType": "Sandbox.Timedout",
        "errorMessage": f"RequestId: {request_id} Error: {message}",
    }
    return Invocation(Status.TIMEOUT, request_id, error=error, reason=message, pid=pid)
