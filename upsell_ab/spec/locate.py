"""Turn pydantic errors and YAML issues into located :class:`~upsell_ab.errors.Problem` s.

Pydantic's error ``loc`` follows the model, not the text: it contains union
branch tags (``'str'``, ``'int'``), ``'[key]'`` for dict keys, and the name of a
missing key that has no text at all. We walk the loc against the parsed
values, keep the steps that exist in the document, and look the remaining
path up in the marks (a missing key points at its parent mapping, an unknown
key at the key itself, anything else at the value). Pattern borrowed from
pydantic's own tests, which assert the exact list of error locations.
"""

from __future__ import annotations

import enum
import re
import types
import typing
from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

from upsell_ab.errors import Location, Problem
from upsell_ab.spec.findings import FINDINGS_ERROR, Finding
from upsell_ab.spec.suggest import allowed_keys, did_you_mean, model_at, suggestion
from upsell_ab.spec.yaml_marks import MarkedDocument, YamlIssue, YamlPath

_QUOTED = re.compile(r"'([^']*)'")
_RANGE_HINT = "write a number inside the allowed range"
_HINTS: dict[str, str] = {
    "bool_type": "write true or false (unquoted)",
    "bool_parsing": "write true or false (unquoted)",
    "greater_than": _RANGE_HINT,
    "greater_than_equal": _RANGE_HINT,
    "less_than": _RANGE_HINT,
    "less_than_equal": _RANGE_HINT,
    "float_parsing": "write a number without quotes",
    "float_type": "write a number without quotes",
    "int_parsing": "write a whole number without quotes",
    "int_type": "write a whole number without quotes",
    "int_from_float": "write a whole number",
    "string_type": "quote the value to make it text",
    "string_pattern_mismatch": "ids start with a letter, then letters, digits, '_' or '-'",
    "string_too_short": "write a non-empty value",
    "too_short": "add the missing items",
    "list_type": "write a list: [a, b] or one '- item' per line",
    "model_type": "write a mapping: key: value lines",
    "dict_type": "write a mapping: key: value lines",
    "model_attributes_type": "write a mapping: key: value lines",
    "date_type": "write a date as YYYY-MM-DD (unquoted)",
    "date_parsing": "write a date as YYYY-MM-DD (unquoted)",
    "date_from_datetime_parsing": "write a date as YYYY-MM-DD (unquoted)",
    "date_from_datetime_inexact": "write a date as YYYY-MM-DD (unquoted)",
    "date_future": "write a date as YYYY-MM-DD (unquoted)",
    "value_error": "see the message for the accepted form",
    "tuple_type": "write a list of two numbers: [start, end]",
    "too_long": "remove the extra items",
}


def format_path(path: Sequence[str | int]) -> str:
    """``('variants', 1, 'weight')`` -> ``variants[1].weight``."""
    text = ""
    for step in path:
        if isinstance(step, int):
            text += f"[{step}]"
        else:
            text += f".{step}" if text else str(step)
    return text


def problem_at(
    document: MarkedDocument,
    file: str,
    path: YamlPath,
    message: str,
    hint: str | None = None,
    code: str = "invalid",
    *,
    prefer_key: bool = False,
) -> Problem:
    """A problem at ``path`` (or its nearest parent present in the text)."""
    span = document.spans.get(path)
    if span is not None and not prefer_key and span.is_collection and span.key is not None:
        mark = span.key  # a whole list/mapping is wrong: point at its key
    else:
        mark = document.mark_for(path, prefer_key=prefer_key)
    location = Location(
        file=file, line=mark.line, column=mark.column, field=format_path(path) or None
    )
    return Problem(location=location, message=message, hint=hint, code=code)


def issue_problem(issue: YamlIssue, file: str) -> Problem:
    location = Location(
        file=file,
        line=issue.mark.line,
        column=issue.mark.column,
        field=format_path(issue.path) or None,
    )
    return Problem(location=location, message=issue.message, hint=issue.hint, code=issue.code)


