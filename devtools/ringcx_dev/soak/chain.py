"""Is the refresh chain alive, and if it died, did the schedule kill it?

Judged from the shadow ring (``StoreWatch``) and the simulator's own state:

- ``LostTokens``, after every event: is the ring's newest refresh token one
  RingCX would still accept? If not, something must explain it: a
  revocation after it was stored, garbage over its slot, a rotation that
  spent it whose successor is still in the refresher's memory (or was, in
  a container that has since been recycled). Anything else is a lost token.
- ``explain_relogin``, for every re-login the refresher stored: something
  must have ended the chain it abandoned, or made it unreachable, or kept
  its refresh failing until the token's last chance. Anything else is a
  chain break: the broker dropped a live refresh token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .store import SlotWrite
from .world import World

RELOGIN_SOURCE = "relogin"
PENDING = "rotated, not stored yet (the refresher keeps it in memory)"
RECYCLED = "recycled between a rotation and its write"
UNREADABLE = "the newest generation's slot was unreadable"
REFRESH_FAILING = "refresh failed (injected) up to the token's last chance"
REJECTED = "RingCX rejected the token early while its refresh failed (injected)"
BOOTSTRAP = "bootstrap (the ring was empty)"


@dataclass(frozen=True, slots=True)
class LostStretch:
    since: float
    until: float | None
    generation: int
    explanation: str | None

    def to_json(self, origin: float) -> dict[str, Any]:
        return {
            "from": round(self.since - origin, 1),
            "to": None if self.until is None else round(self.until - origin, 1),
            "generation": self.generation,
            "explanation": self.explanation,
        }


class LostTokens:
    """Stretches of time in which the ring's newest refresh token was not live."""

    def __init__(self) -> None:
        self.stretches: list[LostStretch] = []
        self._open: LostStretch | None = None

    def observe(self, world: World) -> None:
        head = world.newest()
        now = world.clock()
        state: tuple[int, str | None] | None = None
        if head is not None and head.token is not None:
            refresh = head.token.refresh_token
            if refresh is None or refresh not in world.sim.state.live_refresh_tokens:
                state = (head.token.generation, explain_dead_head(world, head))
        current = self._open
        if current is not None and (
            state is None or state != (current.generation, current.explanation)
        ):
            self.stretches.append(
                LostStretch(current.since, now, current.generation, current.explanation)
            )
            self._open = None
        if state is not None and self._open is None:
            self._open = LostStretch(now, None, state[0], state[1])

    def close(self) -> list[LostStretch]:
        if self._open is not None:
            self.stretches.append(self._open)
            self._open = None
        return self.stretches


def explain_dead_head(world: World, head: SlotWrite) -> str | None:
    pending = world.unstored_grant()
    if pending is not None:
        return PENDING if pending.actor == world.refresher.name else RECYCLED
    kills = [k for k in world.kills if k.at >= head.at]
    return kills[-1].cause if kills else None


def explain_relogin(world: World, write: SlotWrite, reason: str | None) -> str | None:
    """Why the refresher was right to start a new chain when it stored ``write``."""
    abandoned = write.replaced
    if abandoned is None:
        return BOOTSTRAP
    # A generation stored again (its slot had turned unreadable) carries its
    # predecessor's refresh token: the chain began where that token was first stored.
    began = _first_stored(world, abandoned)
    for kill in world.kills:
        if began <= kill.at <= write.at:
            return kill.cause
    for slot, since, until in world.slot_gone:
        if slot == abandoned.slot and since <= write.at and until >= abandoned.at:
            return UNREADABLE
    if reason in (None, "RefreshFailing") and _refresh_failing(world, write.at, began):
        return REFRESH_FAILING
    if reason == "RejectedToken" and _refresh_faults(world, write.at, since=began):
        return REJECTED
    return None


def _first_stored(world: World, write: SlotWrite) -> float:
    refresh = write.token.refresh_token if write.token is not None else None
    if refresh is None:
        return write.at
    return min(
        (
            w.at
            for w in world.watch.writes
            if w.token is not None and w.token.refresh_token == refresh
        ),
        default=write.at,
    )


def _refresh_faults(world: World, before: float, since: float) -> list[Any]:
    """The injected faults the refresher's refresh calls met in ``[since, before]``,
    newest first, up to its last call that met none."""
    found = []
    for call in reversed(world.simstate.calls):
        if call.at > before or call.endpoint != "rcx_refresh":
            continue
        if not call.actor.startswith("refresher"):
            continue
        if call.at < since or call.fault is None:
            break
        found.append(call.fault)
    return found


def _refresh_failing(world: World, before: float, began: float) -> bool:
    """The abandoned chain's refresh had kept failing (injected, no success in
    between) when the re-login came, and not only by rate limits: a rate limit
    alone must never cause a re-login, but one that follows failures does not
    block the re-login those failures made due."""
    return any(not is_rate_limit(f) for f in _refresh_faults(world, before, since=began))


def is_rate_limit(fault: Any) -> bool:
    return bool(fault.status == 429 or (fault.status == 503 and fault.retry_after is not None))


def relogins(world: World) -> list[SlotWrite]:
    """Each generation the refresher stored from a re-login, once."""
    seen: set[int] = set()
    found = []
    for write in world.watch.writes:
        token = write.token
        if token is None or token.source != RELOGIN_SOURCE or token.generation in seen:
            continue
        if write.actor.startswith("refresher"):
            seen.add(token.generation)
            found.append(write)
    return found
