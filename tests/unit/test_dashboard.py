"""The CloudWatch dashboard and the alarms watch metrics that really exist.

A graph of a metric nobody emits stays empty and an alarm on it never fires,
so a metric renamed in the code (or a log message reworded under a metric
filter) must fail here. The negative tests below rename things in copies of
the real code and template and check that the drift check names them.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ringcx_broker.convergence import ReloginReason
from ringcx_dev.dashboard import (
    CodeInventory,
    DashboardError,
    drift_problems,
    load_dashboard,
    repository_inventory,
    scan_source,
)
from ringcx_dev.dashboard.code_inventory import scan_files, source_files
from ringcx_dev.local.template import load_document

ROOT = Path(__file__).parents[2]
LAYER = ROOT / "layers" / "auth" / "ringcx_broker"
REFRESHER = LAYER / "refresher.py"
TOKEN_SOURCE = LAYER / "proxy" / "token_source.py"
WRITE_BUDGET = LAYER / "write_budget.py"
FUNCTIONS = ("RefreshFunction", "ProxyFunction", "ExchangeFunction")
Document = dict[str, Any]


@pytest.fixture(scope="module")
def template() -> Document:
    return load_document(ROOT / "template.yaml")


@pytest.fixture(scope="module")
def code() -> CodeInventory:
    return repository_inventory(ROOT)


def inventory_with(path: Path, old: str, new: str) -> CodeInventory:
    """The repository's inventory, with ``path`` read as if ``old`` were ``new``."""
    text = path.read_text(encoding="utf-8")
    assert old in text
    others = [p for p in source_files(ROOT) if p != path]
    return scan_files(others) | scan_source(text.replace(old, new), str(path))


