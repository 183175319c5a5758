"""Draw the dashboard's layout from its widget definitions, as SVG text.

What it shows is what the template says: each widget at its grid position
and size, its title, the metrics it plots (namespace, dimensions, statistic,
period, labels) and the alarms with their conditions. What it cannot show
is data: a local render has no CloudWatch behind it, so every graph is an
empty frame that says so, and every alarm's state is left blank. Output is
deterministic (no timestamps), so a test can compare it with the committed
image.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final
from xml.sax.saxutils import escape

from .definition import (
    ALARM_TYPE,
    PlottedMetric,
    Widget,
    evaluate,
    load_dashboard,
    resources_of,
)

COLUMN: Final = 52  # px per grid column (the grid is 24 columns wide)
ROW: Final = 40  # px per grid row
MARGIN: Final = 16
GAP: Final = 8
HEADER: Final = 76
PAD: Final = 10
LINE: Final = 15
CHAR_WIDTH: Final = 0.56  # of the font size: a safe average for sans-serif text
PALETTE: Final = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")
COMPARISONS: Final = {
    "GreaterThanOrEqualToThreshold": ">=",
    "GreaterThanThreshold": ">",
    "LessThanThreshold": "<",
    "LessThanOrEqualToThreshold": "<=",
}
_PLACEHOLDER: Final = re.compile(r"\$\{([^}]+)\}")
_PSEUDO: Final = {"AWS::StackName": "<stack>", "AWS::Region": "<region>"}


def render_svg(document: Mapping[str, Any], source: str = "template.yaml") -> str:
    dashboard = load_dashboard(document)
    alarms = resources_of(document, ALARM_TYPE)
    rows = max(w.y + w.height for w in dashboard.widgets)
    width, height = 24 * COLUMN + 2 * MARGIN, HEADER + rows * ROW + MARGIN
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="Helvetica, Arial, sans-serif">',
        f'<rect width="{width}" height="{height}" fill="#f2f3f3"/>',
        _text(MARGIN, 28, f"CloudWatch dashboard {display(dashboard.name)}", 18, bold=True),
        _text(
            MARGIN,
            48,
            f"Drawn from the widget definitions of {dashboard.logical_id} in {source} "
            "by python -m ringcx_dev.dashboard render: layout, titles, metrics, alarms.",
            12,
            fill="#5f6b7a",
        ),
        _text(
            MARGIN,
            64,
            "No live data: every graph is an empty frame and every alarm state is blank.",
            12,
            fill="#5f6b7a",
        ),
    ]
    for widget in dashboard.widgets:
        parts += _widget(widget, document, alarms)
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def display(text: str) -> str:
    """Deploy-time placeholders as a reader would say them: ``${X.Arn}`` -> X."""

    def name(match: re.Match[str]) -> str:
        value = match.group(1)
        return _PSEUDO.get(value, value.removesuffix(".Arn"))

    return _PLACEHOLDER.sub(name, text)


def _widget(
    widget: Widget, document: Mapping[str, Any], alarms: Mapping[str, Mapping[str, Any]]
) -> list[str]:
    x = MARGIN + widget.x * COLUMN + GAP // 2
    y = HEADER + widget.y * ROW + GAP // 2
    w, h = widget.width * COLUMN - GAP, widget.height * ROW - GAP
    parts = [
        f'<g><rect x="{x}" y="{y}" width="{w}" height="{h}" rx="3" fill="#ffffff" '
        'stroke="#d5dbdb"/>',
        _text(x + PAD, y + 20, _fit(widget.title, w, 14), 14, bold=True),
    ]
    if widget.kind == "alarm":
        parts += _alarm_body(widget, document, alarms, x, y, w)
    else:
        parts += _metric_body(widget, x, y, w, h)
    parts.append("</g>")
    return parts


def _metric_body(widget: Widget, x: int, y: int, w: int, h: int) -> list[str]:
    common = _common(widget)
    parts = [_text(x + PAD, y + 37, _fit(" | ".join(common.values()), w, 11), 11, fill="#5f6b7a")]
    legend = [(PALETTE[i % len(PALETTE)], _legend(m, common)) for i, m in enumerate(widget.metrics)]
    legend += [("dashed", f"line at {a.value:g}: {a.label}") for a in widget.annotations]
    top, bottom = y + 46, y + h - PAD - len(legend) * LINE
    parts += [
        f'<rect x="{x + PAD}" y="{top}" width="{w - 2 * PAD}" height="{bottom - top - 4}" '
        'fill="none" stroke="#e9ebed" stroke-dasharray="4 3"/>',
        _text(
            x + w // 2, (top + bottom) // 2, "no data: drawn from the template", 11, "#aab7b8", True
        ),
    ]
    for i, (colour, label) in enumerate(legend):
        line_y = bottom + i * LINE + 11
        if colour == "dashed":
            parts.append(
                f'<line x1="{x + PAD}" y1="{line_y - 4}" x2="{x + PAD + 12}" y2="{line_y - 4}" '
                'stroke="#d62728" stroke-dasharray="3 2"/>'
            )
        else:
            parts.append(
                f'<rect x="{x + PAD}" y="{line_y - 8}" width="12" height="8" fill="{colour}"/>'
            )
        parts.append(_text(x + PAD + 18, line_y, _fit(label, w - 18, 11), 11))
    return parts


def _alarm_body(
    widget: Widget,
    document: Mapping[str, Any],
    alarms: Mapping[str, Mapping[str, Any]],
    x: int,
    y: int,
    w: int,
) -> list[str]:
    parts = [_text(x + PAD, y + 37, "state: live only (OK / ALARM / INSUFFICIENT_DATA)", 11)]
    row = y + 60
    for logical_id in widget.alarm_ids:
        parts += [
            f'<circle cx="{x + PAD + 5}" cy="{row - 4}" r="5" fill="none" stroke="#879596"/>',
            _text(x + PAD + 16, row, _fit(logical_id, w - 16, 12), 12, bold=True),
        ]
        for line in _condition(alarms.get(logical_id), document, logical_id):
            row += LINE - 2
            parts.append(_text(x + PAD + 16, row, _fit(line, w - 16, 11), 11, fill="#5f6b7a"))
        row += LINE + 4
    return parts


def _condition(
    alarm: Mapping[str, Any] | None, document: Mapping[str, Any], where: str
) -> list[str]:
    """An alarm's condition, with the parameters' defaults."""
    if alarm is None:
        return ["not an alarm of the template"]
    props = alarm["Properties"]
    value = {k: evaluate(document, props.get(k), f"{where}.{k}") for k in ("Threshold", "Period")}
    periods = props.get("EvaluationPeriods", 1)
    points = props.get("DatapointsToAlarm", periods)
    lines = [
        f"{props.get('Namespace')}/{props.get('MetricName')} {props.get('Statistic')} "
        f"{COMPARISONS.get(str(props.get('ComparisonOperator')), '?')} {value['Threshold']} "
        f"in {points} of {periods} x {value['Period']} s"
    ]
    if props.get("TreatMissingData") == "breaching":
        lines.append("no data counts as breaching")
    return lines


def _common(widget: Widget) -> dict[str, str]:
    """What all of a widget's metrics share, said once in its subtitle."""
    first = widget.metrics[0]
    common: dict[str, str] = {}
    if all(m.namespace == first.namespace for m in widget.metrics):
        common["namespace"] = first.namespace
    if all(m.dimensions == first.dimensions for m in widget.metrics):
        common["dimensions"] = _dimensions(first)
    if first.stat is not None and all(m.stat == first.stat for m in widget.metrics):
        common["stat"] = first.stat
    if widget.period is not None:
        common["period"] = f"period {widget.period} s"
    return common


def _legend(metric: PlottedMetric, common: Mapping[str, str]) -> str:
    detail = [metric.name if "namespace" in common else f"{metric.namespace}/{metric.name}"]
    if "dimensions" not in common:
        detail.append(_dimensions(metric))
    if "stat" not in common and metric.stat is not None:
        detail.append(metric.stat)
    said = " ".join(detail)
    return f"{metric.label}: {said}" if metric.label else said


def _dimensions(metric: PlottedMetric) -> str:
    return ", ".join(f"{k}={display(v)}" for k, v in metric.dimensions)


def _fit(text: str, width: int, size: int) -> str:
    room = int((width - 2 * PAD) / (size * CHAR_WIDTH))
    return text if len(text) <= room else text[: max(room - 1, 0)] + "\u2026"


def _text(
    x: int,
    y: int,
    text: str,
    size: int,
    fill: str = "#16191f",
    centred: bool = False,
    bold: bool = False,
) -> str:
    anchor = ' text-anchor="middle"' if centred else ""
    weight = ' font-weight="bold"' if bold else ""
    return (
        f'<text x="{x}" y="{y}" font-size="{size}" fill="{fill}"{anchor}{weight}>'
        f"{escape(text)}</text>"
    )
