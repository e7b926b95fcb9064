"""Beta-Binomial engine against independent oracles: scipy quadrature, seeded
Monte Carlo with a stated tolerance, and closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, stats

from upsell_ab.errors import StatsError
from upsell_ab.metrics.sufficient import SampleStats
from upsell_ab.spec.models import BetaPrior, Direction
from upsell_ab.stats.bayesian import (
    BetaPosterior,
    _quadrature_pair,
    beta_binomial,
    beta_credible_interval,
    expected_loss_beta,
    log_beta_function,
    prob_best_beta,
    prob_beta_greater,
)
from upsell_ab.stats.results import Status

FLAT = BetaPrior()


def _p(n: int, s: int) -> SampleStats:
    return SampleStats.from_proportion(n, s)


def _scipy_greater(x1: BetaPosterior, x2: BetaPosterior) -> float:
    """P(X1 > X2) = int f_1 F_2 by adaptive QUADPACK over X1's bulk."""
    lo = stats.beta.ppf(1e-16, x1.a, x1.b)
    hi = stats.beta.isf(1e-16, x1.a, x1.b)
    value, _ = integrate.quad(
        lambda x: stats.beta.pdf(x, x1.a, x1.b) * stats.beta.cdf(x, x2.a, x2.b),
        lo,
        hi,
        epsabs=1e-15,
        epsrel=1e-13,
        limit=500,
        points=[x1.mean],
    )
    return float(value)


def _scipy_loss(chosen: BetaPosterior, other: BetaPosterior) -> float:
    """E[max(O - C, 0)] = int_0^1 P(C < x < O) dx = int F_C(x) S_O(x) dx (independent
    arms), by scipy QUADPACK: a different formula from the engine's."""
    value, _ = integrate.quad(
        lambda x: stats.beta.cdf(x, chosen.a, chosen.b) * stats.beta.sf(x, other.a, other.b),
        0.0,
        1.0,
        epsabs=1e-15,
        epsrel=1e-12,
        limit=500,
        points=sorted({chosen.mean, other.mean}),
    )
    return float(value)


CASES = [
    (50.0, 60.0, 45.0, 70.0),  # Miller sum
    (1.0, 101.0, 3.0, 99.0),  # zero conversions, flat prior
    (300.0, 900.0, 320.0, 880.0),  # Miller sum over a mirrored parameter
    (2001.0, 8001.0, 2101.0, 7901.0),  # quadrature (loops too long)
    (20001.0, 80001.0, 20201.0, 79801.0),  # large counts
    (1.5, 3.5, 400.5, 600.5),  # non-integer prior, very different widths
    (0.5, 100.5, 2.5, 98.5),  # Jeffreys prior, zero conversions: singular density
    (3.0, 5000.0, 2.0, 6000.0),  # rare events
    (33.5, 1e6, 30.5, 1e6),  # huge n, rare events: needs an accurate ln B(a, b)
]


@pytest.mark.parametrize(("a1", "b1", "a2", "b2"), CASES)
def test_prob_greater_matches_scipy_quadrature(a1: float, b1: float, a2: float, b2: float) -> None:
    x1, x2 = BetaPosterior(a1, b1), BetaPosterior(a2, b2)
    assert prob_beta_greater(x1, x2) == pytest.approx(_scipy_greater(x1, x2), abs=1e-10)
    # the complement agrees too (different route through the code)
    assert prob_beta_greater(x2, x1) == pytest.approx(1.0 - _scipy_greater(x1, x2), abs=1e-10)


