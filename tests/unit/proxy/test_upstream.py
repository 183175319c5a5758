"""The upstream round trip (fixed origin, bounded read, failures mapped to
502/504) and the reply translated for API Gateway (safe headers, text or
base64, the 6 MB limit)."""

from __future__ import annotations

import json
from http import HTTPStatus

import pytest
from urllib3.exceptions import (
    MaxRetryError,
    NameResolutionError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    SSLError,
)

from ringcx_broker.errors import UpstreamTimeout, UpstreamUnavailable
from ringcx_broker.proxy.forward import (
    LAMBDA_RESPONSE_LIMIT,
    MAX_UPSTREAM_BODY,
    REDACTED,
    ResponseTooLarge,
    Upstream,
    UpstreamReply,
    UpstreamRequest,
    fits_in_lambda,
    is_textual,
    scrub_reflections,
    to_proxy_reply,
)
from tests.unit.proxy.fakes import FakeOriginPool, upstream_response

ORIGIN = "https://engage.ringcentral.com"
BEARER = "Bearer broker-token"


def get(target: str = "/voice/api/v1/admin/accounts") -> UpstreamRequest:
    return UpstreamRequest("GET", target, {"Accept": "application/json"}, None)


def test_upstream_send_uses_fixed_origin_and_path_only() -> None:
    # Given an upstream at the configured origin
    pool = FakeOriginPool(upstream_response(200, b"[]", {"Content-Type": "application/json"}))
    upstream = Upstream(ORIGIN, pool, timeout_seconds=5)
    # When a request is sent
    reply = upstream.send(get("/voice/api/v1/x?a=1"), BEARER)
    # Then the origin comes from configuration and the request carries only a path
    sent = pool.sent[0]
    assert sent.origin == ORIGIN
    assert sent.target == "/voice/api/v1/x?a=1"
    assert sent.headers == {"Accept": "application/json", "Authorization": BEARER}
    assert sent.kwargs["redirect"] is False
    assert sent.kwargs["assert_same_host"] is True
    assert reply.status == HTTPStatus.OK
    assert reply.body == b"[]"


def test_upstream_send_redirect_is_returned_not_followed() -> None:
    pool = FakeOriginPool(upstream_response(302, b"", {"Location": "https://evil.example/"}))
    reply = Upstream(ORIGIN, pool, 5).send(get(), BEARER)
    assert reply.status == HTTPStatus.FOUND
    assert len(pool.sent) == 1


@pytest.mark.parametrize(
    ("error", "expected", "status"),
    [
        (NewConnectionError(None, "refused"), UpstreamUnavailable, HTTPStatus.BAD_GATEWAY),
        (
            MaxRetryError(None, "/", NewConnectionError(None, "refused")),
            UpstreamUnavailable,
            HTTPStatus.BAD_GATEWAY,
        ),
        (
            NameResolutionError("engage.ringcentral.com", None, OSError("no dns")),
            UpstreamUnavailable,
            HTTPStatus.BAD_GATEWAY,
        ),
        (
            ReadTimeoutError(None, "/", "read timed out"),
            UpstreamTimeout,
            HTTPStatus.GATEWAY_TIMEOUT,
        ),
        (
            MaxRetryError(None, "/", ReadTimeoutError(None, "/", "slow")),
            UpstreamTimeout,
            HTTPStatus.GATEWAY_TIMEOUT,
        ),
        (ProtocolError("Connection aborted."), UpstreamUnavailable, HTTPStatus.BAD_GATEWAY),
        (SSLError("bad certificate"), UpstreamUnavailable, HTTPStatus.BAD_GATEWAY),
        (ConnectionResetError("reset"), UpstreamUnavailable, HTTPStatus.BAD_GATEWAY),
    ],
)
def test_upstream_send_transport_failure_maps_to_status(
    error: Exception, expected: type[Exception], status: HTTPStatus
) -> None:
    # Given an upstream that fails at the transport level
    upstream = Upstream(ORIGIN, FakeOriginPool(error), 5)
    # When a request is sent / Then the failure is typed with the right status
    with pytest.raises(expected) as caught:
        upstream.send(get(), BEARER)
    assert caught.value.status == status
    assert "Bearer" not in str(caught.value)


def test_upstream_send_declared_oversized_body_is_refused_unread() -> None:
    # Given a reply that announces more than Lambda can return
    response = upstream_response(200, b"x" * 10, {"Content-Length": str(MAX_UPSTREAM_BODY + 1)})
    pool = FakeOriginPool(response)
    # When sent / Then 502 with a message, and the connection is not reused
    with pytest.raises(ResponseTooLarge) as caught:
        Upstream(ORIGIN, pool, 5).send(get(), BEARER)
    assert caught.value.status == HTTPStatus.BAD_GATEWAY
    assert "too large" in caught.value.message
    assert response.closed


