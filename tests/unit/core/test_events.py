"""events.py: API Gateway events vs direct invokes, bodies, and safe replies."""

from __future__ import annotations

import base64
import json
from http import HTTPStatus
from typing import Any

import pytest

from ringcx_broker.errors import (
    BadRequest,
    BrokerError,
    CredentialsNotConfigured,
    RateLimited,
    TokenRejected,
)
from ringcx_broker.events import (
    JSON_HEADERS,
    api_response,
    body_bytes,
    direct_error,
    error_response,
    header,
    internal_error,
    is_api_event,
    parse_fields,
)


def api_event(
    body: str | None = None, headers: dict[str, Any] | None = None, b64: bool = False
) -> dict[str, Any]:
    return {
        "resource": "/auth/exchange",
        "path": "/auth/exchange",
        "httpMethod": "POST",
        "headers": headers,
        "body": body,
        "isBase64Encoded": b64,
        "requestContext": {"stage": "v1", "requestId": "r-1"},
    }


# -- is_api_event / header --------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (api_event(), True),
        ({"httpMethod": "POST"}, False),
        ({"requestContext": {}}, False),
        ({}, False),
        ({"rcAccessToken": "x"}, False),
        ({"source": "aws.events", "detail-type": "Scheduled Event"}, False),
        (None, False),
        ("httpMethod requestContext", False),
        (["httpMethod", "requestContext"], False),
    ],
    ids=[
        "rest-proxy-event",
        "method-only",
        "context-only",
        "empty",
        "direct-exchange",
        "scheduled",
        "none",
        "string",
        "list",
    ],
)
def test_is_api_event_needs_method_and_request_context(event: object, expected: bool) -> None:
    # Given some Lambda event
    # When it is classified
    # Then only a REST proxy event counts as an API event
    assert is_api_event(event) is expected


@pytest.mark.parametrize("name", ["Content-Type", "content-type", "CONTENT-TYPE", "cOnTeNt-TyPe"])
def test_header_lookup_any_casing_finds_value(name: str) -> None:
    # Given an event whose client sent a header in its own casing
    event = api_event(headers={"content-TYPE": "application/json"})

    # When the header is looked up in any casing
    # Then it is found
    assert header(event, name) == "application/json"


@pytest.mark.parametrize(
    "headers",
    [
        None,
        {},
        {"Accept": "*/*"},
        {"Content-Type": None},
        {"Content-Type": ["a"]},
        "Content-Type: x",
    ],
    ids=["null", "empty", "other-header", "null-value", "list-value", "headers-string"],
)
def test_header_missing_or_odd_gives_none(headers: Any) -> None:
    # Given an event without a usable Content-Type header
    event = api_event(headers=headers)

    # When it is looked up
    # Then the answer is None, not a crash
    assert header(event, "content-type") is None


# -- body_bytes -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "b64", "expected"),
    [
        (None, False, b""),
        ("", False, b""),
        ('{"a": 1}', False, b'{"a": 1}'),
        ("h\u00e9", False, "h\u00e9".encode()),
        (base64.b64encode(b'{"a": 1}').decode(), True, b'{"a": 1}'),
        (base64.b64encode(b"\x00\xff").decode(), True, b"\x00\xff"),
        ("", True, b""),
    ],
    ids=["none", "empty", "text", "unicode", "base64", "base64-binary", "base64-empty"],
)
def test_body_bytes_valid_body_decodes(body: str | None, b64: bool, expected: bytes) -> None:
    # Given a body, plain or base64-flagged
    # When it is read as bytes
    # Then it is the client's exact bytes
    assert body_bytes(api_event(body, b64=b64)) == expected


@pytest.mark.parametrize(
    "body",
    ["not base64!", "eyJhIjog=x", "abc", "YWJj\nZA==", "\u00e9\u00e9\u00e9\u00e9"],
    ids=["punctuation", "data-after-padding", "bad-length", "newline", "non-ascii"],
)
def test_body_bytes_invalid_base64_raises_bad_request(body: str) -> None:
    # Given a body flagged base64 that is not strictly valid base64
    # When it is read as bytes
    with pytest.raises(BadRequest) as caught:
        body_bytes(api_event(body, b64=True))

    # Then it is a 400, not silently decoded garbage
    assert caught.value.status == HTTPStatus.BAD_REQUEST
    assert "not valid base64" in caught.value.message


@pytest.mark.parametrize(
    "body", [{"a": 1}, ["a"], 5, b"bytes"], ids=["dict", "list", "int", "bytes"]
)
def test_body_bytes_non_string_body_raises_bad_request(body: object) -> None:
    # Given a body that is not a string (a malformed event)
    event = api_event()
    event["body"] = body

    # When it is read
    with pytest.raises(BadRequest) as caught:
        body_bytes(event)

    # Then it is a 400
    assert caught.value.message == "request body must be a string"


