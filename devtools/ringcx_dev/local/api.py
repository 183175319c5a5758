"""The local REST API: HTTP on loopback -> proxy events -> the function containers.

Why its own module: this is API Gateway's side of the contract - routing by
the template's Api events, 403 for unknown resources, the 29 s integration
timeout (504), and 502 when the function fails. Locally a failure's 502 also
carries the reason (``crash`` / ``localError``), which API Gateway would hide
in CloudWatch.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from http import HTTPStatus
from typing import Final

from ringcx_dev.local.apigw import (
    Caller,
    HttpRequest,
    HttpResponse,
    MalformedProxyResponse,
    Router,
    build_event,
    build_response,
    gateway_error,
    missing_authentication_token,
)
from ringcx_dev.local.functions import LocalFunctions, Throttled
from ringcx_dev.local.httpserver import LoopbackServer
from ringcx_dev.local.sigv4 import SignatureRejected, SigV4Verifier
from ringcx_dev.local.template import ResolvedTemplate, RestApi
from ringcx_dev.local.worker import Invocation, Status

API_GATEWAY_TIMEOUT: Final = 29.0
IAM_AUTHORIZER: Final = "AWS_IAM"
AccessLog = Callable[[str], None]


class LocalApi:
    """Serve one HTTP request the way API Gateway with Lambda proxy integration would."""

    def __init__(
        self,
        template: ResolvedTemplate,
        functions: LocalFunctions,
        *,
        integration_timeout: float = API_GATEWAY_TIMEOUT,
        access_log: AccessLog | None = None,
        verifier: SigV4Verifier | None = None,
    ) -> None:
        """``verifier`` checks SigV4 on AWS_IAM routes (``--require-sigv4``); None is open."""
        self._template = template
        self._verifier = verifier
        self._functions = functions
        self._router = Router(template.routes)
        self._timeout = integration_timeout
        self._log = access_log
        self._pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="local-api")

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.handle(request)

    def handle(
        self, request: HttpRequest, *, log: bool = True, verify: bool = True
    ) -> HttpResponse:
        """One request; ``verify=False`` skips SigV4 (the runner's own status probes)."""
        started = time.monotonic()
        request_id = str(uuid.uuid4())
        match = self._router.match(request.method, request.raw_path)
        if match is None:
            response, target = missing_authentication_token(request_id), "-"
        else:
            target = match.route.function
            api = self._template.apis[match.route.api]
            try:
                caller = self._caller(request, api) if verify else None
            except SignatureRejected as rejected:
                response, target = rejected.response(request_id), f"SigV4: {rejected.error_type}"
            else:
                event = build_event(
                    request,
                    match,
                    api,
                    account_id=self._template.context.account_id,
                    request_id=request_id,
                    caller=caller,
                )
                response = self._invoke(target, event, request, api, request_id)
        if self._log is not None and log:
            elapsed = (time.monotonic() - started) * 1000
            self._log(
                f"{request.method} {request.raw_path} -> {response.status} "
                f"({target}, {elapsed:.0f} ms)"
            )
        return response

    def _caller(self, request: HttpRequest, api: RestApi) -> Caller | None:
        """The verified signer, or None when the run is open or the route is not AWS_IAM."""
        if self._verifier is None or api.default_authorizer != IAM_AUTHORIZER:
            return None
        return self._verifier.verify(request)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _invoke(
        self,
        function_id: str,
        event: dict[str, object],
        request: HttpRequest,
        api: RestApi,
        request_id: str,
    ) -> HttpResponse:
        function = self._functions[function_id]
        future = self._pool.submit(function.invoke, json.dumps(event), request_id=request_id)
        try:
            outcome = future.result(timeout=self._timeout)
        except FutureTimeout:
            return gateway_error(
                HTTPStatus.GATEWAY_TIMEOUT,
                "Endpoint request timed out",
                request_id,
                "InternalServerErrorException",
            )
        except Throttled as exc:
            return gateway_error(
                HTTPStatus.TOO_MANY_REQUESTS,
                "Too Many Requests",
                request_id,
                "ThrottledException",
                localError={"errorType": "TooManyRequestsException", "errorMessage": exc.reason},
            )
        return _respond(outcome, request, api, function_id, request_id)


def _respond(
    outcome: Invocation, request: HttpRequest, api: RestApi, function_id: str, request_id: str
) -> HttpResponse:
    if outcome.status is Status.OK:
        try:
            return build_response(outcome.result(), request, api, request_id)
        except MalformedProxyResponse as exc:
            return _internal_error(
                request_id,
                localError=f"Malformed Lambda proxy response: {exc}",
                function=function_id,
            )
    if outcome.status is Status.ERROR:
        error = outcome.error or {}
        return _internal_error(
            request_id,
            localError={
                "function": function_id,
                "errorType": error.get("errorType"),
                "errorMessage": error.get("errorMessage"),
            },
        )
    return _internal_error(request_id, crash=outcome.reason, function=function_id)


def _internal_error(request_id: str, **local: object) -> HttpResponse:
    return gateway_error(
        HTTPStatus.BAD_GATEWAY,
        "Internal server error",
        request_id,
        "InternalServerErrorException",
        **local,
    )


def serve(api: LocalApi, port: int, host: str = "127.0.0.1") -> LoopbackServer:
    """Start the local API; ``PortInUse`` names ``--port``."""
    server = LoopbackServer(host, port, api, flag="--port", label="local API")
    server.start()
    return server
