"""apigw.py: requests become the events API Gateway produces (checked against
the samples in events/apigw-*.json), and proxy results become responses."""

from __future__ import annotations

import base64
import json
from http import HTTPStatus
from typing import Any
from urllib.parse import quote, urlencode

import pytest

from ringcx_dev.local.apigw import (
    HttpRequest,
    MalformedProxyResponse,
    Router,
    build_event,
    build_response,
    is_binary,
    missing_authentication_token,
)
from ringcx_dev.local.template import ApiRoute, LocalContext, RestApi, Template

from .fakes import EVENTS, TEMPLATE, load_event

# Headers that API Gateway adds itself; the local API adds them with local values.
GATEWAY_ADDED = {"x-forwarded-for", "x-forwarded-port", "x-forwarded-proto", "x-amzn-trace-id"}
SAMPLES = sorted(p.name for p in EVENTS.glob("apigw-*.json"))
BROKER_API = RestApi("BrokerApi", "v1", ("*/*",), "AWS_IAM")


def _repo_routes() -> tuple[ApiRoute, ...]:
    template = Template.load(TEMPLATE)
    layout = template.secret_layout()
    physical = {layout.credentials: "c"} | {s: s for s in layout.ring}
    return template.resolve(LocalContext(physical_ids=physical)).routes


ROUTER = Router(_repo_routes())


def _request_behind(event: dict[str, Any]) -> HttpRequest:
    """The HTTP request a client sent for a sample event."""
    multi_query = event["multiValueQueryStringParameters"] or {}
    query = urlencode([(k, v) for k, vs in multi_query.items() for v in vs], quote_via=quote)
    headers = tuple(
        (name, value)
        for name, values in (event["multiValueHeaders"] or {}).items()
        if name.lower() not in GATEWAY_ADDED
        for value in values
    )
    raw = event["body"] or ""
    body = base64.b64decode(raw) if event["isBase64Encoded"] else raw.encode()
    return HttpRequest(
        method=event["httpMethod"],
        raw_path=event["path"],
        raw_query=query,
        headers=headers,
        body=body,
        source_ip=event["requestContext"]["identity"]["sourceIp"],
        port=443,
    )


def _without_gateway_headers(headers: dict[str, Any] | None) -> dict[str, Any]:
    return {k: v for k, v in (headers or {}).items() if k.lower() not in GATEWAY_ADDED}


@pytest.mark.parametrize("sample", SAMPLES)
def test_build_event_request_matches_api_gateway_sample(sample: str) -> None:
    # Given the request behind an event API Gateway produced
    expected = load_event(sample)
    request = _request_behind(expected)
    match = ROUTER.match(request.method, request.raw_path)
    assert match is not None
    # When the local API translates it
    event = build_event(request, match, BROKER_API, request_id="r-1")
    # Then the event has the same shape and the same request data
    assert set(event) == set(expected)
    assert set(event["requestContext"]) == set(expected["requestContext"])
    assert set(event["requestContext"]["identity"]) == set(expected["requestContext"]["identity"])
    for key in (
        "resource",
        "path",
        "httpMethod",
        "queryStringParameters",
        "multiValueQueryStringParameters",
        "pathParameters",
        "stageVariables",
        "body",
        "isBase64Encoded",
    ):
        assert event[key] == expected[key], key
    assert _without_gateway_headers(event["headers"]) == _without_gateway_headers(
        expected["headers"]
    )
    assert _without_gateway_headers(event["multiValueHeaders"]) == _without_gateway_headers(
        expected["multiValueHeaders"]
    )
    assert {k.lower() for k in event["headers"]} >= GATEWAY_ADDED
    for key in ("resourcePath", "httpMethod", "stage", "path", "protocol", "accountId"):
        assert event["requestContext"][key] == expected["requestContext"][key], key
    assert event["requestContext"]["identity"]["sourceIp"] == request.source_ip


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"])
def test_build_event_any_method_reaches_proxy_with_that_method(method: str) -> None:
    request = HttpRequest.from_target(method, "/voice/api/v1/admin/accounts")
    match = ROUTER.match(method, request.raw_path)
    assert match is not None and match.route.function == "ProxyFunction"
    event = build_event(request, match, BROKER_API)
    assert (event["httpMethod"], event["requestContext"]["httpMethod"]) == (method, method)
    assert event["pathParameters"] == {"proxy": "v1/admin/accounts"}


