"""Planned sample sizes deliver the planned power: at the n `plan` gives, the project's
own tests reject (or prove non-inferiority) in about `power` of seeded simulated
experiments, for a proportion, a mean, a ratio and a guardrail non-inferiority test.
The n is also checked against statsmodels' power functions.

Default runs: R = 1,000 (Monte-Carlo SE of a rate near 0.8 is 0.0126; tolerance 3 SE
plus the normal-approximation gap); UPSELL_AB_SLOW=1 runs R = 6,000."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
from statsmodels.stats.power import NormalIndPower

from upsell_ab.metrics.sufficient import RatioStats, SampleStats
from upsell_ab.stats.estimates import arm_estimate
from upsell_ab.stats.frequentist import mean_test, non_inferiority, proportion_test, ratio_test
from upsell_ab.stats.planning import MetricInput, history_moments, plan_experiment

RUNS = 6000 if os.environ.get("UPSELL_AB_SLOW") == "1" else 1000
TOLERANCE = 3 * math.sqrt(0.8 * 0.2 / RUNS) + 0.01
"""3 Monte-Carlo SE, plus 0.01 for the normal approximation behind the plan."""
WEIGHTS = {"control": 0.5, "treatment": 0.5}


def _n(metric: MetricInput) -> int:
    plan = plan_experiment([metric], weights=WEIGHTS, control="control")
    (planned,) = plan.metrics
    assert planned.n_equal_split is not None
    return planned.n_equal_split


def test_proportion_power_at_planned_n() -> None:
    metric = MetricInput("take", "primary", "proportion", "superiority", 0.3, baseline=0.2)
    n = _n(metric)
    rng = np.random.default_rng(11)
    control = rng.binomial(n, 0.2, RUNS)
    treatment = rng.binomial(n, 0.26, RUNS)
    rejected = [
        proportion_test(
            SampleStats.from_proportion(n, int(c)), SampleStats.from_proportion(n, int(t))
        ).p_value
        < 0.05
        for c, t in zip(control, treatment, strict=True)
    ]
    assert np.mean(rejected) == pytest.approx(0.8, abs=TOLERANCE)


def _sample(values: np.ndarray) -> list[SampleStats]:
    return [SampleStats(values.shape[1], float(row.sum()), float((row**2).sum())) for row in values]


def test_mean_power_at_planned_n_and_statsmodels() -> None:
    rng = np.random.default_rng(12)
    pilot = rng.lognormal(7.0, 0.6, 200_000)
    mean, std = float(pilot.mean()), float(pilot.std(ddof=1))
    metric = MetricInput("revenue", "primary", "mean", "superiority", 0.1, baseline=mean, std=std)
    n = _n(metric)
    theirs = NormalIndPower().solve_power(0.1 * mean / std, alpha=0.05, power=0.8)
    assert n == math.ceil(theirs - 1e-6)
    control = _sample(rng.lognormal(7.0, 0.6, (RUNS, n)))
    # a shift by the MDE (the plan assumes equal variances; a x1.1 scale would also
    # raise the treatment's variance by 21 % and cost about 4 points of power)
    treatment = _sample(rng.lognormal(7.0, 0.6, (RUNS, n)) + 0.1 * mean)
    rejected = [mean_test(c, t).p_value < 0.05 for c, t in zip(control, treatment, strict=True)]  # type: ignore[operator]
    assert np.mean(rejected) == pytest.approx(0.8, abs=TOLERANCE)


def _ratio_arm(rng: np.random.Generator, n: int, scale: float) -> RatioStats:
    orders = 1 + rng.poisson(0.6, n)
    value = np.array([rng.gamma(3.0, 800.0, k).sum() for k in orders]) * scale
    return RatioStats(
        n, float(value.sum()), float((value**2).sum()), float(orders.sum()),
        float((orders**2).sum()), float((value * orders).sum()),
    )  # fmt: skip


def test_ratio_power_at_planned_n() -> None:
    rng = np.random.default_rng(13)
    pilot = _ratio_arm(rng, 100_000, 1.0)
    moments = history_moments(pilot)
    assert moments is not None
    baseline, std, _ = moments
    assert baseline == pytest.approx(2400.0, rel=0.02)  # gamma mean 3 x 800 per order
    metric = MetricInput("rpo", "primary", "mean", "superiority", 0.08, baseline=baseline, std=std)
    n = _n(metric)
    runs = RUNS // 2
    rejected = [
        ratio_test(_ratio_arm(rng, n, 1.0), _ratio_arm(rng, n, 1.08)).p_value < 0.05  # type: ignore[operator]
        for _ in range(runs)
    ]
    assert np.mean(rejected) == pytest.approx(0.8, abs=3 * math.sqrt(0.16 / runs) + 0.01)


def test_guardrail_non_inferiority_power_at_planned_n_and_statsmodels() -> None:
    metric = MetricInput(
        "complaints", "guardrail", "proportion", "non_inferiority", 0.01,
        effect_kind="absolute", baseline=0.05,
    )  # fmt: skip
    n = _n(metric)
    sigma = math.sqrt(0.05 * 0.95)
    theirs = NormalIndPower().solve_power(0.01 / sigma, alpha=0.05, power=0.8, alternative="larger")
    assert n == math.ceil(theirs - 1e-6)
    rng = np.random.default_rng(14)
    control = rng.binomial(n, 0.05, RUNS)
    treatment = rng.binomial(n, 0.05, RUNS)
    passed = []
    for c, t in zip(control, treatment, strict=True):
        c_est = arm_estimate(SampleStats.from_proportion(n, int(c)))
        t_est = arm_estimate(SampleStats.from_proportion(n, int(t)))
        result = non_inferiority(
            c_est, t_est, margin=0.01, margin_kind="absolute", higher_is_better=False,
            welch=False,
        )  # fmt: skip
        passed.append(bool(result.passed))
    assert np.mean(passed) == pytest.approx(0.8, abs=TOLERANCE)
