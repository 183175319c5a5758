"""Hostile edges over real HTTP: what urllib3 and http.client would choke on is
refused before anything is sent, folded methods are never forwarded, and a
token that RingCX (here the simulator's echo) sends back is redacted."""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

import pytest

from ringcx_broker.proxy.forward import REDACTED
from ringcx_broker.tokens import StoredToken
from ringcx_dev.simulator import Simulator
from tests.unit.proxy.fakes import load_event, set_header

from .conftest import Proxy, api_calls

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("seeded")]


def body_of(response: dict[str, Any]) -> Any:
    return json.loads(response["body"])


def echo_post(body: str, query: dict[str, list[str]] | None = None) -> dict[str, Any]:
    event = load_event("proxy-post-json-text")
    event["path"] = "/voice/api/v1/echo/reflect"
    event["pathParameters"] = {"proxy": "v1/echo/reflect"}
    event["body"] = body
    event["multiValueQueryStringParameters"] = query
    event["queryStringParameters"] = {k: v[-1] for k, v in query.items()} if query else None
    return event


def test_proxy_echo_reflecting_the_tokens_returns_the_marker(
    proxy: Proxy, seeded: StoredToken
) -> None:
    # Given a request whose body and query carry the broker's current tokens
    # (a caller who read /token, say), which the echo route mirrors back
    assert seeded.refresh_token is not None
    body = json.dumps({"note": f"token {seeded.access_token} and {seeded.refresh_token}"})
    event = echo_post(body, {"t": [seeded.access_token]})
    # When proxied to the simulator and back
    response = proxy(event)
    # Then the reply is still the echo's JSON text, and neither token is in it
    assert response["statusCode"] == HTTPStatus.OK
    assert response["isBase64Encoded"] is False
    echo = body_of(response)
    assert echo["bodyText"] == json.dumps({"note": f"token {REDACTED} and {REDACTED}"})
    assert echo["query"] == {"t": [REDACTED]}
    assert seeded.access_token not in response["body"]
    assert seeded.refresh_token not in response["body"]


@pytest.mark.parametrize(
    ("name", "value"),
    [("Accept", "\u65e5\u672c"), ("Accept-Language", "\ud800"), ("Content-Type", "a/\u2603")],
    ids=["cjk", "surrogate", "snowman"],
)
def test_proxy_header_outside_latin1_is_400_before_any_request(
    proxy: Proxy, simulator: Simulator, name: str, value: str
) -> None:
    # Given a header value http.client cannot encode (a UnicodeEncodeError and a 500 before)
    event = load_event("proxy-get-accounts")
    set_header(event, name, value)
    before = api_calls(simulator)
    # When proxied over real HTTP
    response = proxy(event)
    # Then it is a 400 naming the header, and RingCX saw nothing
    assert response["statusCode"] == HTTPStatus.BAD_REQUEST
    assert f"header {name} " in body_of(response)["message"]
    assert api_calls(simulator) == before


@pytest.mark.parametrize("method", ["post", "PO\u017fT"])
def test_proxy_folded_method_is_405_before_any_request(
    proxy: Proxy, simulator: Simulator, method: str
) -> None:
    event = echo_post("{}")
    event["httpMethod"] = method
    before = api_calls(simulator)
    response = proxy(event)
    assert response["statusCode"] == HTTPStatus.METHOD_NOT_ALLOWED
    assert api_calls(simulator) == before
