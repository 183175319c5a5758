"""http.py: one pool, explicit timeouts, and HTTP outcomes mapped to typed errors."""

from __future__ import annotations

import json
import socket
from http import HTTPStatus
from typing import Any

import pytest
import urllib3
from urllib3.exceptions import (
    ConnectTimeoutError,
    MaxRetryError,
    NameResolutionError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    SSLError,
)

from ringcx_broker.errors import RateLimited, UpstreamTimeout, UpstreamUnavailable
from ringcx_broker.http import (
    AUTH_TIMEOUT,
    DEFAULT_RETRY_AFTER,
    Rejection,
    UpstreamRedirected,
    UpstreamRejected,
    _interpret,
    error_code,
    parse_retry_after,
    post_form,
    shared_pool,
)
from tests.unit.core.fakes import FakePool, http_response

URL = "https://engage.ringcentral.com/api/auth/token/refresh"
SECRET_TEXT = "rt-leaked-in-body-0123456789"
POOL = urllib3.HTTPSConnectionPool("engage.ringcentral.com", 443)  # never connects

# -- _interpret -------------------------------------------------------------------


@pytest.mark.parametrize("status", [HTTPStatus.OK, HTTPStatus.CREATED])
def test_interpret_2xx_json_object_returns_it(status: HTTPStatus) -> None:
    # Given a successful JSON object reply
    # When it is interpreted
    reply = _interpret(status, {}, b'{"accessToken": "a", "n": 1}', "RingCX")

    # Then the object is returned as is
    assert reply == {"accessToken": "a", "n": 1}


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"<html>OK</html>", "not JSON"),
        (b"", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (b'["accessToken"]', "not a JSON object"),
        (b'"accessToken"', "not a JSON object"),
        (b"null", "not a JSON object"),
    ],
)
def test_interpret_2xx_unusable_body_raises_upstream_unavailable(data: bytes, reason: str) -> None:
    # Given a 200 whose body is not a JSON object
    # When it is interpreted
    with pytest.raises(UpstreamUnavailable) as caught:
        _interpret(HTTPStatus.OK, {}, data, "RingCX")

    # Then it is an upstream failure (502), naming the service and the problem
    assert caught.value.message == f"RingCX sent a reply that is {reason}"
    assert caught.value.status == HTTPStatus.BAD_GATEWAY


@pytest.mark.parametrize(
    ("headers", "retry_after"),
    [({"Retry-After": "60"}, 60), ({"Retry-After": "17"}, 17), ({}, DEFAULT_RETRY_AFTER)],
)
def test_interpret_429_raises_rate_limited_with_retry_after(
    headers: dict[str, str], retry_after: int
) -> None:
    # Given RingCentral's CMN-301 rate-limit reply
    body = b'{"errorCode": "CMN-301", "message": "Request rate exceeded"}'

    # When it is interpreted
    with pytest.raises(RateLimited) as caught:
        _interpret(HTTPStatus.TOO_MANY_REQUESTS, headers, body, "RingCentral")

    # Then the caller learns how long to back off
    assert caught.value.retry_after == retry_after
    assert caught.value.status == HTTPStatus.TOO_MANY_REQUESTS
    assert caught.value.message == f"RingCentral rate limit reached; retry after {retry_after} s"


@pytest.mark.parametrize(("value", "retry_after"), [("30", 30), ("1", 1)])
def test_interpret_503_with_retry_after_is_a_penalty_like_a_429(
    value: str, retry_after: int
) -> None:
    # Given RingCentral shedding load with 503 and Retry-After
    # When it is interpreted
    with pytest.raises(RateLimited) as caught:
        _interpret(HTTPStatus.SERVICE_UNAVAILABLE, {"Retry-After": value}, b"", "RingCentral")

    # Then it is honoured like a 429: no request until it passes
    assert caught.value.retry_after == retry_after
    assert caught.value.message == f"RingCentral is overloaded; retry after {retry_after} s"


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_interpret_redirect_names_the_target_host_and_the_setting(status: int) -> None:
    # Given the old RingCX host redirecting to the new one (with a path and a query); a
    # redirect is never followed for auth: it would re-post a credential elsewhere
    headers = {"Location": "https://ringcx.ringcentral.com/api/auth/token/refresh?x=secret"}

    # When it is interpreted
    with pytest.raises(UpstreamRedirected) as caught:
        _interpret(status, headers, b"", "RingCX")

    # Then the login does not fail silently: the message names the host and the setting,
    # never the target's path or query
    assert caught.value.message == (
        f"RingCX redirected the request to https://ringcx.ringcentral.com (HTTP {status}); "
        "set RingCXServerUrl to the host that serves it"
    )
    assert "secret" not in caught.value.message


