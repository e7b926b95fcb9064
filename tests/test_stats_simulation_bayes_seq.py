"""Seeded simulations: Bayesian calibration, peeking with and without confidence
sequences, group-sequential type I error and power.

Every rate is compared with its target within a stated Monte-Carlo error.
Larger runs are marked slow (UPSELL_AB_SLOW=1).
"""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
from scipy import stats

from upsell_ab.metrics.sufficient import SampleStats
from upsell_ab.spec.models import BetaPrior, LiftPrior
from upsell_ab.stats.bayesian import beta_binomial, beta_credible_interval, gaussian
from upsell_ab.stats.group_sequential import (
    BoundaryKind,
    classical_boundaries,
    crossing_probabilities,
    spending_boundaries,
)
from upsell_ab.stats.results import ArmEstimate
from upsell_ab.stats.sequential import halfwidth_factor

slow = pytest.mark.skipif(os.environ.get("UPSELL_AB_SLOW") != "1", reason="set UPSELL_AB_SLOW=1")


def _mc_bound(rate: float, runs: int, sigmas: float = 4.0) -> float:
    return sigmas * math.sqrt(rate * (1 - rate) / runs)


# ------------------------------------------------------------------ Bayesian
def test_beta_binomial_aa_prob_is_uniform() -> None:
    """A/A: with equal true rates P(B > A) is (close to) uniform on (0, 1)."""
    rng = np.random.default_rng(2024)
    runs, n = 1500, 800
    conversions = rng.binomial(n, 0.2, size=(runs, 2))
    probs = np.array(
        [
            beta_binomial(
                SampleStats.from_proportion(n, int(a)),
                SampleStats.from_proportion(n, int(b)),
                BetaPrior(),
            ).prob_beat_baseline
            for a, b in conversions
        ],
        dtype=float,
    )
    assert stats.kstest(probs, "uniform").pvalue > 0.01
    # and the "95 % sure" rule fires about 5 % of the time
    assert np.mean(probs > 0.95) == pytest.approx(0.05, abs=_mc_bound(0.05, runs))


def test_gaussian_aa_chance_to_win_is_uniform() -> None:
    """A/A on skewed revenue (lognormal, 600 units an arm): chance to win is uniform."""
    rng = np.random.default_rng(77)
    runs, n = 1200, 600
    values = rng.lognormal(mean=7.0, sigma=1.0, size=(runs, 2, n))
    means = values.mean(axis=2)
    variances = values.var(axis=2, ddof=1) / n
    probs = np.array(
        [
            gaussian(
                ArmEstimate(n, float(m[0]), float(v[0])),
                ArmEstimate(n, float(m[1]), float(v[1])),
                LiftPrior(),
            ).prob_beat_baseline
            for m, v in zip(means, variances, strict=True)
        ],
        dtype=float,
    )
    assert stats.kstest(probs, "uniform").pvalue > 0.01


def test_beta_binomial_is_calibrated_under_its_prior() -> None:
    """Rates drawn from the prior: the 90 % credible interval covers the true rate
    90 % of the time and E[1{p_B > p_A} - P(p_B > p_A)] = 0 (exact Bayesian calibration)."""
    rng = np.random.default_rng(11)
    prior = BetaPrior(alpha=2.0, beta=8.0)
    runs, n = 2000, 60
    rates = rng.beta(prior.alpha, prior.beta, size=(runs, 2))
    conversions = rng.binomial(n, rates)
    covered = 0
    gap = np.empty(runs)
    for i in range(runs):
        control = SampleStats.from_proportion(n, int(conversions[i, 0]))
        treatment = SampleStats.from_proportion(n, int(conversions[i, 1]))
        interval = beta_credible_interval(treatment, prior, 0.9)
        assert interval.low is not None and interval.high is not None
        covered += interval.low <= rates[i, 1] <= interval.high
        prob = beta_binomial(control, treatment, prior).prob_beat_baseline
        assert prob is not None
        gap[i] = float(rates[i, 1] > rates[i, 0]) - prob
    assert covered / runs == pytest.approx(0.9, abs=_mc_bound(0.9, runs))
    assert gap.mean() == pytest.approx(0.0, abs=4 * gap.std() / math.sqrt(runs))


