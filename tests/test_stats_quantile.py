"""Quantile metrics: order-statistic variance against the bootstrap, interval coverage
(independent orders and orders clustered by customer), the Bayesian engine on the
estimate, and the planned power. Seeded; R = 400 runs by default, 2,000 with
UPSELL_AB_SLOW=1 (Monte-Carlo SE of a 95 % coverage: 0.011 / 0.005)."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest

from upsell_ab.metrics.quantile import QuantileStats
from upsell_ab.spec.models import LiftPrior
from upsell_ab.stats.bayesian_gaussian import gaussian
from upsell_ab.stats.planning import MetricInput, plan_experiment
from upsell_ab.stats.quantile import quantile_estimate, quantile_test, quantile_variance

RUNS = 2000 if os.environ.get("UPSELL_AB_SLOW") == "1" else 400
COVERAGE_TOL = 3 * math.sqrt(0.95 * 0.05 / RUNS) + 0.01


def test_order_statistics_match_numpy() -> None:
    values = np.arange(1.0, 101.0)  # 1..100
    stats = QuantileStats.from_values(values, 0.5)
    assert stats.quantile == np.quantile(values, 0.5, method="inverted_cdf") == 50.0
    # ranks ceil((0.5 -+ 1.96 * 0.05) * 100) = 41 and 60
    assert (stats.lower, stats.upper) == (41.0, 60.0)
    p90 = QuantileStats.from_values(values, 0.9)
    assert p90.quantile == np.quantile(values, 0.9, method="inverted_cdf")


@pytest.mark.parametrize("nu", [0.5, 0.9])
def test_standard_error_matches_the_bootstrap(nu: float) -> None:
    rng = np.random.default_rng(21)
    orders = rng.lognormal(7.5, 0.5, 4000)
    ours = math.sqrt(quantile_variance(QuantileStats.from_values(orders, nu)) or 0.0)
    boot = [np.quantile(rng.choice(orders, orders.size), nu) for _ in range(2000)]
    assert ours == pytest.approx(float(np.std(boot, ddof=1)), rel=0.12)


def _cover(control: QuantileStats, treatment: QuantileStats, truth: float) -> bool:
    result = quantile_test(control, treatment)
    assert result is not None
    low, high = result.absolute_ci.low, result.absolute_ci.high
    assert low is not None and high is not None
    return low <= truth <= high


def test_difference_interval_covers_independent_orders() -> None:
    rng = np.random.default_rng(22)
    truth = math.exp(7.5) * (1.2 - 1.0)  # median of lognormal(7.5, .5): e^7.5; treatment x1.2
    hits = [
        _cover(
            QuantileStats.from_values(rng.lognormal(7.5, 0.5, 800), 0.5),
            QuantileStats.from_values(rng.lognormal(7.5, 0.5, 800) * 1.2, 0.5),
            truth,
        )
        for _ in range(RUNS)
    ]
    assert np.mean(hits) == pytest.approx(0.95, abs=COVERAGE_TOL)


def _clustered(
    rng: np.random.Generator, customers: int, scale: float
) -> tuple[np.ndarray, np.ndarray]:
    """Orders per customer 1 + Poisson(3); a customer's orders share a spending level."""
    counts = 1 + rng.poisson(3.0, customers)
    level = rng.normal(0.0, 0.6, customers)
    ids = np.repeat(np.arange(customers), counts)
    values = np.exp(7.5 + level[ids] + rng.normal(0.0, 0.3, ids.size)) * scale
    return values, ids


def test_clustering_adjustment_restores_coverage() -> None:
    rng = np.random.default_rng(23)
    # the true median of per-order values, from one very large draw
    big, _ = _clustered(rng, 400_000, 1.0)
    truth = float(np.median(big)) * 0.1  # treatment x1.1
    clustered, naive = [], []
    for _ in range(RUNS):
        c_values, c_ids = _clustered(rng, 300, 1.0)
        t_values, t_ids = _clustered(rng, 300, 1.1)
        clustered.append(
            _cover(
                QuantileStats.from_values(c_values, 0.5, c_ids),
                QuantileStats.from_values(t_values, 0.5, t_ids),
                truth,
            )
        )
        naive.append(
            _cover(
                QuantileStats.from_values(c_values, 0.5),
                QuantileStats.from_values(t_values, 0.5),
                truth,
            )
        )
    assert np.mean(clustered) == pytest.approx(0.95, abs=COVERAGE_TOL)
    assert np.mean(naive) < 0.85  # ignoring the clustering undercovers badly


def test_cluster_variance_matches_the_cluster_bootstrap() -> None:
    rng = np.random.default_rng(24)
    values, ids = _clustered(rng, 1500, 1.0)
    ours = math.sqrt(quantile_variance(QuantileStats.from_values(values, 0.5, ids)) or 0.0)
    groups = [values[ids == k] for k in range(1500)]
    boot = []
    for _ in range(400):
        pick = rng.integers(0, 1500, 1500)
        boot.append(np.median(np.concatenate([groups[k] for k in pick])))
    assert ours == pytest.approx(float(np.std(boot, ddof=1)), rel=0.15)


def test_bayesian_engine_takes_the_quantile_as_gaussian() -> None:
    rng = np.random.default_rng(25)
    control = quantile_estimate(QuantileStats.from_values(rng.lognormal(7.5, 0.5, 3000), 0.9))
    treatment = quantile_estimate(
        QuantileStats.from_values(rng.lognormal(7.5, 0.5, 3000) * 1.15, 0.9)
    )
    assert control is not None and treatment is not None
    result = gaussian(control, treatment, LiftPrior())
    assert result.prob_beat_baseline is not None and result.prob_beat_baseline > 0.99
    assert quantile_estimate(QuantileStats.from_values([5.0], 0.5)) is None


def test_quantile_power_at_planned_n() -> None:
    rng = np.random.default_rng(26)
    pilot = QuantileStats.from_values(rng.lognormal(7.5, 0.5, 100_000), 0.5)
    variance = quantile_variance(pilot)
    assert variance is not None
    std = math.sqrt(variance * pilot.n)  # per-order std: Var(q_hat) = std^2 / n
    metric = MetricInput(
        "median_order", "primary", "mean", "superiority", 0.05, baseline=pilot.quantile, std=std
    )
    plan = plan_experiment([metric], weights={"c": 0.5, "t": 0.5}, control="c")
    n = plan.metrics[0].n_equal_split
    assert n is not None
    shift = 0.05 * pilot.quantile
    rejected = []
    for _ in range(RUNS):
        control = QuantileStats.from_values(rng.lognormal(7.5, 0.5, n), 0.5)
        treatment = QuantileStats.from_values(rng.lognormal(7.5, 0.5, n) + shift, 0.5)
        result = quantile_test(control, treatment)
        assert result is not None and result.p_value is not None
        rejected.append(result.p_value < 0.05)
    assert np.mean(rejected) == pytest.approx(0.8, abs=3 * math.sqrt(0.16 / RUNS) + 0.03)
