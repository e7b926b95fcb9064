"""CUPED comparison: the treatment-control difference adjusted by a pre-exposure covariate.

Deng, Xu, Kohavi & Walker (2013), "Improving the Sensitivity of Online
Controlled Experiments by Utilizing Pre-Experiment Data", WSDM: with
``theta = cov(y, x) / var(x)`` pooled over the arms, the adjusted difference

    (ybar_T - ybar_C) - theta (xbar_T - xbar_C)

is unbiased (x is independent of the assignment) and its variance is
``Var(unadjusted) (1 - rho^2)`` for a single pooled theta. Ratio metrics use
GrowthBook's regression-adjusted ratio (formulas in :mod:`.estimates`). The
reported ``variance_reduction`` is ``1 - Var(adjusted diff) / Var(unadjusted diff)``
computed from the same sums, so a report can say how much CUPED helped.
"""

from __future__ import annotations

from collections.abc import Mapping

from upsell_ab.metrics.aggregates import CovariateImbalance, ExperimentData
from upsell_ab.metrics.sufficient import CupedRatioStats, CupedStats, MetricStats, SampleStats
from upsell_ab.stats.estimates import (
    arm_estimate,
    arm_status,
    covariate_centre,
    cuped_theta,
    unadjusted,
)
from upsell_ab.stats.frequentist import compare_estimates, empty_comparison
from upsell_ab.stats.results import FrequentistComparison, Status


def cuped_test(
    control: CupedStats | CupedRatioStats,
    treatment: CupedStats | CupedRatioStats,
    *,
    theta: float | None = None,
    centre: float | None = None,
    alpha: float = 0.05,
    alternative: object = "two_sided",
) -> FrequentistComparison:
    """CUPED-adjusted Welch-style test of two arms.

    ``theta`` and ``centre`` (the pooled pre-period mean or ratio) should be
    pooled over *all* arms of the experiment (:func:`.estimates.cuped_theta` of
    the summed statistics); left None they are pooled over these two arms.
    """
    alt = str(getattr(alternative, "value", alternative))
    method = "cuped delta ratio" if isinstance(control, CupedRatioStats) else "cuped welch"
    if Status.no_data in (arm_status(control), arm_status(treatment)):
        return empty_comparison(method, Status.no_data, alt, alpha)
    pooled = control + treatment  # type: ignore[operator]
    if theta is None:
        theta = cuped_theta(pooled)
    if centre is None:
        centre = covariate_centre(pooled)
    c_adj = arm_estimate(control, theta=theta, pooled_covariate_mean=centre)
    t_adj = arm_estimate(treatment, theta=theta, pooled_covariate_mean=centre)
    result = compare_estimates(c_adj, t_adj, method=method, alpha=alpha, alternative=alt)
    c_raw = arm_estimate(unadjusted(control))
    t_raw = arm_estimate(unadjusted(treatment))
    raw_variance = c_raw.variance + t_raw.variance
    reduction = 1.0 - (c_adj.variance + t_adj.variance) / raw_variance if raw_variance > 0 else None
    from dataclasses import replace

    return replace(result, variance_reduction=reduction)


IMBALANCE_P = 0.001
"""Two-sided p below which a covariate's arm means are taken to differ beyond chance.
Under randomisation with a true pre-exposure covariate each test alarms with
probability 0.001 (checked by simulation in tests/test_cuped_balance.py), and an alarm
only costs CUPED's variance reduction, never validity."""


def covariate_balance_p(control: SampleStats, treatment: SampleStats) -> float | None:
    """Two-sided p of Welch's z-test for equal covariate means,
    ``z = (xbar_T - xbar_C) / sqrt(s_T^2 / n_T + s_C^2 / n_C)``, normal reference (the
    arms are large whenever CUPED matters). None with fewer than two units in an arm;
    0.0 for different constant covariates, None for equal ones."""
    import math

    if control.n < 2 or treatment.n < 2:
        return None
    difference = treatment.mean - control.mean
    se2 = treatment.variance / treatment.n + control.variance / control.n
    if se2 <= 0.0 or not math.isfinite(se2):
        return 0.0 if difference != 0.0 else None
    return math.erfc(abs(difference) / math.sqrt(2.0 * se2))


def _covariates(stats: MetricStats) -> list[SampleStats]:
    """The per-unit covariate(s) of a CUPED statistic: x, or x and w for a ratio."""
    if isinstance(stats, CupedStats):
        return [stats.covariate]
    if isinstance(stats, CupedRatioStats):
        return [
            SampleStats(
                stats.n, stats.covariate_numerator_sum, stats.covariate_numerator_sum_squares
            ),
            SampleStats(
                stats.n, stats.covariate_denominator_sum, stats.covariate_denominator_sum_squares
            ),
        ]
    return []


def covariate_imbalances(
    metric: str, by_variant: Mapping[str, MetricStats], control: str
) -> list[CovariateImbalance]:
    """Every treatment whose covariate mean (either one of a ratio's) differs from the
    control's with p < :data:`IMBALANCE_P`. Why: CUPED's adjusted difference
    ``(ybar_T - ybar_C) - theta (xbar_T - xbar_C)`` is unbiased only when x is
    independent of assignment (Deng et al. 2013, section 3.3); a covariate that
    includes the experiment period carries the treatment effect and subtracts it (a
    copy of the outcome as "covariate" turns any lift into 0)."""
    base = by_variant.get(control)
    if base is None:
        return []
    found: list[CovariateImbalance] = []
    for variant, stats in by_variant.items():
        if variant == control:
            continue
        pairs = list(zip(_covariates(base), _covariates(stats), strict=False))
        tested = [(c, t, covariate_balance_p(c, t)) for c, t in pairs]
        flagged = [(c, t, p) for c, t, p in tested if p is not None and p < IMBALANCE_P]
        if flagged:
            c, t, p = min(flagged, key=lambda item: item[2])
            found.append(CovariateImbalance(metric, variant, c.mean, t.mean, p))
    return found


def drop_imbalanced_covariates(data: ExperimentData, control: str) -> ExperimentData:
    """``data`` with the covariate removed (plain statistics kept) from every metric whose
    covariate is imbalanced between the arms (:func:`covariate_imbalances`), everywhere
    the metric appears (totals, segments, days), and the findings recorded for the
    report's headline. The unadjusted difference stays unbiased whatever the covariate
    is, so the verdict falls back to it rather than to a biased adjusted one.

    Switchback slots and adaptive allocation periods are left alone: there the arms mix
    slots or periods in different proportions, so pooled covariate means may differ
    by design."""
    from dataclasses import replace

    from upsell_ab.stats.estimates import unadjusted

    if data.slots is not None or data.periods is not None:
        return data
    found: list[CovariateImbalance] = []
    for name, metric in data.metrics.items():
        found += covariate_imbalances(name, metric.by_variant, control)
    if not found:
        return data
    flagged = {item.metric for item in found}

    def plain(stats: Mapping[str, MetricStats]) -> dict[str, MetricStats]:
        return {variant: unadjusted(s) for variant, s in stats.items()}

    metrics = {
        name: replace(
            metric,
            by_variant=plain(metric.by_variant),
            by_segment={key: plain(arms) for key, arms in metric.by_segment.items()},
            daily=[replace(day, by_variant=plain(day.by_variant)) for day in metric.daily],
        )
        if name in flagged
        else metric
        for name, metric in data.metrics.items()
    }
    return replace(data, metrics=metrics, covariate_imbalances=tuple(found))
