"""HTTP <-> API Gateway REST (payload v1) Lambda proxy events, as API Gateway does it.

Why a faithful translation: the handlers are tested locally with the events
they will get in AWS. The rules followed here (sources: the API Gateway
developer guide, "Input/Output format of a Lambda function for proxy
integration", and captured events):

- ``path`` and ``pathParameters`` keep the client's percent-encoding (REST
  APIs match and fill them from the raw path; only HTTP APIs decode it);
  query keys and values are decoded (``+`` is a space).
- ``headers`` / ``queryStringParameters`` hold the *last* value of a repeated
  name, ``multiValue*`` hold all values, in order; absent ones are ``null``.
- With ``BinaryMediaTypes`` matching the request's Content-Type (the template
  uses ``*~1*``, i.e. everything), a non-empty body arrives base64-encoded
  with ``isBase64Encoded: true``.
- Resource matching: literal segments beat ``{var}``, which beats ``{proxy+}``
  (which needs at least one segment); a method on the resource beats ``ANY``.
  No resource, or no method on the best resource, is ``403 Missing
  Authentication Token``. A trailing slash is ignored for matching.
- Response headers API Gateway reserves (Date, Server, Connection,
  Content-Length, Authorization, WWW-Authenticate) come back renamed to
  ``x-amzn-Remapped-<name>``.
- A malformed proxy result (missing statusCode, non-string body, unknown
  keys) is ``502 Internal server error``, like "Malformed Lambda proxy response".
"""

from __future__ import annotations

import base64
import binascii
import json
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any, Final
from urllib.parse import parse_qsl

from ringcx_dev.local.template import ApiRoute, RestApi

RESULT_KEYS: Final = frozenset(
    {"statusCode", "headers", "multiValueHeaders", "body", "isBase64Encoded"}
)
_DROPPED: Final = frozenset({"keep-alive", "transfer-encoding"})
# REST APIs rename these integration response headers (x-amzn-Remapped-Date, ...).
_REMAPPED: Final = frozenset(
    {"authorization", "connection", "content-length", "date", "server", "www-authenticate"}
)


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """A request as it arrived: raw (still percent-encoded) path and query."""

    method: str
    raw_path: str
    raw_query: str = ""
    headers: Sequence[tuple[str, str]] = ()
    body: bytes = b""
    source_ip: str = "127.0.0.1"
    protocol: str = "HTTP/1.1"
    port: int = 0

    @classmethod
    def from_target(
        cls, method: str, target: str, headers: Sequence[tuple[str, str]] = (), body: bytes = b""
    ) -> HttpRequest:
        path, _, query = target.partition("?")
        return cls(
            method=method.upper(), raw_path=path or "/", raw_query=query, headers=headers, body=body
        )

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        found = [v for k, v in self.headers if k.lower() == wanted]
        return found[-1] if found else None


@dataclass(frozen=True, slots=True)
class HttpResponse:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        return next((v for k, v in self.headers if k.lower() == wanted), None)

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True, slots=True)
class Caller:
    """A verified SigV4 signer, as API Gateway reports it in ``requestContext.identity``."""

    access_key: str
    account_id: str
    user_arn: str
    # API Gateway puts the principal id here (AIDA... for a user); a local key
    # has no IAM user behind it, so the access key id stands in for it.
    caller: str


@dataclass(frozen=True, slots=True)
class RouteMatch:
    route: ApiRoute
    path_parameters: dict[str, str] | None


class MalformedProxyResponse(Exception):
    """The function's result is not a valid Lambda proxy response."""


# -- routing -----------------------------------------------------------------


_LITERAL, _VARIABLE, _GREEDY = 0, 1, 2


@dataclass(frozen=True, slots=True)
class _Resource:
    path: str
    segments: tuple[tuple[int, str], ...]  # (kind, literal text or variable name)
    methods: Mapping[str, ApiRoute]


class Router:
    """API Gateway's resource tree, flattened: pick the most specific resource."""

    def __init__(self, routes: Sequence[ApiRoute]) -> None:
        grouped: dict[str, dict[str, ApiRoute]] = {}
        for route in routes:
            grouped.setdefault(_normalise(route.path), {})[route.method] = route
        self._resources = [
            _Resource(path, _parse_template(path), methods) for path, methods in grouped.items()
        ]

    def match(self, method: str, raw_path: str) -> RouteMatch | None:
        """The route for a request, or None where API Gateway answers 403."""
        segments = _split(raw_path)
        best: tuple[tuple[int, ...], _Resource, dict[str, str]] | None = None
        for resource in self._resources:
            params = _match_segments(resource.segments, segments)
            if params is None:
                continue
            rank = tuple(kind for kind, _ in resource.segments)
            if best is None or rank < best[0]:
                best = (rank, resource, params)
        if best is None:
            return None
        _, resource, params = best
        route = resource.methods.get(method.upper()) or resource.methods.get("ANY")
        if route is None:
            return None
        return RouteMatch(route, params or None)


def _normalise(path: str) -> str:
    return path.rstrip("/") or "/"


