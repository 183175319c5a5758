"""RingCentral login, RingCX exchange and refresh over real HTTP on loopback."""

from __future__ import annotations

import json
from http import HTTPStatus

import pytest

from ringcx_dev.simulator import SimConfig, Simulator

from .conftest import Configure
from .simclient import (
    EXCHANGE,
    JWT_GRANT,
    RC_TOKEN,
    REFRESH,
    FakeClock,
    SimClient,
    basic,
    jwt_claims,
)

AGENT_KEYS = {
    "agentId",
    "firstName",
    "lastName",
    "email",
    "username",
    "agentType",
    "rcUserId",
    "accountId",
    "accountName",
    "agentGroupId",
    "allowLoginControl",
    "allowLoginUpdates",
}


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        basic("sim-client-id", "wrong-secret"),
        basic("other-client", "sim-client-secret"),
        "Basic not-base64!",
        "Bearer sim-client-id:sim-client-secret",
    ],
)
def test_rc_token_without_valid_basic_auth_returns_401_invalid_client(
    client: SimClient, sim: Simulator, authorization: str | None
) -> None:
    # Given a correct JWT grant but missing or wrong client credentials
    headers = {} if authorization is None else {"Authorization": authorization}

    # When logging in
    response = client.post_form(
        RC_TOKEN, {"grant_type": JWT_GRANT, "assertion": "sim.jwt.assertion"}, headers
    )

    # Then RingCentral refuses the client and no session is created
    assert response.status == HTTPStatus.UNAUTHORIZED
    assert response.json()["error"] == "invalid_client"
    assert sim.counters()["protocol"]["logins"] == 0
    assert sim.counters()["rc_token"]["rejected"] == 1


def test_rc_token_valid_jwt_grant_returns_bearer_token_fields(
    client: SimClient, sim_settings: SimConfig
) -> None:
    # Given valid client credentials and the configured JWT
    # When logging in
    response = client.rc_login()

    # Then the reply has RingCentral's token fields
    assert response.status == HTTPStatus.OK
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == int(sim_settings.rc_token_lifetime)
    assert body["owner_id"] == str(sim_settings.rc_user_id)
    for key in ("access_token", "refresh_token", "refresh_token_expires_in", "scope"):
        assert body[key]


def test_rc_token_wrong_assertion_returns_400_invalid_grant(client: SimClient) -> None:
    # Given a JWT assertion the account does not know
    # When logging in with it
    response = client.rc_login(assertion="forged.jwt.assertion")

    # Then RingCentral answers invalid_grant with an OAU error code
    assert response.status == HTTPStatus.BAD_REQUEST
    body = response.json()
    assert body["error"] == "invalid_grant"
    assert body["errors"][0]["errorCode"].startswith("OAU-")


@pytest.mark.parametrize("grant_type", ["password", "refresh_token", ""])
def test_rc_token_other_grant_type_returns_400_unsupported_grant_type(
    client: SimClient, grant_type: str
) -> None:
    # Given valid credentials but a grant type other than jwt-bearer
    auth = {"Authorization": basic("sim-client-id", "sim-client-secret")}
    fields = {"grant_type": grant_type, "assertion": "sim.jwt.assertion"}

    # When logging in
    response = client.post_form(RC_TOKEN, fields, auth)

    # Then the grant type is refused
    assert response.status == HTTPStatus.BAD_REQUEST
    assert response.json()["error"] == "unsupported_grant_type"