def test_build_event_repeated_query_names_keep_last_and_all_values() -> None:
    request = HttpRequest.from_target("GET", "/voice/api/v1/x?id=1&id=2&flag&sp=a+b&e=%E2%82%AC")
    match = ROUTER.match("GET", request.raw_path)
    assert match is not None
    event = build_event(request, match, BROKER_API)
    assert event["queryStringParameters"] == {"id": "2", "flag": "", "sp": "a b", "e": "€"}
    assert event["multiValueQueryStringParameters"] == {
        "id": ["1", "2"],
        "flag": [""],
        "sp": ["a b"],
        "e": ["€"],
    }


@pytest.mark.parametrize(
    ("content_type", "body"),
    [("application/json", b'{"a": 1}'), ("image/png", bytes(range(256))), (None, b"plain")],
)
def test_build_event_binary_media_types_star_base64_encodes_every_body(
    content_type: str | None, body: bytes
) -> None:
    headers = (("Content-Type", content_type),) if content_type else ()
    request = HttpRequest("POST", "/voice/api/v1/x", headers=headers, body=body)
    match = ROUTER.match("POST", request.raw_path)
    assert match is not None
    event = build_event(request, match, BROKER_API)
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == body


def test_build_event_without_binary_media_types_passes_text_body() -> None:
    request = HttpRequest(
        "POST", "/voice/api/v1/x", headers=(("Content-Type", "text/plain"),), body=b"hi"
    )
    match = ROUTER.match("POST", request.raw_path)
    assert match is not None
    event = build_event(request, match, RestApi("Api", "Prod", (), None))
    assert (event["body"], event["isBase64Encoded"]) == ("hi", False)


@pytest.mark.parametrize(
    ("method", "path", "function", "resource"),
    [
        ("POST", "/auth/exchange", "ExchangeFunction", "/auth/exchange"),
        ("GET", "/health", "ProxyFunction", "/health"),
        ("GET", "/health/", "ProxyFunction", "/health"),
        ("GET", "/token", "ProxyFunction", "/token"),
        ("GET", "/voice/api/v1", "ProxyFunction", "/voice/api/{proxy+}"),
        ("DELETE", "/voice/api/a/b/c", "ProxyFunction", "/voice/api/{proxy+}"),
    ],
)
def test_router_template_route_matches(
    method: str, path: str, function: str, resource: str
) -> None:
    match = ROUTER.match(method, path)
    assert match is not None
    assert (match.route.function, match.route.path) == (function, resource)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/"),
        ("GET", "/nothing/here"),
        ("GET", "/voice/api"),  # {proxy+} needs at least one segment
        ("GET", "/voice/api/"),
        ("GET", "/auth/exchange"),  # the resource exists, the method does not
        ("POST", "/health"),
        ("GET", "/v1/health"),  # the stage is not part of the local URL
    ],
)
def test_router_unknown_resource_or_method_is_unmatched(method: str, path: str) -> None:
    assert ROUTER.match(method, path) is None


def test_router_exact_resource_beats_greedy_and_method_beats_any() -> None:
    routes = [
        ApiRoute("/{proxy+}", "ANY", "Greedy", "e1", "Api"),
        ApiRoute("/items/{id}", "ANY", "Variable", "e2", "Api"),
        ApiRoute("/items/special", "GET", "Literal", "e3", "Api"),
        ApiRoute("/items/special", "ANY", "LiteralAny", "e4", "Api"),
    ]
    router = Router(routes)

    def target(method: str, path: str) -> tuple[str, dict[str, str] | None]:
        match = router.match(method, path)
        assert match is not None
        return match.route.function, match.path_parameters

    assert target("GET", "/items/special") == ("Literal", None)
    assert target("POST", "/items/special") == ("LiteralAny", None)
    assert target("GET", "/items/42") == ("Variable", {"id": "42"})
    assert target("GET", "/items/42/more") == ("Greedy", {"proxy": "items/42/more"})


