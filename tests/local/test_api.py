"""api.py: the local REST API over real loopback HTTP, in front of fake functions."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from http import HTTPStatus

import pytest

from ringcx_dev.local import api as local_api
from ringcx_dev.local.functions import LocalFunctions
from ringcx_dev.local.httpserver import LoopbackServer
from ringcx_dev.local.smoke import http_call
from ringcx_dev.local.template import ResolvedTemplate


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
