"""YAML with line marks: safe composition, our own scalar typing, no YAML 1.1 traps.

PyYAML implements YAML 1.1, whose implicit typing surprises people: ``no`` and
``off`` become ``False``, ``012`` becomes 10 (octal), ``1:30`` becomes 90
(base 60), ``1_000`` becomes 1000 (a string in YAML 1.2). We compose the node
graph with the SAFE loader only (never constructing arbitrary objects), then
type plain scalars ourselves following the YAML 1.2 core schema plus dates,
and refuse the ambiguous spellings with a fix. Every mapping key and value
keeps its (line, column), so validation errors point at the text.

Reference: YAML 1.2.2 spec, section 10.3 (core schema); YAML 1.1 type
repository (bool, int, float, timestamp).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import yaml

PathKey = str | int
YamlPath = tuple[PathKey, ...]

_LOADER: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_STR = "tag:yaml.org,2002:str"
_SEQ = "tag:yaml.org,2002:seq"
_MAP = "tag:yaml.org,2002:map"
_MERGE = "tag:yaml.org,2002:merge"

_NULL = {"", "~", "null", "Null", "NULL"}
_TRUE = {"true", "True", "TRUE"}
_FALSE = {"false", "False", "FALSE"}
_BOOL_TRAPS = {"yes", "no", "on", "off", "y", "n"}

_INT_RE = re.compile(r"^[-+]?[0-9]+$")
_HEX_RE = re.compile(r"^0x[0-9a-fA-F]+$")
_FLOAT_RE = re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$")
_INF_RE = re.compile(r"^[-+]?\.(?:inf|Inf|INF)$")
_NAN_RE = re.compile(r"^\.(?:nan|NaN|NAN)$")
_OCTAL_RE = re.compile(r"^[-+]?0[0-9]+$")
_OCTAL_O_RE = re.compile(r"^[-+]?0o[0-7_]+$")
_BINARY_RE = re.compile(r"^[-+]?0b[01_]+$")
_SEXAGESIMAL_RE = re.compile(r"^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$")
_UNDERSCORE_NUM_RE = re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?$")
_MAX_INT_DIGITS = 300
"""Longer integers are refused (a float cannot hold them; Python's int parser is
quadratic in the digit count)."""
_DATE_RE = re.compile(r"^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}$")
_DATETIME_RE = re.compile(r"^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:[Tt]|[ \t]+)[0-9]{1,2}:[0-9]{2}")


@dataclass(frozen=True)
class Mark:
    """1-based line and column of a node's first character."""

    line: int
    column: int


@dataclass(frozen=True)
class Span:
    """Where a value sits: its key (None for sequence items and the root) and the value."""

    key: Mark | None
    value: Mark
    is_collection: bool


@dataclass(frozen=True)
class YamlIssue:
    """A problem found while reading YAML, before any model sees the values."""

    path: YamlPath
    mark: Mark
    message: str
    hint: str | None = None
    code: str = "yaml_syntax"


@dataclass
class MarkedDocument:
    """Plain Python values (dict/list/str/int/float/bool/None/date) plus marks per path."""

    value: Any
    spans: dict[YamlPath, Span] = field(default_factory=dict)
    issues: list[YamlIssue] = field(default_factory=list)

    def mark_for(self, path: YamlPath, *, prefer_key: bool = False) -> Mark:
        """The best mark for ``path``: the node itself, else its nearest existing parent."""
        probe = path
        while probe not in self.spans and probe:
            probe = probe[:-1]
        span = self.spans.get(probe)
        if span is None:
            return Mark(1, 1)
        if probe == path and prefer_key and span.key is not None:
            return span.key
        return span.value


def _mark(node: Any) -> Mark:
    return Mark(node.start_mark.line + 1, node.start_mark.column + 1)