def test_upstream_send_undeclared_oversized_body_is_read_only_up_to_the_cap() -> None:
    response = upstream_response(200, b"y" * 2048)
    upstream = Upstream(ORIGIN, FakeOriginPool(response), 5, max_body=1024)
    with pytest.raises(ResponseTooLarge):
        upstream.send(get(), BEARER)
    assert response.closed


def test_upstream_send_timeout_is_configured_value() -> None:
    pool = FakeOriginPool(upstream_response(200))
    Upstream(ORIGIN, pool, timeout_seconds=7.5).send(get(), BEARER)
    timeout = pool.sent[0].kwargs["timeout"]
    assert timeout.read_timeout == 7.5
    assert timeout.connect_timeout <= 7.5


# -- the reply ---------------------------------------------------------------------


def reply(
    status: int = 200, body: bytes = b"", headers: tuple[tuple[str, str], ...] = ()
) -> UpstreamReply:
    return UpstreamReply(status, headers, body)


def test_to_proxy_reply_cookies_and_hop_by_hop_headers_are_dropped() -> None:
    upstream = reply(
        headers=(
            ("Content-Type", "application/json"),
            ("Set-Cookie", "JSESSIONID=abc"),
            ("set-cookie", "other=1"),
            ("SET-COOKIE2", "old=1"),
            ("Connection", "keep-alive"),
            ("Transfer-Encoding", "chunked"),
            ("Content-Length", "2"),
            ("Content-Encoding", "gzip"),
            ("X-Amzn-RequestId", "spoof"),
            ("X-RateLimit-Remaining", "119"),
            ("Link", "<a>; rel=next"),
            ("link", "<b>; rel=last"),
        ),
        body=b"{}",
    )
    proxied = to_proxy_reply(upstream)
    assert proxied.headers == {
        "Content-Type": ["application/json"],
        "X-RateLimit-Remaining": ["119"],
        "Link": ["<a>; rel=next", "<b>; rel=last"],
    }


def test_to_proxy_reply_headers_named_in_connection_are_dropped() -> None:
    # Given an upstream that marks its own headers hop-by-hop (RFC 9110, 7.6.1)
    upstream = reply(
        headers=(
            ("Content-Type", "application/json"),
            ("Connection", "keep-alive, X-Internal-Route"),
            ("connection", " x-debug-id ,,"),
            ("X-Internal-Route", "pod-7"),
            ("x-internal-route", "pod-8"),
            ("X-Debug-Id", "abc"),
            ("X-Kept", "1"),
        ),
        body=b"{}",
    )
    # When translated for API Gateway
    proxied = to_proxy_reply(upstream)
    # Then every header the Connection header names is gone, in any casing
    assert proxied.headers == {"Content-Type": ["application/json"], "X-Kept": ["1"]}


ACCESS = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhZG1pbiJ9.c2lnbmF0dXJl"
REFRESH = "rcx-refresh-0b6f4f8e"


@pytest.mark.parametrize(
    ("content_type", "body", "expected"),
    [
        (
            "application/json",
            f'{{"error":"bad header Authorization: Bearer {ACCESS}"}}'.encode(),
            f'{{"error":"bad header Authorization: Bearer {REDACTED}"}}'.encode(),
        ),
        (
            "text/plain",
            f"{ACCESS}|{REFRESH}|{ACCESS}".encode(),
            f"{REDACTED}|{REDACTED}|{REDACTED}".encode(),
        ),
        (
            "application/octet-stream",
            b"\x00\xff" + ACCESS.encode() + b"\xfe",
            b"\x00\xff" + REDACTED.encode() + b"\xfe",
        ),
    ],
    ids=["json", "text-both-tokens", "binary"],
)
def test_scrub_reflections_token_in_body_is_replaced_keeping_its_bytes_around(
    content_type: str, body: bytes, expected: bytes
) -> None:
    # Given a reply whose body quotes the request's tokens
    upstream = reply(status=400, body=body, headers=(("Content-Type", content_type),))
    # When scrubbed
    scrubbed, places = scrub_reflections(upstream, (ACCESS, REFRESH))
    # Then every occurrence is the marker, everything else is byte for byte the same
    assert scrubbed.body == expected
    assert scrubbed.status == HTTPStatus.BAD_REQUEST
    assert places == ("body",)


def test_scrub_reflections_token_in_header_value_is_replaced_and_named() -> None:
    # Given headers that quote the token (in a value) and one whose name holds it
    upstream = reply(
        headers=(
            ("Content-Type", "application/json"),
            ("WWW-Authenticate", f'Bearer error="invalid_token", token="{ACCESS}"'),
            ("X-Echo-Authorization", f"Bearer {ACCESS}"),
            (f"X-{REFRESH}", "1"),
        ),
        body=b"{}",
    )
    # When scrubbed
    scrubbed, places = scrub_reflections(upstream, (ACCESS, REFRESH))
    # Then values carry the marker, the header named after a token is gone, and each is named
    assert scrubbed.headers == (
        ("Content-Type", "application/json"),
        ("WWW-Authenticate", f'Bearer error="invalid_token", token="{REDACTED}"'),
        ("X-Echo-Authorization", f"Bearer {REDACTED}"),
    )
    assert places == ("WWW-Authenticate", "X-Echo-Authorization", f"X-{REDACTED}")
    assert scrubbed.body == b"{}"


