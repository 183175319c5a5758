"""A tiny SAM project whose function misbehaves on request, and the API Gateway samples.

The fake function is real code in a real child process, so crashes, timeouts
and warm state are the real thing, without the broker's imports.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from ringcx_dev.local.apigw import HttpRequest
from ringcx_dev.local.sigv4 import SigningKey

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "template.yaml"
EVENTS = REPO / "events"

FAKE_APP = textwrap.dedent(
    '''
    """A function that does what the event asks: crash, exit, raise, sleep, echo."""
    import base64
    import json
    import os
    import sys
    import time

    import helper_layer

    CALLS = 0


    def _action(event):
        if "httpMethod" in event:
            query = event.get("queryStringParameters") or {}
            return query.get("action", "echo"), query
        return event.get("action", "echo"), event


    def lambda_handler(event, context):
        global CALLS
        CALLS += 1
        action, args = _action(event)
        if action == "crash":
            print("about to crash hard", flush=True)
            os._exit(3)
        if action == "exit":
            sys.exit(2)
        if action == "raise":
            raise ValueError("boom from the handler")
        if action == "sleep":
            time.sleep(float(args.get("seconds", 5)))
        if action == "malformed":
            return {"statusCode": 200, "body": {"not": "a string"}}
        if action == "unserialisable":
            return {"when": object()}
        if action == "binary":
            return {
                "statusCode": 200,
                "headers": {"Content-Type": "application/octet-stream", "Server": "fn"},
                "body": base64.b64encode(bytes(range(256))).decode(),
                "isBase64Encoded": True,
            }
        info = {
            "pid": os.getpid(),
            "calls": CALLS,
            "layer": helper_layer.NAME,
            "path": sys.path[:2],
            "cwd": os.getcwd(),
            "env": {k: os.environ.get(k) for k in ("GREETING", "AWS_LAMBDA_FUNCTION_NAME", "X")},
            "remainingMs": context.get_remaining_time_in_millis(),
            "requestId": context.aws_request_id,
            "event": event,
        }
        if "httpMethod" in event:
            return {
                "statusCode": 200,
                "headers": {"Content-Type": "application/json"},
                "multiValueHeaders": {"X-Multi": ["a", "b"]},
                "body": json.dumps(info),
            }
        return info
    '''
)

FAKE_TEMPLATE = textwrap.dedent(
    """
    AWSTemplateFormatVersion: "2010-09-09"
    Transform: AWS::Serverless-2016-10-31
    Parameters:
      Greeting:
        Type: String
        Default: hello
    Globals:
      Function:
        Runtime: python3.13
        Handler: app.lambda_handler
        Timeout: 5
        Layers: [!Ref Shared]
        Environment:
          Variables:
            GREETING: !Ref Greeting
    Resources:
      Shared:
        Type: AWS::Serverless::LayerVersion
        Properties:
          ContentUri: layer/
      Api:
        Type: AWS::Serverless::Api
        Properties:
          StageName: test
          BinaryMediaTypes: ["*~1*"]
      Worker:
        Type: AWS::Serverless::Function
        Properties:
          CodeUri: fn/
          Events:
            Everything:
              Type: Api
              Properties:
                RestApiId: !Ref Api
                Path: /{proxy+}
                Method: ANY
      Slow:
        Type: AWS::Serverless::Function
        Properties:
          CodeUri: fn/
          Timeout: 1
      Single:
        Type: AWS::Serverless::Function
        Properties:
          CodeUri: fn/
          ReservedConcurrentExecutions: 1
    """
)


def write_fake_project(root: Path, template: str = FAKE_TEMPLATE) -> Path:
    (root / "fn").mkdir(parents=True, exist_ok=True)
    (root / "layer").mkdir(exist_ok=True)
    (root / "fn" / "app.py").write_text(FAKE_APP)
    (root / "layer" / "helper_layer.py").write_text('NAME = "from-the-layer"\n')
    path = root / "template.yaml"
    path.write_text(template)
    return path


def load_event(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return event


# -- SigV4: requests signed by botocore, as a caller's SDK would sign them -------

SIGNING_KEY = SigningKey("AKIDLOCALTEST", "local-test-secret", "local-test-token")
SIGNING_REGION = "eu-west-1"
SIGNED_HOST = "127.0.0.1:3000"


def signed_request(
    method: str = "GET",
    target: str = "/voice/api/v1/admin/accounts",
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    *,
    key: SigningKey = SIGNING_KEY,
    region: str = SIGNING_REGION,
    service: str = "execute-api",
) -> HttpRequest:
    """The request as it arrives at the local API after botocore signed it."""
    request = AWSRequest(
        method=method,
        url=f"http://{SIGNED_HOST}{target}",
        data=body,
        headers={"Host": SIGNED_HOST, **(headers or {})},
    )
    credentials = Credentials(key.access_key_id, key.secret_access_key, key.session_token)
    SigV4Auth(credentials, service, region).add_auth(request)
    return HttpRequest.from_target(
        method, target, headers=tuple((k, str(v)) for k, v in request.headers.items()), body=body
    )
