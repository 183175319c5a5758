"""The Lambda Invoke API for the local functions, so plain boto3 can call them.

Why: the proxy asks the refresher for a new token with
``boto3.client("lambda").invoke(FunctionName=os.environ["REFRESH_FUNCTION_NAME"])``.
Pointing ``AWS_ENDPOINT_URL_LAMBDA`` here makes that exact code path work
locally. The wire format follows the Invoke API reference:

- ``POST /2015-03-31/functions/{FunctionName}/invocations[?Qualifier=q]``
- ``X-Amz-Invocation-Type``: RequestResponse (200), Event (202), DryRun (204)
- a function error is still 200, with ``X-Amz-Function-Error: Unhandled``
- errors of the API itself carry ``x-amzn-ErrorType`` and a JSON body
  ``{"Type": "User", "message": ...}``: 404 ResourceNotFoundException,
  429 TooManyRequestsException (reserved concurrency), 400
  InvalidRequestContentException, 413 RequestTooLargeException.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from http import HTTPStatus
from typing import Any, Final
from urllib.parse import parse_qs, unquote

from ringcx_dev.local.apigw import HttpRequest, HttpResponse
from ringcx_dev.local.functions import LocalFunction, LocalFunctions, Throttled
from ringcx_dev.local.httpserver import LoopbackServer
from ringcx_dev.local.worker import Invocation

_INVOKE: Final = re.compile(r"^/2015-03-31/functions/([^/]+)/invocations/?$")
MAX_SYNC_REQUEST: Final = 6_291_456


class LambdaApi:
    """Pure request -> response logic; ``serve`` puts it on a loopback port."""

    def __init__(self, functions: LocalFunctions, region: str, account_id: str) -> None:
        self._functions = functions
        self._region = region
        self._account = account_id

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = str(uuid.uuid4())
        match = _INVOKE.match(request.raw_path)
        if match is None or request.method != "POST":
            return _api_error(
                HTTPStatus.NOT_FOUND, "UnknownOperationException", "Unknown operation", request_id
            )
        function, qualifier = self._functions.find(match.group(1))
        qualifier = parse_qs(request.raw_query).get("Qualifier", [qualifier])[-1]
        if function is None or qualifier not in (None, "$LATEST"):
            arn = (
                f"arn:aws:lambda:{self._region}:{self._account}:function:"
                f"{unquote(match.group(1))}{':' + qualifier if qualifier else ''}"
            )
            return _api_error(
                HTTPStatus.NOT_FOUND,
                "ResourceNotFoundException",
                f"Function not found: {arn}",
                request_id,
            )
        if len(request.body) > MAX_SYNC_REQUEST:
            return _api_error(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                "RequestTooLargeException",
                f"Request must be smaller than {MAX_SYNC_REQUEST} bytes for the InvokeFunction "
                "operation",
                request_id,
            )
        event = request.body.decode("utf-8", errors="replace").strip() or "{}"
        try:
            json.loads(event)
        except ValueError as exc:
            return _api_error(
                HTTPStatus.BAD_REQUEST,
                "InvalidRequestContentException",
                f"Could not parse request body into json: {exc}",
                request_id,
            )
        kind = request.header("x-amz-invocation-type") or "RequestResponse"
        if kind == "DryRun":
            return HttpResponse(HTTPStatus.NO_CONTENT, [("x-amzn-RequestId", request_id)])
        if kind == "Event":
            threading.Thread(
                target=function.invoke,
                args=(event,),
                kwargs={"request_id": request_id, "wait": True},
                name=f"async-{function.spec.logical_id}",
                daemon=True,
            ).start()
            return HttpResponse(HTTPStatus.ACCEPTED, [("x-amzn-RequestId", request_id)])
        return self._sync(function, event, request_id)

    def _sync(self, function: LocalFunction, event: str, request_id: str) -> HttpResponse:
        try:
            outcome = function.invoke(event, request_id=request_id)
        except Throttled as exc:
            return _api_error(
                HTTPStatus.TOO_MANY_REQUESTS,
                "TooManyRequestsException",
                "Rate Exceeded.",
                request_id,
                Reason=exc.reason,
            )
        return invocation_response(outcome)


def invocation_response(outcome: Invocation) -> HttpResponse:
    """200 with the payload; a function error adds ``X-Amz-Function-Error: Unhandled``."""
    headers = [
        ("Content-Type", "application/json"),
        ("X-Amz-Executed-Version", "$LATEST"),
        ("x-amzn-RequestId", outcome.request_id),
    ]
    if outcome.ok:
        return HttpResponse(HTTPStatus.OK, headers, (outcome.payload or "null").encode())
    headers.append(("X-Amz-Function-Error", "Unhandled"))
    error = dict(outcome.error or {"errorMessage": outcome.reason, "errorType": "Unknown"})
    return HttpResponse(HTTPStatus.OK, headers, json.dumps(error).encode())


def _api_error(
    status: int, error_type: str, message: str, request_id: str, **extra: Any
) -> HttpResponse:
    body = {"Type": "User", "message": message, **extra}
    headers = [
        ("Content-Type", "application/json"),
        ("x-amzn-ErrorType", error_type),
        ("x-amzn-RequestId", request_id),
    ]
    return HttpResponse(status, headers, json.dumps(body).encode())


def serve(api: LambdaApi, port: int = 0, host: str = "127.0.0.1") -> LoopbackServer:
    """Start the Lambda API on loopback; ``PortInUse`` names ``--lambda-port``."""
    server = LoopbackServer(host, port, api, flag="--lambda-port", label="Lambda API")
    server.start()
    return server
