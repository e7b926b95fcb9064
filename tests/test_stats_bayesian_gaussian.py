"""Gaussian engine: GrowthBook's published vector, conjugate-update closed forms,
P(best) against scipy and seeded Monte Carlo, edge cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, stats

from upsell_ab.spec.models import Direction, LiftPrior
from upsell_ab.stats.bayesian import expected_loss_gaussian, gaussian, prob_best_gaussian
from upsell_ab.stats.results import ArmEstimate, Status

FLAT = LiftPrior()


def _prop(n: int, s: int) -> ArmEstimate:
    """GrowthBook's ProportionStatistic: variance p (1 - p) per unit."""
    p = s / n
    return ArmEstimate(n=n, mean=p, variance=p * (1 - p) / n)


def test_growthbook_flat_prior_vector() -> None:
    """gbstats EffectBayesianABTest, 49/100 vs 51/100, flat prior (design.md)."""
    result = gaussian(_prop(100, 49), _prop(100, 51), FLAT)
    assert result.status is Status.ok
    assert result.relative_lift == pytest.approx(0.04082, abs=5e-6)
    assert result.relative_ci.low == pytest.approx(-0.24779, abs=5e-6)
    assert result.relative_ci.high == pytest.approx(0.32943, abs=5e-6)
    assert result.prob_beat_baseline == pytest.approx(0.60918, abs=5e-6)


def test_conjugate_normal_prior_closed_form_and_loss() -> None:
    control = ArmEstimate(n=500, mean=10.0, variance=0.04)
    treatment = ArmEstimate(n=500, mean=10.6, variance=0.05)
    prior = LiftPrior(proper=True, mean=0.0, stddev=0.02)
    result = gaussian(control, treatment, prior, level=0.9)
    d = 0.06
    v = 0.05 / 100 + 10.6**2 * 0.04 / 10**4
    prec = 1 / v + 1 / 0.02**2
    mean, sd = (d / v) / prec, math.sqrt(1 / prec)
    assert result.relative_lift == pytest.approx(mean, rel=1e-12)
    assert result.prob_beat_baseline == pytest.approx(stats.norm.sf(0, mean, sd), rel=1e-12)
    assert result.relative_ci.low == pytest.approx(stats.norm.ppf(0.05, mean, sd), rel=1e-10)
    # expected loss in metric units = |mu_C| E[max(-lift, 0)], checked by scipy quadrature
    loss, _ = integrate.quad(lambda x: -x * stats.norm.pdf(x, mean, sd), -np.inf, 0.0)
    assert result.expected_loss == pytest.approx(10.0 * loss, rel=1e-8)
    # absolute interval: same update with the prior scaled by |mu_C|
    prec_abs = 1 / 0.09 + 1 / 0.2**2
    mean_abs = (0.6 / 0.09) / prec_abs
    half = stats.norm.ppf(0.95) * math.sqrt(1 / prec_abs)
    assert result.absolute_ci.low == pytest.approx(mean_abs - half, rel=1e-10)


def test_lower_is_better_flips_chance_and_loss() -> None:
    control, treatment = _prop(1000, 300), _prop(1000, 270)
    up = gaussian(control, treatment, FLAT)
    down = gaussian(control, treatment, FLAT, direction=Direction.lower_is_better)
    assert up.prob_beat_baseline is not None and down.prob_beat_baseline is not None
    assert up.prob_beat_baseline + down.prob_beat_baseline == pytest.approx(1.0, abs=1e-14)
    assert up.expected_loss is not None and down.expected_loss is not None
    # E[max(-X,0)] - E[max(X,0)] = -E[X]  (in metric units)
    assert up.expected_loss - down.expected_loss == pytest.approx(0.3 * 0.1, rel=1e-10)


