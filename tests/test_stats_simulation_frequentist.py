"""Seeded simulations: A/A false-positive rates, interval coverage and power.

Per-unit data are drawn with numpy and reduced to sufficient statistics, as
the data layer would. Rates must be within 3 Monte-Carlo standard errors,
sqrt(r (1 - r) / R), of the nominal value. The default run is small (R = 1,500)
so CI stays fast; UPSELL_AB_SLOW=1 runs R = 20,000.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable

import numpy as np
import pytest

from upsell_ab.metrics.sufficient import CupedRatioStats, CupedStats, RatioStats, SampleStats
from upsell_ab.stats.cuped import cuped_test
from upsell_ab.stats.frequentist import mean_test, proportion_test, ratio_test
from upsell_ab.stats.power import power_proportion, sample_size_proportion
from upsell_ab.stats.results import FrequentistComparison

SLOW = os.environ.get("UPSELL_AB_SLOW") == "1"
slow = pytest.mark.skipif(not SLOW, reason="set UPSELL_AB_SLOW=1 for the large simulation")
ALPHA = 0.05


def within_mc_error(observed: float, expected: float, replicates: int) -> bool:
    return abs(observed - expected) <= 3 * math.sqrt(expected * (1 - expected) / replicates)


def sample_sums(values: np.ndarray) -> list[SampleStats]:
    """(R, n) per-unit values -> R sufficient statistics."""
    n = values.shape[1]
    return [
        SampleStats(n, float(s), float(q))
        for s, q in zip(values.sum(1), (values**2).sum(1), strict=True)
    ]


Simulator = Callable[[np.random.Generator, int], list[FrequentistComparison]]


def aa_proportions(rng: np.random.Generator, replicates: int) -> list[FrequentistComparison]:
    n = 1000
    c, t = rng.binomial(n, 0.1, replicates), rng.binomial(n, 0.1, replicates)
    return [
        proportion_test(
            SampleStats.from_proportion(n, int(a)),
            SampleStats.from_proportion(n, int(b)),
            exact=False,
        )
        for a, b in zip(c, t, strict=True)
    ]


def aa_welch(rng: np.random.Generator, replicates: int) -> list[FrequentistComparison]:
    control = sample_sums(rng.lognormal(3.0, 0.8, (replicates, 400)))
    treatment = sample_sums(rng.lognormal(3.0, 0.8, (replicates, 300)))
    return [mean_test(a, b) for a, b in zip(control, treatment, strict=True)]


def _ratio_arm(rng: np.random.Generator, replicates: int, n: int) -> list[RatioStats]:
    orders = rng.poisson(1.2, (replicates, n)) + 1.0
    revenue = orders * rng.gamma(2.0, 15.0, (replicates, n))
    return [
        RatioStats(n, *map(float, row))
        for row in zip(
            revenue.sum(1),
            (revenue**2).sum(1),
            orders.sum(1),
            (orders**2).sum(1),
            (revenue * orders).sum(1),
            strict=True,
        )
    ]


def aa_ratio(rng: np.random.Generator, replicates: int) -> list[FrequentistComparison]:
    control, treatment = _ratio_arm(rng, replicates, 300), _ratio_arm(rng, replicates, 300)
    return [ratio_test(a, b) for a, b in zip(control, treatment, strict=True)]


def _cuped_arm(
    rng: np.random.Generator, replicates: int, n: int, shift: float = 0.0
) -> list[CupedStats]:
    x = rng.gamma(2.0, 10.0, (replicates, n))
    y = shift + 0.7 * x + rng.normal(0.0, 8.0, (replicates, n))
    return [
        CupedStats(n, *map(float, row))
        for row in zip(
            y.sum(1), (y**2).sum(1), x.sum(1), (x**2).sum(1), (x * y).sum(1), strict=True
        )
    ]


def aa_cuped(rng: np.random.Generator, replicates: int) -> list[FrequentistComparison]:
    control, treatment = _cuped_arm(rng, replicates, 250), _cuped_arm(rng, replicates, 250)
    return [cuped_test(a, b) for a, b in zip(control, treatment, strict=True)]


def _cuped_ratio_arm(rng: np.random.Generator, replicates: int, n: int) -> list[CupedRatioStats]:
    w = rng.poisson(1.5, (replicates, n)) + 1.0
    x = w * rng.gamma(2.0, 10.0, (replicates, n))
    d = np.maximum(w + rng.integers(-1, 2, (replicates, n)), 1.0)
    y = d * (0.4 * x / w + rng.gamma(2.0, 6.0, (replicates, n)))
    columns = (
        y.sum(1), (y**2).sum(1), d.sum(1), (d**2).sum(1), x.sum(1), (x**2).sum(1),
        w.sum(1), (w**2).sum(1), (y * d).sum(1), (y * x).sum(1), (y * w).sum(1),
        (d * x).sum(1), (d * w).sum(1), (x * w).sum(1),
    )  # fmt: skip
    return [CupedRatioStats(n, *map(float, row)) for row in zip(*columns, strict=True)]


def aa_cuped_ratio(rng: np.random.Generator, replicates: int) -> list[FrequentistComparison]:
    control, treatment = (
        _cuped_ratio_arm(rng, replicates, 300),
        _cuped_ratio_arm(rng, replicates, 300),
    )
    return [cuped_test(a, b) for a, b in zip(control, treatment, strict=True)]


SIMULATORS: dict[str, Simulator] = {
    "z-test": aa_proportions,
    "welch": aa_welch,
    "ratio": aa_ratio,
    "cuped": aa_cuped,
    "cuped ratio": aa_cuped_ratio,
}


def false_positive_rate(name: str, replicates: int, seed: int) -> float:
    results = SIMULATORS[name](np.random.default_rng(seed), replicates)
    p_values = np.array([r.p_value for r in results], dtype=float)
    assert not np.isnan(p_values).any()
    return float((p_values < ALPHA).mean())


@pytest.mark.parametrize("name", list(SIMULATORS))
def test_aa_false_positive_rate(name: str) -> None:
    replicates = 1500
    rate = false_positive_rate(name, replicates, seed=20240 + len(name))
    assert within_mc_error(rate, ALPHA, replicates), f"{name}: {rate:.4f}"


@slow
@pytest.mark.parametrize("name", list(SIMULATORS))
def test_aa_false_positive_rate_large(name: str) -> None:
    replicates = 20_000
    rate = false_positive_rate(name, replicates, seed=7 + len(name))
    assert within_mc_error(rate, ALPHA, replicates), f"{name}: {rate:.4f}"


def test_interval_coverage_with_a_real_effect() -> None:
    """95 % intervals (absolute and relative) cover the true lift 95 % of the time."""
    rng = np.random.default_rng(99)
    replicates, shift = 1500, 2.0
    control, treatment = _cuped_arm(rng, replicates, 250), _cuped_arm(rng, replicates, 250, shift)
    true_mean = 0.7 * 20.0
    covered_abs = covered_rel = 0
    for a, b in zip(control, treatment, strict=True):
        for result in (cuped_test(a, b),):
            ci, rci = result.absolute_ci, result.relative_ci
            assert (
                ci.low is not None
                and ci.high is not None
                and rci.low is not None
                and rci.high is not None
            )
            covered_abs += ci.low <= shift <= ci.high
            covered_rel += rci.low <= shift / true_mean <= rci.high
    assert within_mc_error(covered_abs / replicates, 0.95, replicates)
    assert within_mc_error(covered_rel / replicates, 0.95, replicates)


def test_welch_coverage_with_unequal_variances() -> None:
    rng = np.random.default_rng(5)
    replicates = 1500
    control = sample_sums(rng.normal(10.0, 1.0, (replicates, 30)))
    treatment = sample_sums(rng.normal(11.0, 4.0, (replicates, 12)))
    covered = 0
    for a, b in zip(control, treatment, strict=True):
        ci = mean_test(a, b).absolute_ci
        assert ci.low is not None and ci.high is not None
        covered += ci.low <= 1.0 <= ci.high
    assert within_mc_error(covered / replicates, 0.95, replicates)


def test_observed_power_matches_plan() -> None:
    baseline, delta = 0.2, 0.02
    n = sample_size_proportion(baseline, delta)
    rng = np.random.default_rng(2024)
    replicates = 1500
    c = rng.binomial(n, baseline, replicates)
    t = rng.binomial(n, baseline + delta, replicates)
    rejected = sum(
        (
            proportion_test(
                SampleStats.from_proportion(n, int(a)), SampleStats.from_proportion(n, int(b))
            ).p_value
            or 1
        )
        < ALPHA
        for a, b in zip(c, t, strict=True)
    )
    assert within_mc_error(rejected / replicates, 0.8, replicates)
    # Half the sample: the predicted power is lower and still matches.
    half = n // 2
    predicted = power_proportion(baseline, delta, half)
    c = rng.binomial(half, baseline, replicates)
    t = rng.binomial(half, baseline + delta, replicates)
    rejected = sum(
        (
            proportion_test(
                SampleStats.from_proportion(half, int(a)), SampleStats.from_proportion(half, int(b))
            ).p_value
            or 1
        )
        < ALPHA
        for a, b in zip(c, t, strict=True)
    )
    assert within_mc_error(rejected / replicates, predicted, replicates)
