"""Building blocks shared by every spec model: the frozen base class, durations, ids.

Durations are written ``"7d"``, ``"48h"``, ``"30m"``, ``"2w"`` and become
:class:`datetime.timedelta`; ids follow :data:`IDENTIFIER_PATTERN`.
"""

from __future__ import annotations

import re
from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, Strict

IDENTIFIER_PATTERN = r"^[A-Za-z][A-Za-z0-9_\-]*$"
"""Experiment, variant and metric ids: a letter, then letters, digits, '_' or '-'."""

_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(d|h|m|s|w)\s*$")
_DURATION_UNITS = {"w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1}


MAX_DURATION = timedelta(days=3650)
"""Longest duration a spec may give (10 years): windows, lookbacks and delays of a
shop's offers; beyond it is a typo (``99999999999d`` would overflow a timestamp)."""


def parse_duration(value: Any) -> timedelta:
    """``"7d"`` -> 7 days. Units: w, d, h, m, s. A bare number is refused (ambiguous unit).
    At most :data:`MAX_DURATION`."""
    if isinstance(value, timedelta):
        duration = value
    else:
        match = _DURATION_RE.match(value) if isinstance(value, str) else None
        if match is None:
            raise ValueError(
                f"expected a duration such as '7d', '48h', '30m' or '2w', got {value!r}"
            )
        seconds = float(match.group(1)) * _DURATION_UNITS[match.group(2)]
        if seconds > MAX_DURATION.total_seconds():
            raise ValueError(f"duration {value!r} is longer than the limit of 3650d (10 years)")
        duration = timedelta(seconds=seconds)
    if duration > MAX_DURATION:
        raise ValueError(f"duration {value!r} is longer than the limit of 3650d (10 years)")
    return duration


def format_duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    for unit in ("w", "d", "h", "m"):
        size = _DURATION_UNITS[unit]
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _duration_json_schema(schema: dict[str, Any]) -> None:
    """A string like ``7d`` (not JSON Schema's ISO 8601 ``duration`` format)."""
    schema.pop("format", None)
    schema.update(type="string", pattern=_DURATION_RE.pattern, examples=["7d", "48h", "2w"])


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
    Field(json_schema_extra=_duration_json_schema),
]
Identifier = Annotated[str, Field(pattern=IDENTIFIER_PATTERN, min_length=1, max_length=64)]
Share = Annotated[float, Field(ge=0.0, le=1.0)]
Switch = Annotated[bool, Strict()]
"""A boolean written true/false (never a quoted 'yes' coerced to True)."""


class Model(BaseModel):
    """Base for every spec model: frozen, unknown keys forbidden. YAML 1.1 traps
    (``no`` read as false, ``012`` as octal) are refused by the loader before
    the models see the values; numbers are never turned into strings. Numbers are
    finite (``allow_inf_nan=False``: ``margin: "inf"`` would switch a guardrail off)."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False
    )


class Direction(StrEnum):
    higher_is_better = "higher_is_better"
    lower_is_better = "lower_is_better"


class MarginKind(StrEnum):
    relative = "relative"
    absolute = "absolute"
