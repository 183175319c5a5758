"""The refresher against generated direct-invoke payloads: the schedule's
EventBridge event, ``force`` and ``staleGeneration`` with any values, and
anything else JSON can hold."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hypothesis import event, given

from ringcx_broker.refresher import handle
from tests.fuzz.strategies import refresher_payloads
from tests.fuzz.worlds import assert_direct_reply, assert_discreet, refresher_world


def _may_rotate(payload: Any) -> bool:
    """Only ``force: true`` and a ``staleGeneration`` report may rotate a fresh token."""
    return isinstance(payload, Mapping) and (
        payload.get("force") is True or "staleGeneration" in payload
    )


@given(refresher_payloads)
def test_refresher_any_payload_is_ok_or_a_4xx_without_leaks(payload: Any) -> None:
    # Given a ring whose newest generation is fresh, and a RingCX that rotates
    world = refresher_world()
    # When any payload is invoked (a raise here is Lambda's "Unhandled" and a trace)
    reply = handle(payload, world.refresher, world.clock)
    # Then ok, or ok false below 500; no trace, no token; and nothing was written
    # unless the payload asked for a rotation
    assert_direct_reply(reply)
    event("ok" if reply["ok"] else f"ok false, {reply['statusCode']}")
    assert_discreet(reply, world.secrets)
    if not _may_rotate(payload):
        assert world.writes == 0
