"""The /voice/api surface: bearer checks, `Jwt is expired`, and the proxy-test routes."""

from __future__ import annotations

import base64
import http.client
import json
from concurrent.futures import ThreadPoolExecutor
from http import HTTPStatus
from urllib.parse import urlsplit

import pytest

from ringcx_dev.simulator import SimConfig, Simulator
from ringcx_dev.simulator.tokens import mint_access_token
from ringcx_dev.simulator.voice import redact_authorization

from .simclient import FakeClock, SimClient, jwt_claims

ACCOUNTS = "/voice/api/v1/admin/accounts"
ERRORS_KEYS = {"generalMessage", "details", "developerMessage", "cause", "requestUri", "timestamp"}


@pytest.fixture
def token(client: SimClient) -> str:
    access, _ = client.login_pair()
    return access


def _foreign_token(clock: FakeClock) -> str:
    token, _ = mint_access_token(b"other-key", clock.now, 300, sub="1", account_id="333333")
    return token


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer", "Bearer not-a-jwt", "Bearer a.b.c", "Basic c2ltOnNpbQ==", "foreign"],
)
def test_api_missing_or_bad_bearer_returns_401_errors_schema(
    client: SimClient, sim: Simulator, clock: FakeClock, authorization: str | None
) -> None:
    # Given a request without a valid RingCX access token
    headers = {}
    if authorization == "foreign":
        headers["Authorization"] = f"Bearer {_foreign_token(clock)}"
    elif authorization is not None:
        headers["Authorization"] = authorization

    # When calling the API
    response = client.api("GET", ACCOUNTS, None, headers=headers)

    # Then RingCX refuses it with its Errors JSON (no errorCode), not the expiry text
    assert response.status == HTTPStatus.UNAUTHORIZED
    body = response.json()
    assert set(body) == ERRORS_KEYS
    assert body["requestUri"] == ACCOUNTS
    assert body["timestamp"] == round(clock.now * 1000)
    assert sim.counters()["api"]["rejected"] == 1
    assert sim.counters()["protocol"]["expired_token_uses"] == 0


def test_api_rc_access_token_is_not_a_ringcx_token(client: SimClient) -> None:
    # Given a RingCentral (not RingCX) access token
    # When calling the RingCX API with it
    response = client.api("GET", ACCOUNTS, client.rc_token())

    # Then it is refused
    assert response.status == HTTPStatus.UNAUTHORIZED


@pytest.mark.parametrize(
    ("elapsed", "expected"), [(299.9, HTTPStatus.OK), (300.0, HTTPStatus.UNAUTHORIZED)]
)
def test_api_token_at_exp_returns_plain_text_jwt_is_expired(
    client: SimClient,
    sim: Simulator,
    clock: FakeClock,
    token: str,
    elapsed: float,
    expected: HTTPStatus,
) -> None:
    # Given a RingCX access token with the default 300 s lifetime
    # When the clock reaches (or not yet) its exp
    clock.advance(elapsed)
    response = client.api("GET", ACCOUNTS, token)

    # Then from exp on RingCX answers 401 with the plain-text body
    assert response.status == expected
    if expected == HTTPStatus.UNAUTHORIZED:
        assert response.headers["Content-Type"] == "text/plain"
        assert response.data == b"Jwt is expired"
        assert sim.state.expired_token_uses == 1


@pytest.mark.parametrize("sim_settings", [SimConfig(token_lifetime=15.0)])
def test_api_refreshed_token_works_after_old_one_expires(
    client: SimClient, clock: FakeClock
) -> None:
    # Given a short-lived token that has expired
    access, refresh = client.login_pair()
    clock.advance(15)
    assert client.api("GET", ACCOUNTS, access).status == HTTPStatus.UNAUTHORIZED

    # When refreshing
    fresh = client.refresh(refresh).json()["accessToken"]

    # Then the new token is accepted
    assert client.api("GET", ACCOUNTS, fresh).status == HTTPStatus.OK


@pytest.mark.parametrize(
    ("path", "key", "value"),
    [
        (ACCOUNTS, "accountId", "333333"),
        (ACCOUNTS, "mainAccountId", "111111"),
        ("/voice/api/v1/admin/users", "rcUserId", 222222),
    ],
)
def test_api_admin_routes_return_json_lists(
    client: SimClient, token: str, path: str, key: str, value: object
) -> None:
    # Given a valid token
    # When listing an admin collection
    response = client.api("GET", path, token)

    # Then it is a JSON list describing the simulated account
    assert response.status == HTTPStatus.OK
    body = response.json()
    assert isinstance(body, list)
    assert body[0][key] == value


