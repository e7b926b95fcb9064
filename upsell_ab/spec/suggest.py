""" "Did you mean ...": the closest allowed key, enum value or metric name.

Uses :func:`difflib.get_close_matches` (Ratcliff/Obershelp similarity,
cutoff 0.6), falling back to a case-insensitive match. The allowed keys at a
location come from the pydantic model that validates that location, so the
suggestions never drift from the models.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel


def did_you_mean(word: str, choices: Sequence[str]) -> str | None:
    """The closest of ``choices`` to ``word``, or None when nothing is close."""
    matches = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    if matches:
        return matches[0]
    lowered = {c.lower(): c for c in choices}
    return lowered.get(word.lower())


def suggestion(word: str, choices: Sequence[str], *, what: str = "") -> str:
    """A hint: "did you mean 'x'?" or the list of allowed choices."""
    guess = did_you_mean(word, choices)
    if guess is not None:
        return f"did you mean '{guess}'?"
    return f"allowed {what or 'values'}: {', '.join(choices)}" if choices else ""


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """Model classes reachable through Annotated/Optional/Union/list/dict/tuple."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return _models_in(args[0])
    if origin in (typing.Union, types.UnionType, list, tuple, dict):
        found: list[type[BaseModel]] = []
        for arg in args[1:] if origin is dict else args:
            found += _models_in(arg)
        return found
    return []


def _is_container(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _is_container(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return any(_is_container(a) for a in typing.get_args(annotation))
    return origin in (list, tuple, dict)


def model_at(root: type[BaseModel], path: Sequence[str | int]) -> type[BaseModel] | None:
    """The model class that validates the mapping found at ``path`` under ``root``."""
    current: type[BaseModel] | None = root
    pending_container = False
    for step in path:
        if current is None:
            return None
        if pending_container:
            pending_container = False
            continue
        field = _field(current, step)
        if field is None:
            return None
        models = _models_in(field.annotation)
        pending_container = _is_container(field.annotation)
        current = models[0] if models else None
    return None if pending_container else current


def _field(model: type[BaseModel], step: str | int) -> Any:
    if not isinstance(step, str):
        return None
    for name, info in model.model_fields.items():
        if step in (name, info.alias):
            return info
    return None


def allowed_keys(model: type[BaseModel]) -> list[str]:
    """The YAML keys a model accepts (aliases where set)."""
    return [info.alias or name for name, info in model.model_fields.items()]
