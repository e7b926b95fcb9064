"""Frequentist comparisons made valid under daily peeking: confidence sequences.

When ``analysis.sequential.enabled`` the fixed-horizon intervals of a
:class:`FrequentistComparison` are replaced by anytime-valid confidence
sequences from :mod:`upsell_ab.stats.sequential` (Waudby-Smith et al. 2021,
"Time-uniform central limit theory and asymptotic confidence sequences";
GrowthBook's form with tuning N*), for the absolute difference and for the
delta-method relative lift, and the p-value by the matching anytime-valid
p-value: the smallest alpha whose sequence excludes 0 (Howard, Ramdas,
McAuliffe & Sekhon 2021, "Time-uniform, nonparametric, nonasymptotic
confidence sequences", sec. 1: p_t = inf{alpha : 0 not in CS_t(alpha)}). The
engine's ``sequential_p_value`` (the mixture e-value's 1/E, below alpha exactly
when the sequence excludes 0) is used when present; otherwise the p-value is
found by root finding on the engine's own interval function. Either way the
p-value and the interval cannot disagree at the configured alpha. Sequences
are two-sided; for a one-sided alternative they are conservative (each side
holds at alpha / 2).

The sequential engine is another module; when it is missing the fixed-horizon
results are returned unchanged with a note, never a made-up interval.
"""

from __future__ import annotations

import functools
import importlib
import math
from collections.abc import Callable, Mapping
from dataclasses import replace
from types import ModuleType
from typing import TYPE_CHECKING

from upsell_ab.errors import StatsError
from upsell_ab.metrics.aggregates import ExperimentData
from upsell_ab.metrics.sufficient import SampleStats
from upsell_ab.spec.models import MetricType
from upsell_ab.stats.estimates import arm_estimates
from upsell_ab.stats.lift import relative_lift
from upsell_ab.stats.results import (
    ArmEstimate,
    FrequentistComparison,
    Interval,
    MetricResult,
    SequentialStatus,
    Status,
    difference,
)

_LOG_ALPHA_FLOOR = -700.0
"""exp(-700) ~ 1e-304: p-values are reported down to this floor."""
_LOG_ALPHA_CEILING = -1e-9

if TYPE_CHECKING:
    from upsell_ab.spec.resolve import ResolvedExperiment

IntervalFunction = Callable[[float, float, float, float, float], Interval]
"""``sequential_interval(estimate, variance, n_total, alpha, tuning_n) -> Interval``."""


@functools.cache
def sequential_module() -> ModuleType | None:
    """The sequential engine, imported once (None while it does not exist)."""
    try:
        return importlib.import_module("upsell_ab.stats.sequential")
    except ImportError:
        return None


def interval_function() -> IntervalFunction | None:
    module = sequential_module()
    function = getattr(module, "sequential_interval", None) if module is not None else None
    return function if callable(function) else None


def _halfwidth(
    function: IntervalFunction, variance: float, n_total: float, alpha: float, tuning: float
) -> float:
    interval = function(0.0, variance, n_total, alpha, tuning)
    if interval.low is None or interval.high is None:
        raise ValueError("the sequential interval has an open end")
    return (interval.high - interval.low) / 2.0


def anytime_p_value(
    function: IntervalFunction, estimate: float, variance: float, n_total: float, tuning: float
) -> float:
    """Smallest alpha whose confidence sequence excludes 0: the root in log alpha of
    ``halfwidth(alpha) = |estimate|`` (Brent's method; the half-width falls as alpha grows).
    1 when even the alpha -> 1 sequence contains 0 (mixture boundaries have a positive
    width at alpha = 1, where some forms divide by zero, so the bracket stops just short)."""
    from scipy import optimize

    target = abs(estimate)

    def gap(log_alpha: float) -> float:
        return _halfwidth(function, variance, n_total, math.exp(log_alpha), tuning) - target

    if gap(_LOG_ALPHA_CEILING) >= 0.0:
        return 1.0
    if gap(_LOG_ALPHA_FLOOR) < 0.0:
        return math.exp(_LOG_ALPHA_FLOOR)
    root = optimize.brentq(gap, _LOG_ALPHA_FLOOR, _LOG_ALPHA_CEILING, xtol=1e-12, rtol=1e-12)
    return math.exp(float(root))