@pytest.mark.parametrize(
    ("content_type", "body", "expected"),
    [
        (
            "application/json",
            json.dumps({"grant_type": JWT_GRANT}),
            HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
        ),
        ("text/plain", "grant_type=x", HTTPStatus.UNSUPPORTED_MEDIA_TYPE),
        (None, "grant_type=x", HTTPStatus.UNSUPPORTED_MEDIA_TYPE),
        ("application/x-www-form-urlencoded", "a=1&a=2", HTTPStatus.BAD_REQUEST),
    ],
)
@pytest.mark.parametrize(
    ("endpoint", "path"),
    [("rc_token", RC_TOKEN), ("rcx_exchange", EXCHANGE), ("rcx_refresh", REFRESH)],
)
def test_auth_endpoint_non_form_body_is_rejected(
    client: SimClient,
    sim: Simulator,
    content_type: str | None,
    body: str,
    expected: HTTPStatus,
    endpoint: str,
    path: str,
) -> None:
    # Given an auth call whose body is not a single-valued form
    headers = {"Authorization": basic("sim-client-id", "sim-client-secret")}
    if content_type is not None:
        headers["Content-Type"] = content_type

    # When posting it
    response = client.http.request("POST", client.base_url + path, body=body, headers=headers)

    # Then it is refused with a JSON error and counted as rejected
    assert response.status == expected
    assert response.headers["Content-Type"] == "application/json"
    assert response.json()["error"] == "invalid_request"
    assert sim.counters()[endpoint]["rejected"] == 1


def test_auth_endpoint_wrong_method_returns_405(client: SimClient) -> None:
    # Given the exchange endpoint
    # When calling it with GET
    response = client.http.request("GET", client.base_url + EXCHANGE)

    # Then only POST is allowed
    assert response.status == HTTPStatus.METHOD_NOT_ALLOWED


@pytest.mark.parametrize("sim_settings", [SimConfig(max_rc_sessions=2)])
def test_rc_token_more_logins_than_sessions_cancels_oldest(client: SimClient) -> None:
    # Given three logins while only two sessions may live
    first, second, third = client.rc_token(), client.rc_token(), client.rc_token()

    # When exchanging each RC token
    statuses = [client.exchange(token).status for token in (first, second, third)]

    # Then the oldest was cancelled and the newer two still work
    assert statuses == [HTTPStatus.UNAUTHORIZED, HTTPStatus.OK, HTTPStatus.OK]


@pytest.mark.parametrize(
    ("query", "has_refresh"),
    [
        ("?includeRefresh=true", True),
        ("?includeRefresh=TRUE", True),
        ("", False),
        ("?includeRefresh=false", False),
    ],
)
def test_exchange_include_refresh_controls_refresh_token(
    client: SimClient, sim: Simulator, query: str, has_refresh: bool
) -> None:
    # Given a live RC access token
    rc_token = client.rc_token()

    # When exchanging it with or without includeRefresh=true
    response = client.post_form(
        EXCHANGE + query, {"rcAccessToken": rc_token, "rcTokenType": "Bearer"}
    )

    # Then a refresh token is issued only when asked for; otherwise the field is null
    assert response.status == HTTPStatus.OK
    refresh = response.json()["refreshToken"]
    assert (refresh is not None) is has_refresh
    assert sim.state.live_refresh_tokens == ({refresh} if has_refresh else frozenset())


def test_exchange_reply_matches_documented_shape(
    client: SimClient, sim_settings: SimConfig
) -> None:
    # Given a live RC access token
    # When exchanging it
    body = client.exchange(client.rc_token()).json()

    # Then the reply has the documented RingCX login fields
    assert body["tokenType"] == "Bearer"
    assert {"adminId", "adminUrl", "agentUrl", "ssoLogin", "mainAccountId", "platformId"} <= set(
        body
    )
    (agent,) = body["agentDetails"]
    assert set(agent) == AGENT_KEYS
    assert agent["accountId"] == sim_settings.account_id
    assert isinstance(agent["accountId"], str)
    assert agent["agentId"] == sim_settings.agent_id
    assert agent["rcUserId"] == sim_settings.rc_user_id


@pytest.mark.parametrize(
    "fields",
    [
        {"rcAccessToken": "never-issued", "rcTokenType": "Bearer"},
    ],
)
def test_exchange_unknown_rc_token_returns_401(client: SimClient, fields: dict[str, str]) -> None:
    # Given an RC token the simulator never issued
    # When exchanging it
    response = client.post_form(EXCHANGE, fields)

    # Then RingCX refuses it with a JSON error
    assert response.status == HTTPStatus.UNAUTHORIZED
    assert response.json()["error"] == "invalid_token"


