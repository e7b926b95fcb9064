"""Plan every metric that can decide or block an experiment, and say whether it fits.

An experiment ships only when its decision metric wins *and* every guardrail
passes its non-inferiority test, so the sample it needs is the largest of:

- the primary metric's superiority test at the spec's MDE (two-sided or one-sided,
  alpha split over the treatments, :mod:`upsell_ab.stats.power`);
- the decision metric (e.g. profit after discount), when it is not the primary,
  at the same relative MDE;
- each guardrail's one-sided non-inferiority test at its margin, planned under
  "no true difference" (Chow, Shao & Wang 2008, "Sample Size Calculations in
  Clinical Research", 2nd ed., 3.2.2 and 4.2.2):

      n per group = (z_{1-alpha} + z_{power})^2 (sigma_C^2 + sigma_T^2) / margin^2

  with ``sigma^2 = p (1 - p)`` for a rate (both arms at the baseline) and the
  per-unit variance for a mean; a relative margin is ``margin x |baseline|`` on
  the absolute scale (the delta-method lift has variance ``Var(diff) / mu_C^2``
  at lift 0). Guardrails are tested per treatment at ``analysis.alpha``
  without a multiplicity split, as the analysis does.

Every mean-like metric (mean, count, profit, ratio, quantile) is planned from a
per-unit standard deviation ``std`` such that the estimate's variance is
``std^2 / n``: the sample standard deviation for a mean, the delta-method one
for a ratio (``sqrt(n Var(R))``), the order-statistic one for a quantile. CUPED
scales it by ``sqrt(1 - r)`` with ``r`` the variance reduction seen on history.

Feasibility: with ``daily_units`` and a window of ``window_days`` the experiment
gets ``daily_units x window_days`` units; if the plan needs more, the result
says so and gives, per metric, the smallest MDE or margin reachable with what
the window holds (:func:`reachable_effect`) and the alternatives the project
offers (:func:`alternatives`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from upsell_ab.errors import StatsError
from upsell_ab.metrics.quantile import QuantileStats
from upsell_ab.metrics.sufficient import CupedRatioStats, CupedStats, MetricStats
from upsell_ab.stats import power as pw

Test = Literal["superiority", "non_inferiority"]
Kind = Literal["proportion", "mean"]


@dataclass(frozen=True)
class MetricInput:
    """One metric to plan: what is tested, at which effect, from which baseline."""

    name: str
    role: str
    """``primary``, ``decision`` or ``guardrail``."""
    kind: Kind
    """``proportion`` (binomial variance from the baseline) or ``mean`` (``std`` given)."""
    test: Test
    effect: float
    """The MDE (superiority) or the margin (non-inferiority)."""
    effect_kind: str = "relative"
    baseline: float | None = None
    std: float | None = None
    source: str = "flag"
    """Where baseline/std came from: ``flag``, ``history`` or ``spec``."""
    variance_reduction: float | None = None
    """CUPED on history: share of variance removed (applied when ``cuped`` is True)."""
    cuped: bool = False
    metric_type: str | None = None
    """The catalogue type when it is not what ``kind`` says (``quantile``: planned as a mean
    with the order-statistic standard deviation), so ``plan`` can name it."""


@dataclass(frozen=True)
class MetricPlan:
    """What one metric needs; ``missing`` says why it could not be planned."""

    input: MetricInput
    effect_absolute: float | None = None
    effect_relative: float | None = None
    n_equal_split: int | None = None
    """Units per group of a 50/50 comparison at this metric's alpha."""
    total_units: int | None = None
    n_per_variant: dict[str, int] = field(default_factory=dict)
    days: float | None = None
    missing: str | None = None
    alpha: float | None = None
    """The level of this metric's test (split over arms for superiority)."""


@dataclass(frozen=True)
class Reachable:
    """The smallest effect (MDE or margin) one metric can detect with a given sample."""

    metric: str
    test: Test
    absolute: float | None
    relative: float | None
    """None without a non-zero baseline; absolute None when no effect is detectable."""


@dataclass(frozen=True)
class ExperimentPlan:
    metrics: list[MetricPlan]
    arms: int
    alpha: float
    power: float
    alternative: str
    daily_units: float | None
    window_days: float | None
    driver: str | None
    """The metric that needs the most units (drives the duration)."""
    total_units: int | None
    days: float | None
    feasible: bool | None
    """None without daily traffic or a window; False when ``days > window_days``."""
    units_in_window: int | None
    reachable: list[Reachable] = field(default_factory=list)
    """With the units the window holds (or ``--units``), the smallest effect per metric."""
    reachable_n: float | None = None
    """Units per group (50/50 equivalent) behind ``reachable``."""


def _z(tail: float) -> float:
    """Upper-tail normal quantile z with P(Z > z) = tail."""
    from scipy import special

    return float(-special.ndtri(tail))


