"""Response rates behind a score among respondents, compared between arms.

A score from a survey (satisfaction) is a mean over the customers who answered; its
catalogue entry names a ``response_rate``, the 0/1 metric "responded". Each treatment's
rate is compared with the control's by :func:`upsell_ab.stats.frequentist.proportion_test`
(pooled two-proportion z-test; Fisher's exact test when an expected cell is under 10),
two-sided at the experiment's ``alpha``, unadjusted: for a bias check a missed
difference is the costly error. What follows from a difference is decided in
:mod:`upsell_ab.decision.response_bias`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from upsell_ab.spec.resolve import ResolvedExperiment
    from upsell_ab.stats.results import ExperimentAnalysis, MetricResult


@dataclass(frozen=True)
class ResponseCheck:
    """One treatment's response rate against the control's, for one score metric."""

    metric: str
    response_metric: str
    variant: str
    baseline: str
    rate: float
    baseline_rate: float
    p_value: float | None
    method: str
    differs: bool

    def describe(self) -> str:
        """'survey response rate B 12.0% vs A 9.1% (pooled z-test, p = 0.003)'."""
        p = "no test possible" if self.p_value is None else f"p = {self.p_value:.3g}"
        return (
            f"{self.response_metric.replace('_', ' ')} {self.variant} "
            f"{self.rate:.1%} vs {self.baseline} {self.baseline_rate:.1%} ({self.method}, {p})"
        )


def _result(analysis: ExperimentAnalysis, name: str) -> MetricResult | None:
    return next((m for m in analysis.metrics if m.metric == name), None)


def response_checks(
    resolved: ResolvedExperiment, analysis: ExperimentAnalysis
) -> list[ResponseCheck]:
    """Every (score metric, treatment) pair whose response rate can be compared."""
    from upsell_ab.metrics.sufficient import SampleStats
    from upsell_ab.stats.frequentist import proportion_test

    alpha = resolved.experiment.analysis.alpha
    checks: list[ResponseCheck] = []
    for name, definition in resolved.metrics.items():
        target = definition.response_rate
        if target is None:
            continue
        rates = _result(analysis, target)
        if rates is None:
            continue
        arms = {v.variant: v for v in rates.variants}
        control = resolved.experiment.control.id
        base = arms.get(control)
        if base is None or base.n == 0 or base.mean is None:
            continue
        for variant, arm in arms.items():
            if variant == control or arm.n == 0 or arm.mean is None:
                continue
            tested = proportion_test(
                SampleStats.from_proportion(base.n, round(base.mean * base.n)),
                SampleStats.from_proportion(arm.n, round(arm.mean * arm.n)),
                alpha=alpha,
            )
            p = tested.p_value
            checks.append(
                ResponseCheck(
                    metric=name,
                    response_metric=target,
                    variant=variant,
                    baseline=control,
                    rate=arm.mean,
                    baseline_rate=base.mean,
                    p_value=p,
                    method=tested.method,
                    differs=p is not None and p < alpha,
                )
            )
    return checks


def response_notes(
    resolved: ResolvedExperiment, analysis: ExperimentAnalysis
) -> dict[str, list[str]]:
    """metric -> notes for its report section: among respondents, at which rates, and
    whether they differ (then the lift is biased)."""
    by_metric: dict[str, list[ResponseCheck]] = {}
    for check in response_checks(resolved, analysis):
        by_metric.setdefault(check.metric, []).append(check)
    notes: dict[str, list[str]] = {}
    for name, checks in by_metric.items():
        rates = "; ".join(c.describe() for c in checks)
        if any(c.differs for c in checks):
            notes[name] = [
                f"Biased: a score among respondents, and the arms responded at different "
                f"rates ({rates}); the lift compares different customers."
            ]
        else:
            notes[name] = [
                f"A score among respondents only; response rates {rates}: no detectable "
                "difference, which does not prove the same customers answered."
            ]
    return notes