@pytest.mark.parametrize(
    "fields",
    [
        {"rcTokenType": "Bearer"},
        {"rcAccessToken": "x"},
        {"rcAccessToken": "x", "rcTokenType": "Basic"},
    ],
)
def test_exchange_missing_field_returns_400(client: SimClient, fields: dict[str, str]) -> None:
    # Given an exchange form without a required field
    # When posting it
    response = client.post_form(EXCHANGE, fields)

    # Then it is a bad request
    assert response.status == HTTPStatus.BAD_REQUEST


def test_exchange_expired_rc_token_returns_401(
    client: SimClient, clock: FakeClock, sim_settings: SimConfig
) -> None:
    # Given an RC token whose lifetime has passed
    rc_token = client.rc_token()
    clock.advance(sim_settings.rc_token_lifetime)

    # When exchanging it
    response = client.exchange(rc_token)

    # Then it is refused
    assert response.status == HTTPStatus.UNAUTHORIZED


@pytest.mark.parametrize(("lifetime", "expected"), [(300.0, 300), (15.0, 15), (2.4, 2), (0.2, 1)])
def test_exchange_access_token_has_iat_and_exp_for_configured_lifetime(
    client: SimClient, sim: Simulator, clock: FakeClock, lifetime: float, expected: int
) -> None:
    # Given a configured RingCX token lifetime
    sim.configure(token_lifetime=lifetime)

    # When obtaining a RingCX access token
    access, _ = client.login_pair()

    # Then it is a JWT whose exp - iat is the lifetime in whole seconds
    claims = jwt_claims(access)
    assert claims["iat"] == int(clock.now)
    assert claims["exp"] == int(clock.now) + expected
    assert claims["accountId"] == "333333"
    assert claims["sub"]
    assert claims["jti"]


def test_refresh_valid_token_rotates_and_old_token_is_spent(
    client: SimClient, sim: Simulator
) -> None:
    # Given a RingCX refresh token
    access, refresh = client.login_pair()

    # When refreshing once, then presenting the old token again
    rotated = client.refresh(refresh)
    reused = client.refresh(refresh)

    # Then the first call rotates both tokens and the reuse is refused and counted
    assert rotated.status == HTTPStatus.OK
    body = rotated.json()
    assert body["refreshToken"] != refresh
    assert body["accessToken"] != access
    assert body["agentDetails"][0]["accountId"] == "333333"
    assert reused.status == HTTPStatus.UNAUTHORIZED
    assert reused.json()["error"] == "invalid_token"
    assert sim.state.spent_refresh_reuse == 1
    assert sim.state.live_refresh_tokens == {body["refreshToken"]}
    assert sim.counters()["protocol"]["refresh_rotations"] == 1
    assert client.refresh(body["refreshToken"]).status == HTTPStatus.OK


def test_refresh_unknown_token_returns_401_without_reuse_count(
    client: SimClient, sim: Simulator
) -> None:
    # Given a refresh token that was never issued
    # When refreshing with it
    response = client.refresh("never-issued")

    # Then it is refused but not counted as reuse of a spent token
    assert response.status == HTTPStatus.UNAUTHORIZED
    assert sim.state.spent_refresh_reuse == 0


@pytest.mark.parametrize(
    "fields", [{"rcTokenType": "Bearer"}, {"refresh_token": ""}, {"refresh_token": "x"}]
)
def test_refresh_missing_field_returns_400(client: SimClient, fields: dict[str, str]) -> None:
    # Given a refresh form without refresh_token or rcTokenType
    # When posting it
    response = client.post_form(REFRESH, fields)

    # Then it is a bad request
    assert response.status == HTTPStatus.BAD_REQUEST
    assert response.json()["error"] == "invalid_request"


@pytest.mark.parametrize("via", ["python", "http"])
def test_revoke_live_refresh_tokens_are_refused(
    client: SimClient, sim: Simulator, via: str
) -> None:
    # Given two live refresh tokens
    _, first = client.login_pair()
    _, second = client.login_pair()

    # When an administrator revokes them
    if via == "python":
        sim.revoke_refresh_tokens()
    else:
        assert client.control("POST", "/_sim/revoke").json() == {"ok": True, "revoked": 2}

    # Then neither refreshes, and this is not counted as client reuse
    assert [client.refresh(t).status for t in (first, second)] == [HTTPStatus.UNAUTHORIZED] * 2
    assert sim.state.live_refresh_tokens == frozenset()
    assert sim.state.spent_refresh_reuse == 0