@pytest.mark.parametrize(
    "body", ["\ud800", "ok \udcff", '{"rcAccessToken": "\udfff"}'], ids=["high", "low", "in-json"]
)
def test_body_bytes_lone_surrogate_raises_bad_request(body: str) -> None:
    # Given a text body holding a lone surrogate (a JSON event may carry "\ud800")
    # When it is read as bytes
    with pytest.raises(BadRequest) as caught:
        body_bytes(api_event(body))

    # Then it is a 400 that says why, not a UnicodeEncodeError
    assert caught.value.status == HTTPStatus.BAD_REQUEST
    assert "lone surrogate" in caught.value.message


@pytest.mark.parametrize("flag", ["false", "true", 1, 0, [], {}], ids=repr)
def test_body_bytes_base64_flag_not_a_boolean_raises_bad_request(flag: object) -> None:
    # Given a malformed event whose isBase64Encoded is not true, false or null
    event = api_event(base64.b64encode(b"{}").decode())
    event["isBase64Encoded"] = flag

    # When its body is read
    with pytest.raises(BadRequest) as caught:
        body_bytes(event)

    # Then it is a 400, never a guess from the value's truthiness
    assert caught.value.message == "isBase64Encoded must be true or false"


def test_body_bytes_base64_flag_null_means_plain_text() -> None:
    event = api_event("{}")
    event["isBase64Encoded"] = None
    assert body_bytes(event) == b"{}"


# -- parse_fields -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ('{"rcAccessToken": "RC"}', "application/json"),
        ('{"rcAccessToken": "RC"}', "application/json; charset=utf-8"),
        ('{"rcAccessToken": "RC"}', None),
        ('{"rcAccessToken": "RC"}', "text/plain"),
        ("rcAccessToken=RC", "application/x-www-form-urlencoded"),
        ("rcAccessToken=RC", "Application/X-WWW-Form-Urlencoded; charset=UTF-8"),
        ("rcAccessToken=old&rcAccessToken=RC", "application/x-www-form-urlencoded"),
    ],
    ids=[
        "json",
        "json-charset",
        "no-type",
        "text-plain",
        "form",
        "form-mixed-case",
        "form-repeated",
    ],
)
def test_parse_fields_json_or_form_body_gives_fields(body: str, content_type: str | None) -> None:
    # Given a JSON or form-encoded body
    headers = {"Content-Type": content_type} if content_type else {}
    event = api_event(body, headers)

    # When its fields are parsed
    fields = parse_fields(event)

    # Then the same field comes out (the last one if repeated)
    assert fields["rcAccessToken"] == "RC"


def test_parse_fields_form_with_blank_value_keeps_it() -> None:
    # Given a form whose field is blank
    event = api_event("rcAccessToken=&x=1", {"content-type": "application/x-www-form-urlencoded"})

    # When parsed
    # Then the blank is kept, so the caller can reject it explicitly
    assert parse_fields(event) == {"rcAccessToken": "", "x": "1"}


def test_parse_fields_base64_json_body_gives_fields() -> None:
    # Given a JSON body that API Gateway base64-encoded
    raw = json.dumps({"rcAccessToken": "RC"}).encode()
    event = api_event(
        base64.b64encode(raw).decode(), {"Content-Type": "application/json"}, b64=True
    )

    # When parsed
    # Then it is decoded first
    assert parse_fields(event) == {"rcAccessToken": "RC"}


@pytest.mark.parametrize(
    "body", [None, "", "   ", "\n\t"], ids=["none", "empty", "spaces", "whitespace"]
)
def test_parse_fields_empty_body_gives_empty_dict(body: str | None) -> None:
    # Given an empty body ("log in with the stored JWT")
    # When parsed
    # Then there are no fields
    assert parse_fields(api_event(body, {"Content-Type": "application/json"})) == {}


JSON_TYPE = {"Content-Type": "application/json"}