def test_scrub_reflections_clean_reply_is_returned_as_is() -> None:
    upstream = reply(body=b'{"a":1}', headers=(("Content-Type", "application/json"),))
    scrubbed, places = scrub_reflections(upstream, (ACCESS, REFRESH, ""))
    assert scrubbed is upstream
    assert places == ()


def test_scrub_reflections_token_inside_another_is_replaced_whole() -> None:
    # Given a secret that contains another (the longer one must win)
    longer = f"{ACCESS}-extended"
    upstream = reply(body=longer.encode())
    scrubbed, _ = scrub_reflections(upstream, (ACCESS, longer))
    assert scrubbed.body == REDACTED.encode()


@pytest.mark.parametrize(
    ("content_type", "body", "expected"),
    [
        ("application/json", b'{"a":"\xc3\xbc"}', '{"a":"ü"}'),
        ("text/plain; charset=utf-8", b"Jwt is expired", "Jwt is expired"),
        ("application/problem+json", b"{}", "{}"),
        ("application/octet-stream", b"\x00\x01", b"\x00\x01"),
        ("image/png", b"\x89PNG", b"\x89PNG"),
        ("text/plain", b"\xff\xfe latin", b"\xff\xfe latin"),
        ("application/json", b"", ""),
    ],
)
def test_to_proxy_reply_body_is_text_only_when_textual_and_utf8(
    content_type: str, body: bytes, expected: str | bytes
) -> None:
    proxied = to_proxy_reply(reply(body=body, headers=(("content-type", content_type),)))
    assert proxied.body == expected
    assert proxied.headers["Content-Type"] == [content_type]


def test_to_proxy_reply_status_is_untouched() -> None:
    proxied = to_proxy_reply(reply(status=418, body=b"teapot"))
    assert proxied.status == 418


def test_to_proxy_reply_binary_over_limit_after_base64_is_502() -> None:
    # Given 5 MB of binary: 6.7 MB as base64
    upstream = reply(body=b"\x00" * (5 * 1024 * 1024), headers=(("Content-Type", "image/png"),))
    # When translated / Then it is refused with a message instead of breaking Lambda
    with pytest.raises(ResponseTooLarge) as caught:
        to_proxy_reply(upstream)
    assert caught.value.status == HTTPStatus.BAD_GATEWAY


def test_to_proxy_reply_text_under_limit_passes() -> None:
    body = json.dumps({"data": "x" * (5 * 1024 * 1024)}).encode()
    proxied = to_proxy_reply(reply(body=body, headers=(("Content-Type", "application/json"),)))
    assert isinstance(proxied.body, str)
    assert len(proxied.body) == len(body)


@pytest.mark.parametrize(
    ("body", "fits"),
    [
        (b"\x00" * (MAX_UPSTREAM_BODY * 3 // 4 - 3), True),
        (b"\x00" * (MAX_UPSTREAM_BODY * 3 // 4 + 3), False),
        ("a" * (MAX_UPSTREAM_BODY - 2), True),
        ('"' * (MAX_UPSTREAM_BODY // 2), False),  # each quote escapes to two bytes
        ("ü" * (MAX_UPSTREAM_BODY // 6), True),
        ("ü" * (MAX_UPSTREAM_BODY // 6 + 1), False),  # \u00fc is six bytes
    ],
)
def test_fits_in_lambda_accounts_for_base64_and_json_escaping(
    body: str | bytes, fits: bool
) -> None:
    assert fits_in_lambda(body) is fits


def test_lambda_limit_is_six_mebibytes() -> None:
    assert LAMBDA_RESPONSE_LIMIT == 6 * 1024 * 1024


@pytest.mark.parametrize(
    ("content_type", "textual"),
    [
        ("application/json", True),
        ("Application/JSON; charset=UTF-8", True),
        ("text/csv", True),
        ("application/vnd.api+json", True),
        ("application/soap+xml", True),
        ("application/octet-stream", False),
        ("audio/wav", False),
        ("application/pdf", False),
    ],
)
def test_is_textual_media_type_is_classified(content_type: str, textual: bool) -> None:
    assert is_textual(content_type) is textual


@pytest.mark.parametrize(
    ("status", "body", "expired"),
    [
        (401, b"Jwt is expired", True),
        (401, b"JWT IS EXPIRED\n", True),
        (401, b"JWT is expired.", True),  # the other endpoints' wording
        (401, b'{"generalMessage":"Token expired","details":null}', True),
        (401, b'{"errorCode":"invalid.token.exception"}', False),
        (403, b"Jwt is expired", False),
        (401, b"Jwt is expired" + b" " * 2048, False),
    ],
)
def test_upstream_reply_says_token_expired_only_for_ringcx_marker(
    status: int, body: bytes, expired: bool
) -> None:
    assert reply(status=status, body=body).says_token_expired is expired
