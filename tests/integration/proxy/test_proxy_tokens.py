"""Token use over real HTTP: the warm path's zero reads, near-expiry renewal
through the real refresher, the three kinds of upstream 401, /health, /token,
and 503 when no usable token exists."""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

import pytest

from ringcx_broker.refresher import RefreshRequest
from ringcx_broker.settings import Settings
from ringcx_broker.tokens import StoredToken
from ringcx_dev.simulator import Fault, Simulator
from tests.unit.proxy.fakes import load_event

from ..conftest import Containers
from .conftest import Clocks, Proxy, ProxyFactory, SkewClock, api_calls

pytestmark = pytest.mark.integration

LIFETIME = 300.0  # the simulator's default token lifetime
NEAR_EXPIRY = LIFETIME * 0.95  # inside the proxy's 10 % leeway


def body_of(response: dict[str, Any]) -> Any:
    return json.loads(response["body"])


def refresh_calls(simulator: Simulator) -> int:
    return simulator.counters()["rcx_refresh"]["calls"]


def accounts(proxy: Proxy) -> dict[str, Any]:
    return proxy(load_event("proxy-get-accounts"))


def refresh_requests(proxy: Proxy) -> list[Any]:
    """The payloads the proxy sent to the refresher, in order."""
    return [i["Payload"] for i in proxy.refresh_lambda.invocations]


def cached_generation(proxy: Proxy) -> int:
    cached = proxy.app.tokens.cached
    assert cached is not None
    return cached.generation


# -- the warm path --------------------------------------------------------------------


@pytest.mark.usefixtures("seeded")
def test_proxy_warm_requests_make_zero_secrets_manager_calls(
    proxy: Proxy, simulator: Simulator, settings: Settings
) -> None:
    # Given a container whose first (cold) request loaded the ring
    assert accounts(proxy)["statusCode"] == HTTPStatus.OK
    cold_reads = proxy.reads.round_trips
    # When 200 more requests arrive while the token is fresh
    statuses = {accounts(proxy)["statusCode"] for _ in range(200)}
    # Then all succeeded and none read Secrets Manager; the cold read was one round trip
    # (BatchGetSecretValue) for all the ring's secrets
    assert statuses == {HTTPStatus.OK}
    assert proxy.reads.round_trips == cold_reads
    assert (cold_reads, proxy.reads.batches) == (1, 1)
    assert proxy.refresh_lambda.invocations == []
    assert api_calls(simulator) == 201


def test_proxy_near_expiry_asks_refresher_and_uses_new_generation(
    proxy: Proxy, seeded: StoredToken, simulator: Simulator, clocks: Clocks
) -> None:
    # Given a warm container
    accounts(proxy)
    reads = proxy.reads.round_trips
    # When time passes into the leeway with no scheduled refresh having run
    clocks.set_both(NEAR_EXPIRY)
    response = accounts(proxy)
    # Then the refresher was asked about generation 1, rotated once, and the proxy
    # read the ring (nothing newer), then the slot the refresher named
    assert response["statusCode"] == HTTPStatus.OK
    assert refresh_requests(proxy) == [{"staleGeneration": seeded.generation}]
    assert refresh_calls(simulator) == 1
    assert proxy.reads.round_trips - reads == 2
    assert cached_generation(proxy) == seeded.generation + 1


def test_proxy_near_expiry_with_scheduled_rotation_reads_one_slot(
    proxy: Proxy, seeded: StoredToken, simulator: Simulator, clocks: Clocks
) -> None:
    # Given a warm container, and the schedule rotating at 60 % of the lifetime
    accounts(proxy)
    reads = proxy.reads.round_trips
    clocks.set_both(LIFETIME * 0.65)
    proxy.refresher.run(_tick())
    # When the container reaches its leeway
    clocks.set_both(NEAR_EXPIRY)
    assert accounts(proxy)["statusCode"] == HTTPStatus.OK
    # Then one ring read found the new generation; no refresher invocation
    assert proxy.reads.round_trips - reads == 1
    assert proxy.refresh_lambda.invocations == []
    assert refresh_calls(simulator) == 1


def _tick() -> RefreshRequest:
    return RefreshRequest.from_event({"source": "aws.events", "detail-type": "Scheduled Event"})


