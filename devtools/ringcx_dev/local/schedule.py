"""EventBridge's ``rate(...)`` schedule for the local run.

Why: the refresher is driven by its Schedule event; locally it must get the
same payload (a "Scheduled Event" from ``aws.events``, or the rule's constant
``Input``) at the template's rate, or faster with ``--tick-seconds`` so that
a token lifetime of seconds behaves like one of minutes. Like EventBridge,
the first tick comes one period after start. Ticks are invoked as async
invokes are: they queue behind a running invocation instead of being
throttled; ticks missed meanwhile are coalesced into one.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from ringcx_dev.local.functions import LocalFunction
from ringcx_dev.local.template import ScheduleRule
from ringcx_dev.local.worker import Invocation

TickListener = Callable[[int, Invocation], None]


def rule_arn(rule: ScheduleRule, stack_name: str, region: str, account_id: str) -> str:
    return (
        f"arn:aws:events:{region}:{account_id}:rule/{stack_name}-{rule.function}{rule.event_name}"
    )


def scheduled_event(arn: str, region: str, account_id: str, now: float) -> dict[str, Any]:
    """The payload EventBridge sends for a scheduled rule without ``Input``."""
    stamp = datetime.fromtimestamp(now, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account_id,
        "time": stamp,
        "region": region,
        "resources": [arn],
        "detail": {},
    }


class Scheduler:
    """Fires one rule at its period in a background thread."""

    def __init__(
        self,
        rule: ScheduleRule,
        function: LocalFunction,
        *,
        stack_name: str,
        region: str,
        account_id: str,
        period: float | None = None,
        on_tick: TickListener | None = None,
    ) -> None:
        self.rule = rule
        self.period = period if period is not None else rule.period_seconds
        self.arn = rule_arn(rule, stack_name, region, account_id)
        self.ticks = 0
        self._function = function
        self._region = region
        self._account = account_id
        self._on_tick = on_tick
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def event(self, now: float | None = None) -> str:
        """The next tick's payload as JSON text."""
        if self.rule.input is not None:
            return self.rule.input
        now = time.time() if now is None else now
        return json.dumps(scheduled_event(self.arn, self._region, self._account, now))

    def start(self) -> None:
        if not self.rule.enabled or self._thread is not None:
            return
        self._thread = threading.Thread(
            target=self._run, name=f"schedule-{self.rule.function}", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout)
            self._thread = None

    def _run(self) -> None:
        due = time.monotonic() + self.period
        while not self._stop.wait(max(0.0, due - time.monotonic())):
            outcome = self._function.invoke(self.event(), wait=True)
            self.ticks += 1
            if self._on_tick is not None:
                self._on_tick(self.ticks, outcome)
            due = max(due + self.period, time.monotonic())