def _split(raw_path: str) -> list[str]:
    trimmed = _normalise(raw_path)
    return [] if trimmed == "/" else trimmed[1:].split("/")


def _parse_template(path: str) -> tuple[tuple[int, str], ...]:
    parts: list[tuple[int, str]] = []
    for segment in _split(path):
        if segment.startswith("{") and segment.endswith("+}"):
            parts.append((_GREEDY, segment[1:-2]))
        elif segment.startswith("{") and segment.endswith("}"):
            parts.append((_VARIABLE, segment[1:-1]))
        else:
            parts.append((_LITERAL, segment))
    return tuple(parts)


def _match_segments(
    template: tuple[tuple[int, str], ...], segments: list[str]
) -> dict[str, str] | None:
    params: dict[str, str] = {}
    for index, (kind, text) in enumerate(template):
        if kind == _GREEDY:
            rest = segments[index:]
            if not rest or not rest[0]:
                return None
            params[text] = "/".join(rest)
            return params
        if index >= len(segments) or not segments[index]:
            return None
        segment = segments[index]
        if kind == _LITERAL and segment != text:
            return None
        if kind == _VARIABLE:
            params[text] = segment
    return params if len(template) == len(segments) else None


# -- request -> event --------------------------------------------------------


def build_event(
    request: HttpRequest,
    match: RouteMatch,
    api: RestApi,
    *,
    account_id: str = "123456789012",
    api_id: str = "local",
    request_id: str | None = None,
    now: float | None = None,
    caller: Caller | None = None,
) -> dict[str, Any]:
    """The REST API proxy event for a matched request; ``caller`` is the verified signer."""
    now = time.time() if now is None else now
    request_id = request_id or str(uuid.uuid4())
    headers, multi_headers = _headers(request, now)
    query, multi_query = _query(request.raw_query)
    body, encoded = _body(request, api.binary_media_types)
    host = request.header("host") or f"127.0.0.1:{request.port}"
    return {
        "resource": match.route.path,
        "path": request.raw_path,
        "httpMethod": request.method,
        "headers": headers,
        "multiValueHeaders": multi_headers,
        "queryStringParameters": query,
        "multiValueQueryStringParameters": multi_query,
        "pathParameters": match.path_parameters,
        "stageVariables": None,
        "requestContext": {
            "accountId": account_id,
            "apiId": api_id,
            "domainName": host,
            "domainPrefix": host.split(".", 1)[0],
            "extendedRequestId": request_id,
            "httpMethod": request.method,
            "identity": _identity(request, account_id, caller),
            # On the execute-api URL, requestContext.path carries the stage.
            "path": f"/{api.stage}{request.raw_path}",
            "protocol": request.protocol,
            "requestId": request_id,
            "requestTime": _request_time(now),
            "requestTimeEpoch": int(now * 1000),
            "resourceId": _resource_id(match.route.path),
            "resourcePath": match.route.path,
            "stage": api.stage,
        },
        "body": body,
        "isBase64Encoded": encoded,
    }


def _headers(
    request: HttpRequest, now: float
) -> tuple[dict[str, str] | None, dict[str, list[str]] | None]:
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    casing: dict[str, str] = {}
    added = [
        ("X-Forwarded-For", request.source_ip),
        ("X-Forwarded-Port", str(request.port)),
        ("X-Forwarded-Proto", "http"),
        ("X-Amzn-Trace-Id", f"Root=1-{int(now):08x}-{uuid.uuid4().hex[:24]}"),
    ]
    present = {name.lower() for name, _ in request.headers}
    for name, value in [*request.headers, *((n, v) for n, v in added if n.lower() not in present)]:
        key = casing.setdefault(name.lower(), name)
        single[key] = value
        multi.setdefault(key, []).append(value)
    return (single or None), (multi or None)


def _query(raw_query: str) -> tuple[dict[str, str] | None, dict[str, list[str]] | None]:
    pairs = parse_qsl(raw_query, keep_blank_values=True)
    if not pairs:
        return None, None
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for key, value in pairs:
        single[key] = value
        multi.setdefault(key, []).append(value)
    return single, multi


def _body(request: HttpRequest, binary_media_types: Sequence[str]) -> tuple[str | None, bool]:
    if not request.body:
        return None, False
    if is_binary(request.header("content-type"), binary_media_types):
        return base64.b64encode(request.body).decode("ascii"), True
    return request.body.decode("utf-8", errors="replace"), False