# ---------------------------------------------------------------- peeking
def _peeking_rates(runs: int, seed: int) -> tuple[float, float]:
    """30 daily looks at an A/A conversion test (150 units an arm a day, p = 0.2):
    share of runs where a naive 95 % z interval, and the 95 % confidence
    sequence (N* = 5000), ever exclude 0."""
    rng = np.random.default_rng(seed)
    days, per_day, p = 30, 150, 0.2
    daily = rng.binomial(per_day, p, size=(runs, days, 2))
    conversions = daily.cumsum(axis=1)
    n = per_day * np.arange(1, days + 1)
    rates = conversions / n[None, :, None]
    se = np.sqrt((rates * (1 - rates)).sum(axis=2) / n[None, :])
    diff = rates[:, :, 1] - rates[:, :, 0]
    z = 1.959963984540054
    factors = np.array([halfwidth_factor(2 * k, 0.05, 5000.0) for k in n])
    with np.errstate(divide="ignore", invalid="ignore"):
        naive = np.abs(diff) > z * se
        sequence = np.abs(diff) > factors[None, :] * se
    return float(naive.any(axis=1).mean()), float(sequence.any(axis=1).mean())


def test_peeking_inflates_the_fixed_n_test_but_not_the_confidence_sequence() -> None:
    runs = 4000
    naive, sequence = _peeking_rates(runs, seed=30)
    assert naive > 0.15
    assert sequence <= 0.05 + _mc_bound(0.05, runs, 3.0)


@slow
def test_peeking_large_run() -> None:
    runs = 40000
    naive, sequence = _peeking_rates(runs, seed=31)
    assert naive > 0.2
    assert sequence <= 0.05 + _mc_bound(0.05, runs, 3.0)


# --------------------------------------------------------- group sequential
def _brownian_z(runs: int, fractions: tuple[float, ...], drift: float, seed: int) -> np.ndarray:
    """Z_k = W(t_k) / sqrt(t_k) for Brownian motion with drift (score process)."""
    rng = np.random.default_rng(seed)
    t = np.asarray(fractions)
    steps = np.diff(np.concatenate([[0.0], t]))
    increments = rng.normal(drift * steps, np.sqrt(steps), size=(runs, len(t)))
    return increments.cumsum(axis=1) / np.sqrt(t)


@pytest.mark.parametrize(
    "plan",
    [
        classical_boundaries(5, 0.05, BoundaryKind.pocock),
        classical_boundaries(5, 0.05, BoundaryKind.obrien_fleming),
        spending_boundaries(5, 0.05, BoundaryKind.spending_pocock),
        spending_boundaries(
            4,
            0.05,
            BoundaryKind.spending_obrien_fleming,
            information_fractions=(0.25, 0.5, 0.8, 1.0),
        ),
    ],
    ids=["pocock", "obf", "ld-pocock", "ld-obf-unequal"],
)
def test_group_sequential_type_one_error_by_simulation(plan: object) -> None:
    from upsell_ab.stats.group_sequential import GroupSequentialDesign

    assert isinstance(plan, GroupSequentialDesign)
    runs = 200_000
    z = _brownian_z(runs, plan.information_fractions, 0.0, seed=plan.looks * 7)
    crossed = np.abs(z) >= np.asarray(plan.bounds)[None, :]
    assert crossed.any(axis=1).mean() == pytest.approx(0.05, abs=_mc_bound(0.05, runs))
    first = np.where(crossed.any(axis=1), crossed.argmax(axis=1), -1)
    for k, cumulative in enumerate(plan.cumulative_alpha):
        share = float(np.mean((first >= 0) & (first <= k)))
        assert share == pytest.approx(cumulative, abs=_mc_bound(max(cumulative, 1e-4), runs) + 2e-5)


def test_group_sequential_power_matches_recursion() -> None:
    plan = classical_boundaries(5, 0.05, BoundaryKind.obrien_fleming)
    drift = 2.8  # about 80 % power for a single look at full information
    runs = 100_000
    z = _brownian_z(runs, plan.information_fractions, drift, seed=5)
    power_mc = float((np.abs(z) >= np.asarray(plan.bounds)[None, :]).any(axis=1).mean())
    power = sum(crossing_probabilities(plan.bounds, plan.information_fractions, drift=drift))
    assert power == pytest.approx(power_mc, abs=_mc_bound(power, runs))
    # naive repeated 1.96 tests over 5 looks inflate alpha to about 0.142 (Armitage et al. 1969)
    naive = sum(crossing_probabilities([1.959964] * 5))
    assert naive == pytest.approx(0.142, abs=2e-3)
