"""template.py: the repository's template.yaml, read as SAM would, and bad templates."""

from __future__ import annotations

from pathlib import Path

import pytest

from ringcx_dev.local.template import (
    LocalContext,
    ResolvedTemplate,
    Template,
    TemplateError,
    parse_rate,
)

from .fakes import FAKE_TEMPLATE, TEMPLATE, write_fake_project

DUPLICATE_ROUTE = """
        Again:
          Type: Api
          Properties:
            RestApiId: !Ref Api
            Path: /{proxy+}/
            Method: any"""


def _resolve(parameters: dict[str, str] | None = None) -> ResolvedTemplate:
    template = Template.load(TEMPLATE)
    layout = template.secret_layout()
    physical = {layout.credentials: "arn:creds"} | {s: f"arn:{s}" for s in layout.ring}
    return template.resolve(LocalContext(parameters=parameters or {}, physical_ids=physical))


def test_template_repo_template_routes_come_from_api_events() -> None:
    # Given the repository's template / When resolved
    resolved = _resolve()
    # Then every Api event is a route, with its function
    routes = {(r.method, r.path): r.function for r in resolved.routes}
    assert routes == {
        ("POST", "/auth/exchange"): "ExchangeFunction",
        ("ANY", "/voice/api/{proxy+}"): "ProxyFunction",
        ("GET", "/health"): "ProxyFunction",
        ("GET", "/token"): "ProxyFunction",
    }
    api = resolved.apis["BrokerApi"]
    assert (api.stage, api.binary_media_types, api.default_authorizer) == (
        "v1",
        ("*/*",),
        "AWS_IAM",
    )


def test_template_repo_template_functions_get_globals_and_their_own_environment() -> None:
    resolved = _resolve()
    proxy, refresh = resolved.functions["ProxyFunction"], resolved.functions["RefreshFunction"]
    assert proxy.code_dir == TEMPLATE.parent / "functions" / "proxy"
    assert proxy.handler == "app.lambda_handler"
    assert proxy.layer_dirs == (TEMPLATE.parent / "layers" / "auth",)
    assert proxy.timeout == 30.0
    assert proxy.memory_mb == 256
    # Globals (Join of the ring's Refs, FindInMap) and the function's own variables
    assert proxy.environment["TOKEN_SECRET_IDS"] == ",".join(f"arn:TokenSlot{i}" for i in range(6))
    assert proxy.environment["REFRESH_INTERVAL_SECONDS"] == "60"
    assert proxy.environment["REFRESH_FUNCTION_NAME"] == refresh.name
    assert proxy.environment["UPSTREAM_TIMEOUT_SECONDS"] == "20"
    assert "CREDENTIALS_SECRET_ID" not in proxy.environment
    assert refresh.environment["CREDENTIALS_SECRET_ID"] == "arn:creds"
    assert refresh.environment["RINGCX_SERVER_URL"] == "https://engage.ringcentral.com"
    assert refresh.reserved_concurrency == 1


def test_template_schedule_findinmap_rate_is_parsed_to_seconds() -> None:
    (rule,) = _resolve().schedules
    assert (rule.function, rule.expression, rule.period_seconds) == (
        "RefreshFunction",
        "rate(1 minute)",
        60.0,
    )
    assert rule.enabled and rule.input is None


def test_template_parameter_overrides_flow_into_schedule_env_and_conditions() -> None:
    resolved = _resolve({"RefreshIntervalMinutes": "5", "UseReservedConcurrency": "false"})
    (rule,) = resolved.schedules
    assert (rule.expression, rule.period_seconds) == ("rate(5 minutes)", 300.0)
    assert resolved.functions["ProxyFunction"].environment["REFRESH_INTERVAL_SECONDS"] == "300"
    # !If [ReserveRefresher, 1, !Ref AWS::NoValue] drops the property
    assert resolved.functions["RefreshFunction"].reserved_concurrency is None


