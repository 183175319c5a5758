"""Does the dashboard (and every alarm) watch metrics that really exist?

A CloudWatch graph of a metric nobody emits is an empty graph, not an error,
and an alarm on it sits in OK (or INSUFFICIENT_DATA) forever: a renamed
metric silently blinds the operators. ``drift_problems`` compares the
template with the code and lists every mismatch:

- each broker metric a widget or an alarm names is emitted by the code or
  produced by one of the template's metric filters, with the dimension the
  code gives it (``service``, from ``POWERTOOLS_SERVICE_NAME``: the stack's
  name, so one stack's widgets and alarms never count another's metrics);
- each metric the code emits or a filter produces has a widget;
- each function sends its logs to its own log group of the template
  (``LoggingConfig.LogGroup``), and each filter reads one of those groups,
  matches log messages the code really logs (and, where it matches the
  line's ``error``, an exception class of the code), into the broker's
  namespace;
- the alarm widget shows exactly the template's alarms;
- the Lambda and API Gateway widgets name the template's functions and API,
  with the API's deployed name and stage;
- the widgets fit the 24-column grid without overlapping.

An empty list means no drift.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from .code_inventory import CodeInventory
from .definition import (
    ALARM_TYPE,
    GRID_COLUMNS,
    Dashboard,
    PlottedMetric,
    load_dashboard,
    resources_of,
    template_text,
)
from .filter_pattern import FilterPattern

FUNCTION_TYPE: Final = "AWS::Serverless::Function"
API_TYPE: Final = "AWS::Serverless::Api"
FILTER_TYPE: Final = "AWS::Logs::MetricFilter"
LOG_GROUP_TYPE: Final = "AWS::Logs::LogGroup"
LAMBDA_METRICS: Final = ("Errors", "Throttles", "Duration")
API_METRICS: Final = ("Count", "4XXError", "5XXError", "Latency", "IntegrationLatency")
# SAM names a REST API without a Name after the stack (its OpenAPI info.title).
SAM_DEFAULT_API_NAME: Final = "${AWS::StackName}"


@dataclass(frozen=True, slots=True)
class Watched:
    """A metric some widget or alarm looks at, and who looks."""

    metric: PlottedMetric
    by: str


@dataclass(frozen=True, slots=True)
class MetricFilter:
    logical_id: str
    function: str | None  # the one function whose LoggingConfig group it reads
    log_group: str  # the group's logical id, or LogGroupName as written if no !Ref
    pattern: FilterPattern
    namespace: str
    metric: str
    dimensions: tuple[tuple[str, str], ...]

    @property
    def messages(self) -> tuple[str, ...]:
        return self.pattern.equalities("message")

    @property
    def errors(self) -> tuple[str, ...]:
        """Exception class names matched in the line's ``error`` field."""
        return self.pattern.equalities("error")


def drift_problems(document: Mapping[str, Any], code: CodeInventory) -> list[str]:
    dashboard = load_dashboard(document)
    env = document["Globals"]["Function"]["Environment"]["Variables"]
    namespace = env["POWERTOOLS_METRICS_NAMESPACE"]
    service = template_text(env["POWERTOOLS_SERVICE_NAME"])  # "${AWS::StackName}" if per stack
    filters = metric_filters(document)
    watched = [Watched(m, f"widget {w.title!r}") for w, m in dashboard.metrics]
    watched += [Watched(m, f"alarm {a}") for a, m in alarm_metrics(document).items()]
    return [
        *_broker_metric_problems(watched, dashboard, code, filters, namespace, service),
        *_log_group_problems(document),
        *_filter_problems(filters, code, namespace),
        *_alarm_widget_problems(document, dashboard),
        *_lambda_problems(document, dashboard),
        *_api_problems(document, dashboard),
        *_placeholder_problems(document, dashboard),
        *_layout_problems(dashboard),
    ]


