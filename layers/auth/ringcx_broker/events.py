"""Shapes shared by the handlers: telling API Gateway events from direct
invokes, decoding request bodies, and building safe JSON replies."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs

from ringcx_broker.errors import BadRequest, BrokerError, InternalError, RateLimited

JSON_HEADERS = {"Content-Type": "application/json", "Cache-Control": "no-store"}


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


def body_bytes(event: Mapping[str, Any]) -> bytes:
    """The request body as bytes, decoding base64 strictly."""
    body = event.get("body")
    if body is None:
        return b""
    if not isinstance(body, str):
        raise BadRequest("request body must be a string")
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise BadRequest("request body is flagged as base64 but is not valid base64") from exc
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
    return parsed


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
