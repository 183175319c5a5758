"""lambda_api.py: plain boto3 ``lambda.invoke`` against the local functions."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from ringcx_dev.local import lambda_api
from ringcx_dev.local.functions import LocalFunctions
from ringcx_dev.local.httpserver import LoopbackServer
from ringcx_dev.local.template import ResolvedTemplate

if TYPE_CHECKING:
    from mypy_boto3_lambda import LambdaClient


@pytest.fixture
def server(fake_functions: LocalFunctions) -> Iterator[LoopbackServer]:
    served = lambda_api.serve(lambda_api.LambdaApi(fake_functions, "us-east-1", "123456789012"))
    yield served
    served.stop()


@pytest.fixture
def client(server: LoopbackServer) -> LambdaClient:
    return boto3.client(
        "lambda",
        endpoint_url=server.url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"total_max_attempts": 1}),
    )


def test_invoke_by_name_returns_the_handlers_result(
    client: LambdaClient, fake_resolved: ResolvedTemplate
) -> None:
    name = fake_resolved.functions["Worker"].name
    reply = client.invoke(FunctionName=name, Payload=json.dumps({"hello": "world"}))
    assert reply["StatusCode"] == 200
    assert reply["ExecutedVersion"] == "$LATEST"
    assert "FunctionError" not in reply
    result = json.loads(reply["Payload"].read())
    assert result["event"] == {"hello": "world"}


def test_invoke_by_arn_and_empty_payload_gets_empty_object(
    client: LambdaClient, fake_resolved: ResolvedTemplate
) -> None:
    reply = client.invoke(FunctionName=fake_resolved.functions["Worker"].arn)
    assert json.loads(reply["Payload"].read())["event"] == {}


def test_invoke_handler_error_is_200_with_function_error_unhandled(
    client: LambdaClient, fake_resolved: ResolvedTemplate
) -> None:
    reply = client.invoke(
        FunctionName=fake_resolved.functions["Worker"].name, Payload=b'{"action": "raise"}'
    )
    assert (reply["StatusCode"], reply["FunctionError"]) == (200, "Unhandled")
    error = json.loads(reply["Payload"].read())
    assert (error["errorType"], error["errorMessage"]) == ("ValueError", "boom from the handler")


def test_invoke_crash_is_a_runtime_exit_error(
    client: LambdaClient, fake_resolved: ResolvedTemplate
) -> None:
    reply = client.invoke(
        FunctionName=fake_resolved.functions["Worker"].name, Payload=b'{"action": "crash"}'
    )
    assert reply["FunctionError"] == "Unhandled"
    assert json.loads(reply["Payload"].read())["errorType"] == "Runtime.ExitError"


def test_invoke_unknown_function_is_resource_not_found(client: LambdaClient) -> None:
    with pytest.raises(ClientError) as caught:
        client.invoke(FunctionName="no-such-function")
    error = caught.value.response
    assert error["Error"]["Code"] == "ResourceNotFoundException"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert "Function not found" in error["Error"]["Message"]


def test_invoke_unknown_qualifier_is_resource_not_found(
    client: LambdaClient, fake_resolved: ResolvedTemplate
) -> None:
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        client.invoke(FunctionName=fake_resolved.functions["Worker"].name, Qualifier="prod")


def test_invoke_busy_reserved_function_is_throttled_429(
    client: LambdaClient, fake_functions: LocalFunctions
) -> None:
    single = fake_functions["Single"]
    single.container.warm()
    busy = threading.Thread(
        target=single.invoke, args=(json.dumps({"action": "sleep", "seconds": 1}),)
    )
    busy.start()
    try:
        while not single.container.busy:
            time.sleep(0.01)
        with pytest.raises(ClientError) as caught:
            client.invoke(FunctionName=single.spec.name, Payload=b"{}")
    finally:
        busy.join()
    error = caught.value.response
    assert error["Error"]["Code"] == "TooManyRequestsException"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert error.get("Reason") == "ReservedFunctionConcurrentInvocationLimitExceeded"
    assert error.get("Type") == "User"


def test_invoke_invalid_json_payload_is_invalid_request_content(
    client: LambdaClient, fake_resolved: ResolvedTemplate
) -> None:
    with pytest.raises(ClientError, match="InvalidRequestContentException"):
        client.invoke(FunctionName=fake_resolved.functions["Worker"].name, Payload=b"{nope")


def test_invoke_event_type_is_accepted_and_runs_later(
    client: LambdaClient, fake_functions: LocalFunctions
) -> None:
    worker = fake_functions["Worker"]
    reply = client.invoke(FunctionName=worker.spec.name, InvocationType="Event", Payload=b"{}")
    assert reply["StatusCode"] == 202
    deadline = time.monotonic() + 5
    while worker.container.pid is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert worker.container.pid is not None


def test_invoke_dry_run_does_not_run(client: LambdaClient, fake_functions: LocalFunctions) -> None:
    worker = fake_functions["Worker"]
    reply = client.invoke(FunctionName=worker.spec.name, InvocationType="DryRun")
    assert reply["StatusCode"] == 204
    assert worker.container.starts == 0
