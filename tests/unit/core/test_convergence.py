"""convergence.py: the refresher's verdicts, its re-login deadline and its pacing."""

from __future__ import annotations

import pytest

from ringcx_broker.convergence import (
    AttemptPacer,
    ConvergencePolicy,
    Verdict,
    verdict_of,
)
from ringcx_broker.errors import (
    BrokerError,
    CredentialsRejected,
    RateLimited,
    RefreshTokenRejected,
    SecretStoreUnavailable,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from tests.unit.core.fakes import LIFETIME, T0, make_token


@pytest.mark.parametrize(
    ("error", "verdict"),
    [
        (RateLimited("429", 60), Verdict.RATE_LIMITED),
        (RefreshTokenRejected("HTTP 400 invalid_grant"), Verdict.DEAD),
        (UpstreamUnavailable("HTTP 503"), Verdict.TRANSIENT),
        (UpstreamTimeout("slow"), Verdict.TRANSIENT),
        (UpstreamUnavailable("RingCX replied without an accessToken"), Verdict.TRANSIENT),
        (SecretStoreUnavailable("throttled"), Verdict.OTHER),
        (CredentialsRejected("bad jwt"), Verdict.OTHER),
    ],
    ids=["429", "4xx", "5xx", "timeout", "200-without-token", "store", "credentials"],
)
def test_verdict_of_refresh_failure_maps_each_answer(error: BrokerError, verdict: Verdict) -> None:
    # Given a failure of a refresh attempt
    # When it is judged
    # Then 429 waits, other 4xx is dead, and everything unclear is transient
    assert verdict_of(error) is verdict


@pytest.mark.parametrize(
    ("age", "tick", "expected"),
    [
        (180, 60, False),  # 120 s left: the next tick still finds 60 s > 30 s
        (209, 60, False),  # 91 s left: 31 s at the next tick, still enough
        (211, 60, True),  # 89 s left: 29 s at the next tick is inside the leeway
        (240, 60, True),  # 60 s left: the next tick comes too late
        (400, 60, True),  # already expired
        (12, 4, False),  # 20-second tokens, T = 4 s: 8 s left, 4 s at the next tick > 2 s
        (16, 4, True),  # 4 s left: 0 at the next tick
    ],
)
def test_convergence_policy_must_relogin_when_the_next_chance_comes_too_late(
    age: float, tick: float, expected: bool
) -> None:
    # Given a token of age ``age`` and a schedule period ``tick`` (leeway 0.1)
    lifetime = LIFETIME if tick == 60 else 20.0
    token = make_token(1, lifetime=lifetime)
    policy = ConvergencePolicy(tick_seconds=tick, margin_fraction=0.1)

    # When a transient failure persists
    # Then it re-logs in exactly when the next tick would leave less than the leeway
    assert policy.must_relogin(token, T0 + age) is expected


def test_convergence_policy_retry_spacing_is_a_quarter_tick() -> None:
    # Given the deployed tick and a compressed one
    # Then failing attempts stay at 4 a minute, and scale with a compressed clock
    assert ConvergencePolicy(60.0, 0.1).retry_spacing == 15.0
    assert ConvergencePolicy(4.0, 0.1).retry_spacing == 1.0


def test_attempt_pacer_doubles_up_to_the_cap_and_clears_on_success() -> None:
    # Given a pacer with a 15 s spacing and a 60 s cap
    pacer = AttemptPacer(spacing=15.0, cap=60.0)

    # When relogins keep failing
    delays = [pacer.failed("relogin", 1000.0) for _ in range(5)]

    # Then the waits double up to the cap, and only that kind is paced
    assert delays == [15.0, 30.0, 60.0, 60.0, 60.0]
    assert pacer.wait("relogin", 1030.0) == 30.0
    assert pacer.wait("refresh", 1000.0) == 0.0

    # When one succeeds, the next attempt may go at once and the count restarts
    pacer.succeeded("relogin")
    assert pacer.wait("relogin", 1000.0) == 0.0
    assert pacer.failed("relogin", 1000.0) == 15.0