def finding_problems(
    findings: Iterable[Finding], document: MarkedDocument, file: str, base: YamlPath = ()
) -> list[Problem]:
    return [
        problem_at(document, file, (*base, *f.path), f.message, f.hint, f.code) for f in findings
    ]


def _data_path(loc: Sequence[str | int], value: Any, error_type: str) -> tuple[YamlPath, bool]:
    """The part of ``loc`` present in the document; True when the error is about a dict key."""
    path: list[str | int] = []
    cursor = value
    about_key = False
    for index, step in enumerate(loc):
        last = index == len(loc) - 1
        in_dict = isinstance(cursor, dict) and isinstance(step, str) and step in cursor
        in_list = isinstance(cursor, list) and isinstance(step, int) and 0 <= step < len(cursor)
        if in_dict or in_list:
            path.append(step)
            cursor = cursor[step]
        elif step == "[key]":
            about_key = True
        elif last and error_type == "missing" and isinstance(step, str):
            path.append(step)
    return tuple(path), about_key


def _choice_hint(given: str, choices: list[str]) -> str:
    guess = did_you_mean(given, choices)
    return f"did you mean '{guess}'?" if guess else "use one of the listed values"


_PERCENT_TEXT = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*%\s*$")
_NUMBER_ERRORS = ("float_parsing", "float_type", "int_parsing", "int_type")
_MAPPING_ERRORS = ("model_type", "dict_type", "model_attributes_type")
_MISSING_HINTS: dict[str, str] = {
    "weight": "give every variant a weight, or leave all of them out for an equal split",
    "primary": "add 'primary: ...' with a metric of metrics.yaml, e.g. upsell_take_rate",
    "metrics": "add 'metrics: ...' with at least 'primary: upsell_take_rate' (or another metric)",
    "variants": "add 'variants: ...' with a control and at least one treatment",
}


def share_text(value: float) -> str:
    """``0.1`` -> ``"0.10"``, ``0.125`` -> ``"0.125"`` (a share as people write it)."""
    two = f"{value:.2f}"
    return two if float(two) == value else f"{value:g}"


def percent_hint(text: str) -> str | None:
    """``"10%"`` -> ``"write 0.10 (a share) or 10 with the field's unit"``; None otherwise."""
    match = _PERCENT_TEXT.match(text)
    if match is None:
        return None
    number = float(match.group(1))
    return f"write {share_text(number / 100)} (a share) or {number:g} with the field's unit"


def _discount_hint(given: object) -> str:
    text = str(given).strip()
    match = _PERCENT_TEXT.match(text)
    if match is not None:
        return f"write discount: {{percent: {float(match.group(1)):g}}} for {text} off"
    if isinstance(given, int | float) and not isinstance(given, bool):
        return f"write discount: {{percent: {given:g}}} or {{amount: {given:g}}}"
    return "write discount: none, {percent: 10} or {amount: 200}"


