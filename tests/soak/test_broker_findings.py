"""What the soak found in the broker, each as the smallest scenario that shows it.

Each test states what the broker should do and fails today (``xfail``,
strict): when the broker is fixed, the test passes and strict mode asks for
the marker to go. The scenarios run the soak's world (the real refresher and
proxy containers, the simulator and moto on a virtual clock) step by step.
"""

from __future__ import annotations

from http import HTTPStatus

import pytest

from ringcx_dev.faultproxy import AwsFault
from ringcx_dev.simulator import Fault, max_calls_in_window
from ringcx_dev.soak.simstate import SimWindow
from ringcx_dev.soak.world import World

pytestmark = pytest.mark.integration

HOUR = 3600.0


def bootstrap(world: World) -> float:
    """The first tick logs in and stores generation 1; returns its time."""
    world.tick()
    newest = world.newest()
    assert newest is not None and newest.token is not None
    assert newest.token.generation == 1
    return world.clock()


def fail(world: World, endpoint: str, fault: Fault, since: float, calls: int | None = None) -> None:
    world.simstate.open_window(SimWindow(endpoint, endpoint, fault, since, since + HOUR, calls))


@pytest.mark.xfail(
    strict=True,
    reason=(
        "the refresher sends up to 3 refresh calls per run (RetryPolicy) and the AttemptPacer "
        "spaces runs 15 s then 30 s apart, so a failing refresh retried by a proxy's invoke "
        "30-ish s after a tick makes 6 calls in 60 s; the 6th meets RingCX's 5/min limit "
        "(soak seed 9, 0.5 days: t = 8160-8194 s; 7 days: t = 41040 s across a recycle)"
    ),
)
def test_refresh_failing_with_a_proxy_asking_stays_within_five_calls_a_minute(
    world: World,
) -> None:
    # Given a fresh ring, then RingCX refresh answering 503 and one RingCentral login failing
    start = bootstrap(world)
    fail(world, "rcx_refresh", Fault(status=503), start)
    fail(world, "rc_token", Fault(status=503), start, calls=1)

    # When the schedule ticks at 120 s and 60 s left (refresh fails; the re-login fails)
    for age in (180.0, 240.0):
        world.clock.set(start + age)
        world.tick()
    # and a proxy whose token is inside its leeway asks the refresher 33 s later
    world.clock.set(start + 273.0)
    world.run_refresher({"staleGeneration": 1})

    # Then RingCX refresh saw at most 5 calls in any 60 s
    assert max_calls_in_window(world.sim.auth_calls(), "rcx_refresh", 60.0) <= 5


@pytest.mark.xfail(
    strict=True,
    reason=(
        "a generation stored in a slot that then becomes unreadable (AccessDenied or "
        "ResourceNotFound on that one secret) is stranded: readers skip the slot, the "
        "refresher keeps it as its newest (KEEP / newer-exists) and nobody re-stores it, so "
        "every proxy gets 503 from the older generation's expiry until the next scheduled "
        "rotation, up to 2P - L = 60 s (soak seed 9, 0.5 days: t = 32520-32580 s)"
    ),
)
def test_newest_generation_whose_slot_turns_unreadable_keeps_proxies_served(
    world: World,
) -> None:
    # Given a ring with generations 1 and 2, and a proxy that cached generation 1
    start = bootstrap(world)
    world.clock.set(start + 10.0)
    world.request(0)
    world.clock.set(start + 180.0)
    world.tick()
    newest = world.newest()
    assert newest is not None and newest.token is not None and newest.token.generation == 2

    # When generation 2's slot refuses reads from then on
    for operation in ("GetSecretValue", "BatchGetSecretValue"):
        world.store_faults.open("deny", operation, AwsFault.access_denied(), newest.slot)
    for age in (240.0, 300.0):
        world.clock.set(start + age)
        world.tick()
    # and the proxy serves requests after generation 1 has expired
    world.clock.set(start + 310.0)
    world.request(0)

    # Then the request was served
    assert world.requests[-1].status == HTTPStatus.OK


@pytest.mark.xfail(
    strict=True,
    reason=(
        "after RingCX rejects a generation early ('Jwt is expired' before its exp), a forced "
        "rotation whose refresh fails transiently is not followed by a re-login: "
        "ConvergencePolicy.must_relogin judges by the token's own exp, so the 401s reach "
        "callers until the scheduled rotation's last chance, up to (1 - f)L + T = 240 s "
        "after the verdict (soak seed 9, 7 days: t = 308295 s, 6 failures over 97 s with a "
        "104 s clock skew and a refresh outage)"
    ),
)
def test_early_expiry_while_refresh_fails_relogs_in_and_serves_the_caller(world: World) -> None:
    # Given a proxy serving generation 1, a minute old
    start = bootstrap(world)
    world.clock.set(start + 10.0)
    world.request(0)
    assert world.requests[-1].status == HTTPStatus.OK

    # When RingCX rejects every token issued so far as expired, while its refresh answers 503
    world.clock.set(start + 60.0)
    world.sim.expire_access_tokens()
    fail(world, "rcx_refresh", Fault(status=503), start + 60.0)
    # and the proxy serves a request
    world.clock.set(start + 70.0)
    world.request(0)

    # Then the caller got the answer from a new generation (a re-login), not the 401
    assert world.requests[-1].status == HTTPStatus.OK


@pytest.mark.xfail(
    strict=True,
    reason=(
        "after RingCX rejects a generation early, a forced rotation that meets a rate limit "
        "(429, or 503 with Retry-After) is never tried again: each proxy container reports a "
        "generation once (TokenSource._reported) and the refresher keeps the generation by "
        "its exp, so once the penalty is over the 401s still reach callers until the "
        "scheduled rotation (soak seed 1, 7 days: t = 477651 s, 10 failures over 132 s)"
    ),
)
def test_early_expiry_while_refresh_is_rate_limited_rotates_once_the_penalty_ends(
    world: World,
) -> None:
    # Given a proxy serving generation 1, a minute old
    start = bootstrap(world)
    world.clock.set(start + 10.0)
    world.request(0)

    # When RingCX rejects every token issued so far, and its refresh answers one 503
    # with Retry-After: 20 (the proxy's request meanwhile gets the 401: the penalty runs)
    world.clock.set(start + 60.0)
    world.sim.expire_access_tokens()
    fail(world, "rcx_refresh", Fault(status=503, retry_after=20), start + 60.0, calls=1)
    world.clock.set(start + 70.0)
    world.request(0)
    assert world.requests[-1].status == HTTPStatus.UNAUTHORIZED
    # and the proxy serves a request after the penalty and a tick
    world.clock.set(start + 120.0)
    world.tick()
    world.clock.set(start + 125.0)
    world.request(0)

    # Then that request got the answer from a new generation
    assert world.requests[-1].status == HTTPStatus.OK
