"""ringcx.py: exchange and refresh against a fake urllib3 pool."""

from __future__ import annotations

from http import HTTPStatus

import pytest
import urllib3
from urllib3.exceptions import ReadTimeoutError

from ringcx_broker.errors import (
    NoRingCXAccess,
    RateLimited,
    RefreshTokenRejected,
    TokenRejected,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from ringcx_broker.ratelimit import RateGate
from ringcx_broker.ringcx import RingCXClient
from tests.unit.core.conftest import rate_limited_twice
from tests.unit.core.fakes import T0, FakeClock, FakePool, http_response, login_reply, make_jwt

SERVER = "https://engage.ringcentral.com"
ACCESS = make_jwt(iat=T0, exp=T0 + 300)
REPLY = login_reply(ACCESS, "rcx-refresh-new")
RC_TOKEN = "rc-access-token-secret"
OLD_RT = "rcx-refresh-old-secret"
POOL = urllib3.HTTPSConnectionPool("engage.ringcentral.com", 443)  # never connects


def _client(pool: FakePool, clock: FakeClock | None = None) -> RingCXClient:
    clock = clock or FakeClock()
    return RingCXClient(SERVER + "/", pool=pool.client, gate=RateGate(clock), clock=clock)


def test_ringcx_exchange_posts_rc_token_with_include_refresh() -> None:
    # Given RingCX answering the exchange
    pool = FakePool(http_response(HTTPStatus.OK, REPLY))

    # When an RC access token is exchanged
    grant = _client(pool).exchange(RC_TOKEN)

    # Then the request asks for a refresh token and sends the documented form
    [request] = pool.requests
    assert request.method == "POST"
    assert request.url == f"{SERVER}/api/auth/login/rc/accesstoken?includeRefresh=true"
    assert request.fields == {"rcAccessToken": RC_TOKEN, "rcTokenType": "Bearer"}
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert "Authorization" not in request.headers
    # And the grant carries both tokens with the JWT's own timing
    assert grant.access_token == ACCESS
    assert grant.refresh_token == "rcx-refresh-new"
    assert (grant.issued_at, grant.expires_at) == (T0, T0 + 300)
    assert grant.account.account_ids == ("15300002",)


def test_ringcx_refresh_posts_refresh_token_form() -> None:
    # Given RingCX answering the refresh
    pool = FakePool(http_response(HTTPStatus.OK, REPLY))

    # When the refresh token is spent
    grant = _client(pool).refresh(OLD_RT)

    # Then the request is the documented refresh form, and the reply's new token is kept
    [request] = pool.requests
    assert request.url == f"{SERVER}/api/auth/token/refresh"
    assert request.fields == {"refresh_token": OLD_RT, "rcTokenType": "Bearer"}
    assert grant.refresh_token == "rcx-refresh-new"


def test_ringcx_refresh_opaque_access_token_uses_the_client_clock() -> None:
    # Given a reply whose access token is not a JWT, and a clock at T0 + 50
    clock = FakeClock(T0 + 50)
    pool = FakePool(http_response(HTTPStatus.OK, login_reply("opaque", "rt")))

    # When refreshing
    grant = _client(pool, clock).refresh(OLD_RT)

    # Then the 300 s fallback counts from the injected clock
    assert (grant.issued_at, grant.expires_at) == (T0 + 50, T0 + 350)


@pytest.mark.parametrize("status", [HTTPStatus.BAD_REQUEST, HTTPStatus.UNAUTHORIZED])
def test_ringcx_exchange_400_or_401_raises_token_rejected(status: HTTPStatus) -> None:
    # Given RingCX refusing the posted RC token
    pool = FakePool(
        http_response(status, {"errorCode": "invalid.token", "generalMessage": RC_TOKEN})
    )

    # When exchanging
    with pytest.raises(TokenRejected) as caught:
        _client(pool).exchange(RC_TOKEN)

    # Then the caller gets a 401 that never quotes the token
    assert caught.value.status == HTTPStatus.UNAUTHORIZED
    assert caught.value.message == (
        f"RingCX rejected the RingCentral access token (HTTP {int(status)} invalid.token)"
    )
    assert RC_TOKEN not in caught.value.message


@pytest.mark.parametrize("status", [HTTPStatus.FORBIDDEN, HTTPStatus.NOT_FOUND])
def test_ringcx_exchange_403_or_404_raises_no_ringcx_access(status: HTTPStatus) -> None:
    # Given RingCX answering the exchange with its Errors schema: the user has no RingCX access
    pool = FakePool(
        http_response(
            status,
            {"errorCode": "access.denied.exception", "generalMessage": "Access is denied"},
        )
    )

    # When exchanging
    with pytest.raises(NoRingCXAccess) as caught:
        _client(pool).exchange(RC_TOKEN)

    # Then the caller is told it is about RingCX access, not a bad RC token (403)
    assert caught.value.status == HTTPStatus.FORBIDDEN
    assert "the RingCentral user has no RingCX access" in caught.value.message
    assert f"HTTP {int(status)} access.denied.exception" in caught.value.message
    assert RC_TOKEN not in caught.value.message


@pytest.mark.parametrize(
    "status",
    [HTTPStatus.BAD_REQUEST, HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN, HTTPStatus.NOT_FOUND],
)
def test_ringcx_refresh_any_4xx_except_429_raises_refresh_token_rejected(
    status: HTTPStatus,
) -> None:
    # Given RingCX refusing a spent or revoked refresh token (the response is undocumented)
    pool = FakePool(http_response(status, f"invalid refresh token {OLD_RT}"))

    # When refreshing
    with pytest.raises(RefreshTokenRejected) as caught:
        _client(pool).refresh(OLD_RT)

    # Then it is "refresh token dead", without the token
    assert caught.value.message == f"RingCX rejected the refresh token (HTTP {int(status)} error)"
    assert OLD_RT not in caught.value.message


def test_ringcx_refresh_429_raises_rate_limited_then_gate_blocks_without_request() -> None:
    # Given RingCX rate-limiting the refresh endpoint for 60 s
    clock = FakeClock()
    pool = FakePool(
        http_response(HTTPStatus.TOO_MANY_REQUESTS, b"", {"Retry-After": "60"}),
        http_response(HTTPStatus.OK, REPLY),
        http_response(HTTPStatus.OK, REPLY),
    )
    client = _client(pool, clock)

    # When refreshing, and trying again 20 s later
    first, second = rate_limited_twice(lambda: client.refresh(OLD_RT), clock, wait=20)

    # Then the second call fails fast: no request reaches RingCX
    assert first.retry_after == 60
    assert second.retry_after == 40
    assert len(pool.requests) == 1

    # And the exchange endpoint has its own limit, so it still works
    client.exchange(RC_TOKEN)
    assert pool.requests[-1].url.endswith("includeRefresh=true")

    # And after the penalty, refresh reaches RingCX again
    clock.advance(40)
    assert client.refresh(OLD_RT).refresh_token == "rcx-refresh-new"
    assert len(pool.requests) == 3


def test_ringcx_exchange_429_blocks_next_exchange_without_request() -> None:
    # Given RingCX rate-limiting the exchange
    pool = FakePool(http_response(HTTPStatus.TOO_MANY_REQUESTS, b"", {"Retry-After": "15"}))
    client = _client(pool)

    # When exchanging twice
    with pytest.raises(RateLimited):
        client.exchange(RC_TOKEN)
    with pytest.raises(RateLimited) as blocked:
        client.exchange(RC_TOKEN)

    # Then only the first call was sent
    assert blocked.value.retry_after == 15
    assert len(pool.requests) == 1


@pytest.mark.parametrize(
    ("outcome", "error"),
    [
        (http_response(HTTPStatus.BAD_GATEWAY, b"<html>bad gateway</html>"), UpstreamUnavailable),
        (http_response(HTTPStatus.OK, {"tokenType": "Bearer"}), UpstreamUnavailable),
        (http_response(HTTPStatus.OK, b"not json"), UpstreamUnavailable),
        (ReadTimeoutError(POOL, SERVER, "Read timed out."), UpstreamTimeout),
    ],
    ids=["502", "no-access-token", "not-json", "read-timeout"],
)
def test_ringcx_refresh_transient_failure_raises_unavailable_and_keeps_gate_open(
    outcome: urllib3.HTTPResponse | Exception, error: type[Exception]
) -> None:
    # Given a RingCX failure that is not a rejection
    pool = FakePool(outcome, http_response(HTTPStatus.OK, REPLY))
    client = _client(pool)

    # When refreshing
    with pytest.raises(error):
        client.refresh(OLD_RT)

    # Then a retry is still allowed to reach RingCX
    assert client.refresh(OLD_RT).refresh_token == "rcx-refresh-new"
    assert len(pool.requests) == 2