def test_proxy_throttled_refresher_waits_and_rereads_the_ring(
    proxy_factory: ProxyFactory, seeded: StoredToken, simulator: Simulator, clocks: Clocks
) -> None:
    # Given a refresher whose one concurrent slot is taken by another proxy's
    # invocation: ours is throttled, theirs rotates while we wait
    others: list[Any] = []

    def other_proxy_rotates(_seconds: float) -> None:
        if not others:
            others.append(proxy.refresher.run(_stale(seeded.generation)))

    proxy = proxy_factory(throttles=("TooManyRequestsException",), on_sleep=other_proxy_rotates)
    accounts(proxy)
    clocks.set_both(NEAR_EXPIRY)
    # When the container needs a fresh token
    response = accounts(proxy)
    # Then it waited briefly, found the other rotation in the ring and invoked once
    assert response["statusCode"] == HTTPStatus.OK
    assert len(proxy.refresh_lambda.invocations) == 1
    assert proxy.sleeps == [0.25]
    assert refresh_calls(simulator) == 1
    assert cached_generation(proxy) == seeded.generation + 1


def _stale(generation: int) -> RefreshRequest:
    return RefreshRequest.from_event({"staleGeneration": generation})


# -- upstream 401s ----------------------------------------------------------------------


def test_proxy_401_with_newer_generation_retries_once_without_refreshing(
    proxy: Proxy, seeded: StoredToken, simulator: Simulator, clocks: Clocks
) -> None:
    # Given a container caching generation 1, and generation 2 stored by another writer
    accounts(proxy)
    clocks.set_both(200.0)
    proxy.refresher.run(_tick())
    clocks.broker.offset = 0.0
    # When RingCX's clock says generation 1 expired (the broker's still trusts it)
    clocks.sim.offset = LIFETIME + 10
    calls_before, refreshes_before = api_calls(simulator), refresh_calls(simulator)
    response = accounts(proxy)
    # Then the proxy re-read the ring and retried once with generation 2
    assert response["statusCode"] == HTTPStatus.OK
    assert api_calls(simulator) - calls_before == 2
    assert refresh_calls(simulator) == refreshes_before
    assert proxy.refresh_lambda.invocations == []
    assert cached_generation(proxy) == seeded.generation + 1


def test_proxy_jwt_expired_asks_refresher_once_then_retries(
    proxy: Proxy, seeded: StoredToken, simulator: Simulator, clocks: Clocks
) -> None:
    # Given a container caching generation 1, which RingCX considers expired
    accounts(proxy)
    clocks.broker.offset = 60.0  # the refresher sees a token minted a minute ago
    clocks.sim.offset = LIFETIME + 10
    calls_before = api_calls(simulator)
    # When a request is proxied
    response = accounts(proxy)
    # Then RingCX said "Jwt is expired", the refresher rotated once, and the retry worked
    assert response["statusCode"] == HTTPStatus.OK
    assert refresh_requests(proxy) == [{"staleGeneration": seeded.generation}]
    assert refresh_calls(simulator) == 1
    assert api_calls(simulator) - calls_before == 2
    assert simulator.state.expired_token_uses == 1


@pytest.mark.usefixtures("seeded")
def test_proxy_other_401_passes_through_without_refresh(proxy: Proxy, simulator: Simulator) -> None:
    # Given RingCX rejecting a request for a reason other than expiry
    accounts(proxy)
    simulator.inject("api", Fault(status=401))
    calls_before = api_calls(simulator)
    # When proxied
    response = accounts(proxy)
    # Then the 401 and its body come back untouched, with no retry and no refresh
    assert response["statusCode"] == HTTPStatus.UNAUTHORIZED
    assert body_of(response)["errorCode"] == "sim.injected.fault"
    assert api_calls(simulator) - calls_before == 1
    assert proxy.refresh_lambda.invocations == []
    assert refresh_calls(simulator) == 0


@pytest.mark.usefixtures("seeded")
def test_proxy_early_expiry_rotates_once_and_the_caller_gets_the_retried_answer(
    proxy: Proxy, simulator: Simulator, sim_clock: SkewClock
) -> None:
    # Given RingCX's clock jumping past the broker's token (it says "Jwt is expired" while
    # the token's exp, by the broker's clock, is minutes away)
    accounts(proxy)
    sim_clock.offset = LIFETIME + 10
    # When ten requests are proxied
    responses = [accounts(proxy) for _ in range(10)]
    # Then the first request's 401 made one rotation and its retry succeeded, and every
    # request was served: one refresh at RingCX, one refresher invoke
    assert {r["statusCode"] for r in responses} == {HTTPStatus.OK}
    assert refresh_requests(proxy) == [{"staleGeneration": 1}]
    assert refresh_calls(simulator) == 1
    assert cached_generation(proxy) == 2