def with_body(template: Document, old: str, new: str) -> Document:
    """A copy of the template whose dashboard body has ``old`` replaced by ``new``."""
    changed = copy.deepcopy(template)
    sub = changed["Resources"]["BrokerDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    assert old in sub[0]
    sub[0] = sub[0].replace(old, new)
    return changed


def test_dashboard_template_and_code_agree_no_drift(
    template: Document, code: CodeInventory
) -> None:
    # Given the real template and the real code
    # When the drift check compares them
    problems = drift_problems(template, code)

    # Then it finds nothing, and it did look at the refresher's metrics
    assert problems == []
    assert {"Refreshes", "TokenSecondsLeft", "WriteBudgetRefusals"} <= code.metrics


@pytest.mark.parametrize("metric", ["Refreshes", "TokenSecondsLeft", "ReloginFailures"])
def test_dashboard_metric_renamed_in_the_code_is_reported(template: Document, metric: str) -> None:
    # Given the refresher's source with one metric renamed
    code = inventory_with(REFRESHER, f'_metric("{metric}"', f'_metric("{metric}V2"')

    # When the drift check runs against it
    problems = "\n".join(drift_problems(template, code))

    # Then the old name is watched by nobody's emission, and the new one is shown nowhere
    assert f"RingcxBroker/{metric}, which the code does not emit" in problems
    assert f"RingcxBroker/{metric}V2 is emitted but no dashboard widget shows it" in problems


def test_dashboard_metric_also_made_by_a_filter_renamed_in_the_code_is_reported(
    template: Document,
) -> None:
    # Given the refresher's WriteBudgetRefusals renamed (the exchange's filter
    # still makes the old name, so the alarm would miss the refresher's refusals)
    code = inventory_with(REFRESHER, '_metric("WriteBudgetRefusals"', '_metric("BudgetRefusals"')

    # Then the new name is reported as shown nowhere
    assert "RingcxBroker/BudgetRefusals is emitted but no dashboard widget shows it" in (
        drift_problems(template, code)
    )


def test_dashboard_alarm_on_a_renamed_metric_is_reported(template: Document) -> None:
    # Given ReloginFailures renamed in the code (only its alarm and one widget use it)
    code = inventory_with(REFRESHER, '_metric("ReloginFailures"', '_metric("LoginFailures"')

    # Then the alarm is named among those watching a metric nobody emits
    assert any(
        p.startswith("alarm ReloginFailuresAlarm names") for p in drift_problems(template, code)
    )


def test_dashboard_relogin_metrics_follow_the_reason_enum() -> None:
    # Given the refresher's per-cause metric, an f-string over ReloginReason
    found = scan_source('self._metric(f"Relogin{reason}", "Count", 1)', "refresher.py")

    # Then it is one metric per reason
    assert found.metrics == {f"Relogin{reason}" for reason in ReloginReason}
    assert "ReloginDeadRefreshToken" in found.metrics


@pytest.mark.parametrize(
    "source",
    [
        'self._metric(f"Rotation{kind}", "Count", 1)',  # an f-string prefix nobody registered
        'self._metric(name, "Count", 1)',  # a computed name
    ],
)
def test_dashboard_unreadable_metric_name_raises(source: str) -> None:
    with pytest.raises(DashboardError, match="metric name"):
        scan_source(source, "somewhere.py")


def test_dashboard_scanner_reads_literal_log_messages_only() -> None:
    # Given logger calls with literal, concatenated and formatted messages
    source = "\n".join(
        [
            'logger.warning("Token ring unreadable", extra={"a": 1})',
            'logger.error("Two parts " "joined")',
            'logger.info(f"generation {g}")',
            'print("not a log line")',
        ]
    )

    # Then only the literal messages count
    assert scan_source(source, "x.py").messages == {"Token ring unreadable", "Two parts joined"}


def test_dashboard_filter_on_a_renamed_exception_class_is_reported(template: Document) -> None:
    # Given the write budget's refusal renamed (the exchange logs the class name as "error")
    code = inventory_with(WRITE_BUDGET, "class WriteBudgetExceeded(", "class BudgetExceeded(")

    # Then the filter that counts the exchange's refusals by that name is reported
    assert (
        "ExchangeWriteBudgetRefusalsFilter matches the error 'WriteBudgetExceeded', "
        "which is no class of the code" in drift_problems(template, code)
    )


def test_dashboard_filter_on_a_reworded_log_message_is_reported(template: Document) -> None:
    # Given the proxy's log message reworded
    old = "Token ring unreadable during a health check"
    code = inventory_with(TOKEN_SOURCE, f'"{old}"', '"Ring unreadable during a health check"')

    # Then the metric filter that matched it is reported
    assert (
        f"ProxyRingReadFailuresFilter matches the message {old!r}, which the code never logs"
        in (drift_problems(template, code))
    )


def _add_alarm(template: Document) -> None:
    template["Resources"]["ExtraAlarm"] = copy.deepcopy(template["Resources"]["WriteBudgetAlarm"])


def _alarm_on_unknown_metric(template: Document) -> None:
    template["Resources"]["TokenNearExpiryAlarm"]["Properties"]["MetricName"] = "TokenSecondsLeftX"


def _api_with_a_name(template: Document) -> None:
    template["Resources"]["BrokerApi"]["Properties"]["Name"] = "broker-api"


def _filter_without_dimension(template: Document) -> None:
    props = template["Resources"]["ExchangeFailuresFilter"]["Properties"]
    del props["MetricTransformations"][0]["Dimensions"]


def _filter_on_another_message(template: Document) -> None:
    props = template["Resources"]["ProxyStaleTokenServedFilter"]["Properties"]
    props["FilterPattern"] = '{ $.message = "Serving a stale token" }'


def _filter_on_a_foreign_log_group(template: Document) -> None:
    props = template["Resources"]["ProxyRingReadFailuresFilter"]["Properties"]
    props["LogGroupName"] = "/aws/apigateway/access"


def _function_without_its_log_group(template: Document) -> None:
    del template["Resources"]["ProxyFunction"]["Properties"]["LoggingConfig"]


def _functions_sharing_a_log_group(template: Document) -> None:
    config = template["Resources"]["ExchangeFunction"]["Properties"]["LoggingConfig"]
    config["LogGroup"] = {"Ref": "ProxyLogGroup"}


def _service_name_constant(template: Document) -> None:
    env = template["Globals"]["Function"]["Environment"]["Variables"]
    env["POWERTOOLS_SERVICE_NAME"] = "ringcx-broker"


def _alarm_on_a_constant_service(template: Document) -> None:
    props = template["Resources"]["WriteBudgetAlarm"]["Properties"]
    props["Dimensions"] = [{"Name": "service", "Value": "ringcx-broker"}]


def _dashboard_without_a_filter_metric(template: Document) -> None:
    del template["Resources"]["ProxyRefresherNotDeliveredFilter"]


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (_add_alarm, "alarm ExtraAlarm is missing from the alarm widget"),
        (
            _alarm_on_unknown_metric,
            "alarm TokenNearExpiryAlarm names RingcxBroker/TokenSecondsLeftX",
        ),
        (_api_with_a_name, "AWS/ApiGateway Count has dimensions"),
        (_filter_without_dimension, "ExchangeFailuresFilter must publish with the dimension"),
        (_filter_on_another_message, "matches the message 'Serving a stale token'"),
        (
            _filter_on_a_foreign_log_group,
            "ProxyRingReadFailuresFilter reads /aws/apigateway/access, which is not the "
            "LoggingConfig.LogGroup of exactly one function",
        ),
        (_function_without_its_log_group, "ProxyFunction sends its logs to no log group"),
        (_function_without_its_log_group, "ProxyStaleTokenServedFilter reads ProxyLogGroup"),
        (
            _functions_sharing_a_log_group,
            "log group ProxyLogGroup is shared by ['ExchangeFunction', 'ProxyFunction']",
        ),
        (
            _service_name_constant,
            "widget 'Rate-limit events': RingcxBroker/WriteBudgetRefusals has dimensions "
            "{'service': '${AWS::StackName}'}, but it is published with "
            "{'service': 'ringcx-broker'} only",
        ),
        (_service_name_constant, "alarm TokenNearExpiryAlarm: RingcxBroker/TokenSecondsLeft has"),
        (
            _alarm_on_a_constant_service,
            "alarm WriteBudgetAlarm: RingcxBroker/WriteBudgetRefusals has dimensions "
            "{'service': 'ringcx-broker'}",
        ),
        (_dashboard_without_a_filter_metric, "RingcxBroker/ProxyRefresherNotDelivered, which"),
    ],
)
def test_dashboard_mutated_template_is_reported(
    template: Document,
    code: CodeInventory,
    mutate: Callable[[Document], None],
    expected: str,
) -> None:
    # Given a copy of the template with one thing changed
    changed = copy.deepcopy(template)
    mutate(changed)

    # When the drift check runs, then it names the change
    problems = drift_problems(changed, code)
    assert any(expected in p for p in problems), problems


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ('"${WriteBudgetAlarm.Arn}"', '"${RefreshErrorsAlarm.Arn}"', "WriteBudgetAlarm is missing"),
        ('"${ExchangeFunction}"', '"${ExchangeFn}"', "${ExchangeFn} names nothing in the template"),
        ('"Stage", "v1", {"label": "requests"}', '"Stage", "Prod", {"label": "requests"}',
         "AWS/ApiGateway Count has dimensions"),
        ('"service", "${AWS::StackName}", {"label": "seconds left"}',
         '"service", "ringcx-broker", {"label": "seconds left"}',
         "TokenSecondsLeft has dimensions {'service': 'ringcx-broker'}"),
        ('"service", "${AWS::StackName}", {"label": "seconds left"}',
         '"service", "${AWS::StackName}-prod", {"label": "seconds left"}',
         "TokenSecondsLeft has dimensions {'service': '${AWS::StackName}-prod'}"),
        ('["RingcxBroker", "SlotsSkipped", "service", "${AWS::StackName}", {"label": "generations '
         'skipped"}],', "", "RingcxBroker/SlotsSkipped is emitted but no dashboard widget"),
        ('{"type": "alarm", "x": 8, "y": 0', '{"type": "alarm", "x": 4, "y": 0',
         "widgets 'Token seconds left (newest generation)' and 'Alarms' overlap"),
        ('{"type": "alarm", "x": 8, "y": 0', '{"type": "alarm", "x": 20, "y": 30',
         "widget 'Alarms' runs past column 24"),
    ],
)  # fmt: skip
def test_dashboard_mutated_body_is_reported(
    template: Document, code: CodeInventory, old: str, new: str, expected: str
) -> None:
    problems = drift_problems(with_body(template, old, new), code)
    assert any(expected in p for p in problems), problems


