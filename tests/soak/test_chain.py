"""Whether a re-login or a dead ring head is explained by what the schedule did."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from ringcx_broker.tokens import AccountInfo, StoredToken
from ringcx_dev.simulator import Fault
from ringcx_dev.soak import chain
from ringcx_dev.soak.simstate import SimCall
from ringcx_dev.soak.store import SlotWrite
from ringcx_dev.soak.world import Kill


def token(generation: int, source: str = "refresh") -> StoredToken:
    return StoredToken(generation, "a", "r", "Bearer", 0.0, 300.0, 0.0, source, AccountInfo())


def relogin_after(abandoned_at: float | None, at: float = 1000.0) -> SlotWrite:
    """A re-login stored at ``at`` over a chain whose newest was stored at ``abandoned_at``."""
    head = None if abandoned_at is None else SlotWrite(abandoned_at, "slot-1", "r#1", token(1))
    return SlotWrite(at, "slot-2", "refresher#1", token(2, "relogin"), head)


def world(
    kills: tuple[Kill, ...] = (),
    gone: tuple[tuple[str, float, float], ...] = (),
    calls: tuple[SimCall, ...] = (),
    writes: tuple[SlotWrite, ...] = (),
) -> Any:
    """The parts of a soak world the explanations read."""
    return SimpleNamespace(
        kills=list(kills),
        slot_gone=list(gone),
        simstate=SimpleNamespace(calls=list(calls)),
        watch=SimpleNamespace(writes=list(writes)),
    )


def refresh_call(at: float, fault: Fault | None, actor: str = "refresher#1") -> SimCall:
    return SimCall(at, "rcx_refresh", actor, fault, "w" if fault else None)


def test_relogin_over_an_empty_ring_is_the_bootstrap() -> None:
    # Given a re-login stored when the ring held no token
    # When it is judged
    # Then it is the bootstrap
    assert chain.explain_relogin(world(), relogin_after(None), "Bootstrap") == chain.BOOTSTRAP


def test_relogin_after_a_kill_of_its_chain_is_explained_by_it() -> None:
    # Given a revocation after the abandoned generation was stored
    scene = world(kills=(Kill(900.0, "revoked"),))

    # When the re-login is judged
    # Then the revocation explains it
    assert chain.explain_relogin(scene, relogin_after(800.0), "DeadRefreshToken") == "revoked"


def test_relogin_after_a_kill_older_than_its_chain_is_a_chain_break() -> None:
    # Given a revocation before the abandoned generation (a live chain) was stored
    scene = world(kills=(Kill(700.0, "revoked"),))

    # When the re-login is judged
    # Then nothing explains it: the broker dropped a live refresh token
    assert chain.explain_relogin(scene, relogin_after(800.0), "DeadRefreshToken") is None


def test_relogin_while_the_chain_head_slot_was_unreadable_is_explained() -> None:
    # Given the abandoned generation's slot refusing reads since after it was stored
    scene = world(gone=(("slot-1", 850.0, 2000.0),))

    # When the re-login is judged
    # Then the unreadable slot explains it
    assert chain.explain_relogin(scene, relogin_after(800.0), "DeadRefreshToken") == (
        chain.UNREADABLE
    )


@pytest.mark.parametrize(
    ("fault", "explained"),
    [
        (Fault(status=503), True),
        (Fault(drop=True), True),
        # a rate limit that follows failures does not block the re-login they made due
        (Fault(status=429, retry_after=60), True),
        (Fault(status=503, retry_after=20), True),
        (None, False),  # the last refresh worked: nothing was failing
    ],
)
def test_relogin_for_a_failing_refresh_needs_the_last_refresh_to_have_failed(
    fault: Fault | None, explained: bool
) -> None:
    # Given the refresher's last refresh call before the re-login (an earlier one failed)
    calls = [refresh_call(900.0, Fault(status=500)), refresh_call(990.0, fault)]
    calls.append(refresh_call(995.0, Fault(status=500), actor="proxy#0"))  # not the refresher's

    # When a RefreshFailing re-login is judged
    verdict = chain.explain_relogin(
        world(calls=tuple(calls)), relogin_after(800.0), "RefreshFailing"
    )

    # Then only a failure that is no rate limit explains it
    assert (verdict == chain.REFRESH_FAILING) is explained
    assert explained or verdict is None


@pytest.mark.parametrize(
    "fault", [Fault(status=429, retry_after=60), Fault(status=503, retry_after=9)]
)
def test_relogin_after_rate_limits_alone_is_a_chain_break(fault: Fault) -> None:
    # Given a refresh that only ever met rate limits before the re-login
    calls = (refresh_call(900.0, fault), refresh_call(990.0, fault))

    # When a RefreshFailing re-login is judged
    verdict = chain.explain_relogin(world(calls=calls), relogin_after(800.0), "RefreshFailing")

    # Then nothing explains it: a rate limit must never cause a re-login
    assert verdict is None


def test_relogin_of_a_rejected_token_whose_refresh_failed_is_explained() -> None:
    # Given RingCX rejected the token early and its refresh then failed
    calls = (refresh_call(990.0, Fault(status=429, retry_after=20)),)

    # When the RejectedToken re-login is judged
    verdict = chain.explain_relogin(world(calls=calls), relogin_after(800.0), "RejectedToken")

    # Then the failed refresh of a token nobody could use explains it
    assert verdict == chain.REJECTED


def test_relogin_abandoning_a_generation_stored_again_dates_its_chain_from_the_first_write() -> (
    None
):
    # Given generation 1 stored at 700, stored again as generation 2 at 850 (its slot was lost),
    # and a revocation at 800 that killed their refresh token
    first = SlotWrite(700.0, "slot-1", "refresher#1", token(1))
    again = SlotWrite(850.0, "slot-2", "refresher#1", token(2))
    relogin = SlotWrite(1000.0, "slot-3", "refresher#1", token(3, "relogin"), again)
    scene = world(kills=(Kill(800.0, "revoked"),), writes=(first, again))

    # When the re-login is judged
    # Then the revocation explains it: the chain began when its refresh token was first stored
    assert chain.explain_relogin(scene, relogin, "DeadRefreshToken") == "revoked"


class Head:
    """A world whose ring head, live tokens and memory the test sets."""

    def __init__(self, head: SlotWrite, live: set[str], kills: tuple[Kill, ...] = ()) -> None:
        self.now = 1000.0
        self.head = head
        self.kills = list(kills)
        self.refresher = SimpleNamespace(name="refresher#1")
        self.sim = SimpleNamespace(state=SimpleNamespace(live_refresh_tokens=live))

    def clock(self) -> float:
        return self.now

    def newest(self) -> SlotWrite:
        return self.head

    def unstored_grant(self) -> None:
        return None


def test_lost_tokens_dead_head_with_no_reason_is_a_lost_token_until_it_lives_again() -> None:
    # Given a ring head whose refresh token RingCX no longer accepts, and no fault to blame
    scene = Head(SlotWrite(900.0, "slot-1", "refresher#1", token(1)), live=set())
    lost = chain.LostTokens()

    # When it is observed, and observed again once a live generation is stored
    lost.observe(scene)
    scene.now, scene.sim.state.live_refresh_tokens = 1100.0, {"r"}
    lost.observe(scene)

    # Then one unexplained stretch is recorded, from 1000 to 1100
    assert lost.close() == [chain.LostStretch(1000.0, 1100.0, 1, None)]


def test_lost_tokens_dead_head_after_a_revocation_is_explained() -> None:
    # Given a ring head stored before a revocation
    head = SlotWrite(900.0, "slot-1", "refresher#1", token(1))
    scene = Head(head, live=set(), kills=(Kill(950.0, "revoked"),))
    lost = chain.LostTokens()

    # When it is observed
    lost.observe(scene)

    # Then the stretch carries the revocation as its explanation
    assert [s.explanation for s in lost.close()] == ["revoked"]
