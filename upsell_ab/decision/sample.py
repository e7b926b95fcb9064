"""How much longer to run: extra units per variant and days for the spec's MDE.

The sample size per variant comes from :mod:`upsell_ab.stats.power` (Evan
Miller's form for rates; ``2 (z_a + z_b)^2 s^2 / delta^2`` for means, Chow,
Shao & Wang 2008, 3.2) with what the experiment has *observed*: the control
mean as the baseline, the per-unit variance of control and treatment (from the
sufficient statistics) as s^2, and alpha split over the treatments
(Bonferroni, conservative for Holm) when the spec corrects for multiplicity.
Days come from the observed daily traffic and each variant's weight.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from upsell_ab.spec.models import Correction, MarginKind
from upsell_ab.stats.results import MetricResult

if TYPE_CHECKING:
    from upsell_ab.metrics.aggregates import ExperimentData
    from upsell_ab.spec.resolve import ResolvedExperiment


@dataclass(frozen=True)
class Need:
    units: int
    """Extra units per variant (the largest over variants)."""
    days: float | None
    reason: str
    planned: dict[str, int] = field(default_factory=dict)
    """Units each arm needs in all (the planned sample, from the current estimates)."""


def unit_variances(result: MetricResult, data: ExperimentData | None) -> dict[str, float]:
    """Per-unit variance per variant: from the sufficient statistics when we have
    them, else p(1-p) when the means are proportions in [0, 1]. A switchback's are the
    slot analysis' Var(mean) x customers: the per-customer variance times the design
    effect, so the extra sample counts the slots' correlation."""
    if data is not None and data.slots is not None:
        from upsell_ab.stats.switchback_analysis import effective_unit_variances

        return effective_unit_variances(data.slots, result.metric)
    if data is not None and result.metric in data.metrics:
        from upsell_ab.stats.estimates import arm_estimates

        estimates = arm_estimates(data.metrics[result.metric].by_variant)
        found = {k: e.unit_variance for k, e in estimates.items() if e.unit_variance is not None}
        if found:
            return found
    return {}


def required_per_variant(
    resolved: ResolvedExperiment,
    metric: str,
    baseline: float,
    variance_control: float,
    variance_treatment: float,
    delta: float,
    alpha: float,
    alternative: str = "two_sided",
) -> int | None:
    """Units per variant for this metric kind, or None if the power module refuses."""
    from upsell_ab.errors import StatsError
    from upsell_ab.spec.models import MetricType
    from upsell_ab.stats import power

    settings = resolved.experiment.analysis
    definition = resolved.metrics.get(metric)
    rate = definition is not None and definition.type in (
        MetricType.proportion,
        MetricType.retention,
    )
    # a switchback's 0/1 outcomes are not independent: the observed (design-effect)
    # variances, not p(1 - p)
    rate = rate and not resolved.experiment.randomization.is_switchback
    try:
        if rate:
            return power.sample_size_proportion(
                baseline, delta, alpha=alpha, power=settings.power, alternative=alternative
            )
        std = math.sqrt((variance_control + variance_treatment) / 2.0)
        return power.sample_size_mean(
            std, delta, alpha=alpha, power=settings.power, alternative=alternative
        )
    except (StatsError, OverflowError, ValueError):
        return None  # no finite answer (e.g. variances beyond double precision)


def daily_units(resolved: ResolvedExperiment, data: ExperimentData | None) -> float | None:
    """Units a day entering the experiment: observed, else the spec's daily_units."""
    if data is not None and data.first_exposure and data.last_exposure:
        days = (data.last_exposure - data.first_exposure).days + 1
        # a switchback counts the customers its slots kept after the burn-in
        total = sum(data.slots.units.values()) if data.slots else data.quality.total_units
        if total > 0 and days > 0:
            return total / days
    configured = resolved.experiment.analysis.daily_units
    return float(configured) if configured else None


