"""The simulator's state as the soak runs it: fault windows, penalties, grants."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from ringcx_dev.simulator import Fault, SimConfig
from ringcx_dev.simulator.state import RcxTokens
from ringcx_dev.soak.simstate import SimWindow, SoakSimState


@dataclass
class Scene:
    now: float = 1000.0
    actor: str = "refresher#1"

    def state(self) -> SoakSimState:
        return SoakSimState(SimConfig(), lambda: self.now, lambda: self.actor)


@pytest.fixture
def scene() -> Scene:
    return Scene()


def test_window_fails_calls_while_it_lasts_up_to_its_count(scene: Scene) -> None:
    # Given a window failing two refresh calls between t = 1010 and 1070
    state = scene.state()
    fault = Fault(status=503)
    state.open_window(SimWindow("w", "rcx_refresh", fault, 1010.0, 1070.0, calls=2))

    # When refresh calls arrive before, during and after it
    outcomes = []
    for at in (1000.0, 1020.0, 1030.0, 1040.0):
        scene.now = at
        outcomes.append(state.admit("rcx_refresh"))

    # Then only the first two calls inside it fail, and the hits are counted
    assert outcomes == [None, fault, fault, None]
    assert state.window_hits["w"] == 2
    assert [c.window for c in state.calls] == [None, "w", "w", None]


def test_window_ends_on_time_and_spares_other_endpoints(scene: Scene) -> None:
    # Given a window failing every login until t = 1060
    state = scene.state()
    state.open_window(SimWindow("w", "rc_token", Fault(status=500), 1000.0, 1060.0))

    # When a refresh call and a late login arrive
    refresh = state.admit("rcx_refresh")
    scene.now = 1060.0
    login = state.admit("rc_token")

    # Then neither fails
    assert refresh is None
    assert login is None


def test_call_during_a_known_penalty_is_a_breach(scene: Scene) -> None:
    # Given the refresher told to wait 30 s by a 429 at t = 1000
    state = scene.state()
    state.open_window(SimWindow("w", "rc_token", Fault(status=429, retry_after=30), 0, 9e9, 1))
    state.admit("rc_token")
    state.log_call("rc_token", 1000.0, 429)

    # When the stack calls again at t = 1010, an operator at 1015, the stack at 1030
    for at, actor in ((1010.0, "exchange"), (1015.0, "operator"), (1030.0, "refresher#2")):
        scene.now, scene.actor = at, actor
        state.admit("rc_token")
        state.log_call("rc_token", at, 200)

    # Then only the stack's early call is a breach, 20 s early
    assert [(b.at, b.actor, b.early_by) for b in state.breaches] == [(1010.0, "exchange", 20.0)]


def test_penalty_without_retry_after_lasts_thirty_seconds(scene: Scene) -> None:
    # Given a 429 without Retry-After
    state = SoakSimState(SimConfig(retry_after_header=False), lambda: scene.now, lambda: "exchange")
    state.open_window(SimWindow("w", "rcx_exchange", Fault(status=429), 0, 9e9, 1))
    state.admit("rcx_exchange")
    state.log_call("rcx_exchange", 1000.0, 429)

    # When the stack calls 29 s and 30 s later
    for at in (1029.0, 1030.0):
        scene.now = at
        state.admit("rcx_exchange")

    # Then only the first is a breach: RingCentral asks for at least 30 s
    assert [b.at for b in state.breaches] == [1029.0]


def test_grants_and_issued_tokens_are_remembered(scene: Scene) -> None:
    # Given a login and an exchange by the refresher, then a rotation by another container
    state = scene.state()
    session = state.login()
    tokens = state.exchange(session.access_token, include_refresh=True)
    assert tokens is not None and tokens.refresh_token is not None
    scene.actor = "refresher#2"
    rotated = state.rotate(tokens.refresh_token)

    # Then every token issued is known, and each refresh token with who asked for it
    assert {session.access_token, session.refresh_token, tokens.access_token} <= state.issued
    assert [(g.actor, g.via) for g in state.grants] == [
        ("refresher#1", "exchange"),
        ("refresher#2", "refresh"),
    ]
    assert isinstance(rotated, RcxTokens)
    assert rotated.refresh_token in state.issued
