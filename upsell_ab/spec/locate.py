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

import re
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
        return f"missing required key '{path[-1]}'", f"add '{path[-1]}: ...'", "missing", False
    if kind in ("enum", "literal_error"):
        choices = _QUOTED.findall(str(error.get("ctx", {}).get("expected", "")))
        return (
            f"'{given}' is not one of: {', '.join(choices)}",
            _choice_hint(str(given), choices),
            "invalid_choice",
            False,
        )
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
