"""How requests are named: AWS operations and the simulator's path groups."""

from __future__ import annotations

import pytest

from ringcx_dev.faultproxy import ProxyRequest, aws_operation, path_group


def _request(
    method: str, target: str, headers: tuple[tuple[str, str], ...] = (), body: bytes = b""
) -> ProxyRequest:
    return ProxyRequest.from_target(method, target, headers, body)


@pytest.mark.parametrize(
    ("method", "target", "headers", "expected"),
    [
        ("POST", "/", (("X-Amz-Target", "secretsmanager.GetSecretValue"),), "GetSecretValue"),
        (
            "POST",
            "/",
            (("x-amz-target", "secretsmanager.BatchGetSecretValue"),),
            "BatchGetSecretValue",
        ),
        ("POST", "/", (("X-Amz-Target", "DynamoDB_20120810.GetItem"),), "GetItem"),
        ("POST", "/2015-03-31/functions/ringcx-refresh/invocations", (), "Invoke"),
        (
            "POST",
            "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A1%3Afunction%3Af/invocations?Qualifier=live",
            (),
            "Invoke",
        ),
        ("GET", "/2015-03-31/functions/ringcx-refresh/invocations", (), "other"),
        ("GET", "/2015-03-31/functions/ringcx-refresh", (), "other"),
        ("POST", "/", (), "other"),
    ],
)
def test_aws_operation_names_json_and_rest_operations(
    method: str, target: str, headers: tuple[tuple[str, str], ...], expected: str
) -> None:
    assert aws_operation(_request(method, target, headers)) == expected


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/restapi/oauth/token", "rc_token"),
        ("/api/auth/login/rc/accesstoken?includeRefresh=true", "rcx_exchange"),
        ("/api/auth/token/refresh", "rcx_refresh"),
        ("/voice/api/v1/admin/accounts", "api"),
        ("/voice/api", "api"),
        ("/voice/apix", "other"),
        ("/_sim/counters", "other"),
        ("/", "other"),
    ],
)
def test_path_group_names_the_simulator_endpoints(target: str, expected: str) -> None:
    assert path_group(_request("GET", target)) == expected


@pytest.mark.parametrize(
    ("body", "ids", "batch"),
    [
        (b'{"SecretId": "a"}', ("a",), False),
        (b'{"SecretIdList": ["a", "b"]}', ("a", "b"), True),
        (b'{"SecretIdList": ["a", 3]}', ("a",), True),
        (b"not json", (), False),
        (b"[1]", (), False),
        (b"", (), False),
    ],
)
def test_proxy_request_secret_ids_reads_the_json_body_tolerantly(
    body: bytes, ids: tuple[str, ...], batch: bool
) -> None:
    request = _request("POST", "/", body=body)
    assert (request.secret_ids(), request.is_batch) == (ids, batch)


def test_proxy_request_from_target_keeps_query_encoded() -> None:
    request = _request("get", "/a%2Fb?x=1&y=%20")
    assert (request.method, request.raw_path, request.raw_query) == ("GET", "/a%2Fb", "x=1&y=%20")
    assert request.target == "/a%2Fb?x=1&y=%20"
