"""The lift of an ``ltv`` metric, decomposed into the parts that moved.

With N customers, n orders, r revenue and m = margin x r - discount per arm (sums over
the horizon), LTV = (n / N) x (r / n) x (m / r): purchases per customer x order value x
margin rate net of discounts (:mod:`upsell_ab.spec.ltv`). The ratio of two arms therefore
factors exactly,

    LTV_t / LTV_c = (f_t / f_c) x (AOV_t / AOV_c) x (MR_t / MR_c),

i.e. log(1 + lift) = sum_k log(1 + lift_k): the point estimates of the parts multiply back
to the total (checked, :attr:`LtvDecomposition.gap`). Each part's interval is its own
engine's relative interval (delta method for the ratio of means and the ratios of sums:
Deng, Knoblich & Lu 2018, "Applying the Delta Method in Metric Analytics", KDD), so it is
*marginal*: the parts are correlated within an arm (customers who buy more often may
buy cheaper), and their intervals must not be added. A part whose interval excludes 0
moved; the others may have. Bayesian-only experiments use the credible intervals.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from upsell_ab.stats.results import Interval

if TYPE_CHECKING:
    from upsell_ab.spec.resolve import ResolvedExperiment
    from upsell_ab.stats.results import Comparison, ExperimentAnalysis

PART_LABELS = {
    "purchases": "purchases per customer",
    "order_value": "order value",
    "margin_rate": "margin rate after discounts",
}


@dataclass(frozen=True)
class LiftPart:
    """One factor's relative lift (treatment / control - 1) and its interval."""

    label: str
    metric: str
    relative_lift: float | None
    interval: Interval

    @property
    def moved(self) -> bool:
        """The interval excludes 0."""
        low, high = self.interval.low, self.interval.high
        return low is not None and high is not None and (low > 0 or high < 0)

    def describe(self) -> str:
        if self.relative_lift is None:
            return f"{self.label} n/a"
        text = f"{self.label} {self.relative_lift:+.1%}"
        low, high = self.interval.low, self.interval.high
        if low is not None and high is not None:
            text += f" ({self.interval.level:.0%} CI {low:+.1%} to {high:+.1%})"
        return text


@dataclass(frozen=True)
class LtvDecomposition:
    """An ltv metric's lift for one treatment, and its three factors."""

    metric: str
    variant: str
    baseline: str
    total: LiftPart
    parts: tuple[LiftPart, ...]

    @property
    def gap(self) -> float | None:
        """log(1 + total) - sum log(1 + part): 0 up to rounding when every part exists."""
        lifts = [self.total.relative_lift, *(p.relative_lift for p in self.parts)]
        if any(x is None or x <= -1.0 for x in lifts):
            return None
        total, *parts = (math.log1p(x) for x in lifts if x is not None)
        return total - sum(parts)

    def describe(self) -> str:
        """'LTV by part, pushy vs plain: +4.1% = purchases per customer +6.0% (...) x ...'."""
        moved = [p.label for p in self.parts if p.moved]
        tail = f"; moved: {', '.join(moved)}" if moved else "; no part moved detectably"
        return (
            f"LTV by part, {self.variant} vs {self.baseline}: {self.total.describe()} = "
            + " x ".join(p.describe() for p in self.parts)
            + tail
            + " (intervals are per part and correlated: do not add them)"
        )


def _part(label: str, metric: str, comparison: Comparison | None) -> LiftPart:
    if comparison is None:
        return LiftPart(label, metric, None, Interval(None, None, 0.95))
    judged = comparison.frequentist or comparison.bayesian
    if judged is None:
        return LiftPart(label, metric, None, Interval(None, None, 0.95))
    return LiftPart(label, metric, judged.relative_lift, judged.relative_ci)


def ltv_decompositions(
    resolved: ResolvedExperiment, analysis: ExperimentAnalysis
) -> list[LtvDecomposition]:
    """One decomposition per (ltv metric, treatment) with results."""
    from upsell_ab.spec.ltv import PARTS
    from upsell_ab.spec.models import MetricType

    by_name = {m.metric: m for m in analysis.metrics}

    def comparison(metric: str, variant: str) -> Comparison | None:
        result = by_name.get(metric)
        if result is None:
            return None
        return next((c for c in result.comparisons if c.variant == variant), None)

    out: list[LtvDecomposition] = []
    for name, definition in resolved.metrics.items():
        if definition.type is not MetricType.ltv or name not in by_name:
            continue
        for total in by_name[name].comparisons:
            parts = tuple(
                _part(
                    PART_LABELS[part], f"{name}_{part}", comparison(f"{name}_{part}", total.variant)
                )
                for part in PARTS
            )
            out.append(
                LtvDecomposition(
                    metric=name,
                    variant=total.variant,
                    baseline=total.baseline,
                    total=_part(name.replace("_", " "), name, total),
                    parts=parts,
                )
            )
    return out


def ltv_notes(resolved: ResolvedExperiment, analysis: ExperimentAnalysis) -> dict[str, list[str]]:
    """metric -> its decomposition lines for the report."""
    notes: dict[str, list[str]] = {}
    for decomposition in ltv_decompositions(resolved, analysis):
        notes.setdefault(decomposition.metric, []).append(decomposition.describe())
    return notes
