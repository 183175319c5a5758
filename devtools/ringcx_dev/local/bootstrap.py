"""The runtime inside one function "container" (a child process).

Why standalone (standard library only, run by file path with ``python -I``):
the child must see what Lambda would put on ``sys.path`` - the function's
code directory, then its layers, then the runtime's packages - and nothing
from this repository's dev tools or tests.

Protocol (JSON lines): the parent writes ``{"type": "invoke", ...}`` lines on
stdin; the child answers on a dedicated file descriptor (``--reply-fd``) with
``ready`` / ``init_error`` once, then one ``result`` or ``error`` per invoke.
The function's own stdout and stderr are its logs. EOF on stdin ends the
process, so a parent that dies takes its containers with it.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable
from typing import IO, Any


class LocalLambdaContext:
    """The attributes and method of the Python runtime's ``LambdaContext``."""

    def __init__(self, request_id: str, deadline_ms: int) -> None:
        name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "local")
        self.function_name = name
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.invoked_function_arn = os.environ.get("LOCAL_FUNCTION_ARN", name)
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        self.aws_request_id = request_id
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", f"/aws/lambda/{name}")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "local")
        self.identity = None
        self.client_context = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_ms - int(time.time() * 1000))


def _error(exc: BaseException, request_id: str | None = None) -> dict[str, Any]:
    frames = traceback.format_list(traceback.extract_tb(exc.__traceback__))
    body: dict[str, Any] = {
        "errorMessage": str(exc),
        "errorType": type(exc).__name__,
        "stackTrace": [f.rstrip("\n") for f in frames],
    }
    if request_id:
        body["requestId"] = request_id
    return body


def _send(reply: IO[str], message: dict[str, Any]) -> None:
    reply.write(json.dumps(message) + "\n")
    reply.flush()


def _load(handler: str) -> Callable[[Any, Any], Any]:
    module_name, _, function_name = handler.rpartition(".")
    module = importlib.import_module(module_name)
    function = getattr(module, function_name)
    if not callable(function):
        raise TypeError(f"handler {handler} is not callable")
    return function  # type: ignore[no-any-return]


def _invoke(function: Callable[[Any, Any], Any], message: dict[str, Any]) -> dict[str, Any]:
    request_id = str(message["requestId"])
    print(f"START RequestId: {request_id} Version: $LATEST", file=sys.stderr, flush=True)
    started = time.monotonic()
    try:
        event = json.loads(message["event"])
        result = function(event, LocalLambdaContext(request_id, int(message["deadlineMs"])))
        try:
            payload = json.dumps(result)
        except (TypeError, ValueError) as exc:
            reply = {
                "type": "error",
                "error": {
                    "errorMessage": f"Unable to marshal response: {exc}",
                    "errorType": "Runtime.MarshalError",
                    "requestId": request_id,
                    "stackTrace": [],
                },
            }
        else:
            reply = {"type": "result", "payload": payload}
    except Exception as exc:  # the handler's error becomes the invoke's function error
        print(f"[ERROR] {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        reply = {"type": "error", "error": _error(exc, request_id)}
    elapsed = (time.monotonic() - started) * 1000
    print(f"END RequestId: {request_id}", file=sys.stderr, flush=True)
    print(
        f"REPORT RequestId: {request_id}\tDuration: {elapsed:.2f} ms", file=sys.stderr, flush=True
    )
    return {**reply, "id": message["id"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--handler", required=True)
    parser.add_argument("--code", required=True)
    parser.add_argument("--layer", action="append", default=[])
    parser.add_argument("--reply-fd", type=int, required=True)
    args = parser.parse_args(argv)
    # Ctrl-C in a terminal reaches the whole process group; the parent decides
    # when containers stop (by closing stdin), so an invoke is never cut short.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    reply = os.fdopen(args.reply_fd, "w", encoding="utf-8")
    sys.path[:0] = [args.code, *args.layer]
    os.chdir(args.code)
    started = time.monotonic()
    try:
        function = _load(args.handler)
    except Exception as exc:  # an init failure is reported, then the container is discarded
        traceback.print_exc()
        _send(reply, {"type": "init_error", "error": _error(exc)})
        return 1
    _send(reply, {"type": "ready", "pid": os.getpid(), "initSeconds": time.monotonic() - started})
    for line in sys.stdin:
        if line.strip():
            _send(reply, _invoke(function, json.loads(line)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