def test_dashboard_lambda_widgets_cover_every_function(
    template: Document, code: CodeInventory
) -> None:
    # Given the proxy dropped from the duration widget
    changed = with_body(
        template,
        '["AWS/Lambda", "Duration", "FunctionName", "${ProxyFunction}", {"label": "proxy"}],',
        "",
    )

    # Then the gap is named
    assert "no widget shows AWS/Lambda Duration for ['${ProxyFunction}']" in drift_problems(
        changed, code
    )


@pytest.mark.parametrize(
    ("old", "new", "match"),
    [
        ('"widgets": [', '"widgets": [[', "not JSON"),
        ('["RingcxBroker", "ForcedRotations", "service", "${AWS::StackName}"]',
         '[".", "ForcedRotations", ".", "."]', "shorthand"),
        ('{"type": "alarm"', '{"type": "log"', "widget type 'log'"),
    ],
)  # fmt: skip
def test_dashboard_body_it_cannot_read_raises(
    template: Document, old: str, new: str, match: str
) -> None:
    with pytest.raises(DashboardError, match=match):
        load_dashboard(with_body(template, old, new))


def test_dashboard_substitutes_its_variables_and_keeps_deploy_time_placeholders(
    template: Document,
) -> None:
    # Given the dashboard as the template defines it
    dashboard = load_dashboard(template)

    # Then the tick length is the default schedule's, and names stay placeholders
    (token,) = (w for w in dashboard.widgets if w.title.startswith("Token seconds left"))
    assert token.period == 60 and [a.value for a in token.annotations] == [60.0]
    assert dashboard.name == "${AWS::StackName}-ringcx-broker"
    assert {"AWS::Region", "AWS::StackName", "RefreshFunction", "WriteBudgetAlarm.Arn"} <= set(
        dashboard.placeholders
    )


