"""api.py: the local REST API over real loopback HTTP, in front of fake functions."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from http import HTTPStatus
from pathlib import Path

import pytest

from ringcx_dev.local import api as local_api
from ringcx_dev.local.apigw import HttpRequest
from ringcx_dev.local.functions import LocalFunctions
from ringcx_dev.local.httpserver import LoopbackServer
from ringcx_dev.local.sigv4 import SigV4Verifier
from ringcx_dev.local.smoke import http_call
from ringcx_dev.local.template import ResolvedTemplate, Template

from .fakes import FAKE_TEMPLATE, SIGNING_KEY, SIGNING_REGION, signed_request, write_fake_project


@pytest.fixture
def served(
    fake_resolved: ResolvedTemplate, fake_functions: LocalFunctions
) -> Iterator[LoopbackServer]:
    api = local_api.LocalApi(fake_resolved, fake_functions, integration_timeout=1.0)
    server = local_api.serve(api, port=0)
    yield server
    server.stop()
    api.close()


def _get(server: LoopbackServer, target: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    return http_call(server.url, "GET", target, headers=headers)


def test_api_request_reaches_function_as_proxy_event(served: LoopbackServer) -> None:
    status, headers, body = _get(served, "/some/where?x=1&x=2", Accept="application/json")
    assert status == HTTPStatus.OK
    event = json.loads(body)["event"]
    assert (event["resource"], event["path"], event["httpMethod"]) == (
        "/{proxy+}",
        "/some/where",
        "GET",
    )
    assert event["pathParameters"] == {"proxy": "some/where"}
    assert event["multiValueQueryStringParameters"] == {"x": ["1", "2"]}
    assert event["requestContext"]["stage"] == "test"
    assert headers["x-multi"] == "a, b"  # multiValueHeaders come back as repeated headers


def test_api_crash_is_502_with_reason_then_fresh_process_serves(served: LoopbackServer) -> None:
    # Given a warm function
    _, _, body = _get(served, "/warm")
    pid = json.loads(body)["pid"]
    # When its process dies during a request
    status, headers, body = _get(served, "/boom?action=crash")
    # Then the local API answers 502 and says why
    assert status == HTTPStatus.BAD_GATEWAY
    answer = json.loads(body)
    assert answer["message"] == "Internal server error"
    assert "Worker process exited with status 3" in answer["crash"]
    assert headers["x-amzn-errortype"] == "InternalServerErrorException"
    # And the next request starts a fresh process, as Lambda does
    status, _, body = _get(served, "/again")
    assert status == HTTPStatus.OK
    assert json.loads(body)["pid"] != pid
    assert json.loads(body)["calls"] == 1


def test_api_handler_exception_is_502_with_error(served: LoopbackServer) -> None:
    status, _, body = _get(served, "/x?action=raise")
    assert status == HTTPStatus.BAD_GATEWAY
    assert json.loads(body)["localError"]["errorType"] == "ValueError"


def test_api_malformed_proxy_response_is_502(served: LoopbackServer) -> None:
    status, _, body = _get(served, "/x?action=malformed")
    assert status == HTTPStatus.BAD_GATEWAY
    assert "Malformed Lambda proxy response" in json.loads(body)["localError"]


def test_api_binary_response_arrives_as_bytes_and_reserved_headers_are_remapped(
    served: LoopbackServer,
) -> None:
    status, headers, body = _get(served, "/x?action=binary", Accept="application/octet-stream")
    assert status == HTTPStatus.OK
    assert body == bytes(range(256))
    assert headers["x-amzn-remapped-server"] == "fn"


def test_api_binary_request_body_arrives_base64(served: LoopbackServer) -> None:
    payload = bytes(range(255, -1, -1))
    status, _, body = http_call(
        served.url,
        "POST",
        "/upload",
        body=payload,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert status == HTTPStatus.OK
    event = json.loads(body)["event"]
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == payload


def test_api_unmatched_resource_is_403_missing_authentication_token(
    served: LoopbackServer,
) -> None:
    status, _, body = _get(served, "/")
    assert status == HTTPStatus.FORBIDDEN
    assert json.loads(body) == {"message": "Missing Authentication Token"}


def test_api_slower_than_integration_timeout_is_504(served: LoopbackServer) -> None:
    status, _, body = _get(served, "/x?action=sleep&seconds=2")
    assert status == HTTPStatus.GATEWAY_TIMEOUT
    assert json.loads(body) == {"message": "Endpoint request timed out"}


# -- --require-sigv4 ----------------------------------------------------------

IAM_TEMPLATE = FAKE_TEMPLATE.replace(
    '      BinaryMediaTypes: ["*~1*"]\n',
    '      BinaryMediaTypes: ["*~1*"]\n      Auth:\n        DefaultAuthorizer: AWS_IAM\n',
)


@pytest.fixture
def iam_api(tmp_path: Path) -> Iterator[local_api.LocalApi]:
    """The fake project with an AWS_IAM API, served with SigV4 verified."""
    assert IAM_TEMPLATE != FAKE_TEMPLATE
    resolved = Template.load(write_fake_project(tmp_path, IAM_TEMPLATE)).resolve()
    functions = LocalFunctions(resolved)
    api = local_api.LocalApi(
        resolved,
        functions,
        integration_timeout=5.0,
        verifier=SigV4Verifier(SIGNING_KEY, SIGNING_REGION),
    )
    yield api
    api.close()
    functions.stop_all()


def test_api_sigv4_signed_request_reaches_function_with_signer_identity(
    iam_api: local_api.LocalApi,
) -> None:
    # Given SigV4 required / When a signed request arrives
    response = iam_api.handle(signed_request("GET", "/where?action=echo"))
    # Then the function runs, and the event names the signer as API Gateway would
    assert response.status == HTTPStatus.OK
    identity = response.json()["event"]["requestContext"]["identity"]
    assert {k: identity[k] for k in ("accessKey", "caller", "user", "userArn")} == {
        "accessKey": SIGNING_KEY.access_key_id,
        "caller": SIGNING_KEY.access_key_id,
        "user": SIGNING_KEY.access_key_id,
        "userArn": "arn:aws:iam::123456789012:user/local",
    }


def test_api_sigv4_unsigned_request_is_403_and_never_reaches_the_function(
    iam_api: local_api.LocalApi,
) -> None:
    # Given SigV4 required / When an unsigned request arrives
    refused = iam_api.handle(HttpRequest.from_target("GET", "/where"))
    # Then API Gateway's 403, and the function was not invoked (its first call comes next)
    assert refused.status == HTTPStatus.FORBIDDEN
    assert refused.json() == {"message": "Missing Authentication Token"}
    assert refused.header("x-amzn-ErrorType") == "MissingAuthenticationTokenException"
    assert iam_api.handle(signed_request("GET", "/where")).json()["calls"] == 1


def test_api_sigv4_probe_without_verification_is_served(iam_api: local_api.LocalApi) -> None:
    # The runner's own status probe (verify=False) must not need a signature
    response = iam_api.handle(HttpRequest.from_target("GET", "/health"), verify=False)
    assert response.status == HTTPStatus.OK
    assert response.json()["event"]["requestContext"]["identity"]["caller"] == "LOCAL"


def test_api_open_run_ignores_signatures_on_an_iam_api(tmp_path: Path) -> None:
    # Given the default (open) run of an AWS_IAM API / When an unsigned request arrives
    resolved = Template.load(write_fake_project(tmp_path, IAM_TEMPLATE)).resolve()
    functions = LocalFunctions(resolved)
    api = local_api.LocalApi(resolved, functions, integration_timeout=5.0)
    try:
        response = api.handle(HttpRequest.from_target("GET", "/where"))
    finally:
        api.close()
        functions.stop_all()
    # Then it is served (plain curl keeps working)
    assert response.status == HTTPStatus.OK
