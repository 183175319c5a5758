"""The broker's CloudWatch dashboard, read from ``template.yaml``.

``drift_problems`` checks that every metric the dashboard and the alarms
name really exists (the code emits it, or a metric filter of the template
makes it from a log line); ``render_svg`` draws the dashboard's layout for
the docs. CLI: ``python -m ringcx_dev.dashboard {check,render OUT.svg}``.
"""

from __future__ import annotations

from .code_inventory import CodeInventory, repository_inventory, scan_source
from .definition import Dashboard, DashboardError, PlottedMetric, Widget, load_dashboard
from .drift import drift_problems
from .svg import render_svg

__all__ = [
    "CodeInventory",
    "Dashboard",
    "DashboardError",
    "PlottedMetric",
    "Widget",
    "drift_problems",
    "load_dashboard",
    "render_svg",
    "repository_inventory",
    "scan_source",
]
