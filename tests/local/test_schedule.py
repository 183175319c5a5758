"""schedule.py: the refresher gets EventBridge's scheduled event, at the (fast) rate."""

from __future__ import annotations

import json
import time

from ringcx_dev.local.functions import LocalFunctions
from ringcx_dev.local.schedule import Scheduler, rule_arn, scheduled_event
from ringcx_dev.local.template import ScheduleRule
from ringcx_dev.local.worker import Invocation

RULE = ScheduleRule("Worker", "Tick", "rate(1 minute)", 60.0, enabled=True, input=None)


def test_scheduled_event_has_eventbridges_shape() -> None:
    arn = rule_arn(RULE, "stack", "eu-west-1", "123456789012")
    event = scheduled_event(arn, "eu-west-1", "123456789012", now=0.0)
    assert arn == "arn:aws:events:eu-west-1:123456789012:rule/stack-WorkerTick"
    assert event == {
        "version": "0",
        "id": event["id"],
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": "1970-01-01T00:00:00Z",
        "region": "eu-west-1",
        "resources": [arn],
        "detail": {},
    }


def test_scheduler_fast_clock_invokes_function_with_scheduled_events(
    fake_functions: LocalFunctions,
) -> None:
    # Given a rule of one minute, run on a fast clock
    seen: list[tuple[int, Invocation]] = []
    scheduler = Scheduler(
        RULE,
        fake_functions["Worker"],
        stack_name="stack",
        region="us-east-1",
        account_id="123456789012",
        period=0.05,
        on_tick=lambda tick, outcome: seen.append((tick, outcome)),
    )
    started = time.monotonic()
    scheduler.start()
    while len(seen) < 3 and time.monotonic() - started < 10:
        time.sleep(0.01)
    scheduler.stop()
    ticks = scheduler.ticks
    time.sleep(0.2)
    # Then it ticked at the fast period, each time with a scheduled event, and stopped
    assert [tick for tick, _ in seen[:3]] == [1, 2, 3]
    events = [outcome.result()["event"] for _, outcome in seen]
    assert all(e["detail-type"] == "Scheduled Event" for e in events)
    assert all(e["resources"] == [scheduler.arn] for e in events)
    assert len({e["id"] for e in events}) == len(events)
    assert scheduler.ticks == ticks


def test_scheduler_rule_input_replaces_the_scheduled_event(fake_functions: LocalFunctions) -> None:
    rule = ScheduleRule("Worker", "Tick", "rate(1 minute)", 60.0, True, '{"force": true}')
    scheduler = Scheduler(
        rule, fake_functions["Worker"], stack_name="s", region="r", account_id="a"
    )
    assert json.loads(scheduler.event()) == {"force": True}


def test_scheduler_disabled_rule_never_fires(fake_functions: LocalFunctions) -> None:
    rule = ScheduleRule("Worker", "Tick", "rate(1 minute)", 60.0, False, None)
    scheduler = Scheduler(
        rule, fake_functions["Worker"], stack_name="s", region="r", account_id="a", period=0.01
    )
    scheduler.start()
    time.sleep(0.1)
    scheduler.stop()
    assert scheduler.ticks == 0
    assert fake_functions["Worker"].container.starts == 0
