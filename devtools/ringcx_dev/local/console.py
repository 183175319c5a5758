"""Terminal output for the local run: log lines, a live status line, function logs.

Why: the run prints request lines while a status line (token generation,
seconds left, refreshes) updates in place on a terminal. Off a terminal
(CI, pipes) the status is printed as ordinary lines, only when it changes.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from ringcx_dev.local.worker import Invocation


class Console:
    def __init__(self, stream: IO[str] | None = None, live: bool | None = None) -> None:
        self._stream = stream or sys.stdout
        self._live = self._stream.isatty() if live is None else live
        self._lock = threading.Lock()
        self._status = ""
        self._last_key: str | None = None

    def print(self, text: str = "") -> None:
        with self._lock:
            if self._live and self._status:
                self._stream.write("\r\x1b[2K")
            self._stream.write(text + "\n")
            if self._live and self._status:
                self._stream.write(self._status)
            self._stream.flush()

    def status(self, text: str, key: str | None = None) -> None:
        """Redraw the status line; off a terminal, print it when ``key`` changes."""
        with self._lock:
            self._status = text
            if self._live:
                self._stream.write("\r\x1b[2K" + text)
                self._stream.flush()
            elif (key if key is not None else text) != self._last_key:
                self._last_key = key if key is not None else text
                self._stream.write(text + "\n")
                self._stream.flush()

    def close(self) -> None:
        with self._lock:
            if self._live and self._status:
                self._stream.write("\n")
                self._stream.flush()
            self._status = ""


class FunctionLogs:
    """Each function's output goes to ``<dir>/<LogicalId>.log`` (and maybe the console)."""

    def __init__(self, directory: Path | None, console: Console | None = None) -> None:
        self.directory = directory
        self._console = console
        self._files: dict[str, IO[str]] = {}
        self._lock = threading.Lock()
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)

    def __call__(self, function: str, line: str) -> None:
        if self._console is not None:
            self._console.print(f"  [{function}] {line}")
        if self.directory is None:
            return
        with self._lock:
            handle = self._files.get(function)
            if handle is None:
                handle = (self.directory / f"{function}.log").open("a", encoding="utf-8")
                handle.write(f"--- local run started {datetime.now().isoformat()} ---\n")
                self._files[function] = handle
            handle.write(line + "\n")
            handle.flush()

    def close(self) -> None:
        with self._lock:
            for handle in self._files.values():
                with contextlib.suppress(OSError):
                    handle.close()
            self._files.clear()


def describe(outcome: Invocation) -> str:
    """One line for an invocation's outcome."""
    if outcome.ok:
        result: Any = outcome.result()
        if isinstance(result, dict):
            keys = (
                "ok",
                "generation",
                "action",
                "refreshed",
                "secondsLeft",
                "statusCode",
                "message",
            )
            shown = {k: result[k] for k in keys if k in result}
            return ", ".join(f"{k}={v}" for k, v in shown.items()) or "ok (empty result)"
        return f"ok ({type(result).__name__})"
    return f"{outcome.status}: {outcome.reason}"