def sigma(metric: MetricInput) -> float:
    """Per-unit standard deviation at the baseline (CUPED applied)."""
    if metric.kind == "proportion":
        if metric.baseline is None:
            raise StatsError(f"{metric.name}: a rate needs its baseline")
        base = math.sqrt(metric.baseline * (1 - metric.baseline))
    else:
        if metric.std is None:
            raise StatsError(f"{metric.name}: a mean needs its standard deviation")
        base = metric.std
    if metric.cuped and metric.variance_reduction is not None:
        base *= math.sqrt(max(0.0, 1.0 - metric.variance_reduction))
    return base


def absolute_effect(metric: MetricInput) -> float:
    if metric.effect_kind == "relative":
        if not metric.baseline:
            raise StatsError(f"{metric.name}: a relative effect needs a non-zero baseline")
        return metric.effect * abs(metric.baseline)
    return metric.effect


def sample_size_non_inferiority(
    std_control: float, std_treatment: float, margin: float, *, alpha: float, power: float
) -> int:
    """Units per group for a one-sided non-inferiority test at ``margin`` (module docstring)."""
    if margin <= 0:
        raise StatsError(f"a non-inferiority margin must be positive, got {margin}")
    z = _z(alpha) + _z(1 - power)
    return math.ceil(z**2 * (std_control**2 + std_treatment**2) / margin**2 - 1e-9)


def power_non_inferiority(
    std: float, margin: float, n: float, *, alpha: float, true_difference: float = 0.0
) -> float:
    """Power of the one-sided NI test with ``n`` per group when the true change in the
    harmful direction is ``true_difference`` (0: no change)."""
    from scipy import stats

    se = std * math.sqrt(2.0 / n)
    return float(stats.norm.cdf((margin - true_difference) / se - _z(alpha)))


def margin_reachable(std: float, n: float, *, alpha: float, power: float) -> float:
    """Smallest NI margin provable with ``n`` per group at ``power`` (no true change)."""
    return (_z(alpha) + _z(1 - power)) * std * math.sqrt(2.0 / n)


def _plan_metric(
    metric: MetricInput,
    *,
    weights: Mapping[str, float],
    control: str,
    alpha: float,
    power: float,
    alternative: str,
    daily_units: float | None,
) -> MetricPlan:
    arms = len(weights)
    if metric.kind == "proportion" and metric.baseline is None:
        return MetricPlan(metric, missing="no baseline rate")
    if metric.kind == "mean" and metric.std is None:
        return MetricPlan(metric, missing="no standard deviation")
    if metric.effect_kind == "relative" and not metric.baseline:
        return MetricPlan(metric, missing="a relative effect needs a non-zero baseline")
    delta = absolute_effect(metric)
    relative = delta / abs(metric.baseline) if metric.baseline else None
    if metric.test == "non_inferiority":
        level = alpha
        s = sigma(metric)
        n = sample_size_non_inferiority(s, s, delta, alpha=level, power=power)
    else:
        level = pw.comparison_alpha(alpha, arms)
        if metric.kind == "proportion":
            assert metric.baseline is not None
            if metric.cuped and metric.variance_reduction:
                n = pw.sample_size_mean(
                    sigma(metric), delta, alpha=level, power=power, alternative=alternative
                )
            else:
                n = pw.sample_size_proportion(
                    metric.baseline, delta, alpha=level, power=power, alternative=alternative
                )
        else:
            n = pw.sample_size_mean(
                sigma(metric), delta, alpha=level, power=power, alternative=alternative
            )
    total, per_variant = pw.allocate(n, weights, control)
    return MetricPlan(
        metric,
        effect_absolute=delta,
        effect_relative=relative,
        n_equal_split=n,
        total_units=total,
        n_per_variant=per_variant,
        days=total / daily_units if daily_units else None,
        alpha=level,
    )


def equal_split_n(total: float, weights: Mapping[str, float], control: str) -> float:
    """The 50/50-equivalent units per group of the weakest treatment-vs-control
    comparison when ``total`` units are split by ``weights``: ``2 / (1/n_C + 1/n_T)``."""
    whole = sum(weights.values())
    n_c = total * weights[control] / whole
    return min(
        2.0 / (1.0 / n_c + 1.0 / (total * w / whole)) for v, w in weights.items() if v != control
    )


def reachable_effect(
    metric: MetricInput, n: float, *, alpha: float, power: float, arms: int, alternative: str
) -> Reachable:
    """The smallest MDE (superiority) or margin (non-inferiority) one metric can detect
    with ``n`` units per group."""
    try:
        s = sigma(metric)
    except StatsError:
        return Reachable(metric.name, metric.test, None, None)
    if metric.test == "non_inferiority":
        absolute: float | None = margin_reachable(s, n, alpha=alpha, power=power)
    elif metric.kind == "proportion" and not (metric.cuped and metric.variance_reduction):
        assert metric.baseline is not None
        level = pw.comparison_alpha(alpha, arms)
        absolute = pw.mde_proportion(
            metric.baseline, n, alpha=level, power=power, alternative=alternative
        )
    else:
        level = pw.comparison_alpha(alpha, arms)
        absolute = pw.mde_mean(s, n, alpha=level, power=power, alternative=alternative)
    relative = absolute / abs(metric.baseline) if absolute is not None and metric.baseline else None
    return Reachable(metric.name, metric.test, absolute, relative)