def test_prob_greater_closed_forms() -> None:
    # Beta(1,1) vs Beta(1,1): 1/2; Beta(2,1) (density 2x) vs uniform: int 2x * x = 2/3
    assert prob_beta_greater(BetaPosterior(1, 1), BetaPosterior(1, 1)) == pytest.approx(
        0.5, abs=1e-15
    )
    assert prob_beta_greater(BetaPosterior(2, 1), BetaPosterior(1, 1)) == pytest.approx(
        2 / 3, abs=1e-14
    )
    # Beta(a,1) vs Beta(c,1): P(X > Y) = a / (a + c) (X^a and Y^c are uniform maxima)
    assert prob_beta_greater(BetaPosterior(3.7, 1), BetaPosterior(1.3, 1)) == pytest.approx(
        3.7 / 5.0, abs=1e-9
    )


def test_prob_greater_against_seeded_monte_carlo() -> None:
    rng = np.random.default_rng(20240601)
    draws = 2_000_000
    x1, x2 = BetaPosterior(231, 771), BetaPosterior(201, 801)
    mc = float(np.mean(rng.beta(x1.a, x1.b, draws) > rng.beta(x2.a, x2.b, draws)))
    tolerance = 5 * math.sqrt(mc * (1 - mc) / draws)
    assert prob_beta_greater(x1, x2) == pytest.approx(mc, abs=tolerance)


@pytest.mark.parametrize(
    ("control", "treatment"),
    [
        ((108, 49), (113, 44)),
        ((100, 0), (100, 2)),
        ((10000, 2000), (10000, 2100)),
        ((30, 29), (8000, 7900)),
    ],
)
def test_expected_loss_matches_scipy_integral(
    control: tuple[int, int], treatment: tuple[int, int]
) -> None:
    result = beta_binomial(_p(*control), _p(*treatment), FLAT)
    post_c = BetaPosterior(1 + control[1], 1 + control[0] - control[1])
    post_t = BetaPosterior(1 + treatment[1], 1 + treatment[0] - treatment[1])
    expected = _scipy_loss(post_t, post_c)
    assert result.expected_loss == pytest.approx(expected, abs=1e-9)
    assert result.prob_beat_baseline == pytest.approx(_scipy_greater(post_t, post_c), abs=1e-10)


def test_expected_loss_against_monte_carlo_both_directions() -> None:
    rng = np.random.default_rng(7)
    draws = 2_000_000
    control, treatment = _p(400, 80), _p(410, 95)
    pc = rng.beta(81, 321, draws)
    pt = rng.beta(96, 316, draws)
    higher = beta_binomial(control, treatment, FLAT)
    lower = beta_binomial(control, treatment, FLAT, direction=Direction.lower_is_better)
    for result, gap in ((higher, pc - pt), (lower, pt - pc)):
        sample = np.maximum(gap, 0.0)
        tolerance = 5 * sample.std() / math.sqrt(draws)
        assert result.expected_loss == pytest.approx(sample.mean(), abs=tolerance)
    assert higher.prob_beat_baseline is not None and lower.prob_beat_baseline is not None
    assert higher.prob_beat_baseline + lower.prob_beat_baseline == pytest.approx(1.0, abs=1e-12)


def test_credible_intervals_match_scipy_and_simulation() -> None:
    interval = beta_credible_interval(_p(200, 37), BetaPrior(alpha=2, beta=3), 0.9)
    assert interval.low == pytest.approx(stats.beta.ppf(0.05, 39, 166), rel=1e-10)
    assert interval.high == pytest.approx(stats.beta.ppf(0.95, 39, 166), rel=1e-10)
    # lift intervals are normal approximations: check against MC quantiles (large n)
    result = beta_binomial(_p(5000, 1000), _p(5000, 1100), FLAT)
    rng = np.random.default_rng(11)
    pc = rng.beta(1001, 4001, 1_000_000)
    pt = rng.beta(1101, 3901, 1_000_000)
    diff_q = np.quantile(pt - pc, [0.025, 0.975])
    lift_q = np.quantile(pt / pc - 1, [0.025, 0.975])
    assert [result.absolute_ci.low, result.absolute_ci.high] == pytest.approx(diff_q, abs=3e-4)
    assert [result.relative_ci.low, result.relative_ci.high] == pytest.approx(lift_q, abs=2e-3)
    assert result.relative_lift == pytest.approx((1101 / 5002) / (1001 / 5002) - 1, rel=1e-12)


