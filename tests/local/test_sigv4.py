"""sigv4.py: signatures checked as API Gateway's AWS_IAM auth checks them.

Requests are signed by botocore (what a caller's SDK does) and then, for the
bad cases, changed the way a broken signer or a tampering hop would change them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import time
from collections.abc import Callable

import pytest

from ringcx_dev.local.apigw import Caller, HttpRequest
from ringcx_dev.local.sigv4 import (
    DEFAULT_ACCESS_KEY_ID,
    DEFAULT_SECRET_ACCESS_KEY,
    DEFAULT_SESSION_TOKEN,
    SignatureRejected,
    SigningKey,
    SigV4Verifier,
)

from .fakes import SIGNING_KEY, SIGNING_REGION, signed_request

MISMATCH = "The request signature we calculated does not match the signature you provided."
INVALID_TOKEN = "The security token included in the request is invalid."


def _verifier(clock: Callable[[], float] = time.time) -> SigV4Verifier:
    return SigV4Verifier(SIGNING_KEY, SIGNING_REGION, account_id="111122223333", clock=clock)


def _rejection(request: HttpRequest, verifier: SigV4Verifier | None = None) -> SignatureRejected:
    with pytest.raises(SignatureRejected) as caught:
        (verifier or _verifier()).verify(request)
    return caught.value


def _with_header(request: HttpRequest, name: str, value: str | None) -> HttpRequest:
    kept = tuple((k, v) for k, v in request.headers if k.lower() != name.lower())
    added = () if value is None else ((name, value),)
    return dataclasses.replace(request, headers=kept + added)


def test_verifier_signed_request_returns_the_signer() -> None:
    # Given a request botocore signed with the accepted key
    request = signed_request("POST", "/voice/api/v1/echo?b=2&a=x%20y", b'{"a": 1}')
    # When verified / Then the caller is the key's, as API Gateway reports it
    assert _verifier().verify(request) == Caller(
        access_key=SIGNING_KEY.access_key_id,
        account_id="111122223333",
        user_arn="arn:aws:iam::111122223333:user/local",
        caller=SIGNING_KEY.access_key_id,
    )


def test_verifier_unsigned_request_is_missing_authentication_token() -> None:
    rejected = _rejection(HttpRequest.from_target("GET", "/health"))
    assert (rejected.error_type, rejected.message) == (
        "MissingAuthenticationTokenException",
        "Missing Authentication Token",
    )


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda r: dataclasses.replace(r, raw_path="/voice/api/v1/admin/x"), id="path"),
        pytest.param(lambda r: dataclasses.replace(r, raw_query="a=x%20y&b=3"), id="query"),
        pytest.param(lambda r: dataclasses.replace(r, body=b'{"a": 2}'), id="body"),
        pytest.param(lambda r: dataclasses.replace(r, method="PUT"), id="method"),
        pytest.param(lambda r: _with_header(r, "Content-Type", "text/plain"), id="signed-header"),
    ],
)
def test_verifier_request_changed_after_signing_is_a_signature_mismatch(
    tamper: Callable[[HttpRequest], HttpRequest],
) -> None:
    # Given a signed request / When one signed part changes on the way
    request = signed_request(
        "POST",
        "/voice/api/v1/echo?b=2&a=x%20y",
        b'{"a": 1}',
        headers={"Content-Type": "application/json"},
    )
    rejected = _rejection(tamper(request))
    # Then API Gateway's mismatch answer, with the canonical request but no credential
    assert rejected.error_type == "InvalidSignatureException"
    assert rejected.message.startswith(MISMATCH)
    assert "The Canonical String for this request should have been" in rejected.message
    assert "x-amz-security-token:<the session token>" in rejected.message
    assert SIGNING_KEY.session_token is not None
    assert SIGNING_KEY.session_token not in rejected.message
    assert SIGNING_KEY.secret_access_key not in rejected.message


def test_verifier_unsigned_header_may_change() -> None:
    # Given a request whose User-Agent botocore did not sign
    request = signed_request(headers={"User-Agent": "sdk/1"})
    # When a hop rewrites it / Then the signature still holds, as in AWS
    assert _verifier().verify(_with_header(request, "User-Agent", "proxy/2")).caller


def test_verifier_body_changed_with_its_old_payload_hash_is_a_mismatch() -> None:
    # Given a request that sends (and signs) the hash of its body
    body = b'{"a": 1}'
    request = signed_request(
        "POST",
        "/voice/api/v1/echo",
        body,
        {"X-Amz-Content-SHA256": hashlib.sha256(body).hexdigest()},
    )
    # When the body is replaced but the old hash kept / Then the signature fails
    rejected = _rejection(dataclasses.replace(request, body=b'{"a": 2}'))
    assert rejected.message.startswith(MISMATCH)


@pytest.mark.parametrize(
    ("key", "error_type", "message"),
    [
        pytest.param(
            dataclasses.replace(SIGNING_KEY, access_key_id="AKIDOTHER"),
            "UnrecognizedClientException",
            INVALID_TOKEN,
            id="unknown-access-key",
        ),
        pytest.param(
            dataclasses.replace(SIGNING_KEY, secret_access_key="not-the-secret"),
            "InvalidSignatureException",
            MISMATCH,
            id="wrong-secret",
        ),
        pytest.param(
            dataclasses.replace(SIGNING_KEY, session_token=None),
            "UnrecognizedClientException",
            INVALID_TOKEN,
            id="no-session-token",
        ),
        pytest.param(
            dataclasses.replace(SIGNING_KEY, session_token="another-token"),
            "UnrecognizedClientException",
            INVALID_TOKEN,
            id="wrong-session-token",
        ),
    ],
)
def test_verifier_wrong_key_is_refused(key: SigningKey, error_type: str, message: str) -> None:
    rejected = _rejection(signed_request(key=key))
    assert rejected.error_type == error_type
    assert rejected.message.startswith(message)


@pytest.mark.parametrize(
    ("region", "service", "message"),
    [
        (
            "us-west-2",
            "execute-api",
            "Credential should be scoped to a valid region, not 'us-west-2'. ",
        ),
        (
            SIGNING_REGION,
            "lambda",
            "Credential should be scoped to correct service: 'execute-api'. ",
        ),
    ],
)
def test_verifier_wrong_region_or_service_is_refused(
    region: str, service: str, message: str
) -> None:
    rejected = _rejection(signed_request(region=region, service=service))
    assert (rejected.error_type, rejected.message) == ("InvalidSignatureException", message)


@pytest.mark.parametrize(
    ("offset", "message"),
    [
        pytest.param(301.0, r"^Signature expired: \d{8}T\d{6}Z is now earlier than ", id="stale"),
        pytest.param(
            -301.0, r"^Signature not yet current: \d{8}T\d{6}Z is still later than ", id="future"
        ),
    ],
)
def test_verifier_date_beyond_five_minutes_is_refused(offset: float, message: str) -> None:
    # Given a request signed now / When checked by a clock more than 5 minutes away
    request = signed_request()
    rejected = _rejection(request, _verifier(clock=lambda: time.time() + offset))
    # Then API Gateway's expiry answer
    assert rejected.error_type == "InvalidSignatureException"
    assert re.match(message, rejected.message)


@pytest.mark.parametrize("offset", [-290.0, 290.0])
def test_verifier_date_within_five_minutes_is_accepted(offset: float) -> None:
    request = signed_request()
    assert _verifier(clock=lambda: time.time() + offset).verify(request).caller


@pytest.mark.parametrize(
    ("change", "message"),
    [
        pytest.param(
            lambda r: _with_header(r, "Authorization", "Bearer not-a-signature"),
            "Invalid key=value pair (missing equal-sign) in Authorization header",
            id="bearer",
        ),
        pytest.param(
            lambda r: _with_header(
                r, "Authorization", re.sub(r", Signature=\w+", "", r.header("authorization") or "")
            ),
            "Authorization header requires 'Signature' parameter.",
            id="no-signature",
        ),
        pytest.param(
            lambda r: _with_header(r, "X-Amz-Date", None),
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
            id="no-date",
        ),
    ],
)
def test_verifier_incomplete_signature_is_refused_without_echoing_the_header(
    change: Callable[[HttpRequest], HttpRequest], message: str
) -> None:
    rejected = _rejection(change(signed_request()))
    assert rejected.error_type == "IncompleteSignatureException"
    assert rejected.message.startswith(message)
    assert "not-a-signature" not in rejected.message


def test_verifier_host_not_signed_is_refused() -> None:
    request = signed_request()
    header = (request.header("authorization") or "").replace(
        "SignedHeaders=host;", "SignedHeaders="
    )
    rejected = _rejection(_with_header(request, "Authorization", header))
    assert rejected.message.startswith("'Host' or ':authority' must be a 'SignedHeader'")


def test_verifier_rejection_is_api_gateways_403() -> None:
    response = _rejection(signed_request(region="us-west-2")).response("req-1")
    assert response.status == 403
    assert response.json() == {
        "message": "Credential should be scoped to a valid region, not 'us-west-2'. "
    }
    assert response.header("x-amzn-ErrorType") == "InvalidSignatureException"
    assert response.header("x-amzn-RequestId") == "req-1"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        pytest.param(
            {
                "AWS_ACCESS_KEY_ID": "AKID1",
                "AWS_SECRET_ACCESS_KEY": "s1",
                "AWS_SESSION_TOKEN": "t1",
            },
            ("AKID1", "s1", "t1", "environment"),
            id="environment-with-token",
        ),
        pytest.param(
            {"AWS_ACCESS_KEY_ID": "AKID1", "AWS_SECRET_ACCESS_KEY": "s1"},
            ("AKID1", "s1", None, "environment"),
            id="environment-without-token",
        ),
        pytest.param(
            {"AWS_ACCESS_KEY_ID": "AKID1"},
            (DEFAULT_ACCESS_KEY_ID, DEFAULT_SECRET_ACCESS_KEY, DEFAULT_SESSION_TOKEN, "defaults"),
            id="half-set-means-defaults",
        ),
        pytest.param(
            {},
            (DEFAULT_ACCESS_KEY_ID, DEFAULT_SECRET_ACCESS_KEY, DEFAULT_SESSION_TOKEN, "defaults"),
            id="empty",
        ),
    ],
)
def test_signing_key_from_env_prefers_a_complete_caller_key(
    env: dict[str, str], expected: tuple[str, str, str | None, str]
) -> None:
    key = SigningKey.from_env(env)
    assert (key.access_key_id, key.secret_access_key, key.session_token, key.source) == expected
    assert "secret" not in repr(key) and "token" not in repr(key)