def is_binary(content_type: str | None, binary_media_types: Sequence[str]) -> bool:
    """Whether a media type matches the API's BinaryMediaTypes (``*/*`` matches all)."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    for pattern in binary_media_types:
        pattern = pattern.strip().lower()
        if pattern == "*/*" or pattern == media:
            return True
        kind, _, sub = pattern.partition("/")
        if sub == "*" and media.startswith(kind + "/"):
            return True
    return False


def _identity(request: HttpRequest, account_id: str, caller: Caller | None) -> dict[str, Any]:
    # The API uses AWS_IAM auth. With SigV4 verified (--require-sigv4) the event
    # names the signer, as API Gateway does; otherwise a fixed local caller.
    if caller is not None:
        signer: dict[str, Any] = {
            "accessKey": caller.access_key,
            "accountId": caller.account_id,
            "caller": caller.caller,
            "user": caller.caller,
            "userArn": caller.user_arn,
        }
    else:
        signer = {
            "accessKey": None,
            "accountId": account_id,
            "caller": "LOCAL",
            "user": "LOCAL",
            "userArn": f"arn:aws:iam::{account_id}:user/local",
        }
    return {
        **signer,
        "cognitoAuthenticationProvider": None,
        "cognitoAuthenticationType": None,
        "cognitoIdentityId": None,
        "cognitoIdentityPoolId": None,
        "principalOrgId": None,
        "sourceIp": request.source_ip,
        "userAgent": request.header("user-agent"),
    }


def _request_time(now: float) -> str:
    return datetime.fromtimestamp(now, tz=UTC).strftime("%d/%b/%Y:%H:%M:%S +0000")


def _resource_id(path: str) -> str:
    return uuid.uuid5(uuid.NAMESPACE_URL, path).hex[:6]


# -- result -> response ------------------------------------------------------


def build_response(
    result: object, request: HttpRequest, api: RestApi, request_id: str
) -> HttpResponse:
    """Turn a proxy result into the HTTP response; ``MalformedProxyResponse`` if invalid."""
    if not isinstance(result, dict):
        raise MalformedProxyResponse(f"the result is a {type(result).__name__}, not an object")
    unknown = sorted(set(result) - RESULT_KEYS)
    if unknown:
        raise MalformedProxyResponse(f"unexpected key(s) {', '.join(unknown)}")
    status = _status(result.get("statusCode"))
    body = _response_body(result, request, api)
    headers = _merge_response_headers(result.get("headers"), result.get("multiValueHeaders"))
    if not any(k.lower() == "content-type" for k, _ in headers):
        headers.append(("Content-Type", "application/json"))
    headers.extend(_gateway_headers(request_id))
    return HttpResponse(status, headers, b"" if request.method == "HEAD" else body)


def _status(value: object) -> int:
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not 100 <= value <= 599:
        raise MalformedProxyResponse(f"statusCode must be an HTTP status, got {value!r}")
    return value


def _response_body(result: Mapping[str, Any], request: HttpRequest, api: RestApi) -> bytes:
    body = result.get("body")
    if body is None:
        return b""
    if not isinstance(body, str):
        raise MalformedProxyResponse(f"body must be a string, got {type(body).__name__}")
    accept = (request.header("accept") or "").split(",", 1)[0]
    if (
        result.get("isBase64Encoded")
        and api.binary_media_types
        and is_binary(accept, api.binary_media_types)
    ):
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise MalformedProxyResponse("isBase64Encoded is true but body is not base64") from exc
    return body.encode("utf-8")


def _merge_response_headers(single: object, multi: object) -> list[tuple[str, str]]:
    """Docs: both maps merge; for a name in both, only multiValueHeaders' values count."""
    for name, value in (("headers", single), ("multiValueHeaders", multi)):
        if value is not None and not isinstance(value, dict):
            raise MalformedProxyResponse(f"{name} must be an object")
    merged: list[tuple[str, str]] = []
    multi_map: Mapping[str, Any] = multi if isinstance(multi, dict) else {}
    single_map: Mapping[str, Any] = single if isinstance(single, dict) else {}
    multi_names = {k.lower() for k in multi_map}
    for key, values in multi_map.items():
        if not isinstance(values, list):
            raise MalformedProxyResponse(f"multiValueHeaders[{key!r}] must be a list")
        merged.extend((key, _header_text(v)) for v in values)
    merged.extend(
        (key, _header_text(value))
        for key, value in single_map.items()
        if key.lower() not in multi_names
    )
    return [
        (f"x-amzn-Remapped-{k}" if k.lower() in _REMAPPED else k, v)
        for k, v in merged
        if k.lower() not in _DROPPED
    ]


def _header_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise MalformedProxyResponse(f"header values must be strings, got {value!r}")


def _gateway_headers(request_id: str) -> list[tuple[str, str]]:
    return [("x-amzn-RequestId", request_id), ("x-amz-apigw-id", request_id[:16])]


def gateway_error(
    status: int, message: str, request_id: str, error_type: str, **local: Any
) -> HttpResponse:
    """An API Gateway-generated error; ``local`` adds fields only the local API reports."""
    body = json.dumps({"message": message, **local}).encode()
    headers = [
        ("Content-Type", "application/json"),
        ("x-amzn-ErrorType", error_type),
        *_gateway_headers(request_id),
    ]
    return HttpResponse(status, headers, body)


def missing_authentication_token(request_id: str) -> HttpResponse:
    """What API Gateway answers for an unknown resource or method."""
    return gateway_error(
        HTTPStatus.FORBIDDEN,
        "Missing Authentication Token",
        request_id,
        "MissingAuthenticationTokenException",
    )