@pytest.mark.parametrize(
    ("method", "path", "expected", "code"),
    [
        ("GET", "/voice/api/v1/forbidden", HTTPStatus.FORBIDDEN, "access.denied.exception"),
        ("GET", "/voice/api/v1/nothing/here", HTTPStatus.NOT_FOUND, None),
        ("GET", ACCOUNTS + "/999", HTTPStatus.NOT_FOUND, None),
        ("GET", "/voice/api/v1/binary?size=abc", HTTPStatus.BAD_REQUEST, None),
        ("DELETE", ACCOUNTS, HTTPStatus.METHOD_NOT_ALLOWED, None),
    ],
)
def test_api_error_routes_return_ringcx_errors_schema(
    client: SimClient,
    token: str,
    method: str,
    path: str,
    expected: HTTPStatus,
    code: str | None,
) -> None:
    # Given a valid token
    # When calling a route that fails
    response = client.api(method, path, token)

    # Then the error is RingCX's Errors schema; only the permission error has an errorCode
    assert response.status == expected
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == ERRORS_KEYS | ({"errorCode"} if code else set())
    assert body.get("errorCode") == code
    assert body["requestUri"] == path.split("?")[0]
    assert body["generalMessage"]


def test_echo_reports_raw_path_multi_value_query_headers_and_binary_body(
    client: SimClient, token: str
) -> None:
    # Given a request with an encoded slash, repeated query names, a custom header and binary body
    body = bytes(range(256))
    path = "/voice/api/v1/echo/a%2Fb/c%20d?x=1&x=2&empty=&y=%26"

    # When it reaches the echo route
    response = client.api(
        "PUT",
        path,
        token,
        body=body,
        headers={"X-Custom": "Value", "Content-Type": "application/octet-stream"},
    )

    # Then the echo shows exactly what arrived
    assert response.status == HTTPStatus.OK
    echo = response.json()
    assert echo["method"] == "PUT"
    assert echo["rawPath"] == "/voice/api/v1/echo/a%2Fb/c%20d"
    assert echo["path"] == "/voice/api/v1/echo/a/b/c d"
    assert echo["query"] == {"x": ["1", "2"], "empty": [""], "y": ["&"]}
    assert echo["headers"]["x-custom"] == "Value"
    claims = jwt_claims(token)
    assert echo["bearer"] == {
        "valid": True,
        "jti": claims["jti"],
        "iat": claims["iat"],
        "exp": claims["exp"],
    }
    assert base64.b64decode(echo["bodyBase64"]) == body
    assert echo["bodyText"] is None
    assert response.headers["Set-Cookie"] == "sim=1"
    assert response.headers["X-Sim-Echo"] == "1"


def test_echo_chunked_request_body_is_reassembled(client: SimClient, token: str) -> None:
    # Given a body sent with chunked transfer encoding
    chunks = [b"first,", b"second,", b"third"]

    # When posting it to the echo route
    response = client.http.request(
        "POST",
        client.base_url + "/voice/api/v1/echo/chunked",
        body=iter(chunks),
        headers={"Authorization": f"Bearer {token}"},
        chunked=True,
    )

    # Then the simulator saw the whole body
    echo = response.json()
    assert echo["bodyText"] == "first,second,third"
    assert echo["headers"]["transfer-encoding"] == "chunked"


@pytest.mark.parametrize("method", ["GET", "POST", "PATCH", "DELETE", "OPTIONS"])
def test_echo_any_method_reports_method_and_text_body(
    client: SimClient, token: str, method: str
) -> None:
    # Given a JSON body (empty for GET)
    payload = b"" if method == "GET" else json.dumps({"name": "caf\u00e9"}).encode()

    # When sending it with the method
    response = client.api(method, "/voice/api/v1/echo", token, body=payload or None)

    # Then the method and the UTF-8 body text come back
    echo = response.json()
    assert echo["method"] == method
    assert echo["bodyText"] == payload.decode()