def test_prob_best_sums_to_one_and_matches_monte_carlo() -> None:
    arms = {"a": _p(1000, 200), "b": _p(1000, 215), "c": _p(900, 190), "d": _p(50, 12)}
    best = prob_best_beta(arms, FLAT)
    assert best is not None
    assert sum(best.values()) == pytest.approx(1.0, abs=1e-9)
    rng = np.random.default_rng(3)
    draws = 1_000_000
    sample = np.column_stack([rng.beta(1 + s.sum, 1 + s.n - s.sum, draws) for s in arms.values()])
    winners = np.bincount(sample.argmax(axis=1), minlength=len(arms)) / draws
    for name, mc in zip(arms, winners, strict=True):
        assert best[name] == pytest.approx(mc, abs=5 * math.sqrt(mc * (1 - mc) / draws) + 1e-6)
    losses = expected_loss_beta(arms, FLAT)
    assert losses is not None
    top = sample.max(axis=1)
    for j, name in enumerate(arms):
        gap = top - sample[:, j]
        assert losses[name] == pytest.approx(gap.mean(), abs=5 * gap.std() / math.sqrt(draws))


def test_prob_best_two_arms_equals_exact_pairwise_and_lower_is_better() -> None:
    arms = {"control": _p(3000, 1396), "treatment": _p(3461, 2422)}
    best = prob_best_beta(arms, FLAT)
    worst = prob_best_beta(arms, FLAT, direction=Direction.lower_is_better)
    exact = prob_beta_greater(BetaPosterior(2423, 1040), BetaPosterior(1397, 1605))
    assert best is not None and worst is not None
    assert best["treatment"] == pytest.approx(exact, abs=1e-10)
    assert worst["control"] == pytest.approx(exact, abs=1e-10)


def test_prob_best_with_jeffreys_prior_singular_density() -> None:
    arms = {"a": _p(40, 0), "b": _p(40, 1), "c": _p(40, 0)}
    prior = BetaPrior(alpha=0.5, beta=0.5)
    best = prob_best_beta(arms, prior)
    assert best is not None
    assert sum(best.values()) == pytest.approx(1.0, abs=1e-8)
    assert best["a"] == pytest.approx(best["c"], abs=1e-10)
    rng = np.random.default_rng(5)
    sample = np.column_stack(
        [rng.beta(0.5 + s.sum, 0.5 + s.n - s.sum, 400_000) for s in arms.values()]
    )
    mc = np.bincount(sample.argmax(axis=1), minlength=3) / 400_000
    assert best["b"] == pytest.approx(mc[1], abs=5 * math.sqrt(mc[1] * (1 - mc[1]) / 400_000))


@pytest.mark.parametrize(
    ("control", "treatment"),
    [((100, 0), (100, 0)), ((100, 100), (100, 100)), ((1, 1), (1, 0)), ((100, 0), (100, 100))],
)
def test_edge_cases_give_finite_answers(
    control: tuple[int, int], treatment: tuple[int, int]
) -> None:
    result = beta_binomial(_p(*control), _p(*treatment), FLAT)
    assert result.status is Status.ok
    values = [result.prob_beat_baseline, result.expected_loss, result.relative_lift]
    assert all(v is not None and math.isfinite(v) for v in values)
    if control == treatment:
        assert result.prob_beat_baseline == pytest.approx(0.5, abs=1e-12)


def test_no_data_gives_status_and_none() -> None:
    result = beta_binomial(_p(0, 0), _p(10, 3), FLAT)
    assert result.status is Status.no_data
    assert result.prob_beat_baseline is None and result.expected_loss is None
    assert result.absolute_ci.low is None
    assert prob_best_beta({"a": _p(0, 0), "b": _p(5, 1)}, FLAT) is None
    assert beta_credible_interval(_p(0, 0), FLAT).low is None


