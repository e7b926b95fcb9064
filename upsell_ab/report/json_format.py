"""Stable JSON: the documented contract other tools parse (docs/report.md,
validated by docs/report.schema.json).

Keys keep the model's fixed order, non-ASCII text stays readable (UTF-8), and
NaN/inf can never appear (``allow_nan=False``; the model maps them to null),
because strict JSON parsers reject them.

Deterministic: every float is rounded to 12 significant digits at the edge
(``to_document``, :mod:`upsell_ab.report.rounding`), so the same data gives byte-identical
JSON. The statistics keep full precision; the last digits of a double are
rounding noise of the summation order and not information (the DuckDB store
also sums in a fixed order, see ``events/engines.py``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from upsell_ab.report.failures import SpecFailure
from upsell_ab.report.history import HistoryEntry
from upsell_ab.report.model import ExperimentReport, to_document
from upsell_ab.report.programme import ProgrammeSection
from upsell_ab.report.rounding import SIGNIFICANT_DIGITS, round_floats

__all__ = ["SIGNIFICANT_DIGITS", "render_json", "round_floats"]


def render_json(
    reports: Sequence[ExperimentReport],
    *,
    indent: int | None = 2,
    failures: Sequence[SpecFailure] = (),
    history: Sequence[HistoryEntry] = (),
    programme: ProgrammeSection | None = None,
) -> str:
    """``{"schema_version", "generator", "experiments": [...], "errors": [...]}`` as text,
    plus ``history`` (concluded experiments) when there are any and ``programme`` (the
    whole programme against its long-term holdout) when the specs have one."""
    document = to_document(reports, failures)
    if programme is not None:
        document["programme"] = round_floats(programme.to_dict())
    if history:
        document["history"] = [entry.to_dict() for entry in history]
    return json.dumps(document, indent=indent, ensure_ascii=False, allow_nan=False) + "\n"
