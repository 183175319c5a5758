"""One proxied call: the API Gateway request made safe to forward, the upstream
round trip with a fixed host and a bounded read, and the reply made safe to
return through Lambda and API Gateway."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import quote, urlencode

import urllib3
from urllib3.exceptions import HTTPError, MaxRetryError, NewConnectionError
from urllib3.exceptions import TimeoutError as Urllib3Timeout

from ringcx_broker.errors import (
    BadRequest,
    BrokerError,
    MethodNotAllowed,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from ringcx_broker.events import body_bytes, has_lone_surrogate
from ringcx_broker.proxy.paths import upstream_path

SERVICE = "RingCX"

# Lambda's synchronous response limit is 6 MB for the whole JSON document.
LAMBDA_RESPONSE_LIMIT = 6 * 1024 * 1024
ENVELOPE_RESERVE = 8 * 1024  # statusCode, isBase64Encoded, key names, quoting
MAX_UPSTREAM_BODY = LAMBDA_RESPONSE_LIMIT - ENVELOPE_RESERVE
MAX_TARGET_CHARS = 8192  # path + query; servers commonly stop at 8 KB

# Only these request headers go upstream. Everything else (Authorization,
# X-Amz-*, Host, Cookie, hop-by-hop, X-Forwarded-*, ...) stays behind.
FORWARDED_REQUEST_HEADERS: Mapping[str, str] = {
    "accept": "Accept",
    "accept-language": "Accept-Language",
    "content-type": "Content-Type",
    "content-language": "Content-Language",
    "if-match": "If-Match",
    "if-none-match": "If-None-Match",
    "if-modified-since": "If-Modified-Since",
    "if-unmodified-since": "If-Unmodified-Since",
}
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)
# Never returned: cookies, framing that API Gateway recomputes, and names
# that API Gateway itself owns.
DROPPED_RESPONSE_HEADERS = HOP_BY_HOP | {
    "set-cookie",
    "set-cookie2",
    "content-length",
    "content-encoding",
}
_TEXT_TYPES = frozenset(
    {
        "application/json",
        "application/xml",
        "application/javascript",
        "application/x-www-form-urlencoded",
    }
)
# What a token reflected by RingCX becomes before the reply goes back.
REDACTED = "[redacted-by-ringcx-broker]"
_HEADER_VALUE_UNSAFE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_METHOD = re.compile(r"[A-Z]{1,16}")
_EXPIRED_MARKER = b"expired"  # "Jwt is expired", "JWT is expired.": the SDKs match this


class QueryTooLong(BrokerError):
    status = HTTPStatus.REQUEST_URI_TOO_LONG


class ResponseTooLarge(UpstreamUnavailable):
    """The upstream body cannot fit in a Lambda response (6 MB, after base64)."""


@dataclass(frozen=True, slots=True)
class UpstreamRequest:
    """What goes upstream, minus the bearer token (added per attempt)."""

    method: str
    target: str  # "/voice/api/...?..." : a path, never a URL
    headers: Mapping[str, str]
    body: bytes | None


@dataclass(frozen=True, slots=True)
class UpstreamReply:
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        return next((v for k, v in self.headers if k.lower() == wanted), None)

    @property
    def says_token_expired(self) -> bool:
        """RingCX's expired-token 401: plain text ``Jwt is expired`` or ``JWT is
        expired.``, matched like the official SDKs match it (case-insensitive)."""
        return (
            self.status == HTTPStatus.UNAUTHORIZED
            and len(self.body) < 1024
            and _EXPIRED_MARKER in self.body.lower()
        )


# -- the request ---------------------------------------------------------------


def build_request(event: Mapping[str, Any], allowed_methods: frozenset[str]) -> UpstreamRequest:
    """Validate an API Gateway event and turn it into an upstream request.

    Raises ``MethodNotAllowed`` (405), ``BadRequest``/``PathRejected`` (400)
    or ``QueryTooLong`` (414); nothing that raises is ever forwarded.
    """
    method = check_method(event.get("httpMethod"), allowed_methods)
    target = upstream_path(event)
    query = encode_query(event)
    if query:
        target = f"{target}?{query}"
    if len(target) > MAX_TARGET_CHARS:
        raise QueryTooLong(f"path and query are longer than {MAX_TARGET_CHARS} characters")
    body = body_bytes(event)
    return UpstreamRequest(method, target, forwarded_headers(event), body or None)


def check_method(raw: object, allowed: frozenset[str]) -> str:
    """``raw`` itself when it is on the upper-case allow-list, else 405.

    Never folded: IAM authorises ``.../POST/...`` by the method as sent, so a
    ``post``, or a ``PO\u017fT`` that ``str.upper`` turns into ``POST``, must
    not be forwarded as POST past a Deny written for POST.
    """
    method = raw if isinstance(raw, str) else ""
    if method in allowed:
        return method
    shown = method if _METHOD.fullmatch(method) else "this method"
    raise MethodNotAllowed(
        f"{shown} is not allowed here; allowed methods: {', '.join(sorted(allowed))}"
    )


def encode_query(event: Mapping[str, Any]) -> str:
    """Re-encode API Gateway's decoded query, keeping every value of every key."""
    pairs = _query_pairs(
        event.get("multiValueQueryStringParameters"), event.get("queryStringParameters")
    )
    if not pairs:
        return ""
    query = urlencode(pairs, quote_via=quote, safe="-._~")
    if len(query) > MAX_TARGET_CHARS:
        raise QueryTooLong(f"query string is longer than {MAX_TARGET_CHARS} characters")
    return query


