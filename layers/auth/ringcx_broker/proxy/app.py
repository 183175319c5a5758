"""ProxyFunction's three routes, and the container's lazily built singleton.

Routes (docs/contract.md):

- ``ANY /voice/api/{proxy+}``: forwarded to ``{RINGCX_SERVER_URL}/voice/api/...``
  with the broker's bearer token; one retry after a 401 (see ``forward``).
- ``GET /health``: the ring's newest generation, ids and timings, never a
  token; 503 when no unexpired token exists.
- ``GET /token``: the access token itself, only when ``TOKEN_ENDPOINT_ENABLED``;
  otherwise 404 like any unknown route.

Every error is JSON ``{"message": ...}``: no trace, no token, no event.

Why no Powertools event handler: its package imports every resolver (AppSync,
Bedrock, VPC Lattice, ...) and costs a cold start about 58 ms, and its typed
events another 32 ms, to route three paths whose events ``forward`` and
``paths`` validate field by field anyway (benchmarks/README.md, "Lean
import"). Powertools keeps the logging.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from ringcx_broker.errors import (
    BadRequest,
    BrokerError,
    MethodNotAllowed,
    NotFound,
    NoUsableToken,
    RateLimited,
)
from ringcx_broker.events import JSON_HEADERS, direct_error, error_response, internal_error
from ringcx_broker.proxy.forward import (
    ProxyReply,
    Upstream,
    UpstreamReply,
    UpstreamRequest,
    build_request,
    scrub_reflections,
    to_proxy_reply,
)
from ringcx_broker.proxy.routes import Route, route_of
from ringcx_broker.proxy.token_source import LambdaRefresher, RingReader, TokenSource
from ringcx_broker.timing import Clock, system_clock

if TYPE_CHECKING:
    import urllib3

    from ringcx_broker.settings import Settings

logger = Logger(child=True)


class ProxyApp:
    """One container's proxy: settings, token cache and upstream, all injectable."""

    def __init__(
        self,
        settings: Settings,
        tokens: TokenSource,
        upstream: Upstream,
        clock: Clock = system_clock,
    ) -> None:
        self._settings = settings
        self._tokens = tokens
        self._upstream = upstream
        self._clock = clock

    @property
    def tokens(self) -> TokenSource:
        return self._tokens

    def handle(self, event: Any, context: Any) -> dict[str, Any]:
        """Serve one Lambda invocation; never raises."""
        problem = shape_problem(event)
        if problem is not None:
            return problem
        try:
            return self._dispatch(event)
        except BrokerError as error:
            return self._error(error)
        except Exception as exc:  # a bug: log the type only, a traceback may quote a token
            logger.error("Proxy crashed", extra={"error": type(exc).__name__})
            return self._error(internal_error())

    def forward(self, request: UpstreamRequest) -> UpstreamReply:
        """Send with the cached token; after a 401, at most one retry (see
        ``TokenSource.after_unauthorized``). The reply comes back with every
        token that was sent (and its generation's refresh token) scrubbed."""
        token = self._tokens.current()
        used = [token]
        reply = self._upstream.send(request, token.authorization)
        if reply.status == HTTPStatus.UNAUTHORIZED:
            retry = self._tokens.after_unauthorized(token, expired=reply.says_token_expired)
            if retry is not None:
                used.append(retry)
                reply = self._upstream.send(request, retry.authorization)
        secrets = [s for t in used for s in (t.access_token, t.refresh_token) if s]
        reply, places = scrub_reflections(reply, secrets)
        if places:
            logger.warning(
                "RingCX reflected a broker token; it was redacted", extra={"where": list(places)}
            )
        return reply

    # -- routes ------------------------------------------------------------------

    def _dispatch(self, event: Mapping[str, Any]) -> dict[str, Any]:
        route = route_of(event)
        # Methods are matched exactly: "get /health" is not GET's to answer, and on
        # the voice route ``build_request`` answers 405 for anything off the list.
        if route is Route.VOICE:
            request = build_request(event, self._settings.allowed_methods)
            return _proxied(to_proxy_reply(self.forward(request)))
        if event["httpMethod"] == "GET" and route is Route.HEALTH:
            return self._health()
        if event["httpMethod"] == "GET" and route is Route.TOKEN:
            return self._token()
        raise NotFound("Not found")

    def _health(self) -> dict[str, Any]:
        status, now = self._tokens.status(), self._clock()
        if status.usable(now) is None:
            detail = "" if status.ring_readable else " (the token ring could not be read)"
            raise NoUsableToken(
                f"no usable RingCX token: the ring holds no unexpired token{detail}"
            )
        return _json(HTTPStatus.OK, status.describe(now))

    def _token(self) -> dict[str, Any]:
        if not self._settings.token_endpoint_enabled:
            raise NotFound("Not found")
        token = self._tokens.current()
        now = self._clock()
        return _json(
            HTTPStatus.OK,
            {
                "accessToken": token.access_token,
                "tokenType": token.token_type,
                "generation": token.generation,
                "expiresAt": token.summary(now)["expiresAt"],
                "secondsLeft": max(0, int(token.seconds_left(now))),
            },
        )

    # -- errors ------------------------------------------------------------------

    def _error(self, error: BrokerError) -> dict[str, Any]:
        if error.status >= HTTPStatus.INTERNAL_SERVER_ERROR:
            logger.warning(
                "Proxy request failed",
                extra={
                    "status": int(error.status),
                    "error": type(error).__name__,
                    "reason": error.message,
                },
            )
        headers: dict[str, str] = {}
        if isinstance(error, MethodNotAllowed):
            headers["Allow"] = ", ".join(sorted(self._settings.allowed_methods))
        if isinstance(error, RateLimited):
            headers["Retry-After"] = str(error.retry_after)
        return _json(error.status, error.to_body(), headers)