def _base60(text: str) -> str:
    sign = -1 if text.startswith("-") else 1
    total = 0.0
    for part in text.lstrip("+-").replace("_", "").split(":"):
        total = total * 60 + float(part)
    return f"{sign * total:g}"


def _trap(text: str) -> tuple[str, str] | None:
    """(message, hint) when a plain scalar reads differently in YAML 1.1 and 1.2."""
    lowered = text.lower()
    if lowered in _BOOL_TRAPS:
        meaning = "true" if lowered in ("yes", "on", "y") else "false"
        return (
            f"YAML 1.1 reads `{text}` as {meaning}",
            f"write true/false for a switch, or quote '{text}' for text",
        )
    if _OCTAL_RE.match(text):
        return (
            f"YAML 1.1 reads `{text}` as an octal number",
            f"write {int(text)} for a number, or quote '{text}' for text (an id or code)",
        )
    if _OCTAL_O_RE.match(text) or _BINARY_RE.match(text):
        return (
            f"`{text}` is a number in some YAML versions and text in others",
            f"write it in decimal, or quote '{text}' for text",
        )
    if _SEXAGESIMAL_RE.match(text):
        return (
            f"YAML 1.1 reads `{text}` as a base-60 number ({_base60(text)})",
            f"quote '{text}' for text, or write a duration such as '90m'",
        )
    if "_" in text and _UNDERSCORE_NUM_RE.match(text):
        return (
            f"YAML 1.1 reads `{text}` as a number, YAML 1.2 as text",
            f"write {text.replace('_', '')} for a number, or quote '{text}' for text",
        )
    return None


class _Builder:
    """Walks composed nodes once, building values and recording spans and issues."""

    def __init__(self, loader: Any) -> None:
        self.loader = loader
        self.document = MarkedDocument(value=None)
        self._constructor = yaml.SafeLoader("")
        self._built: set[int] = set()

    def issue(self, path: YamlPath, node: Any, message: str, hint: str | None, code: str) -> None:
        self.document.issues.append(YamlIssue(path, _mark(node), message, hint, code))

    def build(self, node: Any, path: YamlPath, key: Mark | None) -> Any:
        if id(node) in self._built:
            # an alias: the same composed node again (already reported by the guard);
            # never walked twice, so an alias bomb costs time linear in the file
            return None
        self._built.add(id(node))
        is_collection = isinstance(node, yaml.MappingNode | yaml.SequenceNode)
        self.document.spans[path] = Span(key, _mark(node), is_collection)
        if isinstance(node, yaml.MappingNode):
            if node.tag != _MAP:
                self.issue(
                    path, node, f"tag {node.tag} is not supported", "remove the tag", "yaml_tag"
                )
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            if node.tag != _SEQ:
                self.issue(
                    path, node, f"tag {node.tag} is not supported", "remove the tag", "yaml_tag"
                )
            return [self.build(item, (*path, i), None) for i, item in enumerate(node.value)]
        return self._scalar(node, path)

    def _mapping(self, node: Any, path: YamlPath) -> dict[str, Any]:
        result: dict[str, Any] = {}
        first_seen: dict[str, Mark] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                self.issue(
                    path, key_node, "keys must be plain text", "write key: value", "yaml_key"
                )
                continue
            if key_node.tag == _MERGE:
                self.issue(
                    path,
                    key_node,
                    "merge keys (<<) are not supported",
                    "write the keys out",
                    "yaml_key",
                )
                continue
            key = str(key_node.value)
            key_mark = _mark(key_node)
            if key in first_seen:
                seen = first_seen[key]
                self.issue(
                    (*path, key),
                    key_node,
                    f"duplicate key '{key}' (first at line {seen.line})",
                    "keep one of them; YAML would silently keep the last",
                    "duplicate_key",
                )
                continue
            first_seen[key] = key_mark
            result[key] = self.build(value_node, (*path, key), key_mark)
        return result

    def _scalar(self, node: Any, path: YamlPath) -> Any:
        text: str = node.value
        if node.style:  # quoted or block scalar: always text (plain is None or '')
            if node.tag != _STR:
                self.issue(path, node, f"tag {node.tag} is not supported", "remove it", "yaml_tag")
            return text
        implicit = self.loader.resolve(yaml.ScalarNode, text, (True, False))
        if node.tag != implicit:  # explicit tag on a plain scalar
            if node.tag == _STR:
                return text
            self.issue(path, node, f"tag {node.tag} is not supported", "remove it", "yaml_tag")
            return text
        return self._plain(node, path, text)

    def _plain(self, node: Any, path: YamlPath, text: str) -> Any:
        if text in _NULL:
            return None
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        trap = _trap(text)
        if trap is not None:
            self.issue(path, node, trap[0], trap[1], "yaml_trap")
            return text
        if _INT_RE.match(text) or _HEX_RE.match(text):
            if len(text.lstrip("+-")) > _MAX_INT_DIGITS:
                return self._not_finite(node, path, text)
            return int(text, 16) if _HEX_RE.match(text) else int(text)
        if _FLOAT_RE.match(text):
            number = float(text)
            return number if math.isfinite(number) else self._not_finite(node, path, text)
        if _INF_RE.match(text) or _NAN_RE.match(text):
            return self._not_finite(node, path, text)
        if _DATE_RE.match(text) or _DATETIME_RE.match(text):
            return self._timestamp(node, path, text)
        return text

    def _not_finite(self, node: Any, path: YamlPath, text: str) -> str:
        """Infinity, NaN, and numbers beyond a float's range are refused: ``margin: .inf``
        would silently switch a guardrail off, ``price: 1e400`` reads as infinity."""
        self.issue(
            path,
            node,
            f"`{text[:40]}` is not a finite number in range",
            "write an ordinary number (at most 1e300 in size)",
            "invalid_value",
        )
        return text

    def _timestamp(self, node: Any, path: YamlPath, text: str) -> date | datetime | str:
        try:
            value: date | datetime = self._constructor.construct_yaml_timestamp(node)
        except (ValueError, TypeError, AttributeError):
            self.issue(
                path, node, f"`{text}` is not a valid date", "write YYYY-MM-DD", "invalid_date"
            )
            return text
        return value