def plan_experiment(
    metrics: Sequence[MetricInput],
    *,
    weights: Mapping[str, float],
    control: str,
    alpha: float = 0.05,
    power: float = 0.8,
    alternative: str = "two_sided",
    daily_units: float | None = None,
    window_days: float | None = None,
    units_per_variant: int | None = None,
) -> ExperimentPlan:
    """Plan each metric; the experiment needs the largest; feasibility against the window.

    ``units_per_variant`` (``plan --units``) overrides the units the window holds for
    the "what can I detect" answer.
    """
    if daily_units is not None and daily_units <= 0:
        raise StatsError(f"daily units must be positive, got {daily_units}")
    plans = [
        _plan_metric(
            m,
            weights=weights,
            control=control,
            alpha=alpha,
            power=power,
            alternative=alternative,
            daily_units=daily_units,
        )
        for m in metrics
    ]
    planned = [p for p in plans if p.total_units is not None]
    driver = max(planned, key=lambda p: p.total_units or 0) if planned else None
    total = driver.total_units if driver else None
    days = total / daily_units if total is not None and daily_units else None
    in_window = (
        math.floor(daily_units * window_days + 1e-9) if daily_units and window_days else None
    )
    feasible = None if days is None or window_days is None else days <= window_days
    reach: list[Reachable] = []
    available: float | None = None
    if units_per_variant is not None:
        available = float(units_per_variant)
    elif in_window is not None:
        available = equal_split_n(in_window, weights, control)
    if available is not None and available >= 2:
        reach = [
            reachable_effect(
                p.input,
                available,
                alpha=alpha,
                power=power,
                arms=len(weights),
                alternative=alternative,
            )
            for p in plans
        ]
    return ExperimentPlan(
        metrics=plans,
        arms=len(weights),
        alpha=alpha,
        power=power,
        alternative=alternative,
        daily_units=daily_units,
        window_days=window_days,
        driver=driver.input.name if driver else None,
        total_units=total,
        days=days,
        feasible=feasible,
        units_in_window=in_window,
        reachable=reach,
        reachable_n=available if reach else None,
    )


def two_arm_days(
    plan: ExperimentPlan, metrics: Sequence[MetricInput], control: str, keep: str
) -> float | None:
    """Days needed with only the control and ``keep`` (fewer arms: alpha unsplit, traffic
    shared by two), for the "fewer arms" alternative."""
    if plan.daily_units is None:
        return None
    two = plan_experiment(
        metrics,
        weights={control: 0.5, keep: 0.5},
        control=control,
        alpha=plan.alpha,
        power=plan.power,
        alternative=plan.alternative,
        daily_units=plan.daily_units,
    )
    return two.days


def history_moments(
    plain: MetricStats, cuped: MetricStats | None = None
) -> tuple[float, float, float | None] | None:
    """(baseline, per-unit std, CUPED variance reduction) of one-arm history statistics;
    None when the history has no usable estimate. The std is ``sqrt(n Var(estimate))``,
    so ratios get their delta-method std; the reduction is
    ``1 - Var(CUPED estimate) / Var(plain estimate)`` on the same units (one arm: the
    arm's own theta, Deng et al. 2013)."""
    from upsell_ab.stats.estimates import arm_estimate, arm_status, unadjusted
    from upsell_ab.stats.results import Status

    base_stats = unadjusted(plain)
    if arm_status(base_stats) is not Status.ok:
        return None
    base = arm_estimate(base_stats)
    if not base.variance > 0:
        return None
    # per exposed unit: a quantile over events has more observations than units, and the
    # plan counts units (Var(q) ~ sigma_eq^2 / units, sigma_eq = 1 / (2 f(q)) for a median)
    units = base_stats.exposed if isinstance(base_stats, QuantileStats) else base.n
    std = math.sqrt(base.variance * units)
    adjusted = cuped if cuped is not None else plain
    reduction: float | None = None
    if isinstance(adjusted, CupedStats | CupedRatioStats) and arm_status(adjusted) is Status.ok:
        reduction = max(0.0, 1.0 - arm_estimate(adjusted).variance / base.variance)
    return base.mean, std, reduction


def with_cuped(metrics: Sequence[MetricInput]) -> list[MetricInput]:
    """The same inputs with CUPED on wherever history measured a variance reduction."""
    return [replace(m, cuped=m.variance_reduction is not None) for m in metrics]