def _choices_of(annotation: Any) -> list[str]:
    """Allowed values of an enum / Literal annotation (through Annotated / Optional)."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return _choices_of(args[0])
    if origin is typing.Literal:
        return [str(a) for a in args]
    if origin in (typing.Union, types.UnionType):
        found: list[str] = []
        for arg in args:
            found += [c for c in _choices_of(arg) if c not in found]
        return found
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return [str(member.value) for member in annotation]
    return []


def _missing_hint(key: str, path: YamlPath, root: type[BaseModel]) -> str:
    if key in _MISSING_HINTS:
        return _MISSING_HINTS[key]
    model = model_at(root, path[:-1])
    info = model.model_fields.get(key) if model is not None else None
    choices = _choices_of(info.annotation) if info is not None else []
    if choices:
        return f"add '{key}: {choices[0]}' (one of: {', '.join(choices)})"
    return f"add '{key}: ...'"


def _describe(
    error: Any, path: YamlPath, root: type[BaseModel]
) -> tuple[str, str | None, str, bool]:
    """(message, hint, code, prefer_key) for one pydantic error."""
    kind = error["type"]
    given = error.get("input")
    if kind == "extra_forbidden":
        key = str(path[-1])
        model = model_at(root, path[:-1])
        keys = allowed_keys(model) if model is not None else []
        return (
            f"unknown key '{key}'",
            suggestion(key, keys, what="keys") or None,
            "unknown_key",
            True,
        )
    if kind == "missing":
        key = str(path[-1])
        return f"missing required key '{key}'", _missing_hint(key, path, root), "missing", False
    if kind in ("enum", "literal_error"):
        choices = _QUOTED.findall(str(error.get("ctx", {}).get("expected", "")))
        return (
            f"'{given}' is not one of: {', '.join(choices)}",
            _choice_hint(str(given), choices),
            "invalid_choice",
            False,
        )
    if path and path[-1] == "discount" and kind in _MAPPING_ERRORS:
        return (
            f"a discount needs its kind, got {given!r}",
            _discount_hint(given),
            "invalid_value",
            False,
        )
    if kind in _MAPPING_ERRORS:
        model = model_at(root, path)
        keys = allowed_keys(model) if model is not None else []
        shown = f"{given!r}" if not isinstance(given, dict | list) else type(given).__name__
        hint = (
            f"write a mapping with the keys {', '.join(keys)}"
            if keys
            else "write a mapping: key: value lines"
        )
        return f"expected a mapping of keys, got {shown}", hint, "invalid_value", False
    if kind in _NUMBER_ERRORS and isinstance(given, str):
        percent = percent_hint(given)
        if percent is not None:
            return f"{given!r} is not a number", percent, "invalid_value", False
        return f"expected a number, got {given!r}", _HINTS.get(kind), "invalid_value", False
    message = str(error["msg"]).removeprefix("Value error, ")
    if given is not None and not isinstance(given, dict | list):
        message += f", got {given!r}"
    return message, _HINTS.get(kind), "invalid_value", False


def validation_problems(
    error: ValidationError, document: MarkedDocument, file: str, root: type[BaseModel]
) -> list[Problem]:
    """Every pydantic error as a located problem; union branches merged into one."""
    trapped = [issue.path for issue in document.issues]
    problems: list[Problem] = []
    union_messages: dict[YamlPath, list[tuple[str, str | None, str]]] = {}
    for item in error.errors(include_url=False):
        path, about_key = _data_path(item["loc"], document.value, item["type"])
        if any(path[: len(t)] == t for t in trapped):
            continue  # the YAML trap message already covers this value
        if item["type"] == FINDINGS_ERROR:
            findings = item.get("ctx", {}).get("findings", [])
            problems += finding_problems(findings, document, file, path)
            continue
        message, hint, code, prefer_key = _describe(item, path, root)
        branches = len(item["loc"]) - len(path) - (1 if about_key else 0)
        if branches > 0 and item["type"] not in ("missing", "extra_forbidden"):
            known = union_messages.setdefault(path, [])
            if all(message != m for m, _, _ in known):
                known.append((message, hint, code))
            continue
        problems.append(
            problem_at(
                document, file, path, message, hint, code, prefer_key=prefer_key or about_key
            )
        )
    for path, options in union_messages.items():
        if len(options) == 1:
            message, hint, code = options[0]
        else:
            message = "; or ".join(m for m, _, _ in options)
            hint, code = "write one of the accepted forms", "invalid_value"
        problems.append(problem_at(document, file, path, message, hint, code))
    return problems


def sorted_unique(problems: Iterable[Problem]) -> list[Problem]:
    """Drop exact repeats (raw and typed passes may both find a rule) and sort by position."""
    unique: dict[tuple[Any, ...], Problem] = {}
    for problem in problems:
        loc = problem.location
        unique.setdefault((loc.file, loc.line, loc.column, loc.field, problem.message), problem)
    return sorted(
        unique.values(),
        key=lambda p: (
            p.location.file or "",
            p.location.line or 0,
            p.location.column or 0,
            p.location.field or "",
        ),
    )
