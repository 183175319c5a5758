"""Pure protocol logic with an injected fake clock: no sockets involved."""

from __future__ import annotations

import pytest

from ringcx_dev.simulator import Fault, SimConfig, SimState
from ringcx_dev.simulator.ratelimit import SlidingWindowLimiter
from ringcx_dev.simulator.state import (
    BearerCheck,
    RcxTokens,
    RefreshFailure,
    SessionQuotaExceeded,
)
from ringcx_dev.simulator.tokens import TokenError, mint_access_token, verify_access_token

from .simclient import FakeClock


@pytest.fixture
def state(clock: FakeClock) -> SimState:
    return SimState(SimConfig(), clock)


def _pair(state: SimState) -> RcxTokens:
    tokens = state.exchange(state.login().access_token, include_refresh=True)
    assert tokens is not None
    assert tokens.refresh_token is not None
    return tokens


@pytest.mark.parametrize(
    ("restart", "expected"),
    [(False, [False, False, True, True]), (True, [False, False, False, True])],
)
def test_limiter_limit_reached_rejects_until_penalty_ends(
    restart: bool, expected: list[bool]
) -> None:
    # Given a limiter that allowed five calls at t=0
    limiter = SlidingWindowLimiter()
    allowed = [limiter.allow(0.0, 5, 60.0, 60.0, restart=restart).allowed for _ in range(5)]

    # When calls arrive at t=1 (the sixth), t=59.9, t=61 and t=121
    times = (1.0, 59.9, 61.0, 121.0)
    results = [limiter.allow(t, 5, 60.0, 60.0, restart=restart).allowed for t in times]

    # Then the sixth starts a 60 s penalty; with restarts each refused call moves its end
    # (t=59.9 to 119.9, t=61 to 121), so only t=121 is allowed again
    assert allowed == [True] * 5
    assert results == expected


def test_state_rotate_each_refresh_token_works_once(state: SimState) -> None:
    # Given a refresh token
    first = _pair(state)
    assert first.refresh_token is not None

    # When rotating it twice
    rotated = state.rotate(first.refresh_token)
    reused = state.rotate(first.refresh_token)

    # Then the second use is refused as spent and counted
    assert isinstance(rotated, RcxTokens)
    assert reused is RefreshFailure.SPENT
    assert state.spent_refresh_reuse == 1
    assert state.live_refresh_tokens == {rotated.refresh_token}


@pytest.mark.parametrize(
    ("token_source", "expected"),
    [("revoked", RefreshFailure.REVOKED), ("unknown", RefreshFailure.UNKNOWN)],
)
def test_state_rotate_revoked_or_unknown_token_is_refused(
    state: SimState, token_source: str, expected: RefreshFailure
) -> None:
    # Given a revoked or never-issued refresh token
    token = _pair(state).refresh_token if token_source == "revoked" else "never-issued"
    assert token is not None
    state.revoke_refresh_tokens()

    # When rotating it
    result = state.rotate(token)

    # Then it is refused without counting reuse
    assert result is expected
    assert state.spent_refresh_reuse == 0


def test_state_check_bearer_expires_at_exp(state: SimState, clock: FakeClock) -> None:
    # Given an access token with a 300 s lifetime
    access = _pair(state).access_token

    # When the clock moves to just before and then to exp
    clock.advance(299.999)
    before = state.check_bearer(access)
    clock.advance(0.001)
    at_exp = state.check_bearer(access)

    # Then it is valid until exp and expired from exp on
    assert (before, at_exp) == (BearerCheck.VALID, BearerCheck.EXPIRED)
    assert state.expired_token_uses == 1


def test_state_login_beyond_session_limit_cancels_oldest(state: SimState) -> None:
    # Given five sessions (the limit)
    tokens = [state.login().access_token for _ in range(5)]

    # When a sixth login happens
    state.login()

    # Then only the oldest session stops working
    assert state.exchange(tokens[0], include_refresh=False) is None
    assert state.exchange(tokens[1], include_refresh=False) is not None


def test_state_admit_consumes_faults_in_order(state: SimState) -> None:
    # Given two faults, the first for two calls
    state.inject("api", Fault(status=503, count=2))
    state.inject("api", Fault(drop=True))

    # When four calls are admitted
    faults = [state.admit("api") for _ in range(4)]

    # Then they get the faults in order, then none, and every call is counted
    assert faults == [
        Fault(status=503, count=2),
        Fault(status=503, count=2),
        Fault(drop=True),
        None,
    ]
    assert state.counters()["api"]["calls"] == 4
    assert state.counters()["api"]["faults"] == 3


