"""What the soak found in the broker, each as the smallest scenario that shows it.

Each test failed before its fix (they were strict xfails until then) and now
keeps the fix in place. The scenarios run the soak's world (the real
refresher and proxy containers, the simulator and moto on a virtual clock)
step by step.
"""

from __future__ import annotations

from http import HTTPStatus

import boto3
import pytest

from ringcx_broker.ring import TokenRing
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


def request(world: World, at: float) -> int:
    """Proxy 0 serves one request at ``at``; returns the status its caller got."""
    world.clock.set(at)
    world.request(0)
    return world.requests[-1].status


def expire_early(world: World, at: float, refresh: Fault, calls: int | None = None) -> None:
    """RingCX rejects every token issued so far as expired; its refresh answers ``refresh``."""
    world.clock.set(at)
    world.sim.expire_access_tokens()
    fail(world, "rcx_refresh", refresh, at, calls)


def fail(world: World, endpoint: str, fault: Fault, since: float, calls: int | None = None) -> None:
    world.simstate.open_window(SimWindow(endpoint, endpoint, fault, since, since + HOUR, calls))


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


def test_newest_generation_whose_slot_turns_unreadable_keeps_proxies_served(
    world: World,
) -> None:
    # Given a ring with generations 1 and 2, and a proxy that cached generation 1
    start = bootstrap(world)
    assert request(world, start + 10.0) == HTTPStatus.OK
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
    # and the proxy serves a request after generation 1 has expired
    status = request(world, start + 310.0)

    # Then the request was served
    assert status == HTTPStatus.OK


def test_early_expiry_while_refresh_fails_relogs_in_and_serves_the_caller(world: World) -> None:
    # Given a proxy serving generation 1, a minute old
    start = bootstrap(world)
    assert request(world, start + 10.0) == HTTPStatus.OK

    # When RingCX rejects every token issued so far as expired, while its refresh answers 503
    expire_early(world, start + 60.0, Fault(status=503))
    # and the proxy serves a request
    status = request(world, start + 70.0)

    # Then the caller got the answer from a new generation (a re-login), not the 401
    assert status == HTTPStatus.OK


def test_early_expiry_while_refresh_is_rate_limited_rotates_once_the_penalty_ends(
    world: World,
) -> None:
    # Given a proxy serving generation 1, a minute old
    start = bootstrap(world)
    assert request(world, start + 10.0) == HTTPStatus.OK

    # When RingCX rejects every token issued so far, and its refresh answers one 503
    # with Retry-After: 20
    expire_early(world, start + 60.0, Fault(status=503, retry_after=20), calls=1)
    status = request(world, start + 70.0)
    # and the proxy serves another request after the penalty and a tick
    world.clock.set(start + 120.0)
    world.tick()
    later = request(world, start + 125.0)

    # Then the first caller got the answer from a re-login (the token serves nobody, and the
    # re-login's endpoints are not the limited one), and so did the later one
    assert status == HTTPStatus.OK
    assert later == HTTPStatus.OK


def test_dead_chain_relogs_in_though_its_refresh_is_then_rate_limited(world: World) -> None:
    # Given generation 1, its refresh token revoked and answered with 500, and one
    # RingCentral login failing
    start = bootstrap(world)
    assert request(world, start + 10.0) == HTTPStatus.OK
    world.sim.configure(dead_refresh_reply="500")
    world.sim.revoke_refresh_tokens()
    fail(world, "rc_token", Fault(status=503), start, calls=1)
    # and the ticks at 120 s and 60 s left (refresh fails; the re-login it decides fails)
    for age in (180.0, 240.0):
        world.clock.set(start + age)
        world.tick()

    # When RingCX refresh then answers one 429 with Retry-After: 60
    fail(world, "rcx_refresh", Fault(status=429, retry_after=60), start + 241.0, calls=1)
    # and the proxy serves requests inside its leeway (the refresh meets the 429), then
    # once generation 1 has expired
    request(world, start + 275.0)
    status = request(world, start + 305.0)

    # Then the last request was served by a re-login's generation
    assert status == HTTPStatus.OK


def test_walking_ring_finds_a_generation_stored_past_an_unwritable_slot(world: World) -> None:
    # Given a ring read without BatchGetSecretValue, holding generations 1 and 2
    client = boto3.client("secretsmanager", endpoint_url=world.store.url)
    ring = TokenRing(client, world.settings.token_secret_ids, batch=False)
    start = bootstrap(world)
    world.clock.set(start + 180.0)
    world.tick()
    second = ring.newest()
    assert second is not None and second.generation == 2

    # When generation 3's slot refuses writes, so the next rotation is stored as generation 4
    world.store_faults.open("full", "PutSecretValue", AwsFault.limit_exceeded(), ring.slot_of(3))
    world.clock.set(start + 360.0)
    world.tick()
    newest = world.newest()
    assert newest is not None and newest.token is not None and newest.token.generation == 4

    # Then a reader that knows generation 2 finds generation 4
    assert ring.newer_than(second).generation == 4
