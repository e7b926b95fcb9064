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

from upsell_ab.metrics.sufficient import CupedRatioStats, CupedStats
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
