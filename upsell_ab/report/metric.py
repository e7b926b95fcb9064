"""Report view of one metric: per-variant summaries, comparisons, daily lifts.

Values are copied from ``stats.results``; nothing is computed. ``finite``
maps NaN/inf to None so JSON stays strict and "n/a" shows instead.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from upsell_ab.spec.models import Direction, MetricType

if TYPE_CHECKING:
    from upsell_ab.spec.models import Guardrail, MetricDefinition
    from upsell_ab.stats.results import Comparison, MetricResult


def finite(value: float | None) -> float | None:
    """NaN/inf are not numbers a reader can use: they become None (JSON null)."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


PROBABILITY_TOLERANCE = 1e-9
"""Numerical integration can overshoot [0, 1] by rounding noise (1.000000000005)."""


def probability(value: float | None) -> float | None:
    """A probability with rounding noise beyond [0, 1] clipped; anything further
    out is passed through unchanged so the JSON Schema flags the engine bug."""
    value = finite(value)
    if value is None:
        return None
    if -PROBABILITY_TOLERANCE <= value < 0.0:
        return 0.0
    if 1.0 < value <= 1.0 + PROBABILITY_TOLERANCE:
        return 1.0
    return value


@dataclass(frozen=True)
class DailyLift:
    """Cumulative lift of ``variant`` over the baseline as of the end of ``day``,
    with its interval (an anytime-valid confidence sequence when sequential
    monitoring is on). Filled by the workflow, which calls the stats engines
    once per day on ``MetricData.daily``; the report only draws it."""

    day: date
    variant: str
    lift: float | None
    ci_low: float | None
    ci_high: float | None
    kind: str = "relative"
    """'relative' (fraction, 0.05 = +5 %) or 'absolute' (metric units)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "day": self.day.isoformat(),
            "variant": self.variant,
            "lift": finite(self.lift),
            "ci_low": finite(self.ci_low),
            "ci_high": finite(self.ci_high),
            "kind": self.kind,
        }


@dataclass(frozen=True)
class VariantStat:
    variant: str
    n: int
    mean: float | None

    def to_dict(self) -> dict[str, Any]:
        return {"variant": self.variant, "n": self.n, "mean": finite(self.mean)}


@dataclass(frozen=True)
class BayesianReport:
    method: str
    status: str
    relative_lift: float | None
    ci_low: float | None
    ci_high: float | None
    relative_ci_low: float | None
    relative_ci_high: float | None
    ci_level: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "status": self.status,
            "relative_lift": finite(self.relative_lift),
            "ci_low": finite(self.ci_low),
            "ci_high": finite(self.ci_high),
            "relative_ci_low": finite(self.relative_ci_low),
            "relative_ci_high": finite(self.relative_ci_high),
            "ci_level": self.ci_level,
        }


@dataclass(frozen=True)
class NonInferiorityReport:
    margin: float
    margin_kind: str
    p_value: float | None
    passed: bool | None
    bound: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "margin": self.margin,
            "margin_kind": self.margin_kind,
            "p_value": finite(self.p_value),
            "passed": self.passed,
            "bound": finite(self.bound),
        }


@dataclass(frozen=True)
class ComparisonReport:
    """One treatment against the baseline. Estimates, intervals and p-values
    come from the frequentist engine; ``prob_beat_baseline`` and
    ``expected_loss`` from the Bayesian engine; each is None when its engine
    did not run or could not compute it."""

    variant: str
    baseline: str
    method: str | None
    status: str | None
    absolute_lift: float | None
    relative_lift: float | None
    ci_low: float | None
    ci_high: float | None
    relative_ci_low: float | None
    relative_ci_high: float | None
    ci_level: float | None
    statistic: float | None
    p_value: float | None
    p_value_adjusted: float | None
    sequential: bool | None
    variance_reduction: float | None
    prob_beat_baseline: float | None
    expected_loss: float | None
    bayesian: BayesianReport | None
    non_inferiority: NonInferiorityReport | None

    @property
    def shown_relative(self) -> tuple[float | None, float | None, float | None]:
        """(lift, low, high) to display: the frequentist estimate and interval, else
        (engine 'bayesian') the posterior mean and credible interval of the relative lift."""
        if self.method is None and self.bayesian is not None:
            b = self.bayesian
            return b.relative_lift, b.relative_ci_low, b.relative_ci_high
        return self.relative_lift, self.relative_ci_low, self.relative_ci_high

    @property
    def shown_level(self) -> float | None:
        if self.method is None and self.bayesian is not None:
            return self.bayesian.ci_level
        return self.ci_level

    def to_dict(self) -> dict[str, Any]:
        return {
            "variant": self.variant,
            "baseline": self.baseline,
            "method": self.method,
            "status": self.status,
            "absolute_lift": finite(self.absolute_lift),
            "relative_lift": finite(self.relative_lift),
            "ci_low": finite(self.ci_low),
            "ci_high": finite(self.ci_high),
            "relative_ci_low": finite(self.relative_ci_low),
            "relative_ci_high": finite(self.relative_ci_high),
            "ci_level": self.ci_level,
            "statistic": finite(self.statistic),
            "p_value": finite(self.p_value),
            "p_value_adjusted": finite(self.p_value_adjusted),
            "sequential": self.sequential,
            "variance_reduction": finite(self.variance_reduction),
            "prob_beat_baseline": finite(self.prob_beat_baseline),
            "expected_loss": finite(self.expected_loss),
            "bayesian": self.bayesian.to_dict() if self.bayesian else None,
            "non_inferiority": self.non_inferiority.to_dict() if self.non_inferiority else None,
        }


@dataclass(frozen=True)
class MetricReport:
    name: str
    role: str
    type: str
    """Catalogue metric type: proportion, mean, count, ratio, retention, profit."""
    direction: str
    unit: str | None
    description: str | None
    variants: list[VariantStat]
    comparisons: list[ComparisonReport]
    prob_best: dict[str, float | None] | None
    notes: list[str] = field(default_factory=list)
    daily_lifts: list[DailyLift] = field(default_factory=list)

    @property
    def is_rate(self) -> bool:
        """0/1 metrics: means are shares, absolute lifts are percentage points."""
        return self.type in (MetricType.proportion.value, MetricType.retention.value)

    @property
    def higher_is_better(self) -> bool:
        return self.direction == Direction.higher_is_better.value

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "role": self.role,
            "type": self.type,
            "direction": self.direction,
            "unit": self.unit,
            "description": self.description,
            "variants": [v.to_dict() for v in self.variants],
            "comparisons": [c.to_dict() for c in self.comparisons],
            "prob_best": (
                None
                if self.prob_best is None
                else {k: probability(v) for k, v in self.prob_best.items()}
            ),
            "notes": list(self.notes),
            "daily_lifts": [d.to_dict() for d in self.daily_lifts],
        }


def comparison_report(comparison: Comparison) -> ComparisonReport:
    """Frequentist fields from the frequentist engine, Bayesian from the Bayesian one."""
    freq = comparison.frequentist
    bayes = comparison.bayesian
    ni = comparison.non_inferiority
    return ComparisonReport(
        variant=comparison.variant,
        baseline=comparison.baseline,
        method=freq.method if freq else None,
        status=freq.status.value if freq else None,
        absolute_lift=freq.absolute_lift if freq else None,
        relative_lift=freq.relative_lift if freq else None,
        ci_low=freq.absolute_ci.low if freq else None,
        ci_high=freq.absolute_ci.high if freq else None,
        relative_ci_low=freq.relative_ci.low if freq else None,
        relative_ci_high=freq.relative_ci.high if freq else None,
        ci_level=freq.absolute_ci.level if freq else None,
        statistic=freq.statistic if freq else None,
        p_value=freq.p_value if freq else None,
        p_value_adjusted=comparison.p_value_adjusted,
        sequential=freq.sequential if freq else None,
        variance_reduction=freq.variance_reduction if freq else None,
        prob_beat_baseline=probability(bayes.prob_beat_baseline) if bayes else None,
        expected_loss=bayes.expected_loss if bayes else None,
        bayesian=(
            BayesianReport(
                method=bayes.method,
                status=bayes.status.value,
                relative_lift=bayes.relative_lift,
                ci_low=bayes.absolute_ci.low,
                ci_high=bayes.absolute_ci.high,
                relative_ci_low=bayes.relative_ci.low,
                relative_ci_high=bayes.relative_ci.high,
                ci_level=bayes.relative_ci.level,
            )
            if bayes
            else None
        ),
        non_inferiority=(
            NonInferiorityReport(ni.margin, ni.margin_kind, ni.p_value, ni.passed, ni.bound)
            if ni
            else None
        ),
    )


CUPED_NOTE = "CUPED applied"
"""Start of the note a metric gets when CUPED adjusted it (every renderer shows it)."""


def cuped_note(
    definition: MetricDefinition | None, comparisons: Sequence[Comparison]
) -> str | None:
    """ "CUPED applied (covariate: ...): variance of the lift reduced by 37 % (pairing)", from
    the engine's ``variance_reduction`` (1 - Var(adjusted) / Var(unadjusted)); None when no
    comparison was CUPED-adjusted."""
    reductions = [
        (c.variant, c.frequentist.variance_reduction)
        for c in comparisons
        if c.frequentist is not None and c.frequentist.variance_reduction is not None
    ]
    if not reductions:
        return None
    cuped = definition.cuped if definition is not None else None
    if cuped is not None and cuped.column:
        source = f"the '{cuped.column}' column of the exposures"
    elif cuped is not None:
        from upsell_ab.spec.models import format_duration

        source = f"the same metric over the {format_duration(cuped.lookback)} before exposure"
    else:
        source = "a pre-exposure covariate"
    parts = ", ".join(f"{reduction * 100:.1f} % ({variant})" for variant, reduction in reductions)
    return f"{CUPED_NOTE} (covariate: {source}): variance of the lift reduced by {parts}"


def metric_report(
    result: MetricResult,
    definition: MetricDefinition | None,
    guardrails: Sequence[Guardrail],
    daily_lifts: Sequence[DailyLift],
) -> MetricReport:
    """The report view of one metric; a guardrail's own direction wins over the catalogue's."""
    direction = definition.direction if definition else Direction.higher_is_better
    for guardrail in guardrails:
        if guardrail.metric == result.metric and guardrail.direction is not None:
            direction = guardrail.direction
    return MetricReport(
        name=result.metric,
        role=result.role,
        type=definition.type.value if definition else "mean",
        direction=direction.value,
        unit=definition.unit if definition else None,
        description=definition.description if definition else None,
        variants=[VariantStat(v.variant, v.n, v.mean) for v in result.variants],
        comparisons=[comparison_report(c) for c in result.comparisons],
        prob_best=(
            {k: probability(v) for k, v in result.prob_best.items()}
            if result.prob_best is not None
            else None
        ),
        notes=[*result.notes, *filter(None, [cuped_note(definition, result.comparisons)])],
        daily_lifts=sorted(daily_lifts, key=lambda d: (d.day, d.variant)),
    )