def function_log_groups(document: Mapping[str, Any]) -> dict[str, str | None]:
    """Each function's ``LoggingConfig.LogGroup`` (``Globals`` merged in, as SAM
    does) as the logical id of the template's log group it refers to, or None:
    a function without one logs to Lambda's own group, which no filter reads."""
    groups = resources_of(document, LOG_GROUP_TYPE)
    globals_ = (document.get("Globals") or {}).get("Function") or {}
    found: dict[str, str | None] = {}
    for logical_id, resource in resources_of(document, FUNCTION_TYPE).items():
        props = resource.get("Properties") or {}
        config = {**(globals_.get("LoggingConfig") or {}), **(props.get("LoggingConfig") or {})}
        group = _ref(config.get("LogGroup"))
        found[logical_id] = group if group in groups else None
    return found


def log_group_writers(document: Mapping[str, Any]) -> dict[str, list[str]]:
    """Each log group some function's LoggingConfig names, with those functions."""
    writers: dict[str, list[str]] = {}
    for function, group in function_log_groups(document).items():
        if group is not None:
            writers.setdefault(group, []).append(function)
    return writers


def metric_filters(document: Mapping[str, Any]) -> list[MetricFilter]:
    writers = log_group_writers(document)
    found = []
    for logical_id, resource in resources_of(document, FILTER_TYPE).items():
        props = resource["Properties"]
        group = _ref(props.get("LogGroupName")) or str(props.get("LogGroupName"))
        functions = writers.get(group, [])
        pattern = FilterPattern.parse(str(props.get("FilterPattern", "")))
        for transform in props.get("MetricTransformations", []):
            found.append(
                MetricFilter(
                    logical_id,
                    functions[0] if len(functions) == 1 else None,
                    group,
                    pattern,
                    str(transform.get("MetricNamespace")),
                    str(transform.get("MetricName")),
                    tuple((d["Key"], d["Value"]) for d in transform.get("Dimensions", [])),
                )
            )
    return found


def alarm_metrics(document: Mapping[str, Any]) -> dict[str, PlottedMetric]:
    """Each single-metric alarm's metric (metric-math alarms have none to name)."""
    found = {}
    for logical_id, resource in resources_of(document, ALARM_TYPE).items():
        props = resource["Properties"]
        if "MetricName" not in props:
            continue
        dimensions = tuple(
            (d["Name"], template_text(d["Value"]) or "") for d in props.get("Dimensions", [])
        )
        found[logical_id] = PlottedMetric(
            str(props["Namespace"]), str(props["MetricName"]), dimensions, props.get("Statistic")
        )
    return found


def _broker_metric_problems(
    watched: list[Watched],
    dashboard: Dashboard,
    code: CodeInventory,
    filters: list[MetricFilter],
    namespace: str,
    service: str | None,
) -> list[str]:
    produced = code.metrics | {f.metric for f in filters if f.namespace == namespace}
    problems = []
    for item in watched:
        metric = item.metric
        if metric.namespace != namespace:
            continue
        if metric.name not in produced:
            problems.append(
                f"{item.by} names {namespace}/{metric.name}, which the code does not emit "
                "and no metric filter produces"
            )
        if metric.dimension_map != {"service": service}:
            problems.append(
                f"{item.by}: {namespace}/{metric.name} has dimensions {metric.dimension_map}, "
                f"but it is published with {{'service': {service!r}}} only"
            )
    shown = {m.name for _, m in dashboard.metrics if m.namespace == namespace}
    problems += [
        f"{namespace}/{name} is emitted but no dashboard widget shows it"
        for name in sorted(produced - shown)
    ]
    return problems


def _log_group_problems(document: Mapping[str, Any]) -> list[str]:
    """A filter counts one function's lines only if that function, and no
    other, writes to the group it reads."""
    problems = [
        f"{function} sends its logs to no log group of the template "
        "(LoggingConfig.LogGroup: !Ref one)"
        for function, group in function_log_groups(document).items()
        if group is None
    ]
    problems += [
        f"log group {group} is shared by {functions}: give each function its own"
        for group, functions in sorted(log_group_writers(document).items())
        if len(functions) > 1
    ]
    return problems


