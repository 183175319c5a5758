"""ringcentral.py: the JWT-bearer login against a fake urllib3 pool."""

from __future__ import annotations

import base64
from http import HTTPStatus

import pytest

from ringcx_broker.credentials import Credentials
from ringcx_broker.errors import CredentialsRejected, UpstreamUnavailable
from ringcx_broker.ratelimit import RateGate
from ringcx_broker.ringcentral import JWT_GRANT, RingCentralClient
from tests.unit.core.conftest import rate_limited_twice
from tests.unit.core.fakes import FakeClock, FakePool, http_response

SERVER = "https://platform.ringcentral.com"
CREDENTIALS = Credentials("client-id-1", "client-secret-2", "eyJ.user-jwt-3.sig")
TOKEN_REPLY = {
    "access_token": "rc-access-token-4",
    "token_type": "bearer",
    "expires_in": 3600,
    "refresh_token": "rc-refresh-5",
    "refresh_token_expires_in": 604800,
    "scope": "ReadAccounts",
    "owner_id": "63240941004",
}


def _client(pool: FakePool, clock: FakeClock | None = None) -> RingCentralClient:
    return RingCentralClient(SERVER + "/", pool=pool.client, gate=RateGate(clock or FakeClock()))


def test_ringcentral_login_jwt_posts_basic_auth_and_jwt_grant() -> None:
    # Given RingCentral answering the token request
    pool = FakePool(http_response(HTTPStatus.OK, TOKEN_REPLY))

    # When the stored JWT is used to log in
    token = _client(pool).login_jwt(CREDENTIALS)

    # Then the request is the documented JWT grant with Basic client auth
    assert token == "rc-access-token-4"
    [request] = pool.requests
    assert request.method == "POST"
    assert request.url == f"{SERVER}/restapi/oauth/token"
    expected_basic = base64.b64encode(b"client-id-1:client-secret-2").decode()
    assert request.headers["Authorization"] == f"Basic {expected_basic}"
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert request.fields == {
        "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
        "assertion": "eyJ.user-jwt-3.sig",
    }
    assert request.fields["grant_type"] == JWT_GRANT


@pytest.mark.parametrize(
    ("status", "body", "code"),
    [
        (
            HTTPStatus.BAD_REQUEST,
            {"error": "invalid_grant", "error_description": "JWT expired"},
            "invalid_grant",
        ),
        (
            HTTPStatus.UNAUTHORIZED,
            {"error": "invalid_client", "errors": [{"errorCode": "OAU-123"}]},
            "invalid_client",
        ),
        (HTTPStatus.FORBIDDEN, b"Forbidden", "error"),
    ],
)
def test_ringcentral_login_jwt_rejected_raises_credentials_rejected(
    status: HTTPStatus, body: dict[str, object] | bytes, code: str
) -> None:
    # Given RingCentral refusing the client or the JWT
    pool = FakePool(http_response(status, body))

    # When logging in
    with pytest.raises(CredentialsRejected) as caught:
        _client(pool).login_jwt(CREDENTIALS)

    # Then the operator is told to check the credentials, which are never quoted
    message = caught.value.message
    assert f"HTTP {int(status)} {code}" in message
    assert "check client_id, client_secret and jwt" in message
    for secret in (
        "client-secret-2",
        "user-jwt-3",
        base64.b64encode(b"client-id-1:client-secret-2").decode(),
    ):
        assert secret not in message
    assert caught.value.status == HTTPStatus.BAD_GATEWAY


@pytest.mark.parametrize(
    "reply", [{}, {"access_token": ""}, {"access_token": 5}], ids=["none", "empty", "number"]
)
def test_ringcentral_login_jwt_reply_without_access_token_raises_credentials_rejected(
    reply: dict[str, object],
) -> None:
    # Given a 200 reply that carries no usable access_token
    pool = FakePool(http_response(HTTPStatus.OK, reply))

    # When logging in
    with pytest.raises(CredentialsRejected) as caught:
        _client(pool).login_jwt(CREDENTIALS)

    # Then it is a typed failure rather than a None token
    assert "without an access_token" in caught.value.message


def test_ringcentral_login_jwt_429_raises_rate_limited_then_blocks_without_request() -> None:
    # Given RingCentral's auth limit is hit (CMN-301, Retry-After: 60)
    clock = FakeClock()
    pool = FakePool(
        http_response(
            HTTPStatus.TOO_MANY_REQUESTS, {"errorCode": "CMN-301"}, {"Retry-After": "60"}
        ),
        http_response(HTTPStatus.OK, TOKEN_REPLY),
    )
    client = _client(pool, clock)

    # When logging in, then trying again 30 s later
    first, second = rate_limited_twice(lambda: client.login_jwt(CREDENTIALS), clock, wait=30)

    # Then the second attempt fails fast without a request (which would extend the penalty)
    assert first.retry_after == 60
    assert second.retry_after == 30
    assert len(pool.requests) == 1

    # And after the penalty, the login goes through
    clock.advance(30)
    assert client.login_jwt(CREDENTIALS) == "rc-access-token-4"
    assert len(pool.requests) == 2


def test_ringcentral_login_jwt_5xx_raises_unavailable_without_penalty() -> None:
    # Given RingCentral failing once with a 503
    pool = FakePool(
        http_response(HTTPStatus.SERVICE_UNAVAILABLE, b"down"),
        http_response(HTTPStatus.OK, TOKEN_REPLY),
    )
    client = _client(pool)

    # When logging in twice
    with pytest.raises(UpstreamUnavailable):
        client.login_jwt(CREDENTIALS)
    token = client.login_jwt(CREDENTIALS)

    # Then a server error does not close the gate: the retry reaches upstream
    assert token == "rc-access-token-4"
    assert len(pool.requests) == 2
