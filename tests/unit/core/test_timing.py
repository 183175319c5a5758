"""timing.py: the cadence arithmetic (docs/design.md, "Cadence")."""

from __future__ import annotations

import math

import pytest

from ringcx_broker.timing import TimingPolicy, ring_size_for, tick_fraction

LEEWAY = "ProxyLeewayFraction"


def test_timing_policy_defaults_with_five_minute_tokens_has_no_problems() -> None:
    # Given the shipped policy (f = 0.4, leeway = 0.1, T = 60 s)
    policy = TimingPolicy()

    # When it is checked against RingCX's 300 s tokens
    found = policy.problems(300.0)

    # Then the arithmetic holds: f >= 2T/L, f <= 0.5, leeway < f - T/L
    assert found == []


@pytest.mark.parametrize(
    ("lifetime", "tick"),
    [(300.0, 60.0), (20.0, 4.0), (3600.0, 720.0)],
    ids=["5-min-tokens", "20-s-tokens", "1-h-tokens"],
)
def test_timing_policy_scaled_lifetime_and_tick_has_no_problems(
    lifetime: float, tick: float
) -> None:
    # Given a tick that is the same fraction (T/L = 0.2) of a shorter or longer life
    policy = TimingPolicy(tick_seconds=tick)

    # When it is checked
    found = policy.problems(lifetime)

    # Then the system behaves the same, just faster or slower
    assert found == []


@pytest.mark.parametrize(
    ("policy", "lifetime", "expected"),
    [
        (TimingPolicy(refresh_fraction=0.6, tick_seconds=30.0), 300.0, ["at most 0.5"]),
        (TimingPolicy(refresh_fraction=0.0), 300.0, ["at most 0.5", "below 2T/L", LEEWAY]),
        (TimingPolicy(refresh_fraction=-0.1), 300.0, ["at most 0.5", "below 2T/L", LEEWAY]),
        (TimingPolicy(tick_seconds=120.0), 300.0, ["below 2T/L = 0.80", "f - T/L = 0.00"]),
        (TimingPolicy(refresh_fraction=0.3), 300.0, ["below 2T/L = 0.40", "f - T/L = 0.10"]),
        (TimingPolicy(leeway_fraction=0.2), 300.0, [f"{LEEWAY} 0.2 must be below f - T/L = 0.20"]),
        (TimingPolicy(leeway_fraction=0.25), 300.0, ["ProxyLeewayFraction 0.25"]),
        (TimingPolicy(leeway_fraction=-0.01), 300.0, ["ProxyLeewayFraction -0.01"]),
        (TimingPolicy(), 150.0, ["below 2T/L = 0.80", "ProxyLeewayFraction"]),
        (TimingPolicy(), 0.0, ["below 2T/L = 2.00", "ProxyLeewayFraction"]),
    ],
    ids=[
        "f-above-half",
        "f-zero",
        "f-negative",
        "tick-too-slow",
        "no-room-for-a-failed-tick",
        "leeway-equal-to-margin",
        "leeway-above-margin",
        "leeway-negative",
        "short-tokens-default-tick",
        "zero-lifetime",
    ],
)
def test_timing_policy_broken_arithmetic_reports_each_problem(
    policy: TimingPolicy, lifetime: float, expected: list[str]
) -> None:
    # Given a policy that violates one or more cadence rules
    # When it is checked
    found = policy.problems(lifetime)

    # Then each violated rule is reported once, in order, in plain words
    assert len(found) == len(expected)
    for finding, fragment in zip(found, expected, strict=True):
        assert fragment in finding


def test_timing_policy_defaults_with_299_second_tokens_has_no_problems() -> None:
    # Given the shipped policy and a token whose exp - iat is a second short of 300
    # When it is checked
    found = TimingPolicy().problems(299.0, ring_size=6)

    # Then rounding does not make a met rule look broken
    assert found == []


