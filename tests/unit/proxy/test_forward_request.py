"""Building the upstream request from an API Gateway event: method, query,
headers and body; what raises is never forwarded."""

from __future__ import annotations

import base64
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs

import pytest

from ringcx_broker.errors import BadRequest, BrokerError, MethodNotAllowed
from ringcx_broker.proxy.forward import (
    FORWARDED_REQUEST_HEADERS,
    MAX_TARGET_CHARS,
    QueryTooLong,
    build_request,
    check_method,
    encode_query,
    forwarded_headers,
)
from tests.unit.proxy.fakes import REFUSED_EVENTS, load_event

GET_POST = frozenset({"GET", "POST"})


@pytest.mark.parametrize("method", ["DELETE", "PUT", "PATCH", "HEAD", "OPTIONS", "TRACE"])
def test_check_method_not_in_allowlist_is_405(method: str) -> None:
    with pytest.raises(MethodNotAllowed) as caught:
        check_method(method, GET_POST)
    assert caught.value.status == HTTPStatus.METHOD_NOT_ALLOWED
    assert "GET, POST" in caught.value.message


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_check_method_allowlisted_exact_method_is_returned(method: str) -> None:
    assert check_method(method, GET_POST) == method


@pytest.mark.parametrize(
    "method",
    [
        "post",
        "Post",
        "get",
        "gET",
        "PO\u017fT",
        "po\u017ft",
        "G\u0395T",
        "\uff30\uff2f\uff33\uff34",
        "POST ",
    ],
    ids=[
        "post",
        "Post",
        "get",
        "gET",
        "long-s",
        "long-s-lower",
        "greek-epsilon",
        "fullwidth",
        "space",
    ],
)
def test_check_method_not_exactly_allowlisted_is_405_never_folded(method: str) -> None:
    # Given a method that folds into POST or GET (str.upper maps "\u017f" to "S")
    # When checked against the upper-case allow-list
    with pytest.raises(MethodNotAllowed) as caught:
        check_method(method, GET_POST)
    # Then it is refused: an IAM Deny on .../POST/... must not be sidestepped by spelling
    assert caught.value.status == HTTPStatus.METHOD_NOT_ALLOWED


@pytest.mark.parametrize("method", [None, 3, "G\r\nET", "X" * 40])
def test_check_method_garbage_is_405_without_echoing_it(method: object) -> None:
    with pytest.raises(MethodNotAllowed) as caught:
        check_method(method, GET_POST)
    assert "this method" in caught.value.message


def test_check_method_configured_allowlist_is_honoured() -> None:
    assert check_method("DELETE", frozenset({"GET", "DELETE"})) == "DELETE"


# -- query -------------------------------------------------------------------------


def test_encode_query_multi_value_keeps_every_value_in_order() -> None:
    # Given the multi-value query API Gateway decoded for us
    event = load_event("proxy-get-multivalue-query")
    # When re-encoded
    query = encode_query(event)
    # Then every value of every key survives, and reserved characters are encoded
    assert parse_qs(query, keep_blank_values=True) == {
        "state": ["AVAILABLE", "ON_BREAK"],
        "q": ["agent smith & co"],
        "page": ["2"],
    }
    assert "agent%20smith%20%26%20co" in query


@pytest.mark.parametrize(
    ("multi", "expected"),
    [
        ({"a": ["1=2"]}, "a=1%3D2"),
        ({"a": [""]}, "a="),
        ({"redirect": ["http://evil/#x"]}, "redirect=http%3A%2F%2Fevil%2F%23x"),
        ({"crlf": ["a\r\nb"]}, "crlf=a%0D%0Ab"),
        ({"ü": ["ö"]}, "%C3%BC=%C3%B6"),
    ],
)
def test_encode_query_special_characters_are_percent_encoded(
    multi: dict[str, list[str]], expected: str
) -> None:
    assert encode_query({"multiValueQueryStringParameters": multi}) == expected