def test_template_secret_layout_finds_credentials_and_ring() -> None:
    layout = Template.load(TEMPLATE).secret_layout()
    assert layout.credentials == "CredentialsSecret"
    assert layout.ring == tuple(f"TokenSlot{i}" for i in range(6))


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({"RefreshIntervalMinutes": "7"}, "RefreshIntervalMinutes='7' is not one of"),
        ({"UpstreamTimeoutSeconds": "99"}, "UpstreamTimeoutSeconds=99 is outside"),
        ({"NoSuchParameter": "x"}, "unknown parameter(s) NoSuchParameter"),
    ],
)
def test_template_bad_parameter_override_is_refused(
    parameters: dict[str, str], message: str
) -> None:
    with pytest.raises(TemplateError, match=message.replace("(", r"\(").replace(")", r"\)")):
        _resolve(parameters)


def test_template_secret_ref_without_local_arn_names_the_secret() -> None:
    with pytest.raises(TemplateError, match="!Ref TokenSlot0: the secret has no local ARN"):
        Template.load(TEMPLATE).resolve()


def test_template_missing_file_says_where_it_looked(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(TemplateError, match=f"template not found: {missing}.*--template"):
        Template.load(missing)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Resources: [unclosed", r"not a valid template: .* at line 1"),
        ("Resources:\n  X: !Bogus thing\n", r"!Bogus"),
        ("- just\n- a list\n", "the top level must be a mapping"),
        ("Parameters: {}\n", "it has no Resources section"),
        ("Resources:\n  X:\n    Properties: {}\n", "resource X has no Type"),
        (
            "Resources:\n  L: {Type: AWS::Serverless::LayerVersion, Properties: {ContentUri: .}}\n",
            "no AWS::Serverless::Function resources",
        ),
    ],
)
def test_template_bad_yaml_is_a_clear_error(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "template.yaml"
    path.write_text(text)
    with pytest.raises(TemplateError, match=message):
        Template.load(path).resolve()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("CodeUri: fn/", "CodeUri: missing/"), r"Worker.CodeUri 'missing/' does not exist"),
        (("Handler: app.lambda_handler", "Handler: nope.handler"), r"needs .*nope.py"),
        (("Layers: [!Ref Shared]", "Layers: [arn:aws:lambda:x]"), "a local run cannot load it"),
        (("GREETING: !Ref Greeting", "GREETING: !Ref Nothing"), "!Ref Nothing names no"),
        (("GREETING: !Ref Greeting", "GREETING: !GetAZs ''"), "Fn::GetAZs is not supported"),
        (
            (
                "Method: ANY",
                "Method: ANY" + DUPLICATE_ROUTE,
            ),
            "is served twice",
        ),
    ],
)
def test_template_unusable_function_names_the_problem(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    old, new = change
    assert old in FAKE_TEMPLATE
    path = write_fake_project(tmp_path, FAKE_TEMPLATE.replace(old, new, 1))
    with pytest.raises(TemplateError, match=message):
        Template.load(path).resolve()


@pytest.mark.parametrize(
    ("expression", "seconds"),
    [("rate(1 minute)", 60.0), ("rate(5 minutes)", 300.0), ("rate(2 hours)", 7200.0)],
)
def test_parse_rate_valid_expression_gives_seconds(expression: str, seconds: float) -> None:
    assert parse_rate(expression) == seconds


@pytest.mark.parametrize(
    "expression", ["rate(1 minutes)", "rate(2 minute)", "cron(0 * * * ? *)", "rate(0 minutes)"]
)
def test_parse_rate_invalid_expression_is_refused(expression: str) -> None:
    with pytest.raises(TemplateError, match="rate"):
        parse_rate(expression)


def test_template_sub_join_select_split_resolve_like_cloudformation(tmp_path: Path) -> None:
    text = FAKE_TEMPLATE.replace(
        "GREETING: !Ref Greeting",
        "GREETING: !Sub '${Greeting}-${AWS::Region}-${!Literal}'\n"
        "        JOINED: !Join ['+', [a, !Select [1, !Split [',', 'x,y,z']]]]\n"
        "        ARN: !GetAtt Slow.Arn",
    )
    resolved = Template.load(write_fake_project(tmp_path, text)).resolve(
        LocalContext(stack_name="st", region="eu-west-1")
    )
    env = resolved.functions["Worker"].environment
    assert env["GREETING"] == "hello-eu-west-1-${Literal}"
    assert env["JOINED"] == "a+y"
    assert env["ARN"] == "arn:aws:lambda:eu-west-1:123456789012:function:st-Slow"
