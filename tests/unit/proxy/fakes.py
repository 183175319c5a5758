"""Fakes for the proxy's edges: the refresher (as an invoker and as boto3's
Lambda client), the upstream connection pool and API Gateway events.

The token ring itself is the real ``TokenRing`` over ``FakeSecretsManager``
(from the core fakes), so ring reads are counted exactly as Secrets Manager
would see them.
"""

from __future__ import annotations

import copy
import io
import json
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any

import urllib3

from ringcx_broker.proxy.token_source import RefreshOutcome
from ringcx_broker.ring import TokenRing
from ringcx_broker.tokens import StoredToken
from tests.unit.core.fakes import FakeSecretsManager, client_error

EVENTS_DIR = Path(__file__).resolve().parents[3] / "events"


def load_event(name: str) -> dict[str, Any]:
    """A fresh copy of ``events/<name>.json``."""
    return copy.deepcopy(json.loads((EVENTS_DIR / f"{name}.json").read_text()))


def set_header(event: dict[str, Any], name: str, value: str) -> None:
    """Set one header in both maps, as API Gateway would deliver it."""
    event["headers"][name] = value
    event["multiValueHeaders"][name] = [value]


# Sample events refused before anything is forwarded, with the status each gets.
REFUSED_EVENTS: list[tuple[str, HTTPStatus]] = [
    ("proxy-delete", HTTPStatus.METHOD_NOT_ALLOWED),
    ("proxy-traversal", HTTPStatus.BAD_REQUEST),
    ("proxy-double-encoded-traversal", HTTPStatus.BAD_REQUEST),
    ("proxy-absolute-url", HTTPStatus.BAD_REQUEST),
    ("proxy-post-bad-base64", HTTPStatus.BAD_REQUEST),
]


def store(secrets: FakeSecretsManager, ring: TokenRing, *tokens: StoredToken) -> None:
    """Another writer (the refresher) stores generations; not counted as our reads."""
    for token in tokens:
        secrets.external_put(ring.slot_of(token.generation), token.to_secret_string())


class FakeInvoker:
    """A scripted refresher: each call pops an outcome; a callable outcome runs
    first (say, storing the generation it reports) and returns the outcome."""

    def __init__(self, *outcomes: RefreshOutcome | Callable[[int], RefreshOutcome]) -> None:
        self._outcomes: deque[RefreshOutcome | Callable[[int], RefreshOutcome]] = deque(outcomes)
        self.calls: list[int] = []

    def queue(self, *outcomes: RefreshOutcome | Callable[[int], RefreshOutcome]) -> None:
        self._outcomes.extend(outcomes)

    def request_refresh(self, stale_generation: int) -> RefreshOutcome:
        self.calls.append(stale_generation)
        assert self._outcomes, f"unexpected refresh request for generation {stale_generation}"
        outcome = self._outcomes.popleft()
        return outcome(stale_generation) if callable(outcome) else outcome


THROTTLED = RefreshOutcome(ok=False, retryable=True, message="the refresher is busy (throttled)")


class FakeLambda:
    """boto3's Lambda client surface used by ``LambdaRefresher``: ``invoke``.

    ``handler`` plays the RefreshFunction; queued ``errors`` (botocore
    ``ClientError`` codes) are raised first, like throttles would be.
    """

    def __init__(
        self,
        handler: Callable[[dict[str, Any]], Any] | None = None,
        errors: tuple[str, ...] = (),
        function_error: bool = False,
    ) -> None:
        self._handler = handler or (lambda _event: {"ok": True, "generation": 1})
        self._errors = deque(errors)
        self._function_error = function_error
        self.invocations: list[dict[str, Any]] = []

    def invoke(self, **kwargs: Any) -> dict[str, Any]:
        payload = json.loads(kwargs["Payload"])
        self.invocations.append({**kwargs, "Payload": payload})
        if self._errors:
            code = self._errors.popleft()
            raise client_error(code, "Invoke", status=429 if "Many" in code else 500)
        result = self._handler(payload)
        raw = result if isinstance(result, bytes) else json.dumps(result).encode()
        reply: dict[str, Any] = {"StatusCode": 200, "Payload": io.BytesIO(raw)}
        if self._function_error:
            reply["FunctionError"] = "Unhandled"
        return reply


# -- upstream --------------------------------------------------------------------


@dataclass(frozen=True)
class SentRequest:
    origin: str
    method: str
    target: str
    body: bytes | None
    headers: dict[str, str]
    kwargs: dict[str, Any]


class FakeOriginPool:
    """Stands in for ``urllib3.PoolManager`` as ``Upstream`` uses it:
    ``connection_from_url(origin).urlopen(method, target, ...)``.

    Queued outcomes are played in order; once they run out, ``answer`` (if
    given) builds the reply from the request, like an echo server would.
    """

    def __init__(
        self,
        *outcomes: urllib3.HTTPResponse | Exception,
        answer: Callable[[SentRequest], urllib3.HTTPResponse] | None = None,
    ) -> None:
        self._outcomes: deque[urllib3.HTTPResponse | Exception] = deque(outcomes)
        self._answer = answer
        self.sent: list[SentRequest] = []
        self.responses: list[urllib3.HTTPResponse] = []

    def queue(self, *outcomes: urllib3.HTTPResponse | Exception) -> None:
        self._outcomes.extend(outcomes)

    def connection_from_url(self, url: str) -> _Origin:
        return _Origin(self, url)


class _Origin:
    def __init__(self, pool: FakeOriginPool, origin: str) -> None:
        self._pool = pool
        self._origin = origin

    def urlopen(
        self,
        method: str,
        url: str,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> urllib3.HTTPResponse:
        sent = SentRequest(self._origin, method, url, body, dict(headers or {}), kwargs)
        self._pool.sent.append(sent)
        if not self._pool._outcomes and self._pool._answer is not None:
            self._pool.responses.append(self._pool._answer(sent))
            return self._pool.responses[-1]
        assert self._pool._outcomes, f"unexpected request {method} {url}"
        outcome = self._pool._outcomes.popleft()
        if isinstance(outcome, Exception):
            raise outcome
        self._pool.responses.append(outcome)
        return outcome


def upstream_response(
    status: int,
    body: bytes | str = b"",
    headers: list[tuple[str, str]] | Mapping[str, str] | None = None,
) -> urllib3.HTTPResponse:
    """A real, unread ``urllib3.HTTPResponse``; headers may repeat names."""
    raw = body.encode() if isinstance(body, str) else body
    header_dict = urllib3.HTTPHeaderDict()
    items = headers.items() if isinstance(headers, Mapping) else (headers or [])
    for name, value in items:
        header_dict.add(name, value)
    return urllib3.HTTPResponse(
        body=io.BytesIO(raw), headers=header_dict, status=status, preload_content=False
    )
