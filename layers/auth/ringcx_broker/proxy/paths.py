"""The path of a proxied request: untrusted, possibly percent-encoded many times.

API Gateway hands us ``path`` and ``pathParameters.proxy``. Both come from the
caller, so both may hold ``..`` (plain or encoded once, twice, ...),
backslashes, control characters, ``//host`` or ``scheme:`` tricks. We decode
until the text stops changing (a bounded number of times), reject anything
that could leave ``/voice/api/`` or confuse a server behind us, and forward
the canonical re-encoding of what is left. The host never comes from the
request: ``Upstream`` joins this path to the configured origin.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, unquote

from ringcx_broker.errors import BadRequest
from ringcx_broker.events import has_lone_surrogate

PREFIX = "/voice/api/"
MAX_DECODE_ROUNDS = 4
MAX_PATH_CHARS = 2048

# RFC 3986 pchar without "%": anything else in a segment is percent-encoded.
_SEGMENT_SAFE = "-._~!$&'()*+,;=:@"
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_DOT_SEGMENTS = frozenset({".", ".."})
# Blanks a server may trim or ignore around or inside a segment, so that
# "..%20", " ..", "..%C2%A0" or ".\u200b." could be taken for "..": every
# whitespace character (ASCII and Unicode), every format character (zero-width
# spaces and joiners, the BOM, the soft hyphen) and the fillers that render
# as nothing.
_INVISIBLE = frozenset("\u034f\u115f\u1160\u17b4\u17b5\u2800\u3164\uffa0")


class PathRejected(BadRequest):
    """The path is unsafe to forward; the request never leaves the broker."""


def fully_decoded(raw: str) -> str:
    """Percent-decode until stable; more than ``MAX_DECODE_ROUNDS`` layers is an attack."""
    text = raw
    for _ in range(MAX_DECODE_ROUNDS + 1):
        try:
            decoded = unquote(text, errors="strict")
        except UnicodeDecodeError as exc:
            raise PathRejected("path holds percent-encoded bytes that are not UTF-8") from exc
        if decoded == text:
            return text
        text = decoded
    raise PathRejected(f"path is percent-encoded more than {MAX_DECODE_ROUNDS} times")


def safe_segments(decoded: str) -> list[str]:
    """The segments of a decoded relative path, or ``PathRejected``.

    Rejected: empty paths, over-long paths, control characters, backslashes,
    a leading ``scheme:``, empty segments (``//host``; one trailing slash is
    allowed), and ``.``/``..`` segments, also as ``..;param`` (Tomcat), as
    Unicode look-alikes that NFKC folds into dots or slashes, and padded or
    split by blanks (``..%20``, `` ..``, ``.\u00a0.``).
    """
    if not decoded:
        raise PathRejected("path is empty")
    if has_lone_surrogate(decoded):
        raise PathRejected("path is not valid Unicode text (it holds a lone surrogate)")
    if len(decoded) > MAX_PATH_CHARS:
        raise PathRejected(f"path is longer than {MAX_PATH_CHARS} characters")
    if _CONTROL.search(decoded):
        raise PathRejected("path contains control characters")
    if "\\" in decoded:
        raise PathRejected("path contains a backslash")
    if _SCHEME.match(decoded):
        raise PathRejected("path looks like an absolute URL")
    segments = decoded.split("/")
    for index, segment in enumerate(segments):
        if not segment:
            if index == len(segments) - 1 and index > 0:
                continue  # one trailing slash
            raise PathRejected("path contains an empty segment (// or a leading /)")
        _check_segment(segment)
    return segments


def _check_segment(segment: str) -> None:
    folded = segment
    if not segment.isascii():
        folded = unicodedata.normalize("NFKC", segment)
        if "/" in folded or "\\" in folded or _CONTROL.search(folded):
            raise PathRejected("path contains a character that folds into a separator")
    for form in (segment, folded, _without_blanks(folded)):
        if form.split(";", 1)[0] in _DOT_SEGMENTS:
            raise PathRejected("path contains a '.' or '..' segment (perhaps padded with blanks)")


def _without_blanks(text: str) -> str:
    return "".join(ch for ch in text if not _is_blank(ch))


def _is_blank(ch: str) -> bool:
    return ch.isspace() or ch in _INVISIBLE or unicodedata.category(ch) == "Cf"


def encode_segments(segments: list[str]) -> str:
    return "/".join(quote(segment, safe=_SEGMENT_SAFE) for segment in segments)


def upstream_path(event: Mapping[str, Any]) -> str:
    """The canonical ``/voice/api/...`` path to forward for an API Gateway event.

    ``pathParameters.proxy`` is authoritative; without it (a hand-built or
    odd event) the part of ``path`` after ``/voice/api/`` is used. ``path``
    is checked in both cases: an event whose ``path`` carries a traversal is
    refused even when its ``proxy`` looks clean.
    """
    raw_path = event.get("path")
    if not isinstance(raw_path, str) or not raw_path.startswith("/"):
        raise PathRejected("path must be an absolute path")
    path_segments = safe_segments(fully_decoded(raw_path[1:])) if raw_path != "/" else [""]
    params = event.get("pathParameters")
    proxy = params.get("proxy") if isinstance(params, Mapping) else None
    if proxy is None:
        if len(path_segments) < 3 or path_segments[:2] != ["voice", "api"]:
            raise PathRejected("only paths under /voice/api/ are forwarded")
        segments = path_segments[2:]
    elif isinstance(proxy, str):
        segments = safe_segments(fully_decoded(proxy))
    else:
        raise PathRejected("pathParameters.proxy must be a string")
    if segments == [""]:
        raise PathRejected("path is empty")
    return PREFIX + encode_segments(segments)
