"""Stable JSON: the documented contract other tools parse (docs/report.md,
validated by docs/report.schema.json).

Keys keep the model's fixed order, non-ASCII text stays readable (UTF-8), and
NaN/inf can never appear (``allow_nan=False``; the model maps them to null),
because strict JSON parsers reject them.

Deterministic: every float is rounded to :data:`SIGNIFICANT_DIGITS`
significant digits here, at the edge, so the same data gives byte-identical
JSON. The statistics keep full precision; the last digits of a double are
rounding noise of the summation order and not information (the DuckDB store
also sums in a fixed order, see ``events/engines.py``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from upsell_ab.report.failures import SpecFailure
from upsell_ab.report.model import ExperimentReport, to_document

SIGNIFICANT_DIGITS = 12
"""Doubles carry 15-17; the 13th onwards differ between summation orders."""


def round_floats(value: Any, digits: int = SIGNIFICANT_DIGITS) -> Any:
    """``value`` with every float rounded to ``digits`` significant digits (recursively
    through dicts and lists; ints, bools, strings and None unchanged)."""
    if isinstance(value, float):
        return float(f"{value:.{digits}g}")
    if isinstance(value, dict):
        return {k: round_floats(v, digits) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [round_floats(v, digits) for v in value]
    return value


def render_json(
    reports: Sequence[ExperimentReport],
    *,
    indent: int | None = 2,
    failures: Sequence[SpecFailure] = (),
) -> str:
    """``{"schema_version", "generator", "experiments": [...], "errors": [...]}`` as text."""
    document = to_document(reports)
    document["errors"] = [f.to_dict() for f in failures]
    return (
        json.dumps(round_floats(document), indent=indent, ensure_ascii=False, allow_nan=False)
        + "\n"
    )
