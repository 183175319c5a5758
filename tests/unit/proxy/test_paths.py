"""Untrusted paths: decoded until stable, attacks refused, the rest re-encoded canonically."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import pytest

from ringcx_broker.proxy.paths import (
    MAX_DECODE_ROUNDS,
    MAX_PATH_CHARS,
    PathRejected,
    fully_decoded,
    safe_segments,
    upstream_path,
)

ATTACKS = [
    "..",
    "../x",
    "v1/../../x",
    "v1/..",
    ".",
    "v1/./admin",
    "%2e%2e/x",
    "%2E%2E/x",
    ".%2e/x",
    "%2e./x",
    "%252e%252e/x",
    "%25252e%25252e/x",
    "v1/%2e%2e%2f%2e%2e%2fetc/passwd",
    "..%2fx",
    "..%252fx",
    "v1/..%5c..%5cwindows",
    "v1\\..\\x",
    "v1%5cadmin",
    "%5c%5cevil.com/x",
    "http://evil.com/x",
    "https:evil.com",
    "HTTP%3A%2F%2Fevil.com",
    "javascript:alert(1)",
    "//evil.com",
    "/evil.com",
    "%2f%2fevil.com/x",
    "v1//admin",
    "v1/..;/admin",
    "v1/.;jsessionid=1/admin",
    "v1/%2e%2e;x=1/admin",
    "v1/admin%00.json",
    "v1/admin%0d%0aX-Injected:%201",
    "v1/admin\nHost: evil",
    "v1/\x7f",
    "v1/%c2%85",
    "v1/\uff0e\uff0e/admin",
    "v1/\u2025/admin",
    "v1/a\uff0fb",
    "v1/a\uff3cb",
    "v1/%ff%fe",
    "",
    "%" + "25" * 6 + "2e%2e",
]

# Dot segments padded with whitespace or disguised by blanks that some servers
# trim or ignore; refused like the bare dots they may become.
PADDED_DOT_SEGMENTS = [
    "v1/..%20/admin",
    "v1/..%20",
    "v1/%20../admin",
    "v1/ ../admin",
    "v1/.. /admin",
    "v1/..%09/admin",
    "v1/..%C2%A0/admin",
    "v1/.%C2%A0./admin",
    "v1/.\u00a0./admin",
    "v1/..\u3000/admin",
    "v1/..\u2000/admin",
    "v1/..\u200a/admin",
    "v1/..\u200b/admin",
    "v1/.%E2%80%8B./admin",
    "v1/\ufeff../admin",
    "v1/..\u2060/admin",
    "v1/..\u00ad/admin",
    "v1/..\u3164/admin",
    "v1/%20.%20/admin",
    "v1/.\u2002;x=1/admin",
    "v1/\uff0e\u00a0\uff0e/admin",
]
LONE_SURROGATES = ["v1/\ud800", "v1/a\udfffb/c", "\udc80"]


@pytest.mark.parametrize("attack", ATTACKS + PADDED_DOT_SEGMENTS + LONE_SURROGATES)
def test_safe_segments_attack_string_is_rejected_with_400(attack: str) -> None:
    # Given an attacker-controlled proxy path
    # When it is decoded and checked
    with pytest.raises(PathRejected) as caught:
        safe_segments(fully_decoded(attack))
    # Then it is refused as a bad request
    assert caught.value.status == HTTPStatus.BAD_REQUEST


@pytest.mark.parametrize(
    ("proxy", "expected"),
    [
        ("v1/admin/accounts", "/voice/api/v1/admin/accounts"),
        ("v1/admin/accounts/", "/voice/api/v1/admin/accounts/"),
        ("v1/admin/accounts/15300002/users", "/voice/api/v1/admin/accounts/15300002/users"),
        ("v1/admin/users/john%20wang", "/voice/api/v1/admin/users/john%20wang"),
        ("v1/admin/users/john wang", "/voice/api/v1/admin/users/john%20wang"),
        ("v1/search/a%3Fb%23c", "/voice/api/v1/search/a%3Fb%23c"),
        ("v1/search/100%25", "/voice/api/v1/search/100%25"),
        ("v1/names/J%C3%BCrgen", "/voice/api/v1/names/J%C3%BCrgen"),
        ("v1/names/Jürgen", "/voice/api/v1/names/J%C3%BCrgen"),
        ("v1/a.b/..c/c..", "/voice/api/v1/a.b/..c/c.."),
        ("v1/matrix;a=1/x", "/voice/api/v1/matrix;a=1/x"),
        ("v1/user@example.com", "/voice/api/v1/user@example.com"),
        ("v1/admin/accounts%2f15300002", "/voice/api/v1/admin/accounts/15300002"),
        ("v1/a .b/. a/x", "/voice/api/v1/a%20.b/.%20a/x"),
        ("v1/...%20/x", "/voice/api/v1/...%20/x"),
        ("v1/Jos\u00e9\u00a0Mar\u00eda", "/voice/api/v1/Jos%C3%A9%C2%A0Mar%C3%ADa"),
    ],
)
def test_upstream_path_legitimate_proxy_is_canonically_encoded(proxy: str, expected: str) -> None:
    # Given a legitimate path, encoded or not
    event = {"path": "/voice/api/" + proxy.replace(" ", "%20"), "pathParameters": {"proxy": proxy}}
    # When the upstream path is built
    # Then it is the canonical encoding under /voice/api/
    assert upstream_path(event) == expected


@pytest.mark.parametrize("proxy", PADDED_DOT_SEGMENTS + LONE_SURROGATES)
def test_upstream_path_padded_dot_segment_or_surrogate_in_event_is_rejected(proxy: str) -> None:
    # Given an event whose path and proxy both carry the disguised segment
    event = {"path": "/voice/api/" + proxy, "pathParameters": {"proxy": proxy}}
    # When the upstream path is built / Then it is refused (never re-encoded and forwarded)
    with pytest.raises(PathRejected):
        upstream_path(event)


def test_fully_decoded_layered_encoding_decodes_until_stable() -> None:
    # Given ".." encoded three times
    triple = "%25252e%25252e"
    # When decoded
    # Then every layer is peeled
    assert fully_decoded(triple) == ".."


def test_fully_decoded_too_many_layers_is_rejected() -> None:
    # Given a percent sign encoded more times than allowed
    layered = "%" + "25" * (MAX_DECODE_ROUNDS + 1) + "2e"
    # When decoded / Then it is refused rather than decoded forever
    with pytest.raises(PathRejected, match="more than"):
        fully_decoded(layered)


def test_safe_segments_overlong_path_is_rejected() -> None:
    with pytest.raises(PathRejected, match="longer"):
        safe_segments("a/" * (MAX_PATH_CHARS // 2 + 1))


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        pytest.param(
            {"path": "/voice/api/v1/admin/accounts", "pathParameters": None},
            "/voice/api/v1/admin/accounts",
            id="no-path-parameters-falls-back-to-path",
        ),
        pytest.param(
            {"path": "/broker/voice/api/v1/x", "pathParameters": {"proxy": "v1/x"}},
            "/voice/api/v1/x",
            id="custom-domain-base-path-uses-proxy",
        ),
    ],
)
def test_upstream_path_event_shapes_pick_the_right_source(
    event: dict[str, Any], expected: str
) -> None:
    assert upstream_path(event) == expected


@pytest.mark.parametrize(
    "event",
    [
        pytest.param(
            {"path": "/voice/api/../x", "pathParameters": {"proxy": "x"}},
            id="path-traversal-with-clean-proxy",
        ),
        pytest.param(
            {"path": "/voice/api/%2e%2e/x", "pathParameters": {"proxy": "%2e%2e/x"}},
            id="encoded-traversal-in-both",
        ),
        pytest.param({"path": "/health", "pathParameters": None}, id="outside-voice-api"),
        pytest.param({"path": "/voice/api/", "pathParameters": None}, id="bare-prefix"),
        pytest.param({"path": "/voice/api/x", "pathParameters": {"proxy": 7}}, id="proxy-not-str"),
        pytest.param({"path": "voice/api/x", "pathParameters": {"proxy": "x"}}, id="relative-path"),
        pytest.param({"pathParameters": {"proxy": "x"}}, id="no-path"),
        pytest.param({"path": "/voice/api/x", "pathParameters": {"proxy": ""}}, id="empty-proxy"),
    ],
)
def test_upstream_path_suspicious_event_is_rejected(event: dict[str, Any]) -> None:
    with pytest.raises(PathRejected):
        upstream_path(event)
