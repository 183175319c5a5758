"""The local run's SigV4 check over real HTTP: what curl and a tampering hop see."""

from __future__ import annotations

import json
import shutil
import subprocess
from http import HTTPStatus

import pytest
from botocore.credentials import ReadOnlyCredentials

from ringcx_broker_client.signing import signed_headers
from ringcx_dev.local.runner import LocalRun
from ringcx_dev.local.smoke import http_call

from .conftest import ACCOUNTS, ECHO, KEY, REGION


def _curl_has_sigv4() -> bool:
    curl = shutil.which("curl")
    if curl is None:
        return False
    return (
        "--aws-sigv4"
        in subprocess.run(
            [curl, "--help", "all"], capture_output=True, text=True, check=False
        ).stdout
    )


def _signed(run: LocalRun, method: str, target: str, body: bytes = b"") -> dict[str, str]:
    creds = ReadOnlyCredentials(KEY.access_key_id, KEY.secret_access_key, KEY.session_token)
    return signed_headers(method, run.api_url + target, body, {}, creds, REGION)


def test_local_sigv4_unsigned_request_gets_api_gateways_403(local_broker: LocalRun) -> None:
    status, headers, body = http_call(local_broker.api_url, "GET", ACCOUNTS)
    assert status == HTTPStatus.FORBIDDEN
    assert json.loads(body) == {"message": "Missing Authentication Token"}
    assert headers["x-amzn-errortype"] == "MissingAuthenticationTokenException"


@pytest.mark.parametrize(
    ("sent_target", "sent_body"),
    [
        pytest.param(ECHO + "/other", b"{}", id="path"),
        pytest.param(ECHO + "?a=2", b"{}", id="query"),
        pytest.param(ECHO, b'{"a": 2}', id="body"),
    ],
)
def test_local_sigv4_request_changed_in_transit_gets_403(
    local_broker: LocalRun, sent_target: str, sent_body: bytes
) -> None:
    # Given headers signed for POST /echo?a=1 with body {} / When another request carries them
    headers = _signed(local_broker, "POST", ECHO + "?a=1", b"{}")
    status, answer, body = http_call(
        local_broker.api_url, "POST", sent_target, body=sent_body, headers=headers
    )
    # Then the local API Gateway refuses it as AWS would
    assert status == HTTPStatus.FORBIDDEN
    assert answer["x-amzn-errortype"] == "InvalidSignatureException"
    assert json.loads(body)["message"].startswith("The request signature we calculated")


def test_local_sigv4_signed_request_is_served(local_broker: LocalRun) -> None:
    headers = _signed(local_broker, "POST", ECHO + "?a=1", b"{}")
    status, _, body = http_call(
        local_broker.api_url, "POST", ECHO + "?a=1", body=b"{}", headers=headers
    )
    assert status == HTTPStatus.OK
    assert json.loads(body)["rawQuery"] == "a=1"


@pytest.mark.skipif(not _curl_has_sigv4(), reason="needs curl with --aws-sigv4 (7.75+)")
def test_local_sigv4_curl_aws_sigv4_is_accepted(local_broker: LocalRun) -> None:
    # Given the README's curl call with the accepted key
    done = subprocess.run(
        [
            "curl",
            "-s",
            "--aws-sigv4",
            f"aws:amz:{REGION}:execute-api",
            "--user",
            f"{KEY.access_key_id}:{KEY.secret_access_key}",
            "-H",
            f"x-amz-security-token: {KEY.session_token}",
            local_broker.api_url + ACCOUNTS,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    # Then the accounts come back
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)[0]["accountId"], done.stdout
