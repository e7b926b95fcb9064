"""CUPED (means and ratios) and per-arm estimates against per-unit numpy/scipy oracles."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from upsell_ab.errors import StatsError
from upsell_ab.metrics.sufficient import CupedRatioStats, CupedStats, SampleStats
from upsell_ab.stats.cuped import cuped_test
from upsell_ab.stats.estimates import arm_estimate, arm_estimates, arm_status, cuped_theta
from upsell_ab.stats.results import Status

HILLSTROM = Path("/work/shared/data/external/hillstrom_summary/hillstrom_arm_summary.csv")


def cuped_stats(y: np.ndarray, x: np.ndarray) -> CupedStats:
    return CupedStats(len(y), y.sum(), (y**2).sum(), x.sum(), (x**2).sum(), (x * y).sum())


def cuped_ratio_stats(
    y: np.ndarray, d: np.ndarray, x: np.ndarray, w: np.ndarray
) -> CupedRatioStats:
    return CupedRatioStats(
        len(y),
        y.sum(),
        (y**2).sum(),
        d.sum(),
        (d**2).sum(),
        x.sum(),
        (x**2).sum(),
        w.sum(),
        (w**2).sum(),
        (y * d).sum(),
        (y * x).sum(),
        (y * w).sum(),
        (d * x).sum(),
        (d * w).sum(),
        (x * w).sum(),
    )


def hillstrom_arm(name: str) -> CupedStats:
    with HILLSTROM.open() as handle:
        row = next(r for r in csv.DictReader(handle) if r["segment"] == name)
    return CupedStats(
        int(row["n"]),
        float(row["spend_sum"]),
        float(row["spend_sumsq"]),
        float(row["history_sum"]),
        float(row["history_sumsq"]),
        float(row["spend_x_history_sum"]),
    )


def test_hillstrom_cuped() -> None:
    control, mens = hillstrom_arm("No E-Mail"), hillstrom_arm("Mens E-Mail")
    assert round(cuped_theta(control + mens) or 0, 7) == 0.0012229
    result = cuped_test(control, mens)
    assert round(result.absolute_lift or 0, 5) == 0.76744
    assert result.variance_reduction == pytest.approx(0.0004, abs=0.0002)
    assert result.method == "cuped welch"


def test_cuped_equals_welch_on_adjusted_units() -> None:
    rng = np.random.default_rng(5)
    x_c, x_t = rng.gamma(2.0, 10.0, 3000), rng.gamma(2.0, 10.0, 2800)
    y_c = 5 + 0.8 * x_c + rng.normal(0, 6, 3000)
    y_t = 6 + 0.8 * x_t + rng.normal(0, 6, 2800)
    pooled_x, pooled_y = np.concatenate([x_c, x_t]), np.concatenate([y_c, y_t])
    theta = np.cov(pooled_y, pooled_x)[0, 1] / pooled_x.var(ddof=1)
    adj_c = y_c - theta * (x_c - pooled_x.mean())
    adj_t = y_t - theta * (x_t - pooled_x.mean())
    oracle = stats.ttest_ind(adj_t, adj_c, equal_var=False)
    result = cuped_test(cuped_stats(y_c, x_c), cuped_stats(y_t, x_t))
    assert result.statistic == pytest.approx(oracle.statistic, rel=1e-8)
    assert result.p_value == pytest.approx(oracle.pvalue, rel=1e-6)
    assert result.absolute_lift == pytest.approx(adj_t.mean() - adj_c.mean(), rel=1e-10)
    raw = y_t.var(ddof=1) / 2800 + y_c.var(ddof=1) / 3000
    adjusted = adj_t.var(ddof=1) / 2800 + adj_c.var(ddof=1) / 3000
    assert result.variance_reduction == pytest.approx(1 - adjusted / raw, rel=1e-8)
    rho = np.corrcoef(pooled_y, pooled_x)[0, 1]
    assert result.variance_reduction == pytest.approx(rho**2, abs=0.02)


def test_cuped_ratio_reduces_to_cuped_mean_with_unit_denominators() -> None:
    rng = np.random.default_rng(8)
    arms = []
    for shift in (0.0, 1.0):
        x = rng.normal(20, 5, 1500)
        y = shift + 0.5 * x + rng.normal(0, 3, 1500)
        ones = np.ones_like(y)
        arms.append((cuped_ratio_stats(y, ones, x, ones), cuped_stats(y, x)))
    ratio = cuped_test(arms[0][0], arms[1][0])
    mean = cuped_test(arms[0][1], arms[1][1])
    assert ratio.method == "cuped delta ratio"
    assert ratio.absolute_lift == pytest.approx(mean.absolute_lift, rel=1e-9)
    assert ratio.statistic == pytest.approx(mean.statistic, rel=1e-9)
    assert ratio.variance_reduction == pytest.approx(mean.variance_reduction, rel=1e-8)


def test_cuped_ratio_matches_linearised_units() -> None:
    """Delta-method variance = variance of linearised per-unit values (Deng et al. 2018)."""
    rng = np.random.default_rng(9)
    n = 4000
    w = rng.poisson(2.0, n) + 1.0
    x = w * rng.gamma(3.0, 10.0, n)
    d = np.maximum(w + rng.integers(-1, 2, n), 1.0)
    y = d * (0.3 * x / w + rng.gamma(3.0, 7.0, n))
    s = cuped_ratio_stats(y, d, x, w)
    theta = cuped_theta(s)
    estimate = arm_estimate(s)
    r_post, r_pre = y.sum() / d.sum(), x.sum() / w.sum()
    lin_post = (y - r_post * d) / d.mean()
    lin_pre = (x - r_pre * w) / w.mean()
    assert theta == pytest.approx(np.cov(lin_post, lin_pre)[0, 1] / lin_pre.var(ddof=1), rel=1e-9)
    adjusted = lin_post - (theta or 0) * lin_pre
    assert estimate.mean == pytest.approx(r_post, rel=1e-12)  # own centre: no shift
    assert estimate.variance == pytest.approx(adjusted.var(ddof=1) / n, rel=1e-9)


def test_arm_estimates_pool_theta_over_all_arms() -> None:
    rng = np.random.default_rng(1)
    arms = {}
    for name, shift in (("c", 0.0), ("a", 1.0), ("b", -1.0)):
        x = rng.normal(10, 2, 500)
        arms[name] = cuped_stats(shift + x + rng.normal(0, 1, 500), x)
    pooled = arms["c"] + arms["a"] + arms["b"]
    theta = cuped_theta(pooled) or 0.0
    centre = pooled.covariate_sum / pooled.n
    estimates = arm_estimates(arms)
    for name, s in arms.items():
        expected = s.sum / s.n - theta * (s.covariate_sum / s.n - centre)
        assert estimates[name].mean == pytest.approx(expected, rel=1e-12)


def test_arm_status_and_missing_arms() -> None:
    assert arm_status(SampleStats(0, 0.0, 0.0)) is Status.no_data
    assert arm_status(SampleStats(1, 2.0, 4.0)) is Status.too_few_units
    empty = CupedStats(0, 0.0, 0.0, 0.0, 0.0, 0.0)
    full = cuped_stats(np.arange(5.0), np.arange(5.0) * 2)
    assert set(arm_estimates({"a": empty, "b": full})) == {"b"}
    with pytest.raises(StatsError):
        arm_estimate(empty)
    assert cuped_test(empty, full).status is Status.no_data
    constant = cuped_stats(np.full(5, 3.0), np.full(5, 1.0))
    assert cuped_theta(constant) == 0.0
    assert cuped_test(constant, constant).status is Status.zero_variance
