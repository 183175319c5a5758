"""The broker's CloudWatch dashboard as ``template.yaml`` defines it.

The dashboard body is a ``!Sub`` of a JSON string. Placeholders that only
exist once deployed (``${AWS::Region}``, ``${RefreshFunction}``,
``${WriteBudgetAlarm.Arn}``) stay in the parsed strings as written, so a
check can tell which resource each widget names. The ``!Sub``'s own
variables (the tick length, a number) are evaluated with the parameters'
defaults, because the JSON needs them as values.

Only what the template uses is understood: metric arrays written out in full
(no ``"."`` shorthand, no metric math), and ``Ref`` to a parameter or
``FindInMap`` in the ``!Sub`` variables. Anything else raises
``DashboardError`` instead of being read half-way.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, cast

DASHBOARD_TYPE: Final = "AWS::CloudWatch::Dashboard"
ALARM_TYPE: Final = "AWS::CloudWatch::Alarm"
GRID_COLUMNS: Final = 24  # a dashboard is 24 columns wide
PLACEHOLDER: Final = re.compile(r"\$\{([^!}][^}]*)\}")
_ALARM_ARN: Final = re.compile(r"^\$\{(\w+)\.Arn\}$")


class DashboardError(Exception):
    """The template's dashboard (or the code it watches) cannot be read as expected."""


@dataclass(frozen=True, slots=True)
class PlottedMetric:
    """One line of a graph: a metric, its dimensions and the statistic shown."""

    namespace: str
    name: str
    dimensions: tuple[tuple[str, str], ...]
    stat: str | None
    label: str | None = None

    @property
    def dimension_map(self) -> dict[str, str]:
        return dict(self.dimensions)


@dataclass(frozen=True, slots=True)
class Annotation:
    """A horizontal line on a graph (an alarm's threshold, say)."""

    label: str
    value: float


@dataclass(frozen=True, slots=True)
class Widget:
    kind: str  # "metric" or "alarm"
    x: int
    y: int
    width: int
    height: int
    title: str
    metrics: tuple[PlottedMetric, ...] = ()
    alarm_ids: tuple[str, ...] = ()  # logical ids of the alarms an alarm widget shows
    period: int | None = None
    annotations: tuple[Annotation, ...] = ()

    def overlaps(self, other: Widget) -> bool:
        return (
            self.x < other.x + other.width
            and other.x < self.x + self.width
            and self.y < other.y + other.height
            and other.y < self.y + self.height
        )


@dataclass(frozen=True, slots=True)
class Dashboard:
    logical_id: str
    name: str  # DashboardName as written, e.g. "${AWS::StackName}-ringcx-broker"
    widgets: tuple[Widget, ...]
    placeholders: frozenset[str]  # every ${...} the body leaves for deploy time

    @property
    def metrics(self) -> tuple[tuple[Widget, PlottedMetric], ...]:
        """Every plotted metric, with the widget that plots it."""
        return tuple((w, m) for w in self.widgets for m in w.metrics)


def resources_of(document: Mapping[str, Any], resource_type: str) -> dict[str, Mapping[str, Any]]:
    resources: Mapping[str, Mapping[str, Any]] = document["Resources"]
    return {k: v for k, v in resources.items() if v.get("Type") == resource_type}


def load_dashboard(document: Mapping[str, Any]) -> Dashboard:
    """The template's one dashboard, parsed."""
    dashboards = resources_of(document, DASHBOARD_TYPE)
    if len(dashboards) != 1:
        raise DashboardError(f"expected one {DASHBOARD_TYPE}, found {sorted(dashboards)}")
    ((logical_id, resource),) = dashboards.items()
    props = resource.get("Properties") or {}
    body, variables = _sub_parts(props.get("DashboardBody"), f"{logical_id}.DashboardBody")
    values = {
        k: _text(evaluate(document, v, f"{logical_id} !Sub {k}")) for k, v in variables.items()
    }
    left = frozenset(m.group(1) for m in PLACEHOLDER.finditer(body)) - set(values)
    expanded = PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), body)
    try:
        parsed = json.loads(expanded)
    except ValueError as exc:
        raise DashboardError(f"{logical_id}: the body is not JSON once substituted: {exc}") from exc
    name, _ = _sub_parts(props.get("DashboardName"), f"{logical_id}.DashboardName")
    widgets = parsed.get("widgets") if isinstance(parsed, dict) else None
    if not isinstance(widgets, list):
        raise DashboardError(f"{logical_id}: the body has no widgets array")
    return Dashboard(
        logical_id,
        name,
        tuple(_widget(w, f"{logical_id} widget {i}") for i, w in enumerate(widgets)),
        left,
    )


