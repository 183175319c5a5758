"""What the broker's code can put in CloudWatch: metric names and log messages.

Read from the source with ``ast`` (never by importing the handlers), so the
drift check sees what a deployed function would emit:

- a metric is the literal first argument (or ``name=``) of a ``_metric(...)``
  or ``add_metric(...)`` call. An f-string name is expanded only when its
  literal prefix is registered in ``DYNAMIC_METRICS`` (``f"Relogin{reason}"``
  is one metric per ``ReloginReason``); any other computed ``_metric`` name
  raises, because nobody could tell which metrics it makes. A computed
  ``add_metric`` name is the ``_metric`` wrapper passing its argument on.
- a log message is the literal first argument of ``logger.<level>(...)``.
- a class is any class the code defines: a filter that matches a log line's
  ``error`` (the exception's class name) must name one of them.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Final

from ringcx_broker.convergence import ReloginReason

from .definition import DashboardError

LOG_LEVELS: Final = frozenset({"debug", "info", "warning", "error", "exception", "critical"})
METRIC_CALLS: Final = frozenset({"_metric", "add_metric"})
DYNAMIC_METRICS: Final[Mapping[str, type[StrEnum]]] = {"Relogin": ReloginReason}
SOURCE_DIRS: Final = ("layers/auth/ringcx_broker", "functions")


@dataclass(frozen=True, slots=True)
class CodeInventory:
    metrics: frozenset[str]
    messages: frozenset[str]
    classes: frozenset[str] = frozenset()

    def __or__(self, other: CodeInventory) -> CodeInventory:
        return CodeInventory(
            self.metrics | other.metrics,
            self.messages | other.messages,
            self.classes | other.classes,
        )


def repository_inventory(root: Path) -> CodeInventory:
    """Everything the layer and the handlers emit, from the repository at ``root``."""
    return scan_files(source_files(root))


def source_files(root: Path) -> list[Path]:
    return [path for folder in SOURCE_DIRS for path in sorted((root / folder).rglob("*.py"))]


def scan_files(paths: Iterable[Path]) -> CodeInventory:
    found = CodeInventory(frozenset(), frozenset())
    for path in paths:
        found = found | scan_source(path.read_text(encoding="utf-8"), str(path))
    return found


def scan_source(text: str, where: str) -> CodeInventory:
    metrics: set[str] = set()
    messages: set[str] = set()
    classes: set[str] = set()
    for node in ast.walk(ast.parse(text, filename=where)):
        if isinstance(node, ast.ClassDef):
            classes.add(node.name)
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        first = _first_argument(node)
        if node.func.attr in METRIC_CALLS and first is not None:
            metrics |= _metric_names(node.func.attr, first, f"{where}:{node.lineno}")
        elif (
            _is_logger_call(node.func)
            and isinstance(first, ast.Constant)
            and isinstance(first.value, str)
        ):
            messages.add(first.value)
    return CodeInventory(frozenset(metrics), frozenset(messages), frozenset(classes))


def _first_argument(call: ast.Call) -> ast.expr | None:
    if call.args:
        return call.args[0]
    return next((k.value for k in call.keywords if k.arg in ("name", "msg")), None)


def _is_logger_call(func: ast.Attribute) -> bool:
    return (
        func.attr in LOG_LEVELS and isinstance(func.value, ast.Name) and func.value.id == "logger"
    )


def _metric_names(call: str, name: ast.expr, where: str) -> set[str]:
    if isinstance(name, ast.Constant) and isinstance(name.value, str):
        return {name.value}
    if isinstance(name, ast.JoinedStr):
        return _expand(name, where)
    if call == "add_metric":
        return set()  # the _metric wrapper passing its own argument on
    raise DashboardError(f"{where}: a metric name the drift check cannot read")


def _expand(name: ast.JoinedStr, where: str) -> set[str]:
    parts = name.values
    first = parts[0] if parts else None
    prefix = first.value if isinstance(first, ast.Constant) else None
    enum = DYNAMIC_METRICS.get(prefix) if isinstance(prefix, str) else None
    if (
        not isinstance(prefix, str)
        or enum is None
        or len(parts) != 2
        or not isinstance(parts[1], ast.FormattedValue)
    ):
        raise DashboardError(
            f"{where}: an f-string metric name needs its prefix in DYNAMIC_METRICS "
            "(prefix -> the enum whose values complete it)"
        )
    return {f"{prefix}{member.value}" for member in enum}