@pytest.mark.parametrize(
    "multi",
    [{"a": ["\ud800"]}, {"\udfff": ["x"]}, {"a": ["ok", "x\udc00y"]}],
    ids=["value", "key", "second-value"],
)
def test_encode_query_lone_surrogate_is_400(multi: dict[str, list[str]]) -> None:
    # Given a decoded query that holds a lone surrogate (quote() cannot encode it)
    # When re-encoded / Then it is a 400, not a UnicodeEncodeError
    with pytest.raises(BadRequest, match="lone surrogate"):
        encode_query({"multiValueQueryStringParameters": multi})


def test_encode_query_single_value_only_event_is_used() -> None:
    event = {"queryStringParameters": {"a": "1"}, "multiValueQueryStringParameters": None}
    assert encode_query(event) == "a=1"


def test_encode_query_no_parameters_is_empty() -> None:
    assert encode_query(load_event("proxy-get-accounts")) == ""


def test_encode_query_very_long_is_414() -> None:
    # Given a query longer than servers accept
    event = {"multiValueQueryStringParameters": {"ids": [str(i) for i in range(3000)]}}
    # When encoded / Then it is refused with 414, not forwarded or crashed
    with pytest.raises(QueryTooLong) as caught:
        encode_query(event)
    assert caught.value.status == HTTPStatus.REQUEST_URI_TOO_LONG


def test_encode_query_long_but_acceptable_is_forwarded_whole() -> None:
    values = ["x" * 100 for _ in range(60)]
    query = encode_query({"multiValueQueryStringParameters": {"v": values}})
    assert len(query) < MAX_TARGET_CHARS
    assert parse_qs(query)["v"] == values


@pytest.mark.parametrize(
    "event",
    [
        {"multiValueQueryStringParameters": ["a"]},
        {"multiValueQueryStringParameters": {"a": "not-a-list"}},
        {"multiValueQueryStringParameters": {"a": [1]}},
        {"queryStringParameters": {"a": 1}},
    ],
)
def test_encode_query_malformed_shape_is_400(event: dict[str, Any]) -> None:
    with pytest.raises(BadRequest):
        encode_query(event)


# -- headers -----------------------------------------------------------------------


def test_forwarded_headers_odd_casing_keeps_only_the_allowlist() -> None:
    # Given a request with odd header casing and credentials of every kind
    event = load_event("proxy-odd-header-casing")
    # When filtered
    headers = forwarded_headers(event)
    # Then only content negotiation survives, under canonical names
    assert headers == {"Accept": "application/json", "Content-Type": "application/json"}


@pytest.mark.parametrize(
    "name",
    [
        "Authorization",
        "aUtHoRiZaTiOn",
        "X-Amz-Date",
        "x-amz-security-token",
        "X-AMZ-CONTENT-SHA256",
        "Host",
        "Cookie",
        "Connection",
        "Keep-Alive",
        "Transfer-Encoding",
        "TE",
        "Upgrade",
        "Proxy-Authorization",
        "X-Forwarded-For",
        "X-Forwarded-Host",
        "Forwarded",
        "Content-Length",
        "Accept-Encoding",
        "X-Amzn-Trace-Id",
    ],
)
def test_forwarded_headers_sensitive_or_hop_by_hop_header_is_dropped(name: str) -> None:
    event = {"headers": {name: "value"}, "multiValueHeaders": {name: ["value"]}}
    assert forwarded_headers(event) == {}


def test_forwarded_headers_multi_value_is_joined() -> None:
    event = {
        "headers": {"Accept": "text/csv"},
        "multiValueHeaders": {"Accept": ["application/json", "text/csv"]},
    }
    assert forwarded_headers(event) == {"Accept": "application/json, text/csv"}


def test_forwarded_headers_single_value_only_event_is_used() -> None:
    event = {"headers": {"accept-language": "de-DE"}, "multiValueHeaders": None}
    assert forwarded_headers(event) == {"Accept-Language": "de-DE"}


