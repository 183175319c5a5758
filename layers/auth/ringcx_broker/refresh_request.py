"""What RefreshFunction is asked to do, read strictly from its event.

Three shapes are documented, and only they are accepted:

- the EventBridge schedule's event (``source`` ``aws.events``,
  ``detail-type`` ``Scheduled Event``): refresh if due;
- ``{"force": true}`` from an operator: rotate now (``false``: if due);
- ``{"staleGeneration": g}`` from a proxy: rotate unless a generation newer
  than g exists (or RingCX rejected g early).

Anything else is a 400: guessing "a tick" for an odd payload would let any
caller with invoke rights spend RingCX calls, and hides the caller's bug.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from ringcx_broker.errors import BadRequest

# A generation is written at most every few seconds; 2**53 keeps it an exact
# JSON number for every client, and ends "10**40"-style nonsense early.
MAX_GENERATION = 2**53
EXPECTED = 'RefreshFunction takes its scheduled event, {"force": true} or {"staleGeneration": g}'


class Kind(StrEnum):
    TICK = "tick"
    FORCE = "force"
    STALE = "stale"


@dataclass(frozen=True, slots=True)
class RefreshRequest:
    kind: Kind
    stale_generation: int | None = None

    @classmethod
    def from_event(cls, event: object) -> RefreshRequest:
        if not isinstance(event, Mapping):
            raise BadRequest(f"the event is not a JSON object; {EXPECTED}")
        if is_scheduled_event(event):
            return cls(Kind.TICK)
        keys = set(event)
        if keys == {"staleGeneration"}:
            stale = event["staleGeneration"]
            if (
                not isinstance(stale, int)
                or isinstance(stale, bool)
                or not 0 <= stale <= MAX_GENERATION
            ):
                raise BadRequest("staleGeneration must be a non-negative integer")
            return cls(Kind.STALE, stale)
        if keys == {"force"}:
            if not isinstance(event["force"], bool):
                raise BadRequest("force must be true or false")
            return cls(Kind.FORCE if event["force"] else Kind.TICK)
        raise BadRequest(f"unrecognised event; {EXPECTED}")


def is_scheduled_event(event: Mapping[object, object]) -> bool:
    """EventBridge's scheduled event, by the two fields that make it one."""
    return event.get("source") == "aws.events" and event.get("detail-type") == "Scheduled Event"
