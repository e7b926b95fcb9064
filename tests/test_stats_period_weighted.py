"""Period-weighted arm estimates and the SRM test over allocation periods.

Oracles: the stratified estimator computed directly with numpy from per-unit
values (Cochran's formulas, not our code), scipy's ``chisquare`` with expected
counts summed by hand, and seeded simulations (bias, interval coverage and
SRM p-value uniformity) with their Monte-Carlo tolerances stated.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from upsell_ab.errors import StatsError
from upsell_ab.metrics.sufficient import CupedStats, RatioStats, SampleStats
from upsell_ab.stats.estimates import arm_estimate
from upsell_ab.stats.frequentist import mean_test
from upsell_ab.stats.period_weighted import merge_sparse_periods, period_weighted
from upsell_ab.stats.srm_periods import expected_counts, srm_test_periods


def _sample(values: np.ndarray) -> SampleStats:
    return SampleStats(len(values), float(values.sum()), float((values**2).sum()))


def _ratio(y: np.ndarray, d: np.ndarray) -> RatioStats:
    return RatioStats(
        len(y), float(y.sum()), float((y**2).sum()), float(d.sum()), float((d**2).sum()),
        float((y * d).sum()),
    )  # fmt: skip


def _stratified(per_period: list[np.ndarray], shares: list[float]) -> tuple[float, float]:
    """Cochran's stratified mean and its variance, straight from the unit values."""
    mean = sum(w * v.mean() for w, v in zip(shares, per_period, strict=True))
    var = sum(w * w * v.var(ddof=1) / len(v) for w, v in zip(shares, per_period, strict=True))
    return float(mean), float(var)


def test_one_period_is_the_pooled_statistics() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.normal(3, 1, 40), rng.normal(3.5, 1, 60)
    result = period_weighted([{"a": _sample(a), "b": _sample(b)}], ["a", "b"])
    assert result.by_variant == {"a": _sample(a), "b": _sample(b)}
    assert result.shares == (1.0,)


def test_mean_and_variance_equal_the_stratified_estimator() -> None:
    rng = np.random.default_rng(2)
    sizes = {"a": (50, 10, 5), "b": (50, 80, 120)}
    values = {
        arm: [rng.lognormal(1 + 0.5 * t, 0.6, n) for t, n in enumerate(ns)]
        for arm, ns in sizes.items()
    }
    periods = [{arm: _sample(values[arm][t]) for arm in sizes} for t in range(3)]
    result = period_weighted(periods, ["a", "b"])
    totals = [sum(sizes[arm][t] for arm in sizes) for t in range(3)]
    shares = [n / sum(totals) for n in totals]
    assert result.shares == pytest.approx(shares, rel=1e-12)
    for arm in sizes:
        mean, var = _stratified(values[arm], shares)
        estimate = arm_estimate(result.by_variant[arm])
        assert estimate.mean == pytest.approx(mean, rel=1e-12)
        assert estimate.variance == pytest.approx(var, rel=1e-10)
        assert estimate.n == sum(sizes[arm])
    # the SAME shares for both arms, although their traffic differs wildly
    pooled_a = np.concatenate(values["a"]).mean()
    assert abs(arm_estimate(result.by_variant["a"]).mean - pooled_a) > 0.5


def test_centred_and_scaled_sums_give_the_same_estimate() -> None:
    rng = np.random.default_rng(3)
    y = [rng.normal(1e9, 5, 30), rng.normal(1e9 + 3, 5, 40)]
    framed = [
        SampleStats(len(v), float(((v - 1e9) / 4).sum()), float((((v - 1e9) / 4) ** 2).sum()),
                    1e9, 4.0)
        for v in y
    ]  # fmt: skip
    shares = [32 / 74, 42 / 74]  # every arm's units count: b has 2 per period
    mean, var = _stratified(y, shares)
    for stats in (framed,):  # plain sums of 1e9-sized values would cancel (why SQL frames them)
        other = [_sample(np.array([1.0, 2.0])), _sample(np.array([1.0, 2.0]))]
        periods = [{"a": stats[0], "b": other[0]}, {"a": stats[1], "b": other[1]}]
        got = arm_estimate(period_weighted(periods, ["a", "b"]).by_variant["a"])
        assert got.mean == pytest.approx(mean, rel=1e-13)
        assert got.variance == pytest.approx(var, rel=1e-6)


