"""Frequentist engine against scipy/statsmodels and published numbers."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest

from upsell_ab.metrics.sufficient import CupedStats, MetricStats, RatioStats, SampleStats
from upsell_ab.stats.cuped import cuped_test
from upsell_ab.stats.estimates import arm_estimate
from upsell_ab.stats.frequentist import (
    mean_test,
    needs_exact,
    non_inferiority,
    proportion_test,
    ratio_test,
)
from upsell_ab.stats.results import Status

EXTERNAL = Path("/work/shared/data/external")


def sums(values: np.ndarray) -> SampleStats:
    return SampleStats(len(values), float(values.sum()), float((values**2).sum()))


def hillstrom() -> dict[str, dict[str, float]]:
    path = EXTERNAL / "hillstrom_summary" / "hillstrom_arm_summary.csv"
    with path.open() as handle:
        return {
            row["segment"]: {k: float(v) for k, v in row.items() if k != "segment"}
            for row in csv.DictReader(handle)
        }


# ------------------------------------------------------------- proportions
@pytest.mark.parametrize(
    ("nc", "xc", "nt", "xt"),
    [
        (1000, 200, 1100, 260),
        (5000, 50, 5200, 80),
        (300, 150, 280, 120),
        (20000, 3000, 19000, 2950),
    ],
)
@pytest.mark.parametrize("alternative", ["two_sided", "greater", "less"])
def test_pooled_z_matches_statsmodels(nc: int, xc: int, nt: int, xt: int, alternative: str) -> None:
    result = proportion_test(
        SampleStats.from_proportion(nc, xc),
        SampleStats.from_proportion(nt, xt),
        alternative=alternative,
        exact=False,
    )
    sm_alt = {"two_sided": "two-sided", "greater": "larger", "less": "smaller"}[alternative]
    z, p = proportions_ztest([xt, xc], [nt, nc], alternative=sm_alt)
    assert result.statistic == pytest.approx(z, abs=1e-6)
    assert result.p_value == pytest.approx(p, rel=1e-6, abs=1e-12)


def test_wald_interval_matches_statsmodels() -> None:
    result = proportion_test(
        SampleStats.from_proportion(1000, 200), SampleStats.from_proportion(1100, 260), exact=False
    )
    low, high = confint_proportions_2indep(260, 1100, 200, 1000, method="wald", compare="diff")
    assert result.absolute_ci.low == pytest.approx(low, abs=1e-9)
    assert result.absolute_ci.high == pytest.approx(high, abs=1e-9)


def test_hillstrom_conversion_z() -> None:
    h = hillstrom()
    control = SampleStats.from_proportion(
        int(h["No E-Mail"]["n"]), int(h["No E-Mail"]["conversions"])
    )
    mens = SampleStats.from_proportion(
        int(h["Mens E-Mail"]["n"]), int(h["Mens E-Mail"]["conversions"])
    )
    womens = SampleStats.from_proportion(
        int(h["Womens E-Mail"]["n"]), int(h["Womens E-Mail"]["conversions"])
    )
    assert round(proportion_test(control, mens).statistic or 0, 4) == 7.3851
    result = proportion_test(control, womens)
    assert round(result.statistic or 0, 4) == 3.7796
    assert result.p_value == pytest.approx(1.571e-4, rel=1e-3)
    visits = proportion_test(
        SampleStats.from_proportion(int(h["No E-Mail"]["n"]), int(h["No E-Mail"]["visits"])),
        SampleStats.from_proportion(int(h["Mens E-Mail"]["n"]), int(h["Mens E-Mail"]["visits"])),
    )
    assert round(visits.statistic or 0, 3) == 22.486


def test_open_bandit_men_bts_vs_random() -> None:
    random_arm = SampleStats.from_proportion(10_000, 46)
    bts = SampleStats.from_proportion(10_000, 69)
    assert not needs_exact(random_arm, bts)
    result = proportion_test(random_arm, bts)
    assert result.method == "pooled z-test"
    assert round(result.statistic or 0, 4) == 2.1510
    assert round(result.p_value or 0, 4) == 0.0315
    exact = proportion_test(random_arm, bts, exact=True)
    assert round(exact.p_value or 0, 4) == 0.0392


def test_small_counts_use_fisher() -> None:
    control, treatment = SampleStats.from_proportion(40, 3), SampleStats.from_proportion(45, 11)
    assert needs_exact(control, treatment)
    result = proportion_test(control, treatment, alternative="greater")
    assert result.method == "fisher exact"
    oracle = stats.fisher_exact([[11, 34], [3, 37]], alternative="greater").pvalue
    assert result.p_value == pytest.approx(oracle, rel=1e-9)
    assert result.absolute_ci.high is None and result.absolute_ci.low is not None


# ------------------------------------------------------------------- means
def test_sleep_welch_matches_r() -> None:
    rows = list(csv.DictReader((EXTERNAL / "sleep_student1908" / "sleep.csv").open()))
    group1 = np.array([float(r["extra"]) for r in rows if r["group"] == "1"])
    group2 = np.array([float(r["extra"]) for r in rows if r["group"] == "2"])
    # R computes group1 - group2: group 2 is the "control" here.
    result = mean_test(sums(group2), sums(group1))
    assert round(result.statistic or 0, 4) == -1.8608
    assert round(result.p_value or 0, 5) == 0.07939
    assert result.absolute_ci.low == pytest.approx(-3.3654832, abs=1e-7)
    assert result.absolute_ci.high == pytest.approx(0.2054832, abs=1e-7)
    t, p = stats.ttest_ind(group1, group2, equal_var=False)
    assert result.statistic == pytest.approx(t, rel=1e-9) and result.p_value == pytest.approx(
        p, rel=1e-9
    )


@pytest.mark.parametrize("equal_var", [False, True])
@pytest.mark.parametrize("alternative", ["two_sided", "greater", "less"])
def test_t_tests_match_scipy_from_stats(equal_var: bool, alternative: str) -> None:
    rng = np.random.default_rng(7)
    control = rng.lognormal(3.0, 1.0, 400)
    treatment = rng.lognormal(3.1, 1.2, 350)
    result = mean_test(sums(control), sums(treatment), alternative=alternative, equal_var=equal_var)
    oracle = stats.ttest_ind_from_stats(
        treatment.mean(),
        treatment.std(ddof=1),
        len(treatment),
        control.mean(),
        control.std(ddof=1),
        len(control),
        equal_var=equal_var,
        alternative={"two_sided": "two-sided"}.get(alternative, alternative),
    )
    assert result.statistic == pytest.approx(oracle.statistic, rel=1e-6)
    assert result.p_value == pytest.approx(oracle.pvalue, rel=1e-6)
    ci = stats.ttest_ind(
        treatment,
        control,
        equal_var=equal_var,
        alternative={"two_sided": "two-sided"}.get(alternative, alternative),
    ).confidence_interval(0.95)
    for ours, theirs in ((result.absolute_ci.low, ci.low), (result.absolute_ci.high, ci.high)):
        if math.isinf(theirs):
            assert ours is None
        else:
            assert ours == pytest.approx(theirs, rel=1e-6)


def test_hillstrom_spend_student_and_welch() -> None:
    h = hillstrom()
    no, mens, womens = (
        SampleStats(int(h[a]["n"]), h[a]["spend_sum"], h[a]["spend_sumsq"])
        for a in ("No E-Mail", "Mens E-Mail", "Womens E-Mail")
    )
    student = mean_test(no, mens, equal_var=True)
    assert round(student.statistic or 0, 4) == 5.3001
    assert student.p_value == pytest.approx(1.163e-07, rel=1e-3)
    assert student.absolute_ci.low == pytest.approx(0.4851384, abs=1e-6)
    assert student.absolute_ci.high == pytest.approx(1.0545160, abs=1e-6)
    welch = mean_test(no, mens)
    assert round(welch.statistic or 0, 4) == 5.3001
    assert welch.p_value == pytest.approx(1.164e-07, rel=1e-3)
    w2 = mean_test(no, womens)
    assert round(w2.statistic or 0, 4) == 3.2564 and w2.p_value == pytest.approx(0.001129, rel=1e-3)


def test_welch_df_on_hillstrom() -> None:
    h = hillstrom()
    no = arm_estimate(
        SampleStats(
            int(h["No E-Mail"]["n"]), h["No E-Mail"]["spend_sum"], h["No E-Mail"]["spend_sumsq"]
        )
    )
    mens = arm_estimate(
        SampleStats(
            int(h["Mens E-Mail"]["n"]),
            h["Mens E-Mail"]["spend_sum"],
            h["Mens E-Mail"]["spend_sumsq"],
        )
    )
    from upsell_ab.stats.frequentist import welch_df

    assert welch_df(no, mens) == pytest.approx(36671.2, abs=0.05)


# ------------------------------------------------------------------ ratios
def test_ratio_delta_method_matches_numpy() -> None:
    """Var of a ratio by the delta method equals the variance of the linearised
    per-unit values (y - R d) / dbar divided by n (Deng et al. 2018)."""
    rng = np.random.default_rng(3)
    arms = []
    for scale in (1.0, 1.1):
        orders = rng.poisson(1.5, 2000) + 1
        revenue = orders * rng.gamma(2.0, 20.0 * scale, 2000)
        arms.append((revenue, orders.astype(float)))
    estimates = []
    for revenue, orders in arms:
        stats_ = RatioStats(
            len(revenue),
            revenue.sum(),
            (revenue**2).sum(),
            orders.sum(),
            (orders**2).sum(),
            (revenue * orders).sum(),
        )
        est = arm_estimate(stats_)
        ratio = revenue.sum() / orders.sum()
        linear = (revenue - ratio * orders) / orders.mean()
        assert est.mean == pytest.approx(ratio, rel=1e-12)
        assert est.variance == pytest.approx(linear.var(ddof=1) / len(revenue), rel=1e-9)
        estimates.append(stats_)
    result = ratio_test(estimates[0], estimates[1])
    assert result.status is Status.ok and result.method == "delta method ratio"
    se = math.sqrt(arm_estimate(estimates[0]).variance + arm_estimate(estimates[1]).variance)
    assert result.statistic == pytest.approx((result.absolute_lift or 0) / se, rel=1e-12)


# ---------------------------------------------------------------- relative lift
def test_relative_lift_delta_method_closed_form() -> None:
    control, treatment = (
        SampleStats(500, 5000.0, 500 * 100.0 + 5000.0**2 / 500),
        SampleStats(520, 5720.0, 520 * 121.0 + 5720.0**2 / 520),
    )
    result = mean_test(control, treatment)
    mc, mt = 10.0, 11.0
    vc, vt = control.variance / 500, treatment.variance / 520
    se = math.sqrt(vt / mc**2 + mt**2 * vc / mc**4)
    df = (vc + vt) ** 2 / (vc**2 / 499 + vt**2 / 519)
    crit = stats.t.isf(0.025, df)
    assert result.relative_lift == pytest.approx(0.1)
    assert result.relative_ci.low == pytest.approx(0.1 - crit * se, rel=1e-9)
    assert result.relative_ci.high == pytest.approx(0.1 + crit * se, rel=1e-9)


# ------------------------------------------------------------------ edge cases
@pytest.mark.parametrize(
    ("control", "treatment", "status"),
    [
        (SampleStats(0, 0.0, 0.0), SampleStats(10, 5.0, 5.0), Status.no_data),
        (SampleStats(1, 1.0, 1.0), SampleStats(10, 5.0, 5.0), Status.too_few_units),
        (SampleStats(10, 30.0, 90.0), SampleStats(10, 30.0, 90.0), Status.zero_variance),
        (SampleStats(10, 0.0, 0.0), SampleStats(10, 5.0, 25.0), Status.zero_baseline),
    ],
)
def test_mean_edge_cases_return_status(
    control: SampleStats, treatment: SampleStats, status: Status
) -> None:
    result = mean_test(control, treatment)
    assert result.status is status
    for value in (result.p_value, result.statistic, result.absolute_lift, result.relative_lift):
        assert value is None or math.isfinite(value)
    if status is not Status.zero_baseline:
        assert result.p_value is None
    else:
        assert result.relative_lift is None and result.p_value is not None


@pytest.mark.parametrize(
    ("control", "treatment", "status"),
    [
        ((0, 0), (10, 3), Status.no_data),
        ((100, 0), (100, 0), Status.zero_variance),
        ((100, 100), (100, 100), Status.zero_variance),
        ((100, 0), (100, 4), Status.zero_baseline),
        ((1, 1), (1, 0), Status.too_few_units),  # one unit: the rule of every metric type
        ((50, 50), (50, 45), Status.ok),
    ],
)
def test_proportion_edge_cases(
    control: tuple[int, int], treatment: tuple[int, int], status: Status
) -> None:
    result = proportion_test(
        SampleStats.from_proportion(*control), SampleStats.from_proportion(*treatment)
    )
    assert result.status is status
    for value in (result.p_value, result.statistic, result.absolute_lift, result.absolute_ci.low):
        assert value is None or math.isfinite(value)
    if status is Status.ok:
        assert 0.0 <= (result.p_value or -1) <= 1.0


def test_ratio_with_zero_denominator_is_no_data() -> None:
    empty = RatioStats(10, 0.0, 0.0, 0.0, 0.0, 0.0)
    full = RatioStats(10, 100.0, 1200.0, 10.0, 10.0, 100.0)
    assert ratio_test(empty, full).status is Status.no_data


def test_tiny_p_values_do_not_underflow_to_zero() -> None:
    control = SampleStats.from_proportion(1_000_000, 100_000)
    treatment = SampleStats.from_proportion(1_000_000, 105_000)
    result = proportion_test(control, treatment)
    assert result.p_value is not None and 0.0 < result.p_value < 1e-16
    assert result.p_value == pytest.approx(2 * stats.norm.sf(abs(result.statistic or 0)), rel=1e-9)


# -------------------------------------------------------------- non-inferiority
@pytest.mark.parametrize("higher", [True, False])
def test_non_inferiority_absolute_matches_shifted_one_sided_test(higher: bool) -> None:
    rng = np.random.default_rng(11)
    control, treatment = rng.normal(10, 3, 800), rng.normal(9.9, 3, 820)
    margin = 0.5
    result = non_inferiority(
        arm_estimate(sums(control)),
        arm_estimate(sums(treatment)),
        margin=margin,
        margin_kind="absolute",
        higher_is_better=higher,
    )
    shifted = treatment + margin if higher else treatment - margin
    oracle = stats.ttest_ind(
        shifted, control, equal_var=False, alternative="greater" if higher else "less"
    )
    assert result.p_value == pytest.approx(oracle.pvalue, rel=1e-6)
    assert result.passed is bool(oracle.pvalue < 0.05)
    ci = oracle.confidence_interval(0.95)
    bound = (ci.low - margin) if higher else (ci.high + margin)
    assert result.bound == pytest.approx(bound, rel=1e-6)


def test_non_inferiority_relative_margin_direction() -> None:
    control = arm_estimate(SampleStats(10_000, 100_000.0, 10_000 * 125.0))
    same = arm_estimate(SampleStats(10_000, 100_000.0, 10_000 * 125.0))
    worse = arm_estimate(SampleStats(10_000, 90_000.0, 10_000 * 106.0))
    assert non_inferiority(control, same, margin=0.05).passed is True
    assert non_inferiority(control, worse, margin=0.05).passed is False
    # The same 10 % drop is fine when lower is better (e.g. complaints).
    assert non_inferiority(control, worse, margin=0.05, higher_is_better=False).passed is True
    assert (
        non_inferiority(control, arm_estimate(SampleStats(1, 1.0, 1.0)), margin=0.05).passed is None
    )


def test_rare_guardrail_events_use_agresti_caffo() -> None:
    """0 complaints of 5,000 in both arms: Wald has se 0, Agresti-Caffo proves non-inferiority
    at an absolute margin of 0.2 pp; the adjusted rates are (0 + 1) / (5000 + 2)."""
    from upsell_ab.stats.frequentist import proportion_estimates

    none = SampleStats.from_proportion(5000, 0)
    c_est, t_est = proportion_estimates(none, none)
    assert c_est.mean == pytest.approx(1 / 5002)
    assert c_est.variance == pytest.approx((1 / 5002) * (5001 / 5002) / 5002)
    result = non_inferiority(
        c_est, t_est, margin=0.002, margin_kind="absolute", higher_is_better=False, welch=False
    )
    se = math.sqrt(2 * c_est.variance)
    assert result.p_value == pytest.approx(stats.norm.sf(0.002 / se), rel=1e-9)
    assert result.passed is True
    plain = proportion_estimates(
        SampleStats.from_proportion(5000, 400), SampleStats.from_proportion(5000, 420)
    )
    assert plain[0].mean == 0.08


# ------------------------------------------------------------- property: no NaN, no crash
def _unit_values(draw: st.DrawFn, n: int, integer: bool) -> np.ndarray:
    element = st.integers(0, 3) if integer else st.floats(0, 1e4, allow_nan=False)
    return np.array(draw(st.lists(element, min_size=n, max_size=n)), dtype=float)


@st.composite
def arm_pairs(draw: st.DrawFn) -> tuple[str, object, object]:
    kind = draw(st.sampled_from(["proportion", "mean", "ratio", "cuped"]))
    arms: list[MetricStats] = []
    for _ in range(2):
        n = draw(st.integers(0, 6))
        if kind == "proportion":
            arms.append(SampleStats.from_proportion(n, draw(st.integers(0, n))))
            continue
        y = _unit_values(draw, n, integer=draw(st.booleans()))
        if kind == "mean":
            arms.append(sums(y))
        elif kind == "ratio":
            d = _unit_values(draw, n, integer=True)
            arms.append(RatioStats(n, y.sum(), (y**2).sum(), d.sum(), (d**2).sum(), (y * d).sum()))
        else:
            x = _unit_values(draw, n, integer=False)
            arms.append(CupedStats(n, y.sum(), (y**2).sum(), x.sum(), (x**2).sum(), (x * y).sum()))
    return kind, arms[0], arms[1]


@settings(max_examples=150, deadline=None)
@given(arm_pairs(), st.sampled_from(["two_sided", "greater", "less"]))
def test_degenerate_inputs_never_give_nan_or_crash(
    case: tuple[str, object, object], alternative: str
) -> None:
    kind, control, treatment = case
    if kind == "proportion":
        result = proportion_test(control, treatment, alternative=alternative)  # type: ignore[arg-type]
    elif kind == "mean":
        result = mean_test(control, treatment, alternative=alternative)  # type: ignore[arg-type]
    elif kind == "ratio":
        result = ratio_test(control, treatment, alternative=alternative)  # type: ignore[arg-type]
    else:
        result = cuped_test(control, treatment, alternative=alternative)  # type: ignore[arg-type]
    numbers = [
        result.p_value, result.statistic, result.absolute_lift, result.relative_lift,
        result.absolute_ci.low, result.absolute_ci.high, result.relative_ci.low,
        result.relative_ci.high, result.variance_reduction,
    ]  # fmt: skip
    assert all(v is None or math.isfinite(v) for v in numbers)
    if result.p_value is not None:
        assert 0.0 <= result.p_value <= 1.0
    if result.status in (Status.no_data, Status.too_few_units, Status.zero_variance):
        assert result.p_value is None
