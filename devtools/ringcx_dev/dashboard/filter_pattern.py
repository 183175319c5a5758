"""The part of CloudWatch Logs' JSON filter-pattern language the template uses.

``{ ($.message = "A" && $.status >= 500) || $.message = "B" }``: comparisons
of a top-level or dotted field with a quoted string or a number, joined by
``&&`` (binding tighter) and ``||``, with parentheses. That is enough to
check, without AWS, that each metric filter matches the JSON lines the
functions really log (Powertools puts ``message``, ``level``, ``service``
and the ``extra`` keys at the top level) and which messages it depends on.
Wildcards, ``IS``/``NOT EXISTS`` and arrays are not understood and raise
``DashboardError``: a pattern this module cannot read is not checked at all.
"""

from __future__ import annotations

import json
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from .definition import DashboardError

_TOKEN: Final = re.compile(
    r"\s*(?:(?P<punct>\|\||&&|[(){}])|(?P<op>!=|>=|<=|=|>|<)"
    r'|(?P<field>\$(?:\.\w+)+)|"(?P<string>[^"\\]*)"|(?P<number>-?\d+(?:\.\d+)?))'
)
_OPERATORS: Final[Mapping[str, Callable[[Any, Any], bool]]] = {
    "=": operator.eq,
    "!=": operator.ne,
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
}


@dataclass(frozen=True, slots=True)
class Comparison:
    field: str  # "message" or "a.b"
    op: str
    value: str | float

    def matches(self, event: Mapping[str, Any]) -> bool:
        found: Any = event
        for part in self.field.split("."):
            found = found.get(part) if isinstance(found, Mapping) else None
        if isinstance(self.value, str):
            return isinstance(found, str) and _OPERATORS[self.op](found, self.value)
        number = isinstance(found, int | float) and not isinstance(found, bool)
        return number and _OPERATORS[self.op](found, self.value)


@dataclass(frozen=True, slots=True)
class Either:
    options: tuple[Node, ...]  # any one matches

    def matches(self, event: Mapping[str, Any]) -> bool:
        return any(o.matches(event) for o in self.options)


@dataclass(frozen=True, slots=True)
class All:
    parts: tuple[Node, ...]

    def matches(self, event: Mapping[str, Any]) -> bool:
        return all(p.matches(event) for p in self.parts)


Node = Comparison | Either | All


@dataclass(frozen=True, slots=True)
class FilterPattern:
    text: str
    root: Node

    @classmethod
    def parse(cls, text: str) -> FilterPattern:
        tokens = _tokens(text)
        if tokens[:1] != [("punct", "{")] or tokens[-1:] != [("punct", "}")]:
            raise DashboardError(f"not a JSON filter pattern {{ ... }}: {text!r}")
        parser = _Parser(tokens[1:-1], text)
        return cls(text, parser.parse())

    def matches(self, line: str) -> bool:
        """Does the log line (one JSON object) match, as CloudWatch Logs would say?"""
        try:
            event = json.loads(line)
        except ValueError:
            return False
        return isinstance(event, dict) and self.root.matches(event)

    def equalities(self, field: str) -> tuple[str, ...]:
        """The strings the pattern compares ``field`` with using ``=``, in order."""
        return tuple(_equalities(self.root, field))


def _equalities(node: Node, field: str) -> list[str]:
    if isinstance(node, Comparison):
        wanted = node.field == field and node.op == "=" and isinstance(node.value, str)
        return [str(node.value)] if wanted else []
    children = node.options if isinstance(node, Either) else node.parts
    return [value for child in children for value in _equalities(child, field)]


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens, position = [], 0
    while position < len(text.rstrip()):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise DashboardError(f"cannot read the filter pattern at {text[position:]!r}")
        kind = match.lastgroup
        assert kind is not None
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]], text: str) -> None:
        self._tokens = tokens
        self._text = text
        self._at = 0

    def parse(self) -> Node:
        node = self._either()
        if self._at != len(self._tokens):
            raise self._error()
        return node

    def _either(self) -> Node:
        options = [self._all()]
        while self._accept("||"):
            options.append(self._all())
        return options[0] if len(options) == 1 else Either(tuple(options))

    def _all(self) -> Node:
        parts = [self._term()]
        while self._accept("&&"):
            parts.append(self._term())
        return parts[0] if len(parts) == 1 else All(tuple(parts))

    def _term(self) -> Node:
        if self._accept("("):
            node = self._either()
            if not self._accept(")"):
                raise self._error()
            return node
        field, op, value = (self._take(kind) for kind in ("field", "op", "value"))
        if "*" in value[1]:
            raise DashboardError(f"wildcards are not understood here: {self._text!r}")
        return Comparison(
            field[1].removeprefix("$."),
            op[1],
            value[1] if value[0] == "string" else float(value[1]),
        )

    def _accept(self, punct: str) -> bool:
        if self._at < len(self._tokens) and self._tokens[self._at] == ("punct", punct):
            self._at += 1
            return True
        return False

    def _take(self, kind: str) -> tuple[str, str]:
        if self._at >= len(self._tokens):
            raise self._error()
        token = self._tokens[self._at]
        if token[0] != kind and not (kind == "value" and token[0] in ("string", "number")):
            raise self._error()
        self._at += 1
        return token

    def _error(self) -> DashboardError:
        return DashboardError(f"cannot read the filter pattern {self._text!r}")