def extra_sample(
    resolved: ResolvedExperiment, result: MetricResult, data: ExperimentData | None
) -> Need | None:
    """Extra units per variant (and days) to detect the spec's MDE on ``result``'s
    metric, or None when no variance is known."""
    settings = resolved.experiment.analysis
    treatments = resolved.experiment.treatments
    alpha = settings.alpha
    if settings.correction is not Correction.none and len(treatments) > 1:
        alpha /= len(treatments)
    if settings.mde_kind is MarginKind.relative:
        goal = f"detect a {settings.mde * 100:g} % relative change"
    else:
        goal = f"detect an absolute change of {settings.mde:g}"
    return _need(
        resolved,
        result,
        data,
        mde=settings.mde,
        relative=settings.mde_kind is MarginKind.relative,
        alpha=alpha,
        alternative=settings.alternative.value,
        variants=[v.id for v in treatments],
        goal=goal,
    )


def guardrail_sample(
    resolved: ResolvedExperiment,
    result: MetricResult,
    data: ExperimentData | None,
    *,
    margin: float,
    relative: bool,
    variants: list[str],
) -> Need | None:
    """Extra units to show non-inferiority within ``margin`` (one-sided at
    alpha, assuming no true difference)."""
    settings = resolved.experiment.analysis
    kind = f"{margin * 100:g} %" if relative else f"{margin:g}"
    return _need(
        resolved,
        result,
        data,
        mde=margin,
        relative=relative,
        alpha=settings.alpha,
        alternative="greater",
        variants=variants,
        goal=f"show the guardrail is within {kind} of control",
    )


def _need(
    resolved: ResolvedExperiment,
    result: MetricResult,
    data: ExperimentData | None,
    *,
    mde: float,
    relative: bool,
    alpha: float,
    alternative: str,
    variants: list[str],
    goal: str,
) -> Need | None:
    experiment = resolved.experiment
    settings = experiment.analysis
    control = experiment.control.id
    means = {v.variant: v.mean for v in result.variants}
    counts = {v.variant: v.n for v in result.variants}
    variances = unit_variances(result, data)
    if not variances:
        variances = {k: m * (1 - m) for k, m in means.items() if m is not None and 0 <= m <= 1}
    baseline = means.get(control)
    if control not in variances or baseline is None:
        return None
    delta = mde * abs(baseline) if relative else mde
    if delta <= 0:
        return None
    weights = {v.id: v.weight for v in experiment.variants}
    per_day = daily_units(resolved, data)
    planned: dict[str, int] = {}
    for variant in variants:
        v_t = variances.get(variant, variances[control])
        needed = required_per_variant(
            resolved, result.metric, baseline, variances[control], v_t, delta, alpha, alternative
        )
        if needed is None:
            return None
        planned[variant] = needed
        planned[control] = max(planned.get(control, 0), needed)
    extra = {k: max(n - counts.get(k, 0), 0) for k, n in planned.items()}
    units = max(extra.values()) if extra else 0
    days: float | None = None
    if per_day:
        total = sum(weights.values())
        days = max((e / (per_day * weights[k] / total) for k, e in extra.items()), default=0.0)
    if units == 0:
        reason = f"Each variant already has the units needed to {goal} in {result.metric}."
    else:
        when = f", about {math.ceil(days)} more days at the observed traffic" if days else ""
        reason = (
            f"To {goal} in {result.metric} with {settings.power * 100:g} % power at "
            f"alpha {alpha:g}, about {units:,} more units per variant are needed{when}."
        )
        if data is not None and data.slots is not None and data.slots.units:
            # a switchback: the variances carry the design effect; say it in slots too
            per_slot = sum(data.slots.units.values()) / len(data.slots.units)
            length = str(data.slots.clock.slot).replace("_", " ")
            reason = reason[:-1] + (
                f" (customers, with the slots' design effect: about "
                f"{math.ceil(units / per_slot):,} more {length} slots per variant at "
                f"{per_slot:.1f} customers a slot)."
            )
    return Need(units=units, days=days, reason=reason, planned=planned)
