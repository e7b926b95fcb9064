"""Stable JSON: the documented contract other tools parse (docs/report.md,
validated by docs/report.schema.json).

Keys keep the model's fixed order, non-ASCII text stays readable (UTF-8), and
NaN/inf can never appear (``allow_nan=False``; the model maps them to null),
because strict JSON parsers reject them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from upsell_ab.report.model import ExperimentReport, to_document


def render_json(reports: Sequence[ExperimentReport], *, indent: int | None = 2) -> str:
    """``{"schema_version", "generator", "experiments": [...]}`` as text."""
    return (
        json.dumps(to_document(reports), indent=indent, ensure_ascii=False, allow_nan=False) + "\n"
    )