def evaluate(document: Mapping[str, Any], node: object, where: str) -> object:
    """A template value with the parameters' defaults: literals, ``Ref`` to a
    parameter and ``FindInMap``, which is all the dashboard and alarms use."""
    if not isinstance(node, dict):
        return node
    if set(node) == {"Ref"}:
        spec = (document.get("Parameters") or {}).get(node["Ref"])
        if not isinstance(spec, dict) or "Default" not in spec:
            raise DashboardError(f"{where}: !Ref {node['Ref']} is no parameter with a default")
        return spec["Default"]
    if set(node) == {"Fn::FindInMap"}:
        map_name, top, second = (_text(evaluate(document, a, where)) for a in node["Fn::FindInMap"])
        try:
            found: object = document["Mappings"][map_name][top][second]
        except (KeyError, TypeError) as exc:
            raise DashboardError(
                f"{where}: !FindInMap {map_name}.{top}.{second} is missing"
            ) from exc
        return found
    raise DashboardError(f"{where}: {sorted(node)} cannot be evaluated here")


def template_text(node: object) -> str | None:
    """A string property as ``!Sub`` text: ``!Ref X`` is ``${X}``; None if computed otherwise."""
    if isinstance(node, dict) and set(node) == {"Ref"} and isinstance(node["Ref"], str):
        return "${" + node["Ref"] + "}"
    try:
        text, variables = _sub_parts(node, "")
    except DashboardError:
        return None
    return None if variables else text


def _sub_parts(node: object, where: str) -> tuple[str, Mapping[str, Any]]:
    """``!Sub TEXT`` or ``!Sub [TEXT, {VAR: value}]`` as (text, variables)."""
    arg = node.get("Fn::Sub") if isinstance(node, dict) and set(node) == {"Fn::Sub"} else node
    if isinstance(arg, str):
        return arg, {}
    if isinstance(arg, list) and len(arg) == 2 and isinstance(arg[0], str):
        variables = arg[1]
        if isinstance(variables, dict):
            return arg[0], variables
    raise DashboardError(f"{where}: expected a string or a !Sub of one")


def _text(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise DashboardError(f"expected a scalar, got {value!r}")
    return str(value)


def _widget(raw: object, where: str) -> Widget:
    if not isinstance(raw, dict) or not isinstance(raw.get("properties"), dict):
        raise DashboardError(f"{where}: a widget needs a properties object")
    props: dict[str, Any] = raw["properties"]
    kind = raw.get("type")
    geometry = [raw.get(k) for k in ("x", "y", "width", "height")]
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in geometry):
        raise DashboardError(f"{where}: x, y, width and height must be integers")
    x, y, width, height = cast(list[int], geometry)
    title = str(props.get("title", ""))
    where = f"{where} ({title!r})"
    if kind == "alarm":
        return Widget("alarm", x, y, width, height, title, alarm_ids=_alarm_ids(props, where))
    if kind != "metric":
        raise DashboardError(f"{where}: widget type {kind!r} is not understood")
    stat = props.get("stat")
    metrics = props.get("metrics")
    if not isinstance(metrics, list) or not metrics:
        raise DashboardError(f"{where}: a metric widget needs a metrics array")
    period = props.get("period")
    return Widget(
        "metric",
        x,
        y,
        width,
        height,
        title,
        metrics=tuple(_metric(m, stat, where) for m in metrics),
        period=period if isinstance(period, int) else None,
        annotations=_annotations(props.get("annotations"), where),
    )


def _metric(raw: object, widget_stat: object, where: str) -> PlottedMetric:
    if not isinstance(raw, list) or not raw:
        raise DashboardError(f"{where}: each metric must be an array")
    options: dict[str, Any] = raw[-1] if isinstance(raw[-1], dict) else {}
    parts = raw[:-1] if options else raw
    if len(parts) < 2 or len(parts) % 2 or not all(isinstance(p, str) for p in parts):
        raise DashboardError(f"{where}: write a metric as [namespace, name, key, value, ...]")
    if "." in parts:
        raise DashboardError(f"{where}: write each metric in full, without the '.' shorthand")
    stat = options.get("stat", widget_stat)
    label = options.get("label")
    return PlottedMetric(
        namespace=parts[0],
        name=parts[1],
        dimensions=tuple(zip(parts[2::2], parts[3::2], strict=True)),
        stat=stat if isinstance(stat, str) else None,
        label=label if isinstance(label, str) else None,
    )


def _alarm_ids(props: Mapping[str, Any], where: str) -> tuple[str, ...]:
    alarms = props.get("alarms")
    if not isinstance(alarms, list) or not alarms:
        raise DashboardError(f"{where}: an alarm widget needs an alarms array")
    ids = []
    for arn in alarms:
        match = _ALARM_ARN.match(arn) if isinstance(arn, str) else None
        if match is None:
            raise DashboardError(f"{where}: name each alarm as ${{LogicalId.Arn}}, not {arn!r}")
        ids.append(match.group(1))
    return tuple(ids)


def _annotations(raw: object, where: str) -> tuple[Annotation, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, dict) or set(raw) - {"horizontal"}:
        raise DashboardError(f"{where}: only horizontal annotations are understood")
    horizontal = raw.get("horizontal", [])
    if not isinstance(horizontal, list):
        raise DashboardError(f"{where}: only horizontal annotations are understood")
    found = []
    for item in horizontal:
        value = item.get("value") if isinstance(item, dict) else None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise DashboardError(f"{where}: an annotation needs a numeric value")
        found.append(Annotation(str(item.get("label", "")), float(value)))
    return tuple(found)
