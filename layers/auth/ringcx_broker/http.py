"""One shared urllib3 pool with explicit timeouts, and the mapping from HTTP
outcomes to typed errors that every upstream client uses."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import urllib3

from ringcx_broker.errors import RateLimited, UpstreamTimeout, UpstreamUnavailable

AUTH_TIMEOUT = urllib3.Timeout(connect=3.05, read=10.0)
DEFAULT_RETRY_AFTER = 60
MAX_RETRY_AFTER = 3600

_pool: urllib3.PoolManager | None = None


def shared_pool() -> urllib3.PoolManager:
    """The container's one pool: connections to RingCentral/RingCX stay warm."""
    global _pool
    if _pool is None:
        _pool = urllib3.PoolManager(num_pools=4, maxsize=8, retries=False, timeout=AUTH_TIMEOUT)
    return _pool


def reset_shared_pool() -> None:
    """Close the pool's connections (SnapStart: none may outlive a snapshot).
    The pool stays usable and reconnects on its next request."""
    if _pool is not None:
        _pool.clear()


@dataclass(frozen=True, slots=True)
class Rejection:
    """A 4xx other than 429, with the upstream's error code (never its body)."""

    status: int
    code: str


class UpstreamRedirected(UpstreamUnavailable):
    """An auth endpoint answered with a redirect, which we never follow: a
    credential must not be re-posted to a host the configuration did not name.
    The message names the target origin so the operator can fix the setting
    (RingCX moved from engage.ringcentral.com to ringcx.ringcentral.com)."""

    def __init__(self, service: str, status: int, location: str | None) -> None:
        target = _origin(location)
        where = f" to {target}" if target else ""
        setting = "RingCXServerUrl" if service == "RingCX" else "RingCentralServerUrl"
        super().__init__(
            f"{service} redirected the request{where} (HTTP {status}); "
            f"set {setting} to the host that serves it"
        )


def _origin(location: str | None) -> str:
    """scheme://host of a redirect target: never its path or query."""
    parts = urlsplit(location or "")
    if parts.scheme in ("http", "https") and parts.hostname:
        return f"{parts.scheme}://{parts.hostname}"
    return ""


class UpstreamRejected(Exception):
    def __init__(self, rejection: Rejection) -> None:
        super().__init__(f"HTTP {rejection.status} {rejection.code}")
        self.rejection = rejection


def post_form(
    pool: urllib3.PoolManager,
    url: str,
    fields: Mapping[str, str],
    service: str,
    headers: Mapping[str, str] | None = None,
    timeout: urllib3.Timeout = AUTH_TIMEOUT,
) -> dict[str, Any]:
    """POST a form and return the JSON object reply.

    Raises ``RateLimited`` (429), ``UpstreamRejected`` (other 4xx),
    ``UpstreamTimeout`` / ``UpstreamUnavailable`` (timeouts, 5xx, bad replies).
    """
    try:
        response = pool.request(
            "POST",
            url,
            body=urlencode(fields),
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Accept": "application/json",
                **(headers or {}),
            },
            timeout=timeout,
            retries=False,
        )
    except (
        urllib3.exceptions.NewConnectionError,
        urllib3.exceptions.NameResolutionError,
    ) as exc:  # urllib3 2.x makes these ConnectTimeoutErrors; they are refusals
        raise UpstreamUnavailable(f"{service} is unreachable ({type(exc).__name__})") from exc
    except urllib3.exceptions.TimeoutError as exc:
        raise UpstreamTimeout(f"{service} did not answer in time") from exc
    except urllib3.exceptions.HTTPError as exc:
        raise UpstreamUnavailable(f"{service} is unreachable ({type(exc).__name__})") from exc
    return _interpret(response.status, response.headers, response.data, service)


def _interpret(
    status: int, headers: Mapping[str, str], data: bytes, service: str
) -> dict[str, Any]:
    if status == 429 or (status == 503 and headers.get("Retry-After")):
        # RingCentral's 503 may carry Retry-After when it sheds load: a penalty
        # like a 429's, which a request sent during it would only extend.
        retry_after = parse_retry_after(headers.get("Retry-After"))
        what = "rate limit reached" if status == 429 else "is overloaded"
        raise RateLimited(f"{service} {what}; retry after {retry_after} s", retry_after)
    if 400 <= status < 500:
        raise UpstreamRejected(Rejection(status, error_code(data)))
    if 300 <= status < 400:
        raise UpstreamRedirected(service, status, headers.get("Location"))
    if status >= 300:
        raise UpstreamUnavailable(f"{service} failed with HTTP {status}")
    try:
        reply = json.loads(data)
    except ValueError as exc:
        raise UpstreamUnavailable(f"{service} sent a reply that is not JSON") from exc
    if not isinstance(reply, dict):
        raise UpstreamUnavailable(f"{service} sent a reply that is not a JSON object")
    return reply


def parse_retry_after(value: str | None) -> int:
    """Seconds from a Retry-After header; the RingCentral 60 s penalty if it is
    absent or odd, and never more than an hour, so a bogus header cannot lock
    an endpoint out for good."""
    try:
        seconds = float(value) if value else float(DEFAULT_RETRY_AFTER)
    except ValueError:
        seconds = float(DEFAULT_RETRY_AFTER)
    if not math.isfinite(seconds):
        seconds = float(DEFAULT_RETRY_AFTER)
    return int(min(MAX_RETRY_AFTER, max(1.0, seconds)))


def error_code(data: bytes) -> str:
    """A short, token-free label from an error body, e.g. ``invalid_grant``."""
    try:
        body = json.loads(data)
    except ValueError:
        return "error"
    if not isinstance(body, dict):
        return "error"
    errors = body.get("errors")
    nested = errors[0] if isinstance(errors, list) and errors else {}
    for candidate in (
        body.get("error"),
        body.get("errorCode"),
        nested.get("errorCode") if isinstance(nested, dict) else None,
    ):
        if (
            isinstance(candidate, str)
            and len(candidate) <= 64  # a long "code" may be an echoed token: drop it
            and candidate.replace("_", "").replace(".", "").replace("-", "").isalnum()
        ):
            return candidate
    return "error"
