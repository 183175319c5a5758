"""Shapes shared by the handlers: telling API Gateway events from direct
invokes, decoding request bodies, and building safe JSON replies."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs

from ringcx_broker.errors import BadRequest, BrokerError, InternalError, RateLimited

JSON_HEADERS = {"Content-Type": "application/json", "Cache-Control": "no-store"}

# A JSON event may spell "\ud800": Python decodes it to a lone surrogate, a
# str that no UTF-8 (or Latin-1) encoder accepts. Found early, it is a 400;
# found late, it is a UnicodeEncodeError deep in urllib, http.client or quote().
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def is_api_event(event: object) -> bool:
    """A REST API proxy event; anything else is a direct invoke."""
    return isinstance(event, Mapping) and "httpMethod" in event and "requestContext" in event


def header(event: Mapping[str, Any], name: str) -> str | None:
    """Case-insensitive header lookup (API Gateway keeps the client's casing)."""
    headers = event.get("headers") or {}
    wanted = name.lower()
    for key, value in headers.items() if isinstance(headers, Mapping) else ():
        if isinstance(key, str) and key.lower() == wanted:
            return value if isinstance(value, str) else None
    return None


def has_lone_surrogate(text: str) -> bool:
    """Whether ``text`` holds a surrogate code point: not valid Unicode text."""
    return _LONE_SURROGATE.search(text) is not None


def body_bytes(event: Mapping[str, Any]) -> bytes:
    """The request body as bytes, decoding base64 strictly."""
    body = event.get("body")
    flag = event.get("isBase64Encoded")
    if not isinstance(flag, bool | None):  # "false" is truthy: never guess
        raise BadRequest("isBase64Encoded must be true or false")
    if body is None:
        return b""
    if not isinstance(body, str):
        raise BadRequest("request body must be a string")
    if flag:
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise BadRequest("request body is flagged as base64 but is not valid base64") from exc
    if has_lone_surrogate(body):
        raise BadRequest("request body is not valid Unicode text (it holds a lone surrogate)")
    return body.encode()


def parse_fields(event: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON object or form-encoded body as a dict; empty body -> {}."""
    raw = body_bytes(event)
    if not raw.strip():
        return {}
    content_type = (header(event, "content-type") or "").split(";")[0].strip().lower()
    try:
        text = raw.decode()
    except UnicodeDecodeError as exc:
        raise BadRequest("request body is not UTF-8 text") from exc
    if content_type == "application/x-www-form-urlencoded":
        return {k: v[-1] for k, v in parse_qs(text, keep_blank_values=True).items()}
    try:
        parsed = json.loads(text)
    except (ValueError, RecursionError) as exc:  # RecursionError: JSON nested 20,000 deep
        raise BadRequest("request body must be JSON or application/x-www-form-urlencoded") from exc
    if not isinstance(parsed, dict):
        raise BadRequest("request body must be a JSON object")
    if _holds_lone_surrogate(parsed):
        raise BadRequest("request body holds a JSON string that is a lone surrogate")
    return parsed


def _holds_lone_surrogate(value: object) -> bool:
    """Any string (key or value) in parsed JSON; iterative, since the JSON may
    be as deep as the parser allows."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if has_lone_surrogate(item):
                return True
        elif isinstance(item, dict):
            pending.extend(item)
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


def api_response(
    status: int, body: Mapping[str, Any], headers: Mapping[str, str] | None = None
) -> dict[str, Any]:
    return {
        "statusCode": int(status),
        "headers": {**JSON_HEADERS, **(headers or {})},
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }


def error_response(error: BrokerError) -> dict[str, Any]:
    headers = {"Retry-After": str(error.retry_after)} if isinstance(error, RateLimited) else {}
    return api_response(error.status, error.to_body(), headers)


def direct_error(error: BrokerError) -> dict[str, Any]:
    """The ``{"ok": false, ...}`` reply of a direct invoke."""
    return {"ok": False, "statusCode": int(error.status), **error.to_body()}


def internal_error() -> BrokerError:
    """What a caller sees for a bug: no trace, no detail, just a status."""
    return InternalError()