def _query_pairs(multi: object, single: object) -> list[tuple[str, str]]:
    if isinstance(multi, Mapping):
        items = list(multi.items())
    elif isinstance(single, Mapping):
        items = [(key, [value]) for key, value in single.items()]
    elif multi is None and single is None:
        return []
    else:
        raise BadRequest("query string parameters must be an object")
    pairs: list[tuple[str, str]] = []
    for key, values in items:
        if (
            not isinstance(key, str)
            or not isinstance(values, list)
            or not all(isinstance(value, str) for value in values)
        ):
            raise BadRequest("query string parameters must map names to strings")
        if has_lone_surrogate(key) or any(has_lone_surrogate(value) for value in values):
            raise BadRequest("query string is not valid Unicode text (it holds a lone surrogate)")
        pairs.extend((key, value) for value in values)
    return pairs


def forwarded_headers(event: Mapping[str, Any]) -> dict[str, str]:
    """The allow-listed request headers, matched case-insensitively.

    ``multiValueHeaders`` wins over ``headers`` (API Gateway sends both);
    repeated values are joined with ", " as HTTP allows.
    """
    found: dict[str, str] = {}
    for name, values in _header_items(event.get("multiValueHeaders"), multi=True):
        _add_header(found, name, values)
    for name, values in _header_items(event.get("headers"), multi=False):
        if FORWARDED_REQUEST_HEADERS.get(name.lower()) not in found:
            _add_header(found, name, values)
    return found


def _header_items(raw: object, multi: bool) -> Iterable[tuple[str, list[str]]]:
    if raw is None:
        return ()
    if not isinstance(raw, Mapping):
        raise BadRequest("headers must be an object")
    items: list[tuple[str, list[str]]] = []
    for name, value in raw.items():
        if not isinstance(name, str):
            raise BadRequest("header names must be strings")
        values = value if multi and isinstance(value, list) else [value]
        if not all(isinstance(v, str) for v in values):
            raise BadRequest(f"header {name[:64]!r} must hold strings")
        items.append((name, values))
    return items


def _add_header(found: dict[str, str], name: str, values: list[str]) -> None:
    canonical = FORWARDED_REQUEST_HEADERS.get(name.lower())
    if canonical is None or not values:
        return
    joined = ", ".join(values)
    if _HEADER_VALUE_UNSAFE.search(joined):
        raise BadRequest(f"header {canonical} contains control characters")
    try:
        joined.encode("latin-1")  # what http.client sends; it raises otherwise
    except UnicodeEncodeError as exc:
        raise BadRequest(
            f"header {canonical} holds characters outside Latin-1, which HTTP headers "
            "cannot carry; percent-encode or drop them"
        ) from exc
    found[canonical] = joined


# -- the round trip ------------------------------------------------------------


class Upstream:
    """RingCX at a fixed origin. The request supplies a path, never a host."""

    def __init__(
        self,
        origin: str,
        pool: urllib3.PoolManager,
        timeout_seconds: float,
        max_body: int = MAX_UPSTREAM_BODY,
    ) -> None:
        self._origin = origin.rstrip("/")
        self._pool = pool
        self._timeout_seconds = timeout_seconds
        self._timeout = urllib3.Timeout(connect=min(3.05, timeout_seconds), read=timeout_seconds)
        # A refused connection is retried once (nothing was sent). A read
        # failure is not: the request may have reached RingCX. Redirects are
        # returned to the caller, never followed.
        self._retries = urllib3.Retry(
            total=None, connect=1, read=0, redirect=False, status=0, other=0
        )
        self._max_body = max_body

    @property
    def origin(self) -> str:
        return self._origin

    def send(self, request: UpstreamRequest, authorization: str) -> UpstreamReply:
        headers = {**request.headers, "Authorization": authorization}
        try:
            response = self._pool.connection_from_url(self._origin).urlopen(
                request.method,
                request.target,
                body=request.body,
                headers=headers,
                retries=self._retries,
                redirect=False,
                assert_same_host=True,
                timeout=self._timeout,
                preload_content=False,
                decode_content=True,
            )
        except (HTTPError, OSError) as exc:
            raise self._failure(exc) from exc
        try:
            body = self._read_bounded(response)
        except (HTTPError, OSError) as exc:
            response.close()
            raise self._failure(exc) from exc
        finally:
            response.release_conn()
        return UpstreamReply(response.status, tuple(response.headers.iteritems()), body)

    def _read_bounded(self, response: urllib3.BaseHTTPResponse) -> bytes:
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self._max_body:
            response.close()
            raise _too_large(int(declared))
        body = response.read(self._max_body + 1) or b""
        if len(body) > self._max_body:
            response.close()
            raise _too_large(len(body))
        return body

    def _failure(self, exc: BaseException) -> BrokerError:
        if isinstance(exc, MaxRetryError) and exc.reason is not None:
            exc = exc.reason
        # NewConnectionError subclasses ConnectTimeoutError: test it first.
        if isinstance(exc, NewConnectionError):
            return UpstreamUnavailable(f"{SERVICE} is unreachable")
        if isinstance(exc, Urllib3Timeout | TimeoutError):
            return UpstreamTimeout(f"{SERVICE} did not answer within {self._timeout_seconds:g} s")
        return UpstreamUnavailable(f"{SERVICE} failed to answer ({type(exc).__name__})")