def test_dashboard_log_groups_are_the_functions_own_with_a_retention(template: Document) -> None:
    # Given the template's log groups and the functions' logging configuration
    groups = {
        logical_id: resource["Properties"]
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Logs::LogGroup"
    }
    configs = {f: template["Resources"][f]["Properties"]["LoggingConfig"] for f in FUNCTIONS}

    # Then each function logs, as plain text (Powertools' JSON lines as written),
    # to its own group, named after the stack and the function, kept 30 days
    assert configs == {
        f: {"LogFormat": "Text", "LogGroup": {"Ref": f.replace("Function", "LogGroup")}}
        for f in FUNCTIONS
    }
    assert groups == {
        f.replace("Function", "LogGroup"): {
            "LogGroupName": {"Fn::Sub": f"/aws/lambda/${{AWS::StackName}}/{f}"},
            "RetentionInDays": 30,
        }
        for f in FUNCTIONS
    }
    assert "LoggingConfig" not in template["Globals"]["Function"]


def test_dashboard_log_groups_cannot_collide_with_the_groups_lambda_creates(
    template: Document,
) -> None:
    """Lambda creates ``/aws/lambda/<function name>`` on a function's first log
    line, and a stack that declares a group of that name fails to update an
    existing deployment ("already exists"). A function name holds no "/", so
    a group with one more path segment is never Lambda's own."""
    for resource in template["Resources"].values():
        if resource["Type"] != "AWS::Logs::LogGroup":
            continue
        name = resource["Properties"]["LogGroupName"]["Fn::Sub"]
        assert name.startswith("/aws/lambda/${AWS::StackName}/")
        assert "/" in name.removeprefix("/aws/lambda/")
        # ... and it names no function, so function -> group is the only dependency
        assert not any(f"${{{f}" in name for f in FUNCTIONS)


def test_dashboard_url_is_a_stack_output(template: Document) -> None:
    url = template["Outputs"]["DashboardUrl"]["Value"]["Fn::Sub"]
    assert url.endswith("#dashboards:name=${BrokerDashboard}")


def sam_translation(template: Document, monkeypatch: pytest.MonkeyPatch) -> Document:
    """The template as SAM would translate it (local code URIs stand in for S3)."""
    from samtranslator.translator.transform import transform

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    document = copy.deepcopy(template)
    for resource in document["Resources"].values():
        for key in ("CodeUri", "ContentUri"):
            if key in resource.get("Properties", {}):
                resource["Properties"][key] = "s3://bucket/key"

    class NoManagedPolicies:
        def load(self) -> dict[str, str]:
            return {}

    translated: Document = transform(document, {}, NoManagedPolicies())
    return translated


def test_dashboard_functions_keep_their_log_group_through_sam(
    template: Document, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SAM passes LoggingConfig through to the Lambda function, and its default
    role's AWSLambdaBasicExecutionRole may write any group, this one too."""
    # Given the template as SAM would translate it
    resources = sam_translation(template, monkeypatch)["Resources"]

    for function in FUNCTIONS:
        # Then each Lambda function sends its logs to its own group, as plain text
        props = resources[function]["Properties"]
        group = function.replace("Function", "LogGroup")
        assert props["LoggingConfig"] == {"LogFormat": "Text", "LogGroup": {"Ref": group}}
        role = resources[props["Role"]["Fn::GetAtt"][0]]["Properties"]
        assert any(
            "AWSLambdaBasicExecutionRole" in json.dumps(arn) for arn in role["ManagedPolicyArns"]
        )


def test_dashboard_api_name_is_the_name_sam_gives_the_rest_api(
    template: Document, monkeypatch: pytest.MonkeyPatch
) -> None:
    """API Gateway names a REST API built from an OpenAPI body without ``Name``
    after the body's ``info.title``; SAM's generated body titles it with the
    stack name. The dashboard's ApiName relies on both, so check SAM's output."""
    # Given the template as SAM would translate it
    translated = sam_translation(template, monkeypatch)
    api = translated["Resources"]["BrokerApi"]
    stages = [
        r["Properties"]["StageName"]
        for r in translated["Resources"].values()
        if r["Type"] == "AWS::ApiGateway::Stage"
    ]

    # Then the REST API has no Name, its title is the stack name, and its stage is v1
    assert api["Type"] == "AWS::ApiGateway::RestApi"
    assert "Name" not in api["Properties"]
    assert api["Properties"]["Body"]["info"]["title"] == {"Ref": "AWS::StackName"}
    assert stages == ["v1"]
    api_metrics = [
        m for _, m in load_dashboard(template).metrics if m.namespace == "AWS/ApiGateway"
    ]
    assert {m.dimensions for m in api_metrics} == {
        (("ApiName", "${AWS::StackName}"), ("Stage", "v1"))
    }