@pytest.mark.parametrize(
    ("body", "headers", "b64", "message"),
    [
        ('{"rcAccessToken": "RCSECRET', JSON_TYPE, False, "must be JSON or application/x-www-form"),
        ("rcAccessToken=RCSECRET", {}, False, "must be JSON or application/x-www-form"),
        ('["RCSECRET"]', JSON_TYPE, False, "must be a JSON object"),
        ('"RCSECRET"', JSON_TYPE, False, "must be a JSON object"),
        ("42", JSON_TYPE, False, "must be a JSON object"),
        ("null", JSON_TYPE, False, "must be a JSON object"),
        (base64.b64encode(b"\xff\xfeRCSECRET").decode(), JSON_TYPE, True, "not UTF-8"),
    ],
    ids=["truncated-json", "form-without-type", "array", "string", "number", "null", "not-utf8"],
)
def test_parse_fields_invalid_body_raises_bad_request(
    body: str, headers: dict[str, str], b64: bool, message: str
) -> None:
    # Given a body that is neither a JSON object nor a declared form
    event = api_event(body, headers, b64=b64)

    # When parsed
    with pytest.raises(BadRequest) as caught:
        parse_fields(event)

    # Then it is a 400 with a message that does not quote the body
    assert caught.value.status == HTTPStatus.BAD_REQUEST
    assert message in caught.value.message
    assert "RCSECRET" not in caught.value.message


@pytest.mark.parametrize(
    "body",
    [
        '{"rcAccessToken": "\\ud800"}',
        '{"\\udc00": "x"}',
        '{"a": [{"b": ["\\udbff"]}]}',
    ],
    ids=["value", "key", "nested"],
)
def test_parse_fields_json_escaped_lone_surrogate_raises_bad_request(body: str) -> None:
    # Given valid UTF-8 JSON whose escapes decode to a lone surrogate
    event = api_event(body, JSON_TYPE)

    # When parsed
    with pytest.raises(BadRequest) as caught:
        parse_fields(event)

    # Then it is a 400 here, before any encoder downstream fails on it
    assert "lone surrogate" in caught.value.message


def test_parse_fields_json_escaped_surrogate_pair_is_kept() -> None:
    # Given a properly paired escape (one astral character)
    event = api_event('{"rcAccessToken": "\\ud83d\\ude00"}', JSON_TYPE)
    # Then it is ordinary text
    assert parse_fields(event) == {"rcAccessToken": "\U0001f600"}


# -- replies ----------------------------------------------------------------------


def test_api_response_is_json_and_not_cacheable() -> None:
    # Given a summary
    # When it is turned into a REST API reply with an extra header
    reply = api_response(HTTPStatus.OK, {"ok": True}, {"X-Extra": "1"})

    # Then it is a well-formed proxy-integration reply
    assert reply == {
        "statusCode": 200,
        "headers": {**JSON_HEADERS, "X-Extra": "1"},
        "body": '{"ok": true}',
        "isBase64Encoded": False,
    }
    assert reply["headers"]["Cache-Control"] == "no-store"


def test_error_response_rate_limited_adds_retry_after_header() -> None:
    # Given a rate-limit error
    error = RateLimited("RingCX rate limit reached; retry after 42 s", 42)

    # When it becomes an API reply
    reply = error_response(error)

    # Then it is a 429 with Retry-After, and the body repeats it
    assert reply["statusCode"] == HTTPStatus.TOO_MANY_REQUESTS
    assert reply["headers"]["Retry-After"] == "42"
    assert json.loads(reply["body"]) == {
        "message": "RingCX rate limit reached; retry after 42 s",
        "retryAfter": 42,
    }


@pytest.mark.parametrize(
    "error",
    [
        BadRequest("request body must be a JSON object"),
        TokenRejected("RingCX rejected the RingCentral access token (HTTP 401 error)"),
        CredentialsNotConfigured("RingCentral credentials are not configured"),
    ],
)
def test_error_response_other_errors_have_no_retry_after(error: BadRequest) -> None:
    # Given a broker error that is not a rate limit
    # When it becomes an API reply
    reply = error_response(error)

    # Then its status and message are used, and there is no Retry-After
    assert reply["statusCode"] == int(error.status)
    assert "Retry-After" not in reply["headers"]
    assert json.loads(reply["body"]) == {"message": error.message}


def test_direct_error_is_ok_false_with_status_and_message() -> None:
    # Given an error on a direct invoke
    error = RateLimited("RingCX rate limit reached; retry after 9 s", 9)

    # When it becomes the direct reply
    reply = direct_error(error)

    # Then it is the contract's {"ok": false, "statusCode": N, "message": ...}
    assert reply == {
        "ok": False,
        "statusCode": 429,
        "message": "RingCX rate limit reached; retry after 9 s",
        "retryAfter": 9,
    }


def test_internal_error_is_500_without_detail() -> None:
    # Given a bug somewhere
    # When it is reported
    error = internal_error()

    # Then the caller sees a generic 500, and the base class's status is untouched
    assert error.status == HTTPStatus.INTERNAL_SERVER_ERROR
    assert error.message == "internal error; see the broker's logs"
    assert error.to_body() == {"message": "internal error; see the broker's logs"}
    assert BrokerError.status == HTTPStatus.BAD_GATEWAY