def parse_marked(text: str) -> MarkedDocument:
    """Compose ``text`` safely and build values with marks; problems go to ``issues``.

    Anchors, aliases and nesting beyond the limits of
    :mod:`upsell_ab.spec.yaml_guard` are refused before anything is composed."""
    from upsell_ab.spec.yaml_guard import guard_issues

    refused, composable = guard_issues(text)
    if not composable:
        return MarkedDocument(value=None, issues=refused)
    loader = _LOADER(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        message = str(error.problem or error.context or "invalid YAML")
        lines = text.splitlines()
        indent = lines[line - 1][: max(column, 1)] if 0 < line <= len(lines) else ""
        hint = (
            "a tab before this point: YAML indents with spaces only; replace the tab with spaces"
            if "\t" in indent
            else "check indentation and quoting near this point"
        )
        document = MarkedDocument(value=None)
        document.issues.append(
            YamlIssue((), Mark(line, column), f"YAML syntax error: {message}", hint, "yaml_syntax")
        )
        return document
    except yaml.YAMLError as error:
        document = MarkedDocument(value=None)
        document.issues.append(
            YamlIssue((), Mark(1, 1), f"YAML error: {error}", None, "yaml_syntax")
        )
        return document
    finally:
        loader.dispose()
    if node is None:
        document = MarkedDocument(value=None)
        document.issues.append(
            YamlIssue(
                (), Mark(1, 1), "the file is empty", "write the spec as a YAML mapping", "empty"
            )
        )
        return document
    builder = _Builder(loader)
    builder.document.issues.extend(refused)
    builder.document.value = builder.build(node, (), None)
    return builder.document
