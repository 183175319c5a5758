"""Forwarding fidelity and safety, with real-shaped events from ``events/``
against the simulator's RingCX API over HTTP (its echo route mirrors what
arrived) and moto's Secrets Manager."""

from __future__ import annotations

import base64
import json
import socket
from http import HTTPStatus
from typing import Any

import pytest

from ringcx_broker.tokens import StoredToken
from ringcx_dev.simulator import Fault, Simulator
from ringcx_dev.simulator.voice import binary_pattern
from tests.simulator.simclient import jwt_claims
from tests.unit.proxy.fakes import REFUSED_EVENTS, load_event

from .conftest import Proxy, ProxyFactory, api_calls

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("seeded")]

MB = 1024 * 1024


def body_of(response: dict[str, Any]) -> Any:
    return json.loads(response["body"])


def headers_of(response: dict[str, Any]) -> dict[str, list[str]]:
    multi = response.get("multiValueHeaders") or {}
    return {k.lower(): v for k, v in multi.items()}


def voice_event(proxy_path: str, query: dict[str, list[str]] | None = None) -> dict[str, Any]:
    event = load_event("proxy-get-accounts")
    event["path"] = "/voice/api/" + proxy_path
    event["pathParameters"] = {"proxy": proxy_path}
    event["multiValueQueryStringParameters"] = query
    event["queryStringParameters"] = {k: v[-1] for k, v in query.items()} if query else None
    return event


# -- what arrives upstream ---------------------------------------------------------


def test_proxy_multivalue_query_arrives_with_every_value(proxy: Proxy) -> None:
    # Given a GET with a repeated query parameter and reserved characters
    event = load_event("proxy-get-multivalue-query")
    # When proxied
    response = proxy(event)
    echo = body_of(response)
    # Then RingCX saw the same method, path and every query value
    assert response["statusCode"] == HTTPStatus.OK
    assert echo["method"] == "GET"
    assert echo["rawPath"] == "/voice/api/v1/echo/search"
    assert echo["query"] == event["multiValueQueryStringParameters"]


@pytest.mark.parametrize("name", ["proxy-post-json", "proxy-post-json-text"])
def test_proxy_post_json_body_arrives_byte_exact(proxy: Proxy, name: str) -> None:
    event = load_event(name)
    expected = (
        base64.b64decode(event["body"]) if event["isBase64Encoded"] else event["body"].encode()
    )
    echo = body_of(proxy(event))
    assert echo["method"] == "POST"
    assert base64.b64decode(echo["bodyBase64"]) == expected
    assert echo["headers"]["content-type"] == event["headers"]["Content-Type"]
    assert echo["headers"]["accept"] == "application/json"


def test_proxy_binary_upload_arrives_byte_exact(proxy: Proxy) -> None:
    event = load_event("proxy-post-binary")
    echo = body_of(proxy(event))
    assert base64.b64decode(echo["bodyBase64"]) == bytes(range(256)) * 4
    assert echo["headers"]["content-type"] == "application/octet-stream"


def test_proxy_binary_download_comes_back_as_base64(proxy: Proxy) -> None:
    response = proxy(load_event("proxy-get-binary"))
    assert response["statusCode"] == HTTPStatus.OK
    assert response["isBase64Encoded"] is True
    assert base64.b64decode(response["body"]) == binary_pattern(4096)
    assert headers_of(response)["content-type"] == ["application/octet-stream"]


def test_proxy_caller_credentials_never_reach_ringcx(
    proxy: Proxy, seeded: StoredToken, simulator: Simulator
) -> None:
    # Given a request with odd header casing, SigV4 credentials, a cookie and hop-by-hop headers
    event = load_event("proxy-odd-header-casing")
    # When proxied
    echo = body_of(proxy(event))
    headers = echo["headers"]
    # Then RingCX saw the broker's bearer token (the echo names it by its jti, never
    # showing it) and nothing of the caller's
    assert headers["authorization"] == "Bearer [redacted]"
    assert echo["bearer"]["jti"] == jwt_claims(seeded.access_token)["jti"]
    assert not [name for name in headers if name.startswith("x-amz")]
    assert "cookie" not in headers
    assert "x-forwarded-for" not in headers
    assert headers["host"] == simulator.base_url.removeprefix("http://")
    assert "IQoJb3JpZ2luX2VjEXAMPLE" not in json.dumps(headers)
    assert headers["content-type"] == "application/json"
    assert headers["accept"] == "application/json"


def test_proxy_path_is_forwarded_canonically(proxy: Proxy) -> None:
    echo = body_of(proxy(voice_event("v1/echo/john%2520wang/J%C3%BCrgen/100%25")))
    assert echo["rawPath"] == "/voice/api/v1/echo/john%20wang/J%C3%BCrgen/100%25"
    assert echo["path"] == "/voice/api/v1/echo/john wang/Jürgen/100%"


# -- what comes back ---------------------------------------------------------------


def test_proxy_set_cookie_is_stripped_and_other_headers_kept(proxy: Proxy) -> None:
    response = proxy(load_event("proxy-get-multivalue-query"))
    headers = headers_of(response)
    assert "set-cookie" not in headers
    assert headers["x-sim-echo"] == ["1"]
    assert "sim=1" not in json.dumps(response["multiValueHeaders"])


