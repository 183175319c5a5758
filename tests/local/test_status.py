"""status.py / console.py: the live status line, fed by secret-free summaries."""

from __future__ import annotations

import io
import json
from pathlib import Path

from ringcx_dev.local.console import Console
from ringcx_dev.local.status import StatusTracker
from ringcx_dev.local.template import FunctionSpec
from ringcx_dev.local.worker import Invocation, Status


def _spec(name: str) -> FunctionSpec:
    return FunctionSpec(name, name, name, Path("."), "app.h", "python3.13", (), {}, 3.0, 128, None)


def _ok(result: object) -> Invocation:
    return Invocation(Status.OK, "r", payload=json.dumps(result))


def test_tracker_follows_generations_from_exchange_and_refresher() -> None:
    tracker = StatusTracker("Refresh", "Exchange", clock=lambda: 1_000.0)
    tracker.observe(_spec("Exchange"), "{}", _ok({"ok": True, "generation": 1, "expiresAt": 1_300}))
    tracker.observe(_spec("Refresh"), "{}", _ok({"ok": True, "generation": 1}))
    tracker.observe(_spec("Refresh"), "{}", _ok({"ok": True, "generation": 2, "expiresAt": 1_250}))
    assert (tracker.generation, tracker.refreshes, tracker.seconds_left()) == (2, 1, 250.0)
    assert tracker.line() == "token generation 2 | 250 s left | refreshes 1"


def test_tracker_reads_exchange_api_body_but_not_proxy_bodies() -> None:
    tracker = StatusTracker("Refresh", "Exchange", clock=lambda: 0.0)
    body = json.dumps({"ok": True, "generation": 5, "expiresAt": "1970-01-01T00:01:40Z"})
    tracker.observe(_spec("Exchange"), "{}", _ok({"statusCode": 200, "body": body}))
    tracker.observe(_spec("Proxy"), "{}", _ok({"statusCode": 200, "body": '{"generation": 99}'}))
    assert (tracker.generation, tracker.seconds_left()) == (5, 100.0)


def test_tracker_counts_failures_and_uses_simulator_counters() -> None:
    tracker = StatusTracker("Refresh", "Exchange", clock=lambda: 0.0)
    tracker.observe(_spec("Refresh"), "{}", Invocation(Status.CRASH, "r", reason="died"))
    tracker.observe_health(503, b'{"message": "no usable token"}')
    counters = {"protocol": {"refresh_rotations": 7, "logins": 2}}
    assert tracker.line(counters) == (
        "token generation - | no token yet | refreshes 7 | logins 2 | /health 503 | "
        "failed invocations 1"
    )


def test_console_off_terminal_prints_status_only_when_it_changes() -> None:
    stream = io.StringIO()
    console = Console(stream, live=False)
    console.status("gen 1 | 10 s left", key="1")
    console.status("gen 1 | 9 s left", key="1")
    console.print("a request line")
    console.status("gen 2 | 30 s left", key="2")
    assert stream.getvalue().splitlines() == [
        "gen 1 | 10 s left",
        "a request line",
        "gen 2 | 30 s left",
    ]


def test_console_on_terminal_redraws_status_under_printed_lines() -> None:
    stream = io.StringIO()
    console = Console(stream, live=True)
    console.status("status")
    console.print("line")
    console.close()
    assert stream.getvalue() == "\r\x1b[2Kstatus\r\x1b[2Kline\nstatus\n"