def test_ratio_is_the_delta_method_on_the_stratified_moments() -> None:
    rng = np.random.default_rng(4)
    ys, ds = [], []
    for t, n in enumerate((40, 70)):
        d = rng.integers(1, 4, n).astype(float)
        ys.append(d * rng.lognormal(7 + 0.3 * t, 0.5, n))
        ds.append(d)
    other = _ratio(np.array([1.0, 2.0, 3.0]), np.array([1.0, 1.0, 2.0]))
    periods = [{"a": _ratio(ys[t], ds[t]), "b": other} for t in range(2)]
    totals = [40 + 3, 70 + 3]
    shares = [n / sum(totals) for n in totals]
    # independent oracle: stratified means, covariance matrix of the weighted means
    my = sum(w * y.mean() for w, y in zip(shares, ys, strict=True))
    md = sum(w * d.mean() for w, d in zip(shares, ds, strict=True))
    cov = sum(
        w * w * np.cov(np.vstack([y, d]), ddof=1) / len(y)
        for w, y, d in zip(shares, ys, ds, strict=True)
    )
    ratio = my / md
    gradient = np.array([1 / md, -ratio / md])
    variance = float(gradient @ cov @ gradient)
    got = arm_estimate(period_weighted(periods, ["a", "b"]).by_variant["a"])
    assert got.mean == pytest.approx(ratio, rel=1e-12)
    assert got.variance == pytest.approx(variance, rel=1e-9)


def test_cuped_statistics_keep_their_class_and_weighted_covariate_mean() -> None:
    rng = np.random.default_rng(5)
    parts = []
    for n in (30, 50):
        x = rng.normal(10, 2, n)
        y = x + rng.normal(0, 1, n)
        parts.append(CupedStats(n, y.sum(), (y**2).sum(), x.sum(), (x**2).sum(), (x * y).sum()))
    periods = [{"a": parts[0], "b": parts[1]}, {"a": parts[1], "b": parts[0]}]
    result = period_weighted(periods, ["a", "b"])
    a = result.by_variant["a"]
    assert isinstance(a, CupedStats) and a.n == 80
    expected = 0.5 * parts[0].sum / 30 + 0.5 * parts[1].sum / 50
    assert a.sum / a.n == pytest.approx(expected, rel=1e-12)


def test_sparse_periods_are_merged_with_a_neighbour() -> None:
    one = _sample(np.array([1.0]))
    two = _sample(np.array([1.0, 0.0]))
    periods = [{"a": two, "b": two}, {"a": one, "b": two}, {"a": two, "b": two}, {"a": one}]
    groups = merge_sparse_periods(periods, ["a", "b"])
    # the 2nd (a has 1 unit) joins the 3rd; the last (no b at all) joins that group too
    assert [(g["a"].n, g["b"].n) for g in groups] == [(2, 2), (4, 4)]
    result = period_weighted(periods, ["a", "b"])
    assert result.merged == 2 and result.periods_used == 2
    assert sum(result.shares) == pytest.approx(1.0)


def test_mixed_statistics_kinds_are_refused() -> None:
    with pytest.raises(StatsError, match="different statistics kinds"):
        period_weighted(
            [{"a": _sample(np.ones(3)), "b": _ratio(np.ones(3), np.ones(3))}], ["a", "b"]
        )


