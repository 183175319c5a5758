"""Transport-neutral request and reply values.

The protocol logic works on these instead of on http.server objects, so it can
be unit-tested without sockets and the HTTP layer stays a thin adapter.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from http import HTTPStatus
from urllib.parse import parse_qs, unquote

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
HTML = "text/html; charset=utf-8"
TEXT = "text/plain"

Headers = tuple[tuple[str, str], ...]


class FormError(ValueError):
    """The body is not a usable form: wrong content type, bad encoding or repeated fields."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class SimRequest:
    """One HTTP request exactly as received (path and query still percent-encoded)."""

    method: str
    raw_path: str
    raw_query: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""

    @classmethod
    def from_target(
        cls, method: str, target: str, headers: tuple[tuple[str, str], ...], body: bytes
    ) -> SimRequest:
        """Split a request target into raw path and raw query without decoding either."""
        if "://" in target.split("?", 1)[0]:
            after_scheme = target.split("://", 1)[1]
            target = "/" + after_scheme.split("/", 1)[1] if "/" in after_scheme else "/"
        path, _, query = target.partition("?")
        return cls(method.upper(), raw_path=path, raw_query=query, headers=headers, body=body)

    @property
    def path(self) -> str:
        """The percent-decoded path."""
        return unquote(self.raw_path)

    def header(self, name: str) -> str | None:
        """First value of a header, matched case-insensitively."""
        wanted = name.lower()
        return next((value for key, value in self.headers if key.lower() == wanted), None)

    def query(self) -> dict[str, list[str]]:
        """Query parameters with every value kept, in order."""
        return parse_qs(self.raw_query, keep_blank_values=True)

    def query_value(self, name: str) -> str | None:
        """First value of one query parameter."""
        values = self.query().get(name)
        return values[0] if values else None

    def form(self) -> dict[str, str]:
        """Parse an application/x-www-form-urlencoded body, as RingCentral insists on."""
        media_type = (self.header("content-type") or "").split(";", 1)[0].strip().lower()
        if media_type != FORM:
            raise FormError(415, f"Content-Type must be {FORM}")
        try:
            text = self.body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise FormError(400, "form body is not UTF-8") from exc
        fields = parse_qs(text, keep_blank_values=True)
        repeated = sorted(name for name, values in fields.items() if len(values) > 1)
        if repeated:
            raise FormError(400, f"repeated form fields: {', '.join(repeated)}")
        return {name: values[0] for name, values in fields.items()}

    def json_body(self) -> dict[str, object]:
        """Parse a JSON object body (control API)."""
        try:
            value = json.loads(self.body or b"{}")
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError("body is not JSON") from exc
        if not isinstance(value, dict):
            raise ValueError("body must be a JSON object")
        return value


@dataclass(frozen=True, slots=True)
class Reply:
    """A complete response; the HTTP layer adds Content-Length.

    `content_type` None sends no Content-Type (an empty gateway error). `outcome`
    overrides how the counters classify the reply when its status would lie, e.g.
    a dead refresh token answered with HTTP 200.
    """

    status: int
    body: bytes = b""
    content_type: str | None = JSON
    headers: Headers = ()
    outcome: str | None = None


def json_reply(status: int, payload: object, headers: Headers = ()) -> Reply:
    """Serialise `payload` compactly as the reply body."""
    body = json.dumps(payload, separators=(",", ":")).encode("utf-8")
    return Reply(status=status, body=body, content_type=JSON, headers=headers)


def text_reply(status: int, text: str, headers: Headers = ()) -> Reply:
    """A text/plain reply, as RingCX sends for `Jwt is expired`."""
    return Reply(status=status, body=text.encode("utf-8"), content_type=TEXT, headers=headers)


def html_reply(
    status: int,
    headers: Headers = (),
    title: str | None = None,
    text: str = "The server could not handle the request.",
) -> Reply:
    """An HTML page, as a load balancer, a maintenance page or a login portal would send."""
    heading = html.escape(title or status_line(status))
    page = (
        f"<!DOCTYPE html><html><head><title>{heading}</title></head>"
        f"<body><h1>{heading}</h1><p>{html.escape(text)}</p></body></html>"
    )
    return Reply(status=status, body=page.encode("utf-8"), content_type=HTML, headers=headers)


def status_line(status: int) -> str:
    """`503 Service Unavailable`; statuses without a standard phrase get `Error`."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    return f"{status} {phrase}"


def ringcx_error(
    status: int,
    message: str,
    *,
    request_uri: str,
    now: float,
    error_code: str | None = None,
    headers: Headers = (),
) -> Reply:
    """RingCX's `Errors` schema; only some permission errors carry an `errorCode`."""
    body: dict[str, object] = {} if error_code is None else {"errorCode": error_code}
    body |= {
        "generalMessage": message,
        "details": message,
        "developerMessage": f"{status_line(status)}: {message}",
        "cause": None,
        "requestUri": request_uri,
        "timestamp": round(now * 1000),
    }
    return json_reply(status, body, headers)


def oauth_error(status: int, error: str, description: str) -> Reply:
    """RingCentral/RingCX OAuth-style error body."""
    return json_reply(status, {"error": error, "error_description": description})


def retry_after_headers(retry_after: int | None) -> Headers:
    """A Retry-After header in whole seconds, or none."""
    return () if retry_after is None else (("Retry-After", str(retry_after)),)


def rate_limited_reply(retry_after: int | None) -> Reply:
    """RingCentral's 429: CMN-301, with Retry-After in whole seconds unless None."""
    return json_reply(
        429,
        {"errorCode": "CMN-301", "message": "Request rate exceeded"},
        headers=retry_after_headers(retry_after),
    )


def fault_reply(status: int, retry_after: int | None, body: str = "json") -> Reply:
    """The reply for an injected status fault; a JSON 429 looks like a real rate limit.

    `body` is "json", "html", "text" or "empty"; `retry_after` None sends no Retry-After.
    """
    headers = retry_after_headers(retry_after)
    if body == "html":
        return html_reply(status, headers)
    if body == "text":
        return text_reply(status, status_line(status), headers)
    if body == "empty":
        return Reply(status=status, content_type=None, headers=headers)
    if status == 429:
        return rate_limited_reply(retry_after)
    return json_reply(
        status,
        {"errorCode": "sim.injected.fault", "message": f"Injected fault with status {status}"},
        headers,
    )


def method_not_allowed(method: str) -> Reply:
    """405 for a known path called with the wrong method."""
    return json_reply(405, {"errorCode": "method.not.allowed", "message": f"{method} not allowed"})
