"""An arm whose amounts went missing: its revenue is measured differently from the others'.

A tracking change shipped with one variant (a new checkout that sends the amount under
another field name, a tag that fires before the price is known) leaves that arm's
orders without amounts. The store keeps a missing amount as 0 (ingest defaults it and
records so per ingest), so that arm's revenue per customer falls for no commercial
reason; when it is the control's that went missing, the treatment "wins" with a tiny
p-value. The totals' check (:func:`upsell_ab.decision.gates.empty_columns`) only sees a
column empty in *every* arm.

So for every measured column (``value``, ``discount``, ``quantity`` of an event type a
metric sums) the query counts, per arm, the units with an event of that type since
their first exposure and, of those, the units with one whose column is 0 or missing
(``ExperimentData.empty_values``). Units are independent (one unit's events are not),
so the shares are compared with the two-proportion test used everywhere else
(:func:`upsell_ab.stats.frequentist.proportion_test`: pooled z, or Fisher's exact test
when an expected cell is under 10), two-sided, each treatment against the control.

A difference is reported when p < ``EMPTY_P`` (0.001: a bias check run on every
analysis and every column must rarely cry wolf; 1 in 1,000 per comparison under equal
shares) and the shares differ by at least ``EMPTY_GAP`` (5 percentage points: a
tracking break empties a large share, a rounding quirk a tiny one). It is a headline
warning, not a block: an amount of 0 can be real (a free gift is a tactic of its own),
and only the shop can tell "free" from "missing". The warning names the arms, shares,
p-value and the metrics that sum the column.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from upsell_ab.decision.reasons import metric_label

if TYPE_CHECKING:
    from upsell_ab.metrics.aggregates import ExperimentData
    from upsell_ab.spec.resolve import ResolvedExperiment

EMPTY_P = 0.001
"""p-value below which the arms' shares of units with an empty amount differ."""
EMPTY_GAP = 0.05
"""Smallest difference of those shares (absolute) worth a warning."""


@dataclass(frozen=True)
class EmptyValueGap:
    """One treatment whose share of units with an empty amount differs from the control's."""

    event: str
    column: str
    control: str
    treatment: str
    control_share: float
    treatment_share: float
    p_value: float

    def describe(self) -> str:
        return (
            f"{self.treatment} {self.treatment_share:.1%} against {self.control} "
            f"{self.control_share:.1%} of the customers with a '{self.event}' event, "
            f"p = {self.p_value:.2g}"
        )


def empty_value_gaps(resolved: ResolvedExperiment, data: ExperimentData) -> list[EmptyValueGap]:
    """Every (measured column, treatment) whose empty-amount share differs from the
    control's (see the module docstring)."""
    from upsell_ab.metrics.sql_exact import CANONICAL
    from upsell_ab.metrics.sufficient import SampleStats
    from upsell_ab.stats.frequentist import proportion_test

    control = resolved.experiment.control.id
    gaps: list[EmptyValueGap] = []
    for (event, column), by_variant in sorted(data.empty_values.items()):
        c_units, c_empty = by_variant.get(control, (0, 0))
        for variant, (units, empty) in by_variant.items():
            if variant == control or not units or not c_units:
                continue
            c_share, t_share = c_empty / c_units, empty / units
            if abs(t_share - c_share) < EMPTY_GAP:
                continue
            test = proportion_test(
                SampleStats(n=c_units, sum=float(c_empty), sum_squares=float(c_empty)),
                SampleStats(n=units, sum=float(empty), sum_squares=float(empty)),
            )
            if test.p_value is not None and test.p_value < EMPTY_P:
                gaps.append(
                    EmptyValueGap(
                        event=event,
                        column=CANONICAL.get(column, column),
                        control=control,
                        treatment=variant,
                        control_share=c_share,
                        treatment_share=t_share,
                        p_value=test.p_value,
                    )
                )
    return gaps


def _readers(resolved: ResolvedExperiment, event: str, column: str) -> list[str]:
    """The metrics that sum ``column`` (its canonical name) of ``event`` events, in spec
    order: the channels the query measures that column for (``sql.MEASURED``)."""
    from upsell_ab.metrics.capping import metric_channels
    from upsell_ab.metrics.sql import MEASURED
    from upsell_ab.metrics.sql_exact import CANONICAL
    from upsell_ab.metrics.sql_layout import build_slots

    return [
        slot.name
        for slot in build_slots(tuple(resolved.metrics.items()))
        if any(
            ch.event == event
            and ch.column is None
            and CANONICAL.get(MEASURED.get(ch.summand, ""), "") == column
            for ch in metric_channels(slot.definition)
        )
    ]


def empty_value_warnings(resolved: ResolvedExperiment, data: ExperimentData | None) -> list[str]:
    """A headline line per measured column whose empty-amount share differs between arms."""
    if data is None or not data.empty_values:
        return []
    by_column: dict[tuple[str, str], list[EmptyValueGap]] = {}
    for gap in empty_value_gaps(resolved, data):
        by_column.setdefault((gap.event, gap.column), []).append(gap)
    lines = []
    for (event, column), gaps in by_column.items():
        readers = ", ".join(metric_label(name, None) for name in _readers(resolved, event, column))
        read_by = f" ({readers})" if readers else ""
        lines.append(
            f"The '{event}' events' {column} is 0 or missing for different shares of the arms' "
            f"customers ({'; '.join(g.describe() for g in gaps)}). If the amounts are missing "
            f"rather than really 0 (a tracking change in one arm), the metrics that sum "
            f"them{read_by} compare arms measured differently: check that arm's tracking "
            "before trusting them."
        )
    return lines


__all__ = ["EMPTY_GAP", "EMPTY_P", "EmptyValueGap", "empty_value_gaps", "empty_value_warnings"]