def test_interpret_redirect_without_location_still_says_what_to_set() -> None:
    with pytest.raises(UpstreamRedirected) as caught:
        _interpret(HTTPStatus.FOUND, {}, SECRET_TEXT.encode(), "RingCentral")
    assert caught.value.message == (
        "RingCentral redirected the request (HTTP 302); "
        "set RingCentralServerUrl to the host that serves it"
    )


def test_interpret_503_without_retry_after_is_transient() -> None:
    # Given a bare 503
    # When it is interpreted
    with pytest.raises(UpstreamUnavailable) as caught:
        _interpret(HTTPStatus.SERVICE_UNAVAILABLE, {}, b"<html>busy</html>", "RingCX")

    # Then it is a transient failure, not a penalty
    assert not isinstance(caught.value, RateLimited)
    assert caught.value.message == "RingCX failed with HTTP 503"


@pytest.mark.parametrize(
    "status",
    [
        HTTPStatus.BAD_REQUEST,
        HTTPStatus.UNAUTHORIZED,
        HTTPStatus.FORBIDDEN,
        HTTPStatus.NOT_FOUND,
        HTTPStatus.CONFLICT,
    ],
)
def test_interpret_4xx_other_than_429_raises_upstream_rejected_with_code(
    status: HTTPStatus,
) -> None:
    # Given a client error with an OAuth error body
    body = json.dumps({"error": "invalid_grant", "error_description": SECRET_TEXT}).encode()

    # When it is interpreted
    with pytest.raises(UpstreamRejected) as caught:
        _interpret(status, {}, body, "RingCentral")

    # Then the caller gets the status and a short code, never the description
    assert caught.value.rejection == Rejection(int(status), "invalid_grant")
    assert SECRET_TEXT not in str(caught.value)


@pytest.mark.parametrize(
    "status",
    [
        HTTPStatus.INTERNAL_SERVER_ERROR,
        HTTPStatus.BAD_GATEWAY,
        HTTPStatus.SERVICE_UNAVAILABLE,
        HTTPStatus.GATEWAY_TIMEOUT,
    ],
)
def test_interpret_5xx_raise_upstream_unavailable(status: HTTPStatus) -> None:
    # Given a server error
    # When it is interpreted
    with pytest.raises(UpstreamUnavailable) as caught:
        _interpret(status, {}, SECRET_TEXT.encode(), "RingCX")

    # Then it is an upstream failure naming the status, without the body
    assert caught.value.message == f"RingCX failed with HTTP {int(status)}"
    assert not isinstance(caught.value, UpstreamTimeout)


def test_interpret_429_reads_retry_after_case_insensitively() -> None:
    # Given a real urllib3 response whose header is lower-cased on the wire
    response = http_response(HTTPStatus.TOO_MANY_REQUESTS, b"", {"retry-after": "33"})

    # When it is interpreted with the response's own headers
    with pytest.raises(RateLimited) as caught:
        _interpret(response.status, response.headers, response.data, "RingCX")

    # Then the value is found
    assert caught.value.retry_after == 33


