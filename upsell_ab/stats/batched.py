"""A test that stays valid when a bandit chose the allocation: batched z (BOLS).

Why. Under adaptive allocation the pooled (or period-weighted) arm means are biased: an
arm that looks bad early is starved and keeps its unlucky estimate, so treatment-vs-
control differences are too large in A/A and the usual z/t test rejects too often (our
whole-pipeline A/A: 0.080 for a nominal 0.05, benchmarks/results/bandit_pipeline.md;
Nie, Tian, Taylor & Zou 2018, "Why adaptively collected data have negative bias").

Within one allocation period the weights are fixed given the past, so the period's
difference of means, standardised by its own variance, is asymptotically N(0, 1) under
the null whatever happened before. The batched OLS statistic of Zhang, Janson & Murphy
(2020, "Inference for Batched Bandits", NeurIPS) combines them with equal weights,

    z_t = (ybar_T,t - ybar_C,t) / sqrt(s2_t (1 / n_T,t + 1 / n_C,t)),
    Z = sum_t z_t / sqrt(T'),

with s2_t the unit variance of both arms' units of the period pooled (under H0 they share
it; for a 0/1 metric ~ pbar (1 - pbar), the pooled two-proportion z); ratio metrics use
each arm's delta-method variance,

over the T' periods in which both arms have at least ``MIN_UNITS`` units and a variance;
Z ~ N(0, 1) under H0 (the z_t are martingale differences), so its p-value is valid under
adaptivity. It is used for the p-value of every comparison of an adaptive experiment
(the decision's significance); the point estimate and interval stay period-weighted.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from upsell_ab.metrics.sufficient import MetricStats, SampleStats

MIN_UNITS = 5
"""Units per arm a period needs to contribute (smaller periods are skipped)."""


@dataclass(frozen=True)
class BatchedZ:
    statistic: float
    p_value: float
    periods: int


def batched_z(
    periods: Sequence[Mapping[str, MetricStats]],
    control: str,
    treatment: str,
    alternative: str = "two_sided",
) -> BatchedZ | None:
    """The batched z-test of ``treatment`` against ``control`` (None without a usable
    period). ``alternative``: two_sided, greater (treatment higher) or less."""
    from upsell_ab.stats.estimates import arm_estimate, arm_status
    from upsell_ab.stats.results import Status

    z: list[float] = []
    for period in periods:
        c, t = period.get(control), period.get(treatment)
        if c is None or t is None or c.n < MIN_UNITS or t.n < MIN_UNITS:
            continue
        if Status.no_data in (arm_status(c), arm_status(t)):
            continue
        a, b = arm_estimate(c), arm_estimate(t)
        if isinstance(c, SampleStats) and isinstance(t, SampleStats):
            # the variance under H0, pooled over both arms (for 0/1 metrics p(1-p)): with
            # the few units of one period each arm's own variance is too noisy (an arm
            # with no conversion has none), which inflates |z_t|
            unit_variance = (c + t).variance
            spread = unit_variance * (1.0 / c.n + 1.0 / t.n)
        else:
            spread = a.variance + b.variance
        if not (spread > 0 and math.isfinite(spread)):
            continue
        z.append((b.mean - a.mean) / math.sqrt(spread))
    if not z:
        return None
    statistic = sum(z) / math.sqrt(len(z))
    from scipy.stats import norm

    if alternative == "greater":
        p = float(norm.sf(statistic))
    elif alternative == "less":
        p = float(norm.cdf(statistic))
    else:
        p = float(2.0 * norm.sf(abs(statistic)))
    return BatchedZ(statistic, p, len(z))