def test_non_binary_data_is_refused_with_a_hint() -> None:
    with pytest.raises(StatsError, match="Gaussian engine"):
        beta_binomial(SampleStats(10, 5.0, 9.0), _p(10, 3), FLAT)
    with pytest.raises(StatsError, match="level"):
        beta_binomial(_p(10, 5), _p(10, 3), FLAT, level=1.5)


@pytest.mark.parametrize("b", [7.0, 123.25, 3e4, 1e6, 1e9])
def test_log_beta_function_by_recurrence(b: float) -> None:
    """Exact oracle: B(1, b) = 1 / b and B(a + 1, b) = B(a, b) a / (a + b), so
    ln B(1 + k, b) = -ln b + sum_{i<k} ln((1 + i) / (1 + b + i)). (scipy's betaln
    is off by ~1e-9 at b = 1e6, which is why the engine has its own.)"""
    for k in (0, 1, 12, 40, 200):
        expected = -math.log(b) + math.fsum(math.log((1 + i) / (1 + b + i)) for i in range(k))
        assert log_beta_function(1.0 + k, b) == pytest.approx(expected, rel=1e-14, abs=1e-13)
        assert log_beta_function(b, 1.0 + k) == pytest.approx(expected, rel=1e-14, abs=1e-13)


@settings(max_examples=60, deadline=None)
@given(
    a1=st.integers(1, 700),
    b1=st.integers(1, 700),
    a2=st.integers(1, 700),
    b2=st.integers(1, 700),
    shift=st.sampled_from([0.0, 0.5, 1.25]),
)
def test_exact_routes_agree_with_quadrature(
    a1: int, b1: int, a2: int, b2: int, shift: float
) -> None:
    """Every Miller route (and the quadrature fallback for non-integer parameters)
    gives the same P(X1 > X2) as the quadrature, and P(X1 > X2) + P(X2 > X1) = 1."""
    x1 = BetaPosterior(a1 + shift, b1 + 1.0)
    x2 = BetaPosterior(a2 + 1.0, b2 + shift)
    p = prob_beta_greater(x1, x2)
    assert p == pytest.approx(_quadrature_pair(x1, x2)[0], abs=1e-9)
    assert p + prob_beta_greater(x2, x1) == pytest.approx(1.0, abs=1e-9)


@pytest.mark.parametrize(("n", "m"), [(3.0, 7.0), (2e4, 3e4), (1e8, 1.2e8)])
def test_huge_parameters_against_closed_form(n: float, m: float) -> None:
    """X ~ Beta(n, 1), Y ~ Beta(m, 1) (X^n, Y^m uniform): P(X > Y) = n / (n + m);
    mirrored, Beta(1, n) vs Beta(1, m): m / (n + m). Exercises the exact route
    (small n) and the quadrature (n ~ 1e8, where the Miller sum would lose 1e-8)."""
    assert prob_beta_greater(BetaPosterior(n, 1.0), BetaPosterior(m, 1.0)) == pytest.approx(
        n / (n + m), abs=1e-9
    )
    assert prob_beta_greater(BetaPosterior(1.0, n), BetaPosterior(1.0, m)) == pytest.approx(
        m / (n + m), abs=1e-9
    )


def test_prob_best_with_rates_within_1e_8_of_one() -> None:
    """All converted, 1e8 and 1.2e8 units: Beta(n, 1) posteriors, P(best) = n / (n + m)."""
    arms = {"a": _p(99_999_999, 99_999_999), "b": _p(119_999_999, 119_999_999)}
    best = prob_best_beta(arms, FLAT)
    assert best is not None
    assert best["a"] == pytest.approx(1e8 / 2.2e8, abs=1e-9)
    result = beta_binomial(arms["a"], arms["b"], FLAT)
    assert result.prob_beat_baseline == pytest.approx(1.2e8 / 2.2e8, abs=1e-9)