def _filter_problems(filters: list[MetricFilter], code: CodeInventory, namespace: str) -> list[str]:
    problems = []
    for f in filters:
        if f.function is None:
            problems.append(
                f"{f.logical_id} reads {f.log_group}, which is not the LoggingConfig.LogGroup "
                "of exactly one function"
            )
        if not f.messages:
            problems.append(f'{f.logical_id} matches no $.message = "..." of the code')
        problems += [
            f"{f.logical_id} matches the message {m!r}, which the code never logs"
            for m in f.messages
            if m not in code.messages
        ]
        problems += [
            f"{f.logical_id} matches the error {e!r}, which is no class of the code"
            for e in f.errors
            if e not in code.classes
        ]
        if f.namespace != namespace:
            problems.append(f"{f.logical_id} publishes into {f.namespace}, not {namespace}")
        if f.dimensions != (("service", "$.service"),):
            problems.append(f"{f.logical_id} must publish with the dimension service=$.service")
    return problems


def _alarm_widget_problems(document: Mapping[str, Any], dashboard: Dashboard) -> list[str]:
    alarms = set(resources_of(document, ALARM_TYPE))
    shown = {a for w in dashboard.widgets for a in w.alarm_ids}
    return [f"alarm {a} is missing from the alarm widget" for a in sorted(alarms - shown)] + [
        f"the alarm widget shows {a}, which is no alarm of the template"
        for a in sorted(shown - alarms)
    ]


def _lambda_problems(document: Mapping[str, Any], dashboard: Dashboard) -> list[str]:
    functions = {f"${{{f}}}" for f in resources_of(document, FUNCTION_TYPE)}
    problems = []
    seen: dict[str, set[str]] = {name: set() for name in LAMBDA_METRICS}
    for widget, metric in dashboard.metrics:
        if metric.namespace != "AWS/Lambda":
            continue
        function = metric.dimension_map.get("FunctionName")
        if set(metric.dimension_map) != {"FunctionName"} or function not in functions:
            problems.append(
                f"widget {widget.title!r}: AWS/Lambda {metric.name} must name one of the "
                f"template's functions as FunctionName, not {metric.dimension_map}"
            )
            continue
        seen.setdefault(metric.name, set()).add(function)
    problems += [
        f"no widget shows AWS/Lambda {name} for {sorted(functions - seen[name])}"
        for name in LAMBDA_METRICS
        if functions - seen[name]
    ]
    return problems


def _api_problems(document: Mapping[str, Any], dashboard: Dashboard) -> list[str]:
    apis = resources_of(document, API_TYPE)
    if len(apis) != 1:
        return [f"expected one {API_TYPE}, found {sorted(apis)}"]
    (api,) = apis.values()
    props = api["Properties"]
    expected = {
        "ApiName": template_text(props["Name"]) if "Name" in props else SAM_DEFAULT_API_NAME,
        "Stage": str(props["StageName"]),
    }
    problems = []
    shown = set()
    for widget, metric in dashboard.metrics:
        if metric.namespace != "AWS/ApiGateway":
            continue
        shown.add(metric.name)
        if metric.dimension_map != expected:
            problems.append(
                f"widget {widget.title!r}: AWS/ApiGateway {metric.name} has dimensions "
                f"{metric.dimension_map}; the API publishes with {expected}"
            )
    problems += [f"no widget shows AWS/ApiGateway {m}" for m in API_METRICS if m not in shown]
    return problems


def _placeholder_problems(document: Mapping[str, Any], dashboard: Dashboard) -> list[str]:
    resources = document["Resources"]
    parameters = document.get("Parameters") or {}
    problems = []
    for name in sorted(dashboard.placeholders):
        target = name.split(".", 1)[0]
        if not (name.startswith("AWS::") or target in resources or name in parameters):
            problems.append(f"the dashboard body's ${{{name}}} names nothing in the template")
    return problems


def _layout_problems(dashboard: Dashboard) -> list[str]:
    """CloudWatch moves widgets that overflow the grid or overlap: the layout
    on screen would no longer be the one written (or drawn in the docs)."""
    widgets = dashboard.widgets
    problems = [
        f"widget {w.title!r} runs past column {GRID_COLUMNS}"
        for w in widgets
        if w.x < 0 or w.y < 0 or w.x + w.width > GRID_COLUMNS
    ]
    problems += [
        f"widgets {a.title!r} and {b.title!r} overlap"
        for i, a in enumerate(widgets)
        for b in widgets[i + 1 :]
        if a.overlaps(b)
    ]
    return problems


def _ref(node: object) -> str | None:
    if isinstance(node, dict) and set(node) == {"Ref"} and isinstance(node["Ref"], str):
        return node["Ref"]
    return None
