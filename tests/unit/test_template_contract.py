"""template.yaml honours the contract and least privilege (docs/contract.md and
docs/security.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ringcx_dev.local.template import load_document

ROOT = Path(__file__).parents[2]
FUNCTIONS = {"ExchangeFunction": "exchange", "RefreshFunction": "refresh", "ProxyFunction": "proxy"}
SLOTS = [{"Ref": f"TokenSlot{i}"} for i in range(6)]


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_document(ROOT / "template.yaml")


def resource(template: dict[str, Any], logical_id: str) -> dict[str, Any]:
    found: dict[str, Any] = template["Resources"][logical_id]
    return found


def statements(template: dict[str, Any], function: str) -> list[dict[str, Any]]:
    policies = resource(template, function)["Properties"]["Policies"]
    found = [s for p in policies if "Statement" in p for s in p["Statement"]]
    return found


def test_template_functions_follow_the_contract(template: dict[str, Any]) -> None:
    # Given the three functions
    globals_ = template["Globals"]["Function"]
    assert globals_["Runtime"] == "python3.13"
    assert globals_["Handler"] == "app.lambda_handler"
    assert globals_["Layers"] == [{"Ref": "AuthLayer"}]
    for logical_id, folder in FUNCTIONS.items():
        props = resource(template, logical_id)["Properties"]
        # Then each has its own CodeUri and uses the layer
        assert props["CodeUri"] == f"functions/{folder}/"


def test_template_layer_is_built_by_sam_from_a_real_package(template: dict[str, Any]) -> None:
    layer = resource(template, "AuthLayer")
    assert layer["Type"] == "AWS::Serverless::LayerVersion"
    assert layer["Metadata"]["BuildMethod"] == "python3.13"
    assert (ROOT / layer["Properties"]["ContentUri"] / "ringcx_broker" / "__init__.py").is_file()


def test_template_wires_every_resource_name_through_the_environment(
    template: dict[str, Any],
) -> None:
    # Given the variables the auth layer reads
    shared = template["Globals"]["Function"]["Environment"]["Variables"]
    assert shared["TOKEN_SECRET_IDS"] == {"Fn::Join": [",", SLOTS]}
    assert shared["RINGCX_SERVER_URL"] == {"Ref": "RingCXServerUrl"}
    for function in ("ExchangeFunction", "RefreshFunction"):
        env = resource(template, function)["Properties"]["Environment"]["Variables"]
        assert env["CREDENTIALS_SECRET_ID"] == {"Ref": "CredentialsSecret"}
    proxy_env = resource(template, "ProxyFunction")["Properties"]["Environment"]["Variables"]
    assert proxy_env["REFRESH_FUNCTION_NAME"] == {"Ref": "RefreshFunction"}


def test_template_api_is_rest_with_iam_and_binary_media(template: dict[str, Any]) -> None:
    api = resource(template, "BrokerApi")
    assert api["Type"] == "AWS::Serverless::Api"
    assert api["Properties"]["Auth"]["DefaultAuthorizer"] == "AWS_IAM"
    assert api["Properties"]["BinaryMediaTypes"] == ["*~1*"]
    routes = {
        (e["Properties"]["Path"], e["Properties"]["Method"])
        for f in FUNCTIONS
        for e in resource(template, f)["Properties"].get("Events", {}).values()
        if e["Type"] == "Api"
    }
    assert {
        ("/voice/api/{proxy+}", "ANY"),
        ("/health", "GET"),
        ("/auth/exchange", "POST"),
    } <= routes


def test_template_refresher_concurrency_is_switchable(template: dict[str, Any]) -> None:
    props = resource(template, "RefreshFunction")["Properties"]
    assert props["ReservedConcurrentExecutions"] == {
        "Fn::If": ["ReserveRefresher", 1, {"Ref": "AWS::NoValue"}]
    }
    assert template["Parameters"]["UseReservedConcurrency"]["AllowedValues"] == ["true", "false"]


def test_template_proxy_may_only_read_the_ring_and_invoke_the_refresher(
    template: dict[str, Any],
) -> None:
    # Given the proxy's policies
    policies = resource(template, "ProxyFunction")["Properties"]["Policies"]
    # Then: GetSecretValue on the six slots (BatchGetSecretValue, which cannot be
    # scoped, returns only what GetSecretValue allows), and invoke on the refresher only
    assert statements(template, "ProxyFunction") == [
        {
            "Sid": "ReadTokenRing",
            "Effect": "Allow",
            "Action": "secretsmanager:GetSecretValue",
            "Resource": SLOTS,
        },
        {
            "Sid": "ReadTokenRingInOneCall",
            "Effect": "Allow",
            "Action": "secretsmanager:BatchGetSecretValue",
            "Resource": "*",
        },
    ]
    assert {"LambdaInvokePolicy": {"FunctionName": {"Ref": "RefreshFunction"}}} in policies
    assert len(policies) == 2


@pytest.mark.parametrize("function", ["ExchangeFunction", "RefreshFunction"])
def test_template_writers_may_only_use_the_ring_the_credentials_and_their_tags(
    template: dict[str, Any], function: str
) -> None:
    granted = {
        (action, str(res))
        for s in statements(template, function)
        for action in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
        for res in (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]])
    }
    expected = (
        {
            (action, str(slot))
            for action in (
                "secretsmanager:GetSecretValue",
                "secretsmanager:PutSecretValue",
                "secretsmanager:ListSecretVersionIds",  # the write budget counts versions
            )
            for slot in SLOTS
        }
        | {
            (action, str({"Ref": "CredentialsSecret"}))
            for action in (
                "secretsmanager:GetSecretValue",
                "secretsmanager:DescribeSecret",  # the shared auth penalties, read as tags
                "secretsmanager:TagResource",  # ... and written as tags: no secret versions
            )
        }
        | {("secretsmanager:BatchGetSecretValue", "*")}
    )
    assert granted == expected
    assert len(resource(template, function)["Properties"]["Policies"]) == 1


def test_template_alarms_watch_failures_expiry_and_failed_relogins(
    template: dict[str, Any],
) -> None:
    errors = resource(template, "RefreshErrorsAlarm")["Properties"]
    expiry = resource(template, "TokenNearExpiryAlarm")["Properties"]
    relogin = resource(template, "ReloginFailuresAlarm")["Properties"]
    assert errors["MetricName"] == "Errors" and errors["Namespace"] == "AWS/Lambda"
    assert expiry["MetricName"] == "TokenSecondsLeft"
    assert expiry["TreatMissingData"] == "breaching"
    assert (relogin["Namespace"], relogin["MetricName"]) == ("RingcxBroker", "ReloginFailures")
    assert relogin["Threshold"] == 1 and relogin["EvaluationPeriods"] == 1
    for alarm in (errors, expiry, relogin):
        assert alarm["AlarmActions"]["Fn::If"][0] == "HasAlarmTopic"


def test_template_exchange_is_denied_to_all_but_the_admin_principals(
    template: dict[str, Any],
) -> None:
    # Given the API's resource policy
    policy = resource(template, "BrokerApi")["Properties"]["Auth"]["ResourcePolicy"]

    # Then one Deny covers POST /auth/exchange for every principal not named by the
    # parameter, whose default ("*") names everyone; there is no Allow that could widen
    # access beyond the callers' own IAM policies
    assert policy["CustomStatements"] == [
        {
            "Effect": "Deny",
            "Principal": "*",
            "Action": "execute-api:Invoke",
            "Resource": "execute-api:/*/POST/auth/exchange",
            "Condition": {
                "StringNotLike": {"aws:PrincipalArn": {"Ref": "ExchangeAdminPrincipalArns"}}
            },
        }
    ]
    assert template["Parameters"]["ExchangeAdminPrincipalArns"]["Default"] == "*"


def test_template_alarms_on_refused_unplanned_writes(template: dict[str, Any]) -> None:
    alarm = resource(template, "WriteBudgetAlarm")["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"]) == ("RingcxBroker", "WriteBudgetRefusals")


def test_template_snapstart_is_an_opt_in_on_the_proxys_published_alias(
    template: dict[str, Any],
) -> None:
    # Given the proxy function and the parameter
    proxy = resource(template, "ProxyFunction")["Properties"]

    # Then the API calls the "live" alias, and SnapStart is off unless the operator opts in
    assert proxy["AutoPublishAlias"] == "live"
    assert proxy["SnapStart"] == {
        "ApplyOn": {"Fn::If": ["UseSnapStart", "PublishedVersions", "None"]}
    }
    assert template["Parameters"]["EnableSnapStart"]["Default"] == "false"
    assert template["Conditions"]["UseSnapStart"] == {
        "Fn::Equals": [{"Ref": "EnableSnapStart"}, "true"]
    }


def test_template_metrics_are_scoped_to_the_stack(template: dict[str, Any]) -> None:
    """Two stacks in one account and region (staging, prod) must not mix their
    RingcxBroker metrics: the service dimension is the stack's name."""
    # Given the functions' service name and the alarms on the broker's own metrics
    env = template["Globals"]["Function"]["Environment"]["Variables"]
    broker_alarms = [
        r["Properties"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::CloudWatch::Alarm" and r["Properties"]["Namespace"] == "RingcxBroker"
    ]

    # Then both name the stack, never a constant
    assert env["POWERTOOLS_SERVICE_NAME"] == {"Ref": "AWS::StackName"}
    assert len(broker_alarms) == 3
    for alarm in broker_alarms:
        assert alarm["Dimensions"] == [{"Name": "service", "Value": {"Ref": "AWS::StackName"}}]