def _json(
    status: int, body: Mapping[str, Any], headers: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """A broker-made JSON reply, in API Gateway's multi-value shape."""
    merged = {**JSON_HEADERS, **(headers or {})}
    return {
        "statusCode": int(status),
        "multiValueHeaders": {name: [value] for name, value in merged.items()},
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }


def _proxied(reply: ProxyReply) -> dict[str, Any]:
    """RingCX's reply for API Gateway: binary bodies travel as base64."""
    binary = isinstance(reply.body, bytes)
    body = (
        base64.b64encode(reply.body).decode("ascii")
        if isinstance(reply.body, bytes)
        else reply.body
    )
    return {
        "statusCode": reply.status,
        "multiValueHeaders": reply.headers,
        "body": body,
        "isBase64Encoded": binary,
    }


def shape_problem(event: Any) -> dict[str, Any] | None:
    """A reply for events that are not sound REST proxy events, or None."""
    if not isinstance(event, Mapping) or "httpMethod" not in event:
        return direct_error(
            BadRequest(
                "ProxyFunction serves API Gateway REST requests only; "
                "invoke RefreshFunction or ExchangeFunction directly instead"
            )
        )
    if not isinstance(event.get("requestContext"), Mapping):
        return error_response(
            BadRequest("the event has no requestContext: it is not an API Gateway REST request")
        )
    if not isinstance(event.get("httpMethod"), str) or not isinstance(event.get("path"), str):
        return error_response(BadRequest("httpMethod and path must be strings"))
    for field in ("headers", "multiValueHeaders"):
        if not isinstance(event.get(field), Mapping | None):
            return error_response(BadRequest(f"{field} must be an object"))
    return None


# -- the container's singleton -------------------------------------------------

_app: ProxyApp | None = None


def build_app(
    settings: Settings | None = None, pool: urllib3.PoolManager | None = None
) -> ProxyApp:
    """Wire a ProxyApp from the environment (``runtime``). No I/O happens here:
    the token ring, the Secrets Manager client and the Lambda client are all
    built on first need."""
    from ringcx_broker import runtime
    from ringcx_broker.http import shared_pool

    settings = settings or runtime.settings()

    def ring() -> RingReader:
        from ringcx_broker.ring import TokenRing

        return TokenRing(runtime.secrets_client(), settings.require_ring())

    name = settings.refresh_function_name
    refresher = LambdaRefresher(runtime.lambda_client, name) if name else None
    return ProxyApp(
        settings,
        TokenSource(ring, refresher, settings.timing),
        Upstream(settings.ringcx_url, pool or shared_pool(), settings.upstream_timeout),
    )


def default_app() -> ProxyApp:
    """The container's one ProxyApp, built on first use."""
    global _app
    if _app is None:
        _app = build_app()
    return _app


def set_default_app(app: ProxyApp | None) -> None:
    """Replace (or, with None, forget) the container's ProxyApp: for tests and benchmarks."""
    global _app
    _app = app


def handle(event: Any, context: Any) -> dict[str, Any]:
    """The Lambda entry point's one call."""
    try:
        app = default_app()
    except BrokerError as error:  # e.g. a malformed environment variable
        logger.error("Proxy is misconfigured", extra={"reason": error.message})
        return error_response(error) if shape_problem(event) is None else direct_error(error)
    return app.handle(event, context)