def _drift_run(
    rng: np.random.Generator, weights: list[tuple[float, float]], rates: list[tuple[float, float]]
) -> tuple[float, float, float, float]:
    """One simulated experiment: (pooled diff, weighted diff, weighted p-value, se)."""
    periods = []
    pooled = {"a": [0, 0], "b": [0, 0]}
    for (wa, _), (pa, pb) in zip(weights, rates, strict=True):
        n = 200
        na = int(rng.binomial(n, wa))
        xa, xb = rng.binomial(na, pa), rng.binomial(n - na, pb)
        periods.append(
            {"a": SampleStats.from_proportion(na, xa), "b": SampleStats.from_proportion(n - na, xb)}
        )
        pooled["a"][0] += na
        pooled["a"][1] += xa
        pooled["b"][0] += n - na
        pooled["b"][1] += xb
    result = period_weighted(periods, ["a", "b"])
    comparison = mean_test(result.by_variant["a"], result.by_variant["b"])  # type: ignore[arg-type]
    pooled_diff = pooled["b"][1] / pooled["b"][0] - pooled["a"][1] / pooled["a"][0]
    assert comparison.absolute_lift is not None and comparison.p_value is not None
    lo, hi = comparison.absolute_ci.low, comparison.absolute_ci.high
    assert lo is not None and hi is not None
    return pooled_diff, comparison.absolute_lift, comparison.p_value, (hi - lo) / (2 * 1.96)


def test_drift_biases_the_pooled_difference_and_not_the_weighted_one() -> None:
    """Rates of BOTH arms jump from 0.1 to 0.4 while traffic moves from a to b: the
    true difference is 0.05 in every period. 2,000 runs: MC SE of a mean diff ~0.0004."""
    rng = np.random.default_rng(11)
    weights = [(0.5, 0.5)] * 3 + [(0.1, 0.9)] * 3
    rates = [(0.10, 0.15)] * 3 + [(0.40, 0.45)] * 3
    runs = np.array([_drift_run(rng, weights, rates) for _ in range(2000)])
    pooled, weighted, _, se = runs.T
    mc = 4 * weighted.std(ddof=1) / math.sqrt(len(weighted))
    assert abs(weighted.mean() - 0.05) < mc
    assert pooled.mean() - 0.05 > 0.08  # the pooled estimate credits b with the later rise
    covered = np.abs(weighted - 0.05) <= 1.96 * se
    assert abs(covered.mean() - 0.95) < 3 * math.sqrt(0.95 * 0.05 / len(covered)) + 0.005


def test_aa_false_positive_rate_with_moving_weights_and_drift() -> None:
    """Identical arms, drifting rates, weights moving: FPR at 0.05 within 3 MC SE."""
    rng = np.random.default_rng(12)
    weights = [(0.5, 0.5), (0.3, 0.7), (0.15, 0.85), (0.6, 0.4), (0.8, 0.2)]
    rates = [(p, p) for p in (0.1, 0.2, 0.35, 0.25, 0.15)]
    p_values = np.array([_drift_run(rng, weights, rates)[2] for _ in range(3000)])
    rate = float((p_values < 0.05).mean())
    assert abs(rate - 0.05) < 3 * math.sqrt(0.05 * 0.95 / len(p_values))


# ------------------------------------------------------------------------- SRM
def test_expected_counts_sum_each_periods_share() -> None:
    units = [{"a": 50, "b": 50}, {"a": 10, "b": 90}]
    weights = [{"a": 0.5, "b": 0.5}, {"a": 0.1, "b": 0.9}]
    assert expected_counts(units, weights) == {"a": 60.0, "b": 140.0}


def test_constant_weights_give_pearsons_chisquare() -> None:
    """With the same weights in every period the test is Pearson's (scipy), also for
    the public GrowthBook/Fabijan vectors of :mod:`upsell_ab.stats.srm`."""
    units = [{"a": 52, "b": 48, "c": 40}, {"a": 20, "b": 95, "c": 30}, {"a": 8, "b": 120, "c": 5}]
    weights = [{"a": 0.2, "b": 0.5, "c": 0.3}] * 3
    reference = sps.chisquare([80, 263, 75], f_exp=np.array([0.2, 0.5, 0.3]) * 418)
    result = srm_test_periods(units, weights)
    assert result.statistic == pytest.approx(reference.statistic, rel=1e-10)
    assert result.p_value == pytest.approx(reference.pvalue, rel=1e-8)
    assert result.df == 2
    vector = srm_test_periods(
        [{"a": 500, "b": 300, "c": 300}, {"a": 0, "b": 200, "c": 300}],
        [{"a": 0.34, "b": 0.33, "c": 0.33}] * 2,
    )
    assert vector.p_value == pytest.approx(5.92638e-4, rel=1e-5)