ERRORS_KEYS = {"generalMessage", "details", "developerMessage", "cause", "requestUri", "timestamp"}


@pytest.mark.parametrize(
    ("status", "error_code"),
    [(HTTPStatus.FORBIDDEN, "access.denied.exception"), (HTTPStatus.NOT_FOUND, None)],
)
def test_exchange_denied_status_refuses_valid_rc_token_with_errors_body(
    client: SimClient,
    sim: Simulator,
    configure: Configure,
    status: HTTPStatus,
    error_code: str | None,
) -> None:
    # Given a RingCentral user without RingCX access, and a live RC token of that user
    configure(exchange_denied_status=int(status))
    rc_token = client.rc_token()

    # When exchanging the token
    response = client.exchange(rc_token)

    # Then RingCX answers 403/404 with its Errors body, issues nothing and counts a rejection
    assert response.status == status
    body = response.json()
    assert set(body) == ERRORS_KEYS | ({"errorCode"} if error_code else set())
    assert body.get("errorCode") == error_code
    assert body["requestUri"] == EXCHANGE
    assert sim.state.live_refresh_tokens == frozenset()
    assert sim.counters()["protocol"]["exchanges"] == 0
    assert sim.counters()["rcx_exchange"]["rejected"] == 1


def test_exchange_denied_status_still_answers_401_for_invalid_rc_token(
    client: SimClient, configure: Configure
) -> None:
    # Given exchanges are denied
    configure(exchange_denied_status=403)

    # When exchanging a token RingCentral never issued
    response = client.exchange("never-issued")

    # Then it is the usual 401: the RC token is checked before the RingCX access
    assert response.status == HTTPStatus.UNAUTHORIZED
    assert response.json()["error"] == "invalid_token"


def test_exchange_denied_status_switched_off_exchanges_again(
    client: SimClient, configure: Configure
) -> None:
    # Given an exchange that was denied
    configure(exchange_denied_status=404)
    rc_token = client.rc_token()
    assert client.exchange(rc_token).status == HTTPStatus.NOT_FOUND

    # When access is granted again (0 is off) and the same RC token is exchanged
    configure(exchange_denied_status=0)
    response = client.exchange(rc_token)

    # Then it works
    assert response.status == HTTPStatus.OK
    assert response.json()["accessToken"]


def _dead_token(client: SimClient, sim: Simulator, source: str) -> str:
    """A refresh token that is spent, revoked or was never issued."""
    if source == "unknown":
        return "never-issued"
    _, refresh = client.login_pair()
    if source == "spent":
        assert client.refresh(refresh).status == HTTPStatus.OK
    else:
        sim.revoke_refresh_tokens()
    return refresh


@pytest.mark.parametrize("source", ["spent", "revoked", "unknown"])
@pytest.mark.parametrize(
    ("reply", "status", "content_type"),
    [
        ("400", HTTPStatus.BAD_REQUEST, "application/json"),
        ("401", HTTPStatus.UNAUTHORIZED, "application/json"),
        ("403", HTTPStatus.FORBIDDEN, "application/json"),
        ("404", HTTPStatus.NOT_FOUND, "application/json"),
        ("500", HTTPStatus.INTERNAL_SERVER_ERROR, "application/json"),
        ("503", HTTPStatus.SERVICE_UNAVAILABLE, "application/json"),
        ("200-no-token", HTTPStatus.OK, "application/json"),
        ("200-html", HTTPStatus.OK, "text/html; charset=utf-8"),
    ],
)
def test_refresh_dead_token_gets_configured_reply_and_stays_dead(
    client: SimClient,
    sim: Simulator,
    configure: Configure,
    source: str,
    reply: str,
    status: HTTPStatus,
    content_type: str,
) -> None:
    # Given a dead refresh token and RingCX answering dead tokens with `reply`
    dead = _dead_token(client, sim, source)
    configure(dead_refresh_reply=reply)

    # When refreshing with it, then again after switching back to the default answer
    response = client.refresh(dead)
    configure(dead_refresh_reply="401")
    again = client.refresh(dead)

    # Then the answer has the configured status and type, carries no token, counts as a
    # rejection whatever its status, and the token never comes back to life
    assert response.status == status
    assert response.headers["Content-Type"] == content_type
    assert b'refreshToken":"' not in response.data
    assert again.status == HTTPStatus.UNAUTHORIZED
    assert dead not in sim.state.live_refresh_tokens
    assert sim.counters()["rcx_refresh"]["rejected"] == 2
    assert sim.state.spent_refresh_reuse == (2 if source == "spent" else 0)


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("400", {"error": "invalid_grant"}),
        ("401", {"error": "invalid_token"}),
        ("200-no-token", {"accessToken": None, "refreshToken": None}),
    ],
)
def test_refresh_dead_token_body_has_oauth_error_or_null_tokens(
    client: SimClient, configure: Configure, reply: str, expected: dict[str, object]
) -> None:
    # Given dead tokens are answered with `reply`
    configure(dead_refresh_reply=reply)

    # When refreshing with a token never issued
    body = client.refresh("never-issued").json()

    # Then the body says so the way that reply does
    assert expected.items() <= body.items()