@pytest.mark.parametrize("value", ["application/json\r\nX-Injected: 1", "a\x00b", "a\nb"])
def test_forwarded_headers_control_characters_are_400(value: str) -> None:
    with pytest.raises(BadRequest, match="control characters"):
        forwarded_headers({"headers": {"Content-Type": value}})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("Accept", "\u65e5\u672c"),
        ("Content-Type", "application/json; charset=\u2603"),
        ("accept-language", "\ud800"),
        ("If-None-Match", '"\udcff"'),
        ("If-Match", "\U0001f600"),
    ],
    ids=["cjk", "snowman", "lone-high-surrogate", "lone-low-surrogate", "emoji"],
)
@pytest.mark.parametrize("field", ["headers", "multiValueHeaders"])
def test_forwarded_headers_value_outside_latin1_is_400_naming_the_header(
    field: str, name: str, value: str
) -> None:
    # Given a forwarded header whose value http.client cannot encode (Latin-1 only)
    event = {field: {name: [value] if field == "multiValueHeaders" else value}}
    # When the headers are filtered
    with pytest.raises(BadRequest) as caught:
        forwarded_headers(event)
    # Then it is a 400 that names the header, not a UnicodeEncodeError while sending
    assert f"header {FORWARDED_REQUEST_HEADERS[name.lower()]} " in caught.value.message
    assert "Latin-1" in caught.value.message


def test_forwarded_headers_latin1_value_is_forwarded() -> None:
    event = {"headers": {"Accept-Language": "fr-FR, caf\u00e9;q=0.5"}}
    assert forwarded_headers(event) == {"Accept-Language": "fr-FR, caf\u00e9;q=0.5"}


def test_forwarded_headers_dropped_header_is_never_checked() -> None:
    # Given odd text in a header that is not forwarded anyway
    event = {"headers": {"X-Note": "\u65e5\u672c \ud800", "Accept": "application/json"}}
    # Then it is simply left behind
    assert forwarded_headers(event) == {"Accept": "application/json"}


@pytest.mark.parametrize(
    "event",
    [{"headers": ["Accept"]}, {"headers": {"Accept": 5}}, {"multiValueHeaders": {"Accept": [5]}}],
)
def test_forwarded_headers_malformed_shape_is_400(event: dict[str, Any]) -> None:
    with pytest.raises(BadRequest):
        forwarded_headers(event)


# -- the whole request --------------------------------------------------------------


def test_build_request_base64_body_is_decoded_to_exact_bytes() -> None:
    event = load_event("proxy-post-binary")
    request = build_request(event, GET_POST)
    assert request.body == base64.b64decode(event["body"])
    assert request.body == bytes(range(256)) * 4
    assert request.headers["Content-Type"] == "application/octet-stream"


def test_build_request_text_body_is_utf8_bytes() -> None:
    event = load_event("proxy-post-json-text")
    request = build_request(event, GET_POST)
    assert request.body == event["body"].encode()
    assert request.method == "POST"
    assert request.target == "/voice/api/v1/echo/campaigns"


@pytest.mark.parametrize("body", ["this is *not* base64!", "QUJD=", "QUJ", "QU JD\n"])
def test_build_request_invalid_base64_body_is_400(body: str) -> None:
    event = load_event("proxy-post-binary")
    event["body"] = body
    with pytest.raises(BadRequest, match="base64"):
        build_request(event, GET_POST)


def test_build_request_get_without_body_sends_no_body() -> None:
    request = build_request(load_event("proxy-get-multivalue-query"), GET_POST)
    assert request.body is None
    assert request.target.startswith("/voice/api/v1/echo/search?state=AVAILABLE&state=ON_BREAK")


@pytest.mark.parametrize(("name", "status"), REFUSED_EVENTS)
def test_build_request_bad_sample_event_raises_its_status(name: str, status: HTTPStatus) -> None:
    with pytest.raises(BrokerError) as caught:
        build_request(load_event(name), GET_POST)
    assert caught.value.status == status


def test_build_request_method_is_checked_before_the_path() -> None:
    # Given a disallowed method on a hostile path
    event = load_event("proxy-traversal")
    event["httpMethod"] = "DELETE"
    # Then the method decides: 405
    with pytest.raises(MethodNotAllowed):
        build_request(event, GET_POST)
