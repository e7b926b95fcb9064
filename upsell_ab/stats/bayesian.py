"""Bayesian engine for conversion metrics: Beta-Binomial posteriors.

With a Beta(alpha, beta) prior and s conversions out of n units, an arm's rate
has the posterior Beta(alpha + s, beta + n - s) (conjugacy; Gelman et al.,
"Bayesian Data Analysis", 3rd ed., sec. 2.4). Everything here is
deterministic: no Monte Carlo, so a report gives the same numbers every time.

- P(p_T > p_C) is exact. For an integer posterior parameter it is Evan Miller's
  closed form ("Formulas for Bayesian A/B Testing", 2015; Cook 2005),

      P(B > A) = sum_{i=0}^{a_B - 1} B(a_A + i, b_A + b_B)
                 / ((b_B + i) B(1 + i, b_B) B(a_A, b_A)),

  summed in log-beta space. Its three mirror images (swap the arms, or map
  p -> 1 - p, which swaps a and b) let the loop run over whichever integer
  parameter is smallest. When every loop would be long (big samples) or no
  parameter is an integer (e.g. a Jeffreys prior), the same probability is the
  1-D integral int f_1(x) F_2(x) dx over the narrower posterior's density,
  done by composite Gauss-Legendre quadrature on panels between that
  posterior's quantiles (agrees with the sum to ~1e-12; see the tests).
- Expected loss of shipping the treatment, E[max(p_C - p_T, 0)], in closed
  form (Stucchio, "Bayesian A/B Testing at VWO", 2015, eq. 2 generalised):
  m_C P(C+ > T) - m_T P(C > T+), where m = posterior mean and X+ is X's
  posterior with alpha + 1.
- P(best) among k arms: P(i best) = int f_i(x) prod_{j != i} F_j(x) dx on a
  composite Gauss-Legendre grid with panel breaks at quantiles of every arm.
- Credible intervals: for each rate exact Beta quantiles
  (:func:`beta_credible_interval`). For the lift two documented normal
  approximations with exact posterior moments: the absolute difference
  p_T - p_C ~ N(m_T - m_C, V_T + V_C) with V = ab / ((a+b)^2 (a+b+1)); the
  relative lift through log(p_T) - log(p_C) ~ N(mu, s^2) with the exact
  log-Beta moments E[log p] = psi(a) - psi(a+b) and Var[log p] =
  psi1(a) - psi1(a+b) (as gbstats' Beta.moments(log=True)); the interval is
  exp(mu +/- z s) - 1. The reported relative lift is m_T / m_C - 1.

The exact sums and quadrature live in :mod:`upsell_ab.stats.beta_integrals`,
the posterior in :mod:`upsell_ab.stats.beta_posterior`; the Gaussian engine for
means, ratios and CUPED lives in :mod:`upsell_ab.stats.bayesian_gaussian`. All
are re-exported here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from upsell_ab.errors import StatsError
from upsell_ab.metrics.sufficient import SampleStats
from upsell_ab.spec.models import BetaPrior, Direction
from upsell_ab.stats.bayesian_gaussian import (
    FloatArray,
    expected_loss_gaussian,
    gaussian,
    prob_best_gaussian,
)
from upsell_ab.stats.beta_integrals import (
    MAX_EXACT_PARAMETER as MAX_EXACT_PARAMETER,
)
from upsell_ab.stats.beta_integrals import (
    MAX_EXACT_TERMS as MAX_EXACT_TERMS,
)
from upsell_ab.stats.beta_integrals import (
    _quadrature_pair as _quadrature_pair,
)
from upsell_ab.stats.beta_integrals import (
    extremes,
    log_beta_function,
    prob_beta_greater,
    win_and_loss,
)
from upsell_ab.stats.beta_posterior import BetaPosterior
from upsell_ab.stats.results import BayesianComparison, Interval, Status

__all__ = [
    "BetaPosterior",
    "beta_binomial",
    "beta_credible_interval",
    "expected_loss_beta",
    "expected_loss_gaussian",
    "gaussian",
    "log_beta_function",
    "prob_best_beta",
    "prob_best_gaussian",
    "prob_beta_greater",
]


# ------------------------------------------------------------- intervals
def beta_credible_interval(stats: SampleStats, prior: BetaPrior, level: float = 0.95) -> Interval:
    """Equal-tailed credible interval of one arm's rate (exact Beta quantiles);
    bounds None when the arm has no units."""
    from scipy.special import betaincinv

    _check_level(level)
    if stats.n == 0:
        return Interval(None, None, level)
    post = BetaPosterior.from_stats(stats, prior)
    tail = (1.0 - level) / 2.0
    low = float(betaincinv(post.a, post.b, tail))
    return Interval(low, 1.0 - float(betaincinv(post.b, post.a, tail)), level)


def _check_level(level: float) -> None:
    if not 0.0 < level < 1.0:
        raise StatsError(f"level must be in (0, 1), got {level}")


def _lift_intervals(
    control: BetaPosterior, treatment: BetaPosterior, level: float
) -> tuple[Interval, Interval]:
    from scipy.special import ndtri, psi, zeta

    z = float(ndtri(0.5 + level / 2.0))
    diff = treatment.mean - control.mean
    sd = math.sqrt(treatment.variance + control.variance)
    args = np.array(
        [treatment.a, treatment.a + treatment.b, control.a, control.a + control.b], dtype=float
    )
    signs = np.array([1.0, -1.0, -1.0, 1.0])
    log_mean = float(np.dot(signs, psi(args)))
    log_var = float(np.dot(np.abs(signs) * np.array([1.0, -1.0, 1.0, -1.0]), zeta(2.0, args)))
    log_sd = math.sqrt(max(log_var, 0.0))
    absolute = Interval(diff - z * sd, diff + z * sd, level)
    relative = Interval(math.expm1(log_mean - z * log_sd), math.expm1(log_mean + z * log_sd), level)
    return absolute, relative


# --------------------------------------------------------------- two arms
def beta_binomial(
    control: SampleStats,
    treatment: SampleStats,
    prior: BetaPrior,
    level: float = 0.95,
    direction: Direction = Direction.higher_is_better,
) -> BayesianComparison:
    """Beta-Binomial comparison of a conversion metric.

    ``prob_beat_baseline`` = P(p_T > p_C) (P(p_T < p_C) if lower is better),
    exact; ``expected_loss`` = E[max(p_C - p_T, 0)] (or E[max(p_T - p_C, 0)]),
    the rate given up by shipping the treatment if it is in fact worse.
    Status ``no_data`` with None when an arm has no units (a posterior equal to
    the prior is not evidence). Zero or all conversions are fine: the
    posterior is proper.
    """
    _check_level(level)
    method = "beta-binomial"
    if control.n == 0 or treatment.n == 0:
        empty = Interval(None, None, level)
        return BayesianComparison(method, Status.no_data, None, None, None, empty, empty)
    post_c = BetaPosterior.from_stats(control, prior, "control")
    post_t = BetaPosterior.from_stats(treatment, prior, "treatment")
    if direction is Direction.higher_is_better:
        win, loss = win_and_loss(post_t, post_c)
    else:  # p -> 1 - p turns "lower is better" into "higher is better"
        win, loss = win_and_loss(post_t.mirrored(), post_c.mirrored())
    absolute, relative = _lift_intervals(post_c, post_t, level)
    return BayesianComparison(
        method=method,
        status=Status.ok,
        prob_beat_baseline=win,
        expected_loss=loss,
        relative_lift=post_t.mean / post_c.mean - 1.0,
        absolute_ci=absolute,
        relative_ci=relative,
    )


# ------------------------------------------------------------------ k arms
def _beta_extremes(
    stats_by_variant: Mapping[str, SampleStats], prior: BetaPrior, direction: Direction
) -> tuple[list[str], FloatArray, float, list[BetaPosterior]] | None:
    names = list(stats_by_variant)
    if len(names) < 2 or any(stats_by_variant[name].n == 0 for name in names):
        return None
    posts = [BetaPosterior.from_stats(stats_by_variant[n], prior, n) for n in names]
    higher = direction is Direction.higher_is_better
    if sum(p.mean for p in posts) > 0.5 * len(posts):
        # mirror (p -> 1 - p, max <-> min) so the nodes lie near 0 (as in beta_integrals)
        mirrored = [p.mirrored() for p in posts]
        probabilities, expected = extremes(mirrored, not higher)
        return names, probabilities, 1.0 - expected, posts
    probabilities, expected = extremes(posts, higher)
    return names, probabilities, expected, posts


def prob_best_beta(
    stats_by_variant: Mapping[str, SampleStats],
    prior: BetaPrior,
    direction: Direction = Direction.higher_is_better,
) -> dict[str, float] | None:
    """P(arm has the highest rate) (lowest if lower is better) among k >= 2 arms,
    by deterministic quadrature; sums to 1 within ~1e-10. None if an arm has no units."""
    result = _beta_extremes(stats_by_variant, prior, direction)
    if result is None:
        return None
    names, probabilities, _, _ = result
    return {name: float(p) for name, p in zip(names, probabilities, strict=True)}


def expected_loss_beta(
    stats_by_variant: Mapping[str, SampleStats],
    prior: BetaPrior,
    direction: Direction = Direction.higher_is_better,
) -> dict[str, float] | None:
    """Expected loss of choosing each arm, E[max_j p_j - p_i] (or E[p_i - min_j p_j]),
    in rate units. None if an arm has no units."""
    result = _beta_extremes(stats_by_variant, prior, direction)
    if result is None:
        return None
    names, _, expected, posts = result
    sign = 1.0 if direction is Direction.higher_is_better else -1.0
    return {
        name: max(sign * (expected - post.mean), 0.0)
        for name, post in zip(names, posts, strict=True)
    }