# -- parse_retry_after ------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("60", 60),
        ("1", 1),
        (" 30 ", 30),
        ("2.9", 2),
        ("0", 1),
        ("0.2", 1),
        ("-5", 1),
        (None, 60),
        ("", 60),
        ("soon", 60),
        ("Wed, 21 Oct 2026 07:28:00 GMT", 60),
        ("nan", 60),
        ("60s", 60),
    ],
    ids=[
        "sixty",
        "one",
        "padded",
        "fraction",
        "zero",
        "sub-second",
        "negative",
        "absent",
        "empty",
        "word",
        "http-date",
        "nan",
        "with-unit",
    ],
)
def test_parse_retry_after_any_header_gives_positive_whole_seconds(
    value: str | None, expected: int
) -> None:
    # Given a Retry-After header value, well-formed or not
    # When it is parsed
    # Then the result is whole seconds, at least 1, and 60 s (RingCentral's penalty) if unusable
    assert parse_retry_after(value) == expected


@pytest.mark.parametrize("value", ["inf", "Infinity", "-inf", "1e400"])
def test_parse_retry_after_infinite_value_gives_default(value: str) -> None:
    # Given a garbage Retry-After that float() reads as infinity
    # When it is parsed
    # Then it is unusable like any other garbage: the 60 s default
    assert parse_retry_after(value) == DEFAULT_RETRY_AFTER


# -- error_code -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"error": "invalid_grant", "error_description": SECRET_TEXT}, "invalid_grant"),
        (
            {"errorCode": "access.denied.exception", "generalMessage": SECRET_TEXT},
            "access.denied.exception",
        ),
        ({"errorCode": "CMN-301", "message": "Request rate exceeded"}, "CMN-301"),
        ({"errors": [{"errorCode": "OAU-213", "message": SECRET_TEXT}]}, "OAU-213"),
        ({"error": "invalid_client", "errorCode": "OAU-123"}, "invalid_client"),
        ({"error": {"nested": "x"}, "errorCode": "OAU-123"}, "OAU-123"),
        ({"errorCode": "X" * 100}, "error"),
    ],
    ids=[
        "oauth-error",
        "ringcx-error-code",
        "rate-limit-code",
        "nested-errors-list",
        "error-wins",
        "non-string-error-skipped",
        "long-code-dropped",
    ],
)
def test_error_code_known_shapes_give_short_label(body: dict[str, Any], code: str) -> None:
    # Given an error body in one of the documented shapes
    # When its code is extracted
    # Then only the short code comes back
    assert error_code(json.dumps(body).encode()) == code


@pytest.mark.parametrize(
    "data",
    [
        b"Jwt is expired",
        b"",
        b"\xff\xfe",
        b"[1, 2]",
        b'"invalid_grant"',
        json.dumps({"error": f"refresh token {SECRET_TEXT} is spent"}).encode(),
        json.dumps({"errorCode": "bad code; rt=" + SECRET_TEXT}).encode(),
        json.dumps({"message": SECRET_TEXT, "generalMessage": SECRET_TEXT}).encode(),
        json.dumps({"errors": SECRET_TEXT}).encode(),
        json.dumps({"errors": []}).encode(),
        json.dumps({"errors": [SECRET_TEXT]}).encode(),
        json.dumps({"error": ""}).encode(),
        json.dumps({"error": "<script>"}).encode(),
    ],
    ids=[
        "plain-text",
        "empty",
        "not-utf8",
        "json-array",
        "json-string",
        "free-text-error",
        "code-with-spaces",
        "messages-only",
        "errors-not-list",
        "errors-empty",
        "errors-of-strings",
        "empty-code",
        "markup",
    ],
)
def test_error_code_arbitrary_body_text_is_never_echoed(data: bytes) -> None:
    # Given an error body that is free text, or a code with spaces or markup in it
    # When its code is extracted
    code = error_code(data)

    # Then the label is the generic "error", not a piece of the body
    assert code == "error"


# -- post_form --------------------------------------------------------------------