@pytest.mark.parametrize(
    ("changes", "field", "expected"),
    [
        ({"token_lifetime": 15}, "token_lifetime", 15.0),
        ({"rate_limit_refresh": False}, "rate_limit_refresh", False),
        ({"signing_key": "k2"}, "signing_key", b"k2"),
        ({"account_id": "444"}, "account_id", "444"),
        ({"clock_skew": 30}, "clock_skew", 30.0),
        ({"latency": 0.1}, "latency", 0.1),
        ({"exchange_denied_status": 404}, "exchange_denied_status", 404),
        ({"dead_refresh_reply": "200-no-token"}, "dead_refresh_reply", "200-no-token"),
        ({"dead_refresh_reply": "599"}, "dead_refresh_reply", "599"),
        ({"penalty_restarts": False}, "penalty_restarts", False),
    ],
)
def test_config_with_changes_coerces_to_field_types(
    changes: dict[str, object], field: str, expected: object
) -> None:
    # Given JSON-style changes
    # When applying them
    config = SimConfig().with_changes(changes)

    # Then the field holds the coerced value
    assert getattr(config, field) == expected
    assert type(getattr(config, field)) is type(expected)


@pytest.mark.parametrize(
    "changes",
    [
        {"retry_after": 0},
        {"rate_limit": True},
        {"retry_after": 1.5},
        {"client_id": 3},
        {"x": 1},
        {"clock_skew": -1},
        {"clock_skew": float("inf")},
        {"latency": -0.1},
        {"expired_message": ""},
        {"exchange_denied_status": 401},
        {"exchange_denied_status": "403"},
        {"dead_refresh_reply": "200"},
        {"dead_refresh_reply": "600"},
        {"dead_refresh_reply": "teapot"},
        {"dead_refresh_reply": 401},
        {"retry_after_header": "no"},
        {"session_quota_429": 1},
    ],
)
def test_config_with_changes_invalid_values_raise(changes: dict[str, object]) -> None:
    # Given a change that is out of range, of the wrong type or unknown
    # When applying it
    # Then it is refused
    with pytest.raises(ValueError, match=r"\w"):
        SimConfig().with_changes(changes)


@pytest.mark.parametrize("tamper", ["signature", "payload", "key"])
def test_tokens_verify_tampered_token_raises(tamper: str) -> None:
    # Given a signed token
    token, claims = mint_access_token(b"key", 1000.5, 300.0, sub="s", account_id="a")
    header, payload, signature = token.split(".")
    key = b"key"
    if tamper == "signature":
        token = f"{header}.{payload}.{signature[::-1]}"
    elif tamper == "payload":
        token = f"{header}.{payload[:-2]}AA.{signature}"
    else:
        key = b"other"

    # When verifying it
    # Then verification fails, while the untampered claims were as minted
    assert (claims.iat, claims.exp) == (1000, 1300)
    with pytest.raises(TokenError):
        verify_access_token(token, key)


def test_state_login_with_session_quota_raises_instead_of_evicting(clock: FakeClock) -> None:
    # Given a quota of one session that refuses more
    state = SimState(SimConfig(max_rc_sessions=1, session_quota_429=True), clock)
    first = state.login().access_token

    # When logging in again
    # Then the login is refused and the first session still works
    with pytest.raises(SessionQuotaExceeded):
        state.login()
    assert state.rc_token_live(first)


def test_state_verify_bearer_returns_claims_of_valid_and_expired_tokens(
    state: SimState, clock: FakeClock
) -> None:
    # Given a token, checked fresh and after its exp, and a garbled one
    access = _pair(state).access_token
    fresh = state.verify_bearer(access)
    clock.advance(300)
    stale = state.verify_bearer(access)
    garbled = state.verify_bearer("a.b.c")

    # Then well-signed tokens come with their claims, the garbled one without
    assert fresh.check is BearerCheck.VALID
    assert stale.check is BearerCheck.EXPIRED
    assert fresh.claims == stale.claims
    assert fresh.claims is not None
    assert fresh.claims.exp == int(clock.now)
    assert (garbled.check, garbled.claims) == (BearerCheck.INVALID, None)
