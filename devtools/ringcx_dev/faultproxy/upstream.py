"""The upstream leg: one keep-alive connection pool to the target.

Why a pool: botocore keeps its connections open, so an emulator behind a
proxy that reconnected for every call would pay a TCP handshake AWS callers
do not pay again on a warm connection.
"""

from __future__ import annotations

from typing import Final

import urllib3
from urllib3.util import parse_url

from .faults import Reply, json_reply
from .request import ProxyRequest

# Hop-by-hop headers (RFC 9110 7.6.1) belong to one connection, not to the
# message; Content-Length, Date and Server are written again by our own side.
_NOT_FORWARDED: Final = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "content-length",
    }
)
_NOT_RETURNED: Final = _NOT_FORWARDED | {"date", "server"}
_BODY_METHODS: Final = frozenset({"POST", "PUT", "PATCH"})


class Upstream:
    """Forwards requests to ``target`` (``http://host:port[/prefix]``) unchanged."""

    def __init__(self, target: str, timeout: float = 60.0, maxsize: int = 16) -> None:
        url = parse_url(target)
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError(f"target must be an http(s) URL, got {target!r}")
        self.target = target.rstrip("/")
        self._prefix = (url.path or "").rstrip("/")
        self._pool = urllib3.connection_from_url(
            self.target,
            maxsize=maxsize,
            block=False,
            retries=False,
            timeout=urllib3.Timeout(connect=3.0, read=timeout),
        )

    def forward(self, request: ProxyRequest) -> Reply:
        """The target's reply, byte for byte (content encodings untouched); 502 if unreachable."""
        headers = {
            name: value for name, value in request.headers if name.lower() not in _NOT_FORWARDED
        }
        body = request.body if request.body or request.method in _BODY_METHODS else None
        try:
            response = self._pool.urlopen(
                request.method,
                self._prefix + request.target,
                body=body,
                headers=headers,
                retries=False,
                redirect=False,
                assert_same_host=False,
                preload_content=True,
                decode_content=False,
            )
        except urllib3.exceptions.HTTPError as exc:
            return json_reply(502, {"error": "bad_gateway", "message": f"{type(exc).__name__}"})
        returned = tuple(
            (name, value)
            for name, value in response.headers.items()
            if name.lower() not in _NOT_RETURNED
        )
        return Reply(response.status, returned, response.data)

    def close(self) -> None:
        self._pool.close()