def _too_large(size: int) -> ResponseTooLarge:
    return ResponseTooLarge(
        f"the {SERVICE} response ({size} bytes or more) is too large for a Lambda response "
        f"(6 MB including base64 encoding); narrow the query"
    )


# -- the reply -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProxyReply:
    """The reply as API Gateway will see it: text, or bytes to send as base64."""

    status: int
    headers: dict[str, list[str]]
    body: str | bytes


def scrub_reflections(
    reply: UpstreamReply, secrets: Iterable[str]
) -> tuple[UpstreamReply, tuple[str, ...]]:
    """``reply`` with every occurrence of each secret replaced by ``REDACTED``,
    and where that happened (``"body"`` or header names), for the log.

    An upstream error that quotes the request's ``Authorization`` header would
    otherwise hand the broker's token to a caller who is only allowed to use
    the proxy. The body is scrubbed as bytes, so its type (text or binary) is
    what it would have been; a header whose name holds a secret is dropped.
    Longer secrets go first, so one inside another is replaced whole.
    """
    wanted = sorted({s for s in secrets if s}, key=len, reverse=True)
    places: list[str] = []
    body = reply.body
    for secret in wanted:
        body = body.replace(secret.encode("utf-8", "surrogatepass"), REDACTED.encode())
    if body != reply.body:
        places.append("body")
    headers: list[tuple[str, str]] = []
    for name, value in reply.headers:
        clean_name, clean_value = _redacted(name, wanted), _redacted(value, wanted)
        if clean_name != name or clean_value != value:
            places.append(clean_name)
        if clean_name == name:
            headers.append((name, clean_value))
    if not places:
        return reply, ()
    return UpstreamReply(reply.status, tuple(headers), body), tuple(places)


def _redacted(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, REDACTED)
    return text


def connection_named(headers: Iterable[tuple[str, str]]) -> frozenset[str]:
    """Header names (lower case) that a ``Connection`` header declares
    hop-by-hop (RFC 9110, 7.6.1): they are for the link to RingCX, not for
    the caller, and must not be forwarded."""
    return frozenset(
        option.strip().lower()
        for name, value in headers
        if name.lower() == "connection"
        for option in value.split(",")
        if option.strip()
    )


def to_proxy_reply(reply: UpstreamReply) -> ProxyReply:
    """Safe headers, the body as text when it is text, and the 6 MB check."""
    headers: dict[str, list[str]] = {}
    names: dict[str, str] = {"content-type": "Content-Type"}  # one spelling per header
    dropped = DROPPED_RESPONSE_HEADERS | connection_named(reply.headers)
    for name, value in reply.headers:
        key = name.lower()
        if key in dropped or key.startswith("x-amz"):
            continue
        headers.setdefault(names.setdefault(key, name), []).append(value)
    body = _body_for(reply.body, reply.header("content-type"))
    header_bytes = sum(len(k) + len(v) + 8 for k, vs in headers.items() for v in vs)
    if not fits_in_lambda(body, header_bytes):
        raise _too_large(len(reply.body))
    return ProxyReply(reply.status, headers, body)


def _body_for(data: bytes, content_type: str | None) -> str | bytes:
    if not data:
        return ""
    if content_type is None or is_textual(content_type):
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return data
    return data


def is_textual(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media.startswith("text/") or media in _TEXT_TYPES or media.endswith(("+json", "+xml"))


def fits_in_lambda(body: str | bytes, header_bytes: int = 0) -> bool:
    """Whether the body, as Lambda serialises it, leaves room for the envelope.

    Bytes travel as base64 (4/3 larger). Text is JSON-escaped: at most 12
    bytes per character (an astral character as two ``\\uXXXX``), so the
    exact size is only computed when that bound does not already fit.
    """
    budget = MAX_UPSTREAM_BODY - header_bytes
    if isinstance(body, bytes):
        return 4 * ((len(body) + 2) // 3) <= budget
    if len(body) * 12 <= budget:
        return True
    return len(json.dumps(body)) <= budget
