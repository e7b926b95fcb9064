"""Plausible ranges for measured event columns, checked at ingest.

A value can be a valid finite number and still be a data error: an order of
1e200 JPY, a quantity of ten million. :class:`ValueBounds` holds a range per
(event type, column), ``*`` standing for every type; values outside are
reported with their rows, as warnings (the rows are written) or, with
``refuse=True`` (``ingest --implausible refuse``), as problems that refuse the
ingest like any other bad value. Negative amounts are refused by the ingest
validator itself, whatever the bounds say.

Default ranges: ``value`` and ``discount`` up to 1e12 (a trillion in any
currency is no single order), ``quantity`` up to 1e6. They only catch gross
errors; give tighter ones per event type where the shop knows its prices:
``--bound order.value=0:5e6``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from upsell_ab.errors import InputError, Location, Problem

if TYPE_CHECKING:
    import pandas as pd

ANY_TYPE = "*"
BOUNDED_COLUMNS = ("value", "discount", "quantity")
DEFAULT_RANGES: dict[tuple[str, str], tuple[float, float]] = {
    (ANY_TYPE, "value"): (0.0, 1e12),
    (ANY_TYPE, "discount"): (0.0, 1e12),
    (ANY_TYPE, "quantity"): (0.0, 1e6),
}


@dataclass(frozen=True)
class ValueBounds:
    """Plausible [low, high] per (event type or ``*``, column); a type-specific range
    replaces the ``*`` range for that type."""

    ranges: Mapping[tuple[str, str], tuple[float, float]] = field(
        default_factory=lambda: dict(DEFAULT_RANGES)
    )
    refuse: bool = False

    def with_flags(self, flags: list[str] | None, *, refuse: bool | None = None) -> ValueBounds:
        """These bounds with ``--bound`` flags applied (later flags win)."""
        ranges = dict(self.ranges)
        problems: list[Problem] = []
        for flag in flags or []:
            try:
                key, bound = parse_bound(flag)
            except ValueError as error:
                problems.append(
                    Problem(
                        Location(field=f"--bound {flag}"),
                        str(error),
                        "e.g. --bound order.value=0:5e6 or --bound quantity=:100",
                        "bad_bound",
                    )
                )
                continue
            ranges[key] = bound
        if problems:
            raise InputError(problems)
        return ValueBounds(ranges, self.refuse if refuse is None else refuse)

    def outside(self, frame: pd.DataFrame) -> Iterator[tuple[str, str, float, float, Any]]:
        """(column, event type or ``*``, low, high, boolean mask) for every range some
        row of ``frame`` (canonical event columns) falls outside."""
        import numpy as np

        types = frame["event_type"].astype(str).to_numpy()
        specific = {t for t, _ in self.ranges if t != ANY_TYPE}
        for (event_type, column), (low, high) in sorted(self.ranges.items()):
            if column not in frame:
                continue
            values = frame[column].to_numpy(dtype=float)
            if event_type == ANY_TYPE:
                # types with their own range for this column are checked by that range
                own = [t for t in specific if (t, column) in self.ranges]
                selected = ~np.isin(types, own) if own else np.ones(len(types), dtype=bool)
            else:
                selected = types == event_type
            with np.errstate(invalid="ignore"):
                mask = selected & ((values < low) | (values > high))
            if mask.any():
                yield column, event_type, low, high, mask


def parse_bound(flag: str) -> tuple[tuple[str, str], tuple[float, float]]:
    """``order.value=0:5e6`` -> (('order', 'value'), (0.0, 5e6)); ``value=:1e9`` applies to
    every event type; an empty side is open (-inf / +inf)."""
    target, sep, text = flag.partition("=")
    if not sep:
        raise ValueError("expected [EVENT_TYPE.]COLUMN=LOW:HIGH")
    event_type, dot, column = target.strip().rpartition(".")
    if column not in BOUNDED_COLUMNS:
        raise ValueError(f"bounds apply to {', '.join(BOUNDED_COLUMNS)}, not {column!r}")
    low_text, colon, high_text = text.partition(":")
    if not colon:
        raise ValueError("expected LOW:HIGH (either side may be empty)")
    try:
        low = float(low_text) if low_text.strip() else -math.inf
        high = float(high_text) if high_text.strip() else math.inf
    except ValueError:
        raise ValueError(f"cannot read {text!r} as LOW:HIGH numbers") from None
    if math.isnan(low) or math.isnan(high) or low > high:
        raise ValueError(f"empty range {text!r}")
    return ((event_type.strip() if dot else ANY_TYPE), column), (low, high)


def describe(column: str, event_type: str, low: float, high: float) -> str:
    """``value outside the plausible range [0, 1e+12]`` (for event type X)."""
    which = "" if event_type == ANY_TYPE else f" for {event_type!r} events"
    return f"{column} outside the plausible range [{low:g}, {high:g}]{which}"