@pytest.mark.parametrize(("ring_size", "problems"), [(6, 0), (5, 0), (4, 1)])
def test_timing_policy_deployed_tick_checks_the_ring_size(ring_size: int, problems: int) -> None:
    # Given a deployed schedule (T = 60 s) and rings of several sizes
    policy = TimingPolicy()

    # When the policy is checked for 5-minute tokens
    found = policy.problems(300.0, ring_size=ring_size)

    # Then a ring below 900 s / P = 5 is reported, in one plain sentence
    assert len(found) == problems
    if problems:
        assert found[0] == (
            "a ring of 4 secrets is too small for 300-second tokens: 5 are needed to "
            "write each secret at most once per 15 minutes"
        )


def test_timing_policy_compressed_tick_skips_the_write_quota_rule() -> None:
    # Given a compressed clock (15-second tokens, T = 3 s: no EventBridge schedule is
    # that fast), whose writes are fast by design
    policy = TimingPolicy(tick_seconds=3.0)

    # When it is checked with the template's ring of 6
    found = policy.problems(15.0, ring_size=6)

    # Then nothing is reported: the fractions hold, and the real quota is not at stake
    assert found == []


@pytest.mark.parametrize(
    ("tick", "lifetime", "expected"),
    [(60.0, 300.0, 0.2), (4.0, 20.0, 0.2), (60.0, 0.0, 1.0), (60.0, -5.0, 1.0)],
)
def test_tick_fraction_lifetime_gives_ratio_or_one(
    tick: float, lifetime: float, expected: float
) -> None:
    # Given a tick and a lifetime (possibly degenerate)
    # When the fraction T/L is computed
    # Then it is the ratio, and a non-positive lifetime counts as "a whole life per tick"
    assert tick_fraction(tick, lifetime) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("lifetime", "fraction", "interval", "expected"),
    [
        (300.0, 0.4, 900.0, 5),  # the design's worked example: P = 180 s, K = 5
        (300.0, 0.5, 900.0, 6),  # P = 150 s
        (300.0, 0.2, 900.0, 4),  # P = 240 s, 3.75 rounds up
        (300.0, 0.4, 600.0, 4),  # AWS's 10-minute advice: 3.33 rounds up
        (20.0, 0.4, 900.0, 75),  # P = 12 s
        (3600.0, 0.4, 900.0, 1),  # P = 2160 s: one secret is enough
        (1.0, 0.4, 900.0, 900),  # P < 1 s is treated as 1 s, never a division by zero
        (300.0, 1.0, 900.0, 900),  # P = 0
    ],
)
def test_ring_size_for_lifetime_and_fraction_gives_ceiling_of_interval_over_period(
    lifetime: float, fraction: float, interval: float, expected: int
) -> None:
    # Given a token lifetime, a refresh fraction and the per-secret write interval
    policy = TimingPolicy(refresh_fraction=fraction)

    # When the ring size is derived
    size = ring_size_for(lifetime, policy, interval)

    # Then K = ceil(interval / P) with P = (1 - f) L
    assert size == expected


@pytest.mark.parametrize("lifetime", [15.0, 20.0, 59.0, 299.0, 300.0, 301.0, 1000.0, 3600.0])
@pytest.mark.parametrize("fraction", [0.1, 0.25, 0.4, 0.5])
def test_ring_size_for_any_policy_keeps_each_secret_below_one_write_per_interval(
    lifetime: float, fraction: float
) -> None:
    # Given any lifetime and refresh fraction
    policy = TimingPolicy(refresh_fraction=fraction)
    period = (1 - fraction) * lifetime

    # When the ring size is derived
    size = ring_size_for(lifetime, policy)

    # Then a full lap of the ring takes at least 15 minutes (one write per secret per 15 min) ...
    assert size * period >= 900.0
    # ... and is not needlessly large: rounding P down to whole seconds costs at most 1 s of P
    assert size <= math.ceil(900.0 / max(1.0, period - 1.0))