@pytest.mark.parametrize("reply", ["403", "502"])
def test_refresh_dead_token_other_status_uses_errors_schema(
    client: SimClient, configure: Configure, reply: str
) -> None:
    # Given dead tokens are answered with a status other than 400/401
    configure(dead_refresh_reply=reply)

    # When refreshing with a token never issued
    body = client.refresh("never-issued").json()

    # Then the body is RingCX's Errors JSON
    assert set(body) == ERRORS_KEYS
    assert body["requestUri"] == REFRESH


def test_refresh_dead_token_html_reply_is_a_page(client: SimClient, configure: Configure) -> None:
    # Given dead tokens are answered with an HTML page
    configure(dead_refresh_reply="200-html")

    # When refreshing with a token never issued
    response = client.refresh("never-issued")

    # Then the body is HTML, not JSON
    assert response.data.startswith(b"<!DOCTYPE html>")


def test_refresh_live_token_unaffected_by_dead_refresh_reply(
    client: SimClient, configure: Configure
) -> None:
    # Given dead tokens are answered with a 200 without a token
    configure(dead_refresh_reply="200-no-token")
    _, refresh = client.login_pair()

    # When refreshing with a live token
    body = client.refresh(refresh).json()

    # Then it rotates as usual
    assert body["accessToken"]
    assert body["refreshToken"] not in (None, refresh)


@pytest.mark.parametrize("sim_settings", [SimConfig(max_rc_sessions=2)])
def test_rc_token_session_quota_429_refuses_login_and_keeps_sessions(
    client: SimClient, sim: Simulator, clock: FakeClock, configure: Configure
) -> None:
    # Given RingCentral refuses logins beyond the quota of two live sessions
    configure(session_quota_429=True)
    first, second = client.rc_token(), client.rc_token()

    # When logging in a third time
    response = client.rc_login()

    # Then it is a 429 with a CMN error code and Retry-After, and no session was cancelled
    assert response.status == HTTPStatus.TOO_MANY_REQUESTS
    body = response.json()
    assert body["errorCode"].startswith("CMN-")
    assert body["errors"][0]["errorCode"] == body["errorCode"]
    assert response.headers["Retry-After"] == "60"
    assert [client.exchange(t).status for t in (first, second)] == [HTTPStatus.OK] * 2
    assert sim.counters()["protocol"]["logins"] == 2
    assert sim.counters()["rc_token"]["rate_limited"] == 1


@pytest.mark.parametrize("sim_settings", [SimConfig(max_rc_sessions=1)])
def test_rc_token_session_quota_429_frees_up_when_sessions_expire(
    client: SimClient, clock: FakeClock, configure: Configure, sim_settings: SimConfig
) -> None:
    # Given the only allowed session is taken and the quota refuses more
    configure(session_quota_429=True)
    client.rc_token()
    assert client.rc_login().status == HTTPStatus.TOO_MANY_REQUESTS

    # When that session's lifetime has passed
    clock.advance(sim_settings.rc_token_lifetime)
    response = client.rc_login()

    # Then a new login works
    assert response.status == HTTPStatus.OK