def test_proxy_ringcx_error_passes_through_untouched(proxy: Proxy) -> None:
    response = proxy(voice_event("v1/forbidden"))
    assert response["statusCode"] == HTTPStatus.FORBIDDEN
    body = body_of(response)
    assert body == {
        "errorCode": "access.denied.exception",
        "generalMessage": "Access is denied",
        "details": "Access is denied",
        "developerMessage": "403 Forbidden: Access is denied",
        "cause": None,
        "requestUri": "/voice/api/v1/forbidden",
        "timestamp": body["timestamp"],
    }


def test_proxy_ringcx_5xx_status_and_body_pass_through(proxy: Proxy, simulator: Simulator) -> None:
    simulator.inject("api", Fault(status=503))
    response = proxy(load_event("proxy-get-accounts"))
    assert response["statusCode"] == HTTPStatus.SERVICE_UNAVAILABLE
    assert body_of(response)["errorCode"] == "sim.injected.fault"


def test_proxy_large_text_under_the_limit_is_returned_whole(proxy: Proxy) -> None:
    response = proxy(voice_event("v1/large", {"bytes": [str(4 * MB)]}))
    assert response["statusCode"] == HTTPStatus.OK
    assert response["isBase64Encoded"] is False
    assert len(response["body"]) == 4 * MB


@pytest.mark.parametrize(
    ("path", "query"),
    [("v1/large", {"bytes": [str(7 * MB)]}), ("v1/binary", {"size": [str(5 * MB)]})],
    ids=["text-7MB", "binary-5MB-grows-past-6MB-as-base64"],
)
def test_proxy_response_too_large_for_lambda_is_502_with_message(
    proxy: Proxy, path: str, query: dict[str, list[str]]
) -> None:
    response = proxy(voice_event(path, query))
    assert response["statusCode"] == HTTPStatus.BAD_GATEWAY
    assert "too large" in body_of(response)["message"]
    assert len(response["body"]) < 1024


# -- refused before forwarding ------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "status"),
    [
        *REFUSED_EVENTS,
        ("proxy-no-request-context", HTTPStatus.BAD_REQUEST),
        ("proxy-direct-invoke", HTTPStatus.BAD_REQUEST),
    ],
)
def test_proxy_bad_request_never_reaches_ringcx(
    proxy: Proxy, simulator: Simulator, name: str, status: HTTPStatus
) -> None:
    response = proxy(load_event(name))
    assert response["statusCode"] == status
    assert api_calls(simulator) == 0


@pytest.mark.parametrize(
    "proxy_path",
    [
        "%2e%2e/%2e%2e/api/auth/token/refresh",
        "v1/%252e%252e/%252e%252e/%252e%252e/_sim/counters",
        "..%2f..%2f..%2f_sim/config",
        "v1/%5c..%5c..%5c_sim",
        "http://evil.example.com/",
        "//evil.example.com/voice/api/v1",
        "v1/..;/..;/_sim/health",
    ],
)
def test_proxy_traversal_towards_other_ringcx_paths_is_400(
    proxy: Proxy, simulator: Simulator, proxy_path: str
) -> None:
    response = proxy(voice_event(proxy_path))
    assert response["statusCode"] == HTTPStatus.BAD_REQUEST
    assert api_calls(simulator) == 0


def test_proxy_very_long_query_is_414_and_not_forwarded(proxy: Proxy, simulator: Simulator) -> None:
    response = proxy(voice_event("v1/echo/q", {"ids": [f"{i:08d}" for i in range(2000)]}))
    assert response["statusCode"] == HTTPStatus.REQUEST_URI_TOO_LONG
    assert api_calls(simulator) == 0


# -- upstream failures ----------------------------------------------------------------


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_proxy_unreachable_ringcx_is_502(proxy_factory: ProxyFactory) -> None:
    proxy = proxy_factory(origin=f"http://127.0.0.1:{closed_port()}")
    response = proxy(load_event("proxy-get-accounts"))
    assert response["statusCode"] == HTTPStatus.BAD_GATEWAY
    assert "unreachable" in body_of(response)["message"]


def test_proxy_dropped_connection_is_502(proxy: Proxy, simulator: Simulator) -> None:
    simulator.inject("api", Fault(drop=True))
    response = proxy(load_event("proxy-get-accounts"))
    assert response["statusCode"] == HTTPStatus.BAD_GATEWAY
    assert set(body_of(response)) == {"message"}


def test_proxy_slow_ringcx_is_504_after_the_configured_timeout(
    proxy_factory: ProxyFactory, simulator: Simulator
) -> None:
    proxy = proxy_factory(upstream_timeout=0.3)
    simulator.inject("api", Fault(delay=1.5))
    response = proxy(load_event("proxy-get-accounts"))
    assert response["statusCode"] == HTTPStatus.GATEWAY_TIMEOUT
    assert "0.3 s" in body_of(response)["message"]


def test_proxy_recovers_after_an_upstream_failure(proxy: Proxy, simulator: Simulator) -> None:
    simulator.inject("api", Fault(drop=True))
    assert proxy(load_event("proxy-get-accounts"))["statusCode"] == HTTPStatus.BAD_GATEWAY
    assert proxy(load_event("proxy-get-accounts"))["statusCode"] == HTTPStatus.OK


def test_proxy_errors_never_contain_a_token(
    proxy: Proxy, seeded: StoredToken, simulator: Simulator
) -> None:
    simulator.inject("api", Fault(drop=True))
    responses = [
        proxy(load_event(name))
        for name in ("proxy-get-accounts", "proxy-traversal", "proxy-delete", "proxy-health")
    ]
    text = json.dumps(responses)
    assert seeded.access_token not in text
    assert str(seeded.refresh_token) not in text