def test_post_form_sends_urlencoded_body_and_returns_json() -> None:
    # Given an upstream that answers with JSON
    pool = FakePool(http_response(HTTPStatus.OK, {"accessToken": "a"}))

    # When a form is posted with an extra header
    reply = post_form(
        pool.client,
        URL,
        {"refresh_token": "rt 1&x=y", "rcTokenType": "Bearer"},
        "RingCX",
        headers={"Authorization": "Basic abc"},
    )

    # Then the request is a form POST with explicit timeouts and no urllib3 retries
    assert reply == {"accessToken": "a"}
    [request] = pool.requests
    assert request.method == "POST"
    assert request.url == URL
    assert request.fields == {"refresh_token": "rt 1&x=y", "rcTokenType": "Bearer"}
    assert request.headers == {
        "Content-Type": "application/x-www-form-urlencoded",
        "Accept": "application/json",
        "Authorization": "Basic abc",
    }
    assert request.timeout is AUTH_TIMEOUT
    assert request.retries is False


def test_post_form_upstream_429_raises_rate_limited() -> None:
    # Given an upstream that rate-limits
    pool = FakePool(http_response(HTTPStatus.TOO_MANY_REQUESTS, b"", {"Retry-After": "45"}))

    # When a form is posted
    with pytest.raises(RateLimited) as caught:
        post_form(pool.client, URL, {}, "RingCX")

    # Then the typed error carries the penalty
    assert caught.value.retry_after == 45


@pytest.mark.parametrize(
    "error",
    [
        ReadTimeoutError(POOL, URL, "Read timed out. (read timeout=10.0)"),
        ConnectTimeoutError("Connection to engage.ringcentral.com timed out"),
    ],
    ids=["read-timeout", "connect-timeout"],
)
def test_post_form_timeout_raises_upstream_timeout(error: Exception) -> None:
    # Given a pool that times out
    pool = FakePool(error)

    # When a form is posted
    with pytest.raises(UpstreamTimeout) as caught:
        post_form(pool.client, URL, {}, "RingCX")

    # Then it is a 504 that names the service, not the URL
    assert caught.value.status == HTTPStatus.GATEWAY_TIMEOUT
    assert caught.value.message == "RingCX did not answer in time"


def _connection() -> urllib3.connection.HTTPSConnection:
    return urllib3.connection.HTTPSConnection("engage.ringcentral.com", 443)


@pytest.mark.parametrize(
    "error",
    [
        ProtocolError("Connection aborted.", ConnectionResetError(104, "reset")),
        SSLError("certificate verify failed"),
        MaxRetryError(POOL, URL, ProtocolError("aborted")),
    ],
    ids=["reset", "tls", "max-retry"],
)
def test_post_form_connection_failure_raises_upstream_unavailable(error: Exception) -> None:
    # Given a pool whose connection fails (not a timeout)
    pool = FakePool(error)

    # When a form is posted
    with pytest.raises(UpstreamUnavailable) as caught:
        post_form(pool.client, URL, {}, "RingCX")

    # Then it is a 502 naming the service and the failure's type
    assert caught.value.status == HTTPStatus.BAD_GATEWAY
    assert caught.value.message == f"RingCX is unreachable ({type(error).__name__})"


@pytest.mark.parametrize(
    "error",
    [
        NewConnectionError(_connection(), "Failed to establish a new connection: [Errno 111]"),
        NameResolutionError(
            "engage.ringcentral.com", _connection(), socket.gaierror(-2, "unknown")
        ),
    ],
    ids=["connection-refused", "dns-failure"],
)
def test_post_form_refused_connection_raises_unavailable_not_timeout(error: Exception) -> None:
    # Given a pool that cannot connect at all (ECONNREFUSED, DNS failure)
    pool = FakePool(error)

    # When a form is posted
    with pytest.raises(UpstreamUnavailable) as caught:
        post_form(pool.client, URL, {}, "RingCX")

    # Then it is "unreachable" (502), not "did not answer in time" (504)
    assert not isinstance(caught.value, UpstreamTimeout)
    assert caught.value.status == HTTPStatus.BAD_GATEWAY


def test_shared_pool_is_one_pool_without_retries() -> None:
    # Given a container
    # When the pool is asked for twice
    first, second = shared_pool(), shared_pool()

    # Then it is the same pool, with urllib3's own retries off (the broker decides)
    assert first is second
    retries = first.connection_pool_kw["retries"]
    assert retries is False or retries.total is False
    assert first.connection_pool_kw["timeout"] is AUTH_TIMEOUT