def test_missing_authentication_token_is_api_gateways_403() -> None:
    response = missing_authentication_token("r-1")
    assert response.status == HTTPStatus.FORBIDDEN
    assert response.json() == {"message": "Missing Authentication Token"}
    assert response.header("x-amzn-ErrorType") == "MissingAuthenticationTokenException"


def _respond(result: object, accept: str = "*/*", method: str = "GET") -> Any:
    request = HttpRequest(method, "/voice/api/x", headers=(("Accept", accept),))
    return build_response(result, request, BROKER_API, "r-1")


def test_build_response_merges_headers_and_multivalue_headers_like_api_gateway() -> None:
    response = _respond(
        {
            "statusCode": 201,
            "headers": {"X-One": "1", "X-Both": "single", "Content-Type": "text/plain"},
            "multiValueHeaders": {"X-Both": ["m1", "m2"], "Set-Cookie": ["a=1", "b=2"]},
            "body": "created",
        }
    )
    assert response.status == 201
    assert response.body == b"created"
    headers = [(k, v) for k, v in response.headers if not k.lower().startswith("x-am")]
    assert sorted(headers) == sorted(
        [
            ("X-One", "1"),
            ("X-Both", "m1"),
            ("X-Both", "m2"),
            ("Set-Cookie", "a=1"),
            ("Set-Cookie", "b=2"),
            ("Content-Type", "text/plain"),
        ]
    )
    assert response.header("x-amzn-RequestId") == "r-1"


def test_build_response_base64_body_is_decoded_to_bytes() -> None:
    raw = bytes(range(256))
    response = _respond(
        {"statusCode": 200, "body": base64.b64encode(raw).decode(), "isBase64Encoded": True}
    )
    assert response.body == raw
    assert response.header("content-type") == "application/json"  # API Gateway's default


def test_build_response_reserved_headers_are_remapped() -> None:
    response = _respond(
        {"statusCode": 401, "headers": {"WWW-Authenticate": "Bearer", "Server": "up"}}
    )
    assert response.header("www-authenticate") is None
    assert response.header("x-amzn-Remapped-WWW-Authenticate") == "Bearer"
    assert response.header("x-amzn-Remapped-Server") == "up"


def test_build_response_head_request_has_no_body() -> None:
    assert _respond({"statusCode": 200, "body": "x"}, method="HEAD").body == b""


@pytest.mark.parametrize(
    ("result", "message"),
    [
        ([], "not an object"),
        ({}, "statusCode"),
        ({"statusCode": "abc"}, "statusCode"),
        ({"statusCode": 200, "body": {"a": 1}}, "body must be a string"),
        ({"statusCode": 200, "cookies": []}, "unexpected key"),
        ({"statusCode": 200, "headers": {"X": {"nested": 1}}}, "header values"),
        ({"statusCode": 200, "body": "%%%", "isBase64Encoded": True}, "not base64"),
    ],
)
def test_build_response_malformed_result_is_refused(result: object, message: str) -> None:
    with pytest.raises(MalformedProxyResponse, match=message):
        _respond(result)


@pytest.mark.parametrize(
    ("content_type", "types", "expected"),
    [
        ("application/json", ("*/*",), True),
        ("image/png; q=1", ("image/*",), True),
        ("text/plain", ("image/*",), False),
        ("application/octet-stream", ("application/octet-stream",), True),
        (None, (), False),
    ],
)
def test_is_binary_media_type_patterns(
    content_type: str | None, types: tuple[str, ...], expected: bool
) -> None:
    assert is_binary(content_type, types) is expected


def test_samples_exist_for_each_translation_concern() -> None:
    # The samples cover methods, multi-value query strings, text and binary bodies, headers.
    events = [json.loads((EVENTS / s).read_text()) for s in SAMPLES]
    assert {e["httpMethod"] for e in events} >= {"GET", "POST", "DELETE"}
    assert any(
        len(v) > 1 for e in events for v in (e["multiValueQueryStringParameters"] or {}).values()
    )
    assert any(len(v) > 1 for e in events for v in (e["multiValueHeaders"] or {}).values())
    assert sum(e["isBase64Encoded"] for e in events) >= 2