# -- no usable token ------------------------------------------------------------------------


@pytest.mark.usefixtures("stack")
def test_proxy_empty_ring_without_credentials_is_503_naming_them(
    proxy: Proxy, simulator: Simulator
) -> None:
    response = accounts(proxy)
    assert response["statusCode"] == HTTPStatus.SERVICE_UNAVAILABLE
    assert "credentials" in body_of(response)["message"]
    assert api_calls(simulator) == 0


@pytest.mark.usefixtures("configured_stack")
def test_proxy_empty_ring_with_credentials_bootstraps_through_the_refresher(
    proxy: Proxy, simulator: Simulator
) -> None:
    response = accounts(proxy)
    assert response["statusCode"] == HTTPStatus.OK
    assert refresh_requests(proxy) == [{"staleGeneration": 0}]
    assert simulator.counters()["protocol"]["logins"] == 1


def test_proxy_expired_ring_and_failing_refresh_heals_by_relogin(
    proxy: Proxy, seeded: StoredToken, simulator: Simulator, clocks: Clocks
) -> None:
    # Given an expired ring (the broker was down) and a RingCX refresh that answers 500
    simulator.inject("rcx_refresh", Fault(status=500, count=10))
    clocks.set_both(LIFETIME + 1)
    # When a request arrives
    response = accounts(proxy)
    # Then the refresher, with no time left to wait, re-logs in and the request is served
    assert response["statusCode"] == HTTPStatus.OK
    assert simulator.counters()["protocol"]["logins"] == 2
    assert cached_generation(proxy) == seeded.generation + 1


def test_proxy_expired_ring_and_ringcentral_down_too_is_503(
    proxy: Proxy, seeded: StoredToken, simulator: Simulator, clocks: Clocks
) -> None:
    # Given an expired ring, a failing RingCX refresh and RingCentral down as well
    simulator.inject("rcx_refresh", Fault(status=500, count=10))
    simulator.inject("rc_token", Fault(status=503, count=10))
    clocks.set_both(LIFETIME + 1)
    # When a request arrives
    response = accounts(proxy)
    # Then it is a clean 503 that names no token, and nothing reached the RingCX API
    assert response["statusCode"] == HTTPStatus.SERVICE_UNAVAILABLE
    assert "no usable RingCX token" in body_of(response)["message"]
    assert seeded.access_token not in response["body"]
    assert api_calls(simulator) == 0


# -- /health and /token -------------------------------------------------------------------------


def test_health_reports_the_token_without_revealing_it(
    proxy: Proxy, seeded: StoredToken, simulator: Simulator
) -> None:
    response = proxy(load_event("proxy-health"))
    body = body_of(response)
    assert response["statusCode"] == HTTPStatus.OK
    assert body["generation"] == seeded.generation
    assert body["accountIds"] == [simulator.state.config.account_id]
    assert 0 < body["secondsLeft"] <= LIFETIME
    assert body["expiresAt"].endswith("Z")
    assert body["lastRefreshedAt"].endswith("Z")
    assert seeded.access_token not in response["body"]
    assert str(seeded.refresh_token) not in response["body"]
    # ids and timings only: no agent names or email addresses
    assert "agents" not in body
    assert "john.wang@example.com" not in response["body"]


def test_health_after_an_exchange_reports_the_new_generation_and_a_lagging_cache(
    proxy: Proxy, seeded: StoredToken, containers: Containers
) -> None:
    # Given a warm container serving generation 1, then an exchange writing generation 2
    assert accounts(proxy)["statusCode"] == HTTPStatus.OK
    containers.exchanger().exchange(None)
    reads = proxy.reads.round_trips

    # When /health is asked
    body = body_of(proxy(load_event("proxy-health")))

    # Then it reports the ring's generation 2, says this container still serves 1, and
    # cost at most two Secrets Manager calls
    assert body["generation"] == seeded.generation + 1
    assert body["containerCache"] == {"generation": seeded.generation, "behind": True}
    assert proxy.reads.round_trips - reads <= 2


@pytest.mark.usefixtures("stack")
def test_health_with_empty_ring_is_503(proxy: Proxy) -> None:
    response = proxy(load_event("proxy-health"))
    assert response["statusCode"] == HTTPStatus.SERVICE_UNAVAILABLE
    assert proxy.refresh_lambda.invocations == []