@pytest.mark.parametrize("size", [0, 1, 255, 1024, 70_000])
def test_binary_returns_exact_deterministic_bytes(client: SimClient, token: str, size: int) -> None:
    # Given a valid token
    # When asking for `size` bytes
    response = client.api("GET", f"/voice/api/v1/binary?size={size}", token)

    # Then the bytes are the repeating 0..255 pattern with a matching length
    assert response.status == HTTPStatus.OK
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert response.data == bytes(i % 256 for i in range(size))
    assert response.headers["Content-Length"] == str(size)


def test_binary_default_size_covers_every_byte_value(client: SimClient, token: str) -> None:
    # Given a valid token
    # When asking for the binary route without a size
    response = client.api("GET", "/voice/api/v1/binary", token)

    # Then 1024 bytes come back covering all 256 values
    assert len(response.data) == 1024
    assert set(response.data) == set(range(256))


@pytest.mark.parametrize("size", [2, 11, 100, 6 * 1024 * 1024 + 1])
def test_large_returns_valid_json_of_exact_size(client: SimClient, token: str, size: int) -> None:
    # Given a valid token
    # When asking for a JSON body of `size` bytes
    response = client.api("GET", f"/voice/api/v1/large?bytes={size}", token)

    # Then it is valid JSON of exactly that size
    assert response.status == HTTPStatus.OK
    assert response.headers["Content-Type"] == "application/json"
    assert len(response.data) == size
    json.loads(response.data)


def test_api_keep_alive_serves_several_requests_on_one_connection(
    sim: Simulator, token: str
) -> None:
    # Given one HTTP/1.1 connection
    parts = urlsplit(sim.base_url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=5)
    try:
        # When sending three requests on it
        statuses = []
        for _ in range(3):
            connection.request("GET", ACCOUNTS, headers={"Authorization": f"Bearer {token}"})
            response = connection.getresponse()
            response.read()
            statuses.append((response.status, response.version, response.will_close))
    finally:
        connection.close()

    # Then all are answered as HTTP/1.1 without closing the connection
    assert statuses == [(HTTPStatus.OK, 11, False)] * 3


def test_api_concurrent_requests_are_all_served(
    client: SimClient, sim: Simulator, token: str
) -> None:
    # Given 40 concurrent API calls
    def call(index: int) -> int:
        return client.api("GET", f"/voice/api/v1/echo/{index}", token).status

    # When they run on 8 threads
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(call, range(40)))

    # Then every call succeeded and was counted once
    assert statuses == [HTTPStatus.OK] * 40
    assert sim.counters()["api"]["calls"] == 40
    assert sim.counters()["api"]["ok"] == 40


@pytest.mark.parametrize("scheme", ["Bearer", "bearer"])
def test_echo_never_shows_the_bearer_token_only_its_claims(
    client: SimClient, token: str, scheme: str
) -> None:
    # Given a valid token sent with either spelling of the scheme
    # When calling the echo route
    response = client.api(
        "POST", "/voice/api/v1/echo", None, headers={"Authorization": f"{scheme} {token}"}
    )

    # Then no part of the token is in the reply, the scheme is kept, and the claims
    # say which token it was
    assert token.split(".")[2].encode() not in response.data
    assert token.encode() not in response.data
    echo = response.json()
    assert echo["headers"]["authorization"] == f"{scheme} [redacted]"
    assert echo["bearer"]["valid"] is True
    assert echo["bearer"]["jti"] == jwt_claims(token)["jti"]


def test_echo_bearer_tells_tokens_of_successive_generations_apart(client: SimClient) -> None:
    # Given an access token and the one its refresh token rotated into
    old, refresh = client.login_pair()
    new = client.refresh(refresh).json()["accessToken"]

    # When echoing with each
    echoed = [
        client.api("GET", "/voice/api/v1/echo", t).json()["bearer"]["jti"] for t in (old, new)
    ]

    # Then each echo names its own token
    assert echoed == [jwt_claims(old)["jti"], jwt_claims(new)["jti"]]
    assert echoed[0] != echoed[1]


@pytest.mark.parametrize(
    ("value", "shown"),
    [("Bearer abc.def.ghi", "Bearer [redacted]"), ("opaque-secret", "[redacted]")],
)
def test_redact_authorization_keeps_only_the_scheme(value: str, shown: str) -> None:
    # Given an Authorization value
    # When redacting it
    # Then only the scheme survives
    assert redact_authorization(value) == shown
