"""Rounding at the edge: every float of a report document to 12 significant digits.

Doubles carry 15-17 significant digits; the 13th onwards differ between
summation orders (parallel database threads), so without this the same data
could give JSON that differs in the last digits. The statistics keep full
precision; only the written document (``to_document``: JSON, ``Result.to_dict``)
is rounded. See docs/report.md, "Deterministic".
"""

from __future__ import annotations

from typing import Any

SIGNIFICANT_DIGITS = 12


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