def test_health_with_expired_ring_is_503(
    proxy: Proxy, seeded: StoredToken, broker_clock: SkewClock
) -> None:
    broker_clock.offset = LIFETIME + 1
    response = proxy(load_event("proxy-health"))
    assert response["statusCode"] == HTTPStatus.SERVICE_UNAVAILABLE


@pytest.mark.usefixtures("seeded")
def test_token_endpoint_off_by_default_is_404(proxy: Proxy) -> None:
    response = proxy(load_event("proxy-token"))
    assert response["statusCode"] == HTTPStatus.NOT_FOUND
    assert body_of(response) == {"message": "Not found"}


def test_token_endpoint_on_returns_a_token_ringcx_accepts(
    proxy_factory: ProxyFactory, seeded: StoredToken
) -> None:
    proxy = proxy_factory(token_endpoint=True)
    response = proxy(load_event("proxy-token"))
    body = body_of(response)
    assert response["statusCode"] == HTTPStatus.OK
    assert body["accessToken"] == seeded.access_token
    assert body["generation"] == seeded.generation
    assert response["multiValueHeaders"]["Cache-Control"] == ["no-store"]


# -- RingCX's early verdicts ---------------------------------------------------------------


@pytest.mark.parametrize("message", ["Jwt is expired", "JWT is expired."])
@pytest.mark.usefixtures("seeded")
def test_proxy_token_revoked_before_its_exp_is_rotated_once_and_served(
    proxy: Proxy, simulator: Simulator, message: str
) -> None:
    # Given RingCX revoking the live access token minutes before its exp, in either wording
    assert accounts(proxy)["statusCode"] == HTTPStatus.OK
    simulator.configure(expired_message=message)
    simulator.expire_access_tokens()

    # When the next requests arrive
    responses = [accounts(proxy) for _ in range(5)]

    # Then the first one's 401 made one rotation and its retry was served; so were the rest
    assert {r["statusCode"] for r in responses} == {HTTPStatus.OK}
    assert refresh_requests(proxy) == [{"staleGeneration": 1}]
    assert refresh_calls(simulator) == 1


@pytest.mark.usefixtures("seeded")
def test_proxy_ringcx_rejecting_every_token_rotates_once_and_never_loops(
    proxy: Proxy, simulator: Simulator
) -> None:
    # Given RingCX whose clock runs a whole lifetime ahead: it rejects every token, new ones too
    accounts(proxy)
    simulator.configure(clock_skew=LIFETIME + 10)

    # When ten requests are proxied
    responses = [accounts(proxy) for _ in range(10)]

    # Then each 401 passes through; generation 1 was rotated once (RingCX's verdict wins),
    # its replacement was reported once and declined: one refresh at RingCX, no loop
    assert {r["statusCode"] for r in responses} == {HTTPStatus.UNAUTHORIZED}
    assert refresh_requests(proxy) == [{"staleGeneration": 1}, {"staleGeneration": 2}]
    assert refresh_calls(simulator) == 1


def test_proxy_many_containers_one_rejected_generation_one_rotation(
    proxy_factory: ProxyFactory, seeded: StoredToken, simulator: Simulator
) -> None:
    # Given five containers serving generation 1, each with its own cache, and one refresher
    first = proxy_factory()
    fleet = [first, *(proxy_factory(refresher=first.refresher) for _ in range(4))]
    for container in fleet:
        assert accounts(container)["statusCode"] == HTTPStatus.OK

    # When RingCX revokes generation 1 and every container meets the 401
    simulator.expire_access_tokens()
    statuses = [accounts(container)["statusCode"] for container in fleet]

    # Then all are served, after one rotation fleet-wide
    assert statuses == [HTTPStatus.OK] * len(fleet)
    assert refresh_calls(simulator) == 1
    assert {cached_generation(c) for c in fleet} == {seeded.generation + 1}


def test_proxy_upstream_html_error_passes_through_untouched(
    proxy: Proxy, seeded: StoredToken, simulator: Simulator
) -> None:
    # Given RingCX answering with an HTML error page (a load balancer's 502)
    simulator.inject("api", Fault(status=502, body="html"))

    # When proxied
    response = accounts(proxy)

    # Then the status and page come back as they are, and nothing was rotated
    assert response["statusCode"] == HTTPStatus.BAD_GATEWAY
    assert "<html" in str(response["body"]).lower()
    assert refresh_calls(simulator) == 0