def test_prob_best_matches_scipy_and_monte_carlo() -> None:
    arms = {
        "a": ArmEstimate(800, 10.0, 0.04),
        "b": ArmEstimate(800, 10.2, 0.09),
        "c": ArmEstimate(800, 10.25, 0.0004),  # much narrower than the others
        "d": ArmEstimate(800, 9.7, 0.25),
    }
    best = prob_best_gaussian(arms)
    assert best is not None
    assert sum(best.values()) == pytest.approx(1.0, abs=1e-9)
    means = [a.mean for a in arms.values()]
    sds = [math.sqrt(a.variance) for a in arms.values()]
    for i, name in enumerate(arms):

        def integrand(x: float, i: int = i) -> float:
            value = stats.norm.pdf(x, means[i], sds[i])
            for j in range(len(means)):
                if j != i:
                    value *= stats.norm.cdf(x, means[j], sds[j])
            return float(value)

        ref, _ = integrate.quad(
            integrand, means[i] - 12 * sds[i], means[i] + 12 * sds[i], limit=400, points=[10.25]
        )
        assert best[name] == pytest.approx(ref, abs=1e-9)
    rng = np.random.default_rng(99)
    draws = 1_000_000
    sample = rng.normal(means, sds, size=(draws, len(means)))
    top = sample.max(axis=1)
    losses = expected_loss_gaussian(arms)
    assert losses is not None
    for j, name in enumerate(arms):
        gap = top - sample[:, j]
        assert losses[name] == pytest.approx(gap.mean(), abs=5 * gap.std() / math.sqrt(draws))


def test_prob_best_two_arms_is_normal_cdf_and_lower_is_better() -> None:
    arms = {"a": ArmEstimate(100, 1.0, 0.01), "b": ArmEstimate(100, 1.1, 0.02)}
    best = prob_best_gaussian(arms)
    worst = prob_best_gaussian(arms, direction=Direction.lower_is_better)
    exact = stats.norm.cdf(0.1 / math.sqrt(0.03))
    assert best is not None and worst is not None
    assert best["b"] == pytest.approx(exact, abs=1e-10)
    assert worst["a"] == pytest.approx(exact, abs=1e-10)


@pytest.mark.parametrize(
    ("control", "treatment", "status"),
    [
        (ArmEstimate(0, 0.0, 0.0), ArmEstimate(10, 1.0, 0.1), Status.no_data),
        (ArmEstimate(1, 3.0, 0.0), ArmEstimate(10, 1.0, 0.1), Status.too_few_units),
        (ArmEstimate(50, 0.0, 0.0), ArmEstimate(50, 0.0, 0.0), Status.zero_variance),
    ],
)
def test_edge_cases_return_status_and_none(
    control: ArmEstimate, treatment: ArmEstimate, status: Status
) -> None:
    result = gaussian(control, treatment, FLAT)
    assert result.status is status
    assert result.prob_beat_baseline is None and result.relative_lift is None
    assert result.relative_ci.low is None and result.absolute_ci.high is None


def test_zero_baseline_keeps_absolute_results() -> None:
    result = gaussian(ArmEstimate(50, 0.0, 0.0), ArmEstimate(50, 0.1, 0.0018), FLAT)
    assert result.status is Status.zero_baseline
    assert result.relative_lift is None and result.relative_ci.low is None
    assert result.prob_beat_baseline == pytest.approx(stats.norm.cdf(0.1 / math.sqrt(0.0018)))
    assert result.absolute_ci.low == pytest.approx(0.1 - 1.959964 * math.sqrt(0.0018), rel=1e-6)


def test_negative_baseline_keeps_the_sign_of_the_lift() -> None:
    """Profit per unit can be negative: a less negative treatment is an improvement."""
    result = gaussian(ArmEstimate(400, -2.0, 0.01), ArmEstimate(400, -1.0, 0.01), FLAT)
    assert result.relative_lift == pytest.approx(0.5)
    assert result.prob_beat_baseline is not None and result.prob_beat_baseline > 0.99


def test_prob_best_none_without_spread() -> None:
    assert (
        prob_best_gaussian({"a": ArmEstimate(5, 1.0, 0.0), "b": ArmEstimate(5, 1.0, 0.1)}) is None
    )