def sequential_comparisons(
    frequentist: Mapping[str, FrequentistComparison],
    estimates: Mapping[str, ArmEstimate],
    control: str,
    *,
    alpha: float,
    tuning_n: float,
    notes: list[str],
) -> dict[str, FrequentistComparison]:
    """Replace each computable comparison's intervals and p-value by anytime-valid ones.

    ``estimates`` are the arm estimates the fixed-horizon test used (proportions:
    p and p(1-p)/n; others: :func:`.estimates.arm_estimates`)."""
    function = interval_function()
    if function is None:
        notes.append(
            "sequential engine not available: intervals are fixed-horizon, "
            "not valid under daily peeking"
        )
        return dict(frequentist)
    out: dict[str, FrequentistComparison] = {}
    for variant, result in frequentist.items():
        c_est, t_est = estimates.get(control), estimates.get(variant)
        usable = result.status in (Status.ok, Status.zero_baseline)
        if not usable or c_est is None or t_est is None or result.absolute_lift is None:
            out[variant] = result
            continue
        n_total = float(c_est.n + t_est.n)
        variance = c_est.variance + t_est.variance
        diff = difference(c_est, t_est)
        absolute = function(diff, variance, n_total, alpha, tuning_n)
        lift = relative_lift(c_est, t_est)
        relative = (
            function(lift.lift, lift.variance, n_total, alpha, tuning_n)
            if lift is not None
            else Interval(None, None, 1.0 - alpha)
        )
        p_function = getattr(sequential_module(), "sequential_p_value", None)
        p_value = (
            p_function(diff, variance, n_total, alpha, tuning_n)
            if callable(p_function)
            else anytime_p_value(function, diff, variance, n_total, tuning_n)
        )
        out[variant] = replace(
            result,
            method=f"{result.method}, confidence sequence",
            absolute_ci=absolute,
            relative_ci=relative,
            p_value=p_value,
            sequential=True,
        )
    return out


def monitoring_status(
    metric: MetricResult, planned_per_variant: Mapping[str, int] | None
) -> SequentialStatus | None:
    """May the experiment stop? Yes when, on the deciding metric, every treatment's
    confidence sequence excludes 0 or its comparison reached the planned sample
    (``stats.sequential.may_stop`` per treatment). None without the engine or
    without sequential intervals."""
    may_stop = getattr(sequential_module(), "may_stop", None)
    if not callable(may_stop):
        return None
    units = {v.variant: v.n for v in metric.variants}
    verdicts: list[tuple[str, SequentialStatus]] = []
    for comparison in metric.comparisons:
        result = comparison.frequentist
        if result is None or not result.sequential:
            return None
        n_total = units.get(comparison.baseline, 0) + units.get(comparison.variant, 0)
        planned = None
        if planned_per_variant is not None:
            planned = planned_per_variant.get(comparison.baseline, 0) + planned_per_variant.get(
                comparison.variant, 0
            )
        verdicts.append((comparison.variant, may_stop(result.absolute_ci, n_total, planned)))
    if not verdicts:
        return None
    reason = "; ".join(f"{variant}: {status.reason}" for variant, status in verdicts)
    return SequentialStatus(
        method=verdicts[0][1].method,
        may_stop=all(status.may_stop for _, status in verdicts),
        reason=f"{metric.metric}: {reason}",
    )


def planned_units(
    resolved: ResolvedExperiment, metric: MetricResult, data: ExperimentData
) -> dict[str, int] | None:
    """Units per variant the spec's MDE needs, from the control's observed rate or
    per-unit standard deviation (:func:`.power.plan`); None when it cannot be planned."""
    from upsell_ab.stats import power

    experiment = resolved.experiment
    settings = experiment.analysis
    control = experiment.control.id
    baseline = next((v.mean for v in metric.variants if v.variant == control), None)
    metric_data = data.metrics.get(metric.metric)
    if baseline is None or metric_data is None or control not in metric_data.by_variant:
        return None
    std: float | None = None
    definition = resolved.metrics[metric.metric]
    binary = definition.type in (MetricType.proportion, MetricType.retention)
    if not (binary and isinstance(metric_data.by_variant[control], SampleStats)):
        estimate = arm_estimates({control: metric_data.by_variant[control]}).get(control)
        if estimate is None or not estimate.unit_variance:
            return None
        std = estimate.unit_variance**0.5
    try:
        plan = power.plan(
            weights={v.id: v.weight for v in experiment.variants},
            control=control,
            mde=settings.mde,
            mde_kind=settings.mde_kind.value,
            baseline=baseline,
            std=std,
            alpha=settings.alpha,
            power=settings.power,
            alternative=settings.alternative.value,
        )
    except StatsError:
        return None
    return plan.n_per_variant