def test_moving_weights_use_the_covariance_of_a_sum_of_multinomials() -> None:
    """Independent check of the statistic: the covariance of O accumulated by Monte
    Carlo (200,000 draws) instead of the closed form gives the same quadratic form."""
    units = [{"a": 100, "b": 100}, {"a": 20, "b": 180}]
    weights = [{"a": 0.5, "b": 0.5}, {"a": 0.1, "b": 0.9}]
    rng = np.random.default_rng(3)
    draws = rng.binomial(200, 0.5, 200_000) + rng.binomial(200, 0.1, 200_000)
    variance = draws.var()
    statistic = (120 - 120.0) ** 2 / variance
    result = srm_test_periods(units, weights)
    assert result.statistic == pytest.approx(statistic, abs=1e-12)
    shifted = srm_test_periods([{"a": 110, "b": 90}, {"a": 30, "b": 170}], weights)
    assert shifted.statistic == pytest.approx((140 - 120) ** 2 / variance, rel=0.01)


def test_srm_p_values_are_uniform_under_working_assignment() -> None:
    """Per-period multinomial draws with moving weights: p-values uniform (KS); Pearson
    on the summed expectations (GrowthBook's bandit SRM) is conservative (its
    p-values sit above uniform); the naive test against the final weights flags
    almost every run."""
    rng = np.random.default_rng(21)
    weights = [(1 / 3, 1 / 3, 1 / 3), (0.2, 0.5, 0.3), (0.05, 0.85, 0.1), (0.05, 0.9, 0.05)]
    named = [dict(zip("abc", w, strict=True)) for w in weights]
    p_values, pearson, naive_flags = [], [], 0
    for _ in range(2000):
        units = [dict(zip("abc", map(int, rng.multinomial(300, w)), strict=True)) for w in weights]
        p = srm_test_periods(units, named).p_value
        assert p is not None
        p_values.append(p)
        totals = [sum(u[k] for u in units) for k in "abc"]
        expected = list(expected_counts(units, named).values())
        pearson.append(sps.chisquare(totals, f_exp=expected).pvalue)
        naive = sps.chisquare(totals, f_exp=np.array(weights[-1]) * sum(totals)).pvalue
        naive_flags += naive < 0.001
    assert sps.kstest(p_values, "uniform").pvalue > 0.001
    conservative = sps.kstest(pearson, "uniform", alternative="less")
    assert conservative.pvalue < 1e-6 and np.mean(pearson) > 0.52
    assert naive_flags / 2000 > 0.99


def test_srm_flags_a_broken_split_and_units_in_an_unassignable_arm() -> None:
    weights = [{"a": 0.5, "b": 0.5}, {"a": 0.2, "b": 0.8}]
    broken = srm_test_periods([{"a": 500, "b": 500}, {"a": 500, "b": 500}], weights)
    assert broken.flagged and broken.p_value is not None and broken.p_value < 1e-30
    zero = srm_test_periods([{"a": 10, "b": 10, "c": 1}], [{"a": 0.5, "b": 0.5, "c": 0.0}])
    assert zero.flagged
    nothing = srm_test_periods([{"a": 0, "b": 0}], [{"a": 0.5, "b": 0.5}])
    assert nothing.p_value is None and not nothing.flagged
    with pytest.raises(StatsError, match="same variants"):
        expected_counts([{"a": 1}, {"a": 1}], [{"a": 1.0, "b": 1.0}, {"b": 1.0, "a": 1.0}])
