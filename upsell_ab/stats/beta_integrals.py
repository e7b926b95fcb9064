"""Deterministic integrals of independent Beta posteriors: P(X1 > X2), expected
loss and P(best), without Monte Carlo.

- P(X1 > X2) is exact when an integer posterior parameter allows a short loop:
  Evan Miller's closed form ("Formulas for Bayesian A/B Testing", 2015; Cook 2005),

      P(B > A) = sum_{i=0}^{a_B - 1} B(a_A + i, b_A + b_B)
                 / ((b_B + i) B(1 + i, b_B) B(a_A, b_A)),

  summed in log-beta space (:func:`log_beta_function`, Stirling-accurate for
  huge parameters). Its three mirror images (swap the arms, or p -> 1 - p)
  let the loop run over whichever integer parameter is smallest. Otherwise
  the 1-D integral int f_1(x) F_2(x) dx over the narrower density is done by
  composite Gauss-Legendre quadrature on panels between its quantiles
  (QUADPACK for densities with rough endpoints).
- Expected loss E[max(O - C, 0)]: exactly m_O P(O+ > C) - m_C P(O > C+)
  (Stucchio, "Bayesian A/B Testing at VWO", 2015, eq. 2 generalised; X+ is X
  with alpha + 1), or by the same quadrature through the recurrence
  I_x(a + 1, b) = I_x(a, b) - x (1 - x) f(x) / a (DLMF 8.17.20).
- P(best) / E[max] among k arms: int f_i(x) prod_{j != i} F_j(x) dx on a
  composite Gauss-Legendre grid with panel breaks at quantiles of every arm.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from upsell_ab.stats.bayesian_gaussian import (
    PANEL_Z,
    FloatArray,
    composite_gauss_legendre,
    extreme_value_quadrature,
    thin_breaks,
)
from upsell_ab.stats.beta_posterior import BetaPosterior

__all__ = [
    "MAX_EXACT_PARAMETER",
    "MAX_EXACT_TERMS",
    "extremes",
    "log_beta_function",
    "prob_beta_greater",
    "win_and_loss",
]

MAX_EXACT_TERMS = 250
"""Longest Miller sum used; above it quadrature is cheaper and as accurate."""
MAX_EXACT_PARAMETER = 1e4
"""The Miller sum adds log-gamma ratios of size ~ a + b: beyond ~1e4 its rounding
(1e-10 at 1e5, 1e-8 at 1e8, checked against 60-digit mpmath sums) exceeds the
quadrature's (5e-13 at 1e5, 7e-10 at 1e8), so large posteriors use quadrature."""

_NEAR_NORMAL = 30.0
"""With a, b >= 30 a Beta density is smooth and near-normal: panels of other
arms closer than 0.75 sd may be merged (:func:`thin_breaks`)."""
_THIN_GAP = 0.75
_INTEGER_TOLERANCE = 1e-9
_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
_STIRLING_MIN = 10.0
"""Stirling's series is used for log-gammas of arguments >= 10."""


# ---------------------------------------------------------------- P(X > Y)
def _as_integer(value: float) -> int | None:
    nearest = round(value)
    return int(nearest) if abs(value - nearest) < _INTEGER_TOLERANCE and nearest >= 1 else None


def _stirling_series(x: FloatArray) -> FloatArray:
    inv = 1.0 / x
    inv2 = inv * inv
    out: FloatArray = inv * (
        1.0 / 12.0
        - inv2 * (1.0 / 360.0 - inv2 * (1.0 / 1260.0 - inv2 * (1.0 / 1680.0 - inv2 / 1188.0)))
    )
    return out


def _miller_sum(a_a: float, b_a: float, a_b: int, b_b: float) -> float:
    """Evan Miller's closed form of P(B > A), B ~ Beta(a_b, b_b) with integer a_b.

    Term i is B(a_A + i, b_A + b_B) / ((b_B + i) B(1 + i, b_B) B(a_A, b_A))
    = exp(lgamma(a_A + i) - lgamma(a_A + b_A + b_B + i) + lgamma(b_B + i) - lgamma(1 + i)
    + lgamma(b_A + b_B) - lgamma(b_B) - ln B(a_A, b_A)); one vectorised log-gamma call.
    Callers keep every parameter <= MAX_EXACT_PARAMETER, where these differences
    of log-gammas are exact to ~1e-11.
    """
    from scipy.special import gammaln

    n = a_b
    i = np.arange(n, dtype=float)
    logs = gammaln(
        np.concatenate([a_a + i, a_a + b_a + b_b + i, b_b + i, 1.0 + i, [b_a + b_b, b_b]])
    )
    constant = logs[4 * n] - logs[4 * n + 1] - log_beta_function(a_a, b_a)
    log_terms = logs[:n] - logs[n : 2 * n] + logs[2 * n : 3 * n] - logs[3 * n : 4 * n] + constant
    top = float(log_terms.max())
    return float(math.exp(top) * np.exp(log_terms - top).sum())


def _exact_route(x1: BetaPosterior, x2: BetaPosterior) -> tuple[int, str] | None:
    """The shortest Miller loop for P(X1 > X2), if one has <= MAX_EXACT_TERMS terms."""
    if max(x1.a, x1.b, x2.a, x2.b) > MAX_EXACT_PARAMETER:
        return None
    candidates: list[tuple[int, str]] = []
    for value, route in ((x1.a, "a1"), (x2.a, "a2"), (x2.b, "b2"), (x1.b, "b1")):
        count = _as_integer(value)
        if count is not None and count <= MAX_EXACT_TERMS:
            candidates.append((count, route))
    return min(candidates) if candidates else None


def _exact_greater(x1: BetaPosterior, x2: BetaPosterior, route: str) -> float:
    if route == "a1":  # loop over X1's alpha: P(X1 > X2) directly
        p = _miller_sum(x2.a, x2.b, round(x1.a), x1.b)
    elif route == "a2":  # 1 - P(X2 > X1)
        p = 1.0 - _miller_sum(x1.a, x1.b, round(x2.a), x2.b)
    elif route == "b2":  # X1 > X2  <=>  1 - X2 > 1 - X1
        p = _miller_sum(x1.b, x1.a, round(x2.b), x2.a)
    else:  # 1 - P(1 - X1 > 1 - X2)
        p = 1.0 - _miller_sum(x2.b, x2.a, round(x1.b), x1.a)
    return min(max(p, 0.0), 1.0)


def _quantile_breaks(post: BetaPosterior) -> FloatArray:
    """Posterior quantiles at Phi(z) for the panel z's (tails via the complement).
    Near-normal posteriors (a, b >= 30) use mean + z sd with the outer breaks at
    +/- 12 sd instead: panel edges need not be exact quantiles, and the skew
    left at a, b >= 30 moves less than 1e-15 of mass beyond 12 sd."""
    from scipy.special import betaincinv, ndtr

    z = np.asarray(PANEL_Z)
    if min(post.a, post.b) >= _NEAR_NORMAL:
        wide = z.copy()
        wide[0], wide[-1] = -12.0, 12.0
        return np.unique(np.clip(post.mean + math.sqrt(post.variance) * wide, 0.0, 1.0))
    lower = z <= 0
    breaks = np.empty_like(z)
    breaks[lower] = betaincinv(post.a, post.b, ndtr(z[lower]))
    breaks[~lower] = 1.0 - betaincinv(post.b, post.a, ndtr(-z[~lower]))
    return np.clip(breaks, 0.0, 1.0)


def _cdf(post: BetaPosterior, x: FloatArray) -> FloatArray:
    from scipy.special import betainc

    out: FloatArray = betainc(post.a, post.b, x)
    return out


def _sf(post: BetaPosterior, x: FloatArray) -> FloatArray:
    """P(p > x) = 1 - I_x(a, b): exact to ~1e-16 absolute, cheaper than scipy's
    ``betaincc`` (several times slower for large parameters in scipy 1.17)."""
    return 1.0 - _cdf(post, x)


def _stirling_correction(x: float) -> float:
    """lgamma(x) - [(x - 1/2) ln x - x + ln(2 pi)/2] for x >= 10 by its asymptotic
    series (DLMF 5.11.1); truncation error < 3e-14 at x = 10."""
    return float(_stirling_series(np.asarray(x, dtype=float)))


def log_beta_function(a: float, b: float) -> float:
    """ln B(a, b), accurate to ~1e-16 relative also when a or b is huge.

    scipy's ``betaln`` loses ~1e-9 absolute for e.g. B(33.5, 1e6) (a difference
    of large log-gammas). With s = min, g = max, t = a + b and Stirling's
    formula the large terms combine as logarithms of ratios:
    ln B = lgamma(s) + (g - 1/2) ln(g/t) - s ln t + s + d(g) - d(t); when
    s >= 10 too, lgamma(s) is expanded the same way.
    """
    from scipy.special import betaln, gammaln

    small, big = min(a, b), max(a, b)
    if big < _STIRLING_MIN:
        return float(betaln(a, b))
    total = a + b
    log_ratio_big = math.log1p(-small / total)
    tail = _stirling_correction(big) - _stirling_correction(total)
    if small < _STIRLING_MIN:
        return float(
            gammaln(small) + (big - 0.5) * log_ratio_big - small * math.log(total) + small + tail
        )
    return (
        _HALF_LOG_2PI
        + (small - 0.5) * math.log(small / total)
        + (big - 0.5) * log_ratio_big
        - 0.5 * math.log(total)
        + _stirling_correction(small)
        + tail
    )


def _log_density(post: BetaPosterior, x: FloatArray) -> FloatArray:
    from scipy.special import xlog1py, xlogy

    log_norm = log_beta_function(post.a, post.b)
    with np.errstate(divide="ignore", invalid="ignore"):
        out: FloatArray = xlogy(post.a - 1.0, x) + xlog1py(post.b - 1.0, -x) - log_norm
    return out


def _is_rough(post: BetaPosterior) -> bool:
    """A density x^(a-1) (1-x)^(b-1) with a or b < 2 and not an integer has an
    endpoint singularity in some derivative: Gauss-Legendre panels then lose
    digits (~1e-8), so adaptive QUADPACK integration is used instead."""
    return any(v < 2.0 and _as_integer(v) is None for v in (post.a, post.b))


def _integrate(
    post: BetaPosterior,
    integrand: Callable[[FloatArray], FloatArray],
    adaptive: bool = False,
) -> FloatArray:
    """int f_post(x) g_r(x) dx for each row r of ``integrand(x)`` (shape (rows, x)),
    deterministic: Gauss-Legendre panels between quantiles of ``post``, or
    QUADPACK for rough densities."""
    if not (adaptive or _is_rough(post)):
        nodes, weights = composite_gauss_legendre(_quantile_breaks(post))
        weighted = weights * np.exp(_log_density(post, nodes))
        out: FloatArray = np.nan_to_num(integrand(nodes)) @ weighted
        return out
    from scipy.integrate import quad

    rows = integrand(np.array([post.mean])).shape[0]
    totals = np.empty(rows)
    for row in range(rows):

        def scalar(x: float, row: int = row) -> float:
            point = np.array([x])
            return float(
                np.nan_to_num(np.exp(_log_density(post, point)) * integrand(point)[row])[0]
            )

        totals[row], _ = quad(
            scalar, 0.0, 1.0, epsabs=1e-14, epsrel=1e-12, limit=200, points=[post.mean]
        )
    return totals


def _quadrature_pair(chosen: BetaPosterior, other: BetaPosterior) -> tuple[float, float]:
    """P(chosen > other) and E[max(other - chosen, 0)] from 1-D integrals over the
    narrower density. With C = chosen, O = other and the recurrence
    I_x(a + 1, b) = I_x(a, b) - x (1 - x) f(x) / a (DLMF 8.17.20):

        over f_C:  P = int f_C F_O,  loss = int f_C [(m_O - x) S_O + m_O x (1 - x) f_O / a_O]
        over f_O:  P = int f_O S_C,  loss = int f_O [(x - m_C) F_C + m_C x (1 - x) f_C / a_C]

    One incomplete-beta evaluation per node serves both integrals (S = 1 - F,
    exact to ~1e-16 absolute). When the integrated density sits above 1/2 the
    pair is mirrored (p -> 1 - p swaps the roles, both answers are unchanged) so
    the nodes lie near 0, where doubles are dense: a posterior within 1e-8 of 1
    would otherwise be resolved to only ~1e-8.
    """
    narrow = chosen if chosen.variance <= other.variance else other
    if narrow.mean > 0.5:
        return _oriented_pair(other.mirrored(), chosen.mirrored())
    return _oriented_pair(chosen, other)


def _oriented_pair(chosen: BetaPosterior, other: BetaPosterior) -> tuple[float, float]:
    if chosen.variance <= other.variance:
        o = other

        def over_chosen(x: FloatArray) -> FloatArray:
            head = _cdf(o, x)
            bias = o.mean * x * (1.0 - x) * np.exp(_log_density(o, x)) / o.a
            return np.vstack([head, (o.mean - x) * (1.0 - head) + bias])

        win, loss = _integrate(chosen, over_chosen)
    else:
        c = chosen

        def over_other(x: FloatArray) -> FloatArray:
            head = _cdf(c, x)
            bias = c.mean * x * (1.0 - x) * np.exp(_log_density(c, x)) / c.a
            return np.vstack([1.0 - head, (x - c.mean) * head + bias])

        win, loss = _integrate(other, over_other)
    return min(max(float(win), 0.0), 1.0), max(float(loss), 0.0)


def prob_beta_greater(x1: BetaPosterior, x2: BetaPosterior) -> float:
    """P(X1 > X2) for independent Beta variables, exactly (Miller's sum) when an
    integer parameter allows a short loop, else by deterministic quadrature."""
    route = _exact_route(x1, x2)
    if route is not None:
        return _exact_greater(x1, x2, route[1])
    return _quadrature_pair(x1, x2)[0]


def win_and_loss(chosen: BetaPosterior, other: BetaPosterior) -> tuple[float, float]:
    """P(chosen > other) and the expected loss E[max(other - chosen, 0)].

    Exact route (Stucchio 2015): loss = m_O P(O+ > C) - m_C P(O > C+)."""
    routes = (
        _exact_route(chosen, other),
        _exact_route(other.shifted(), chosen),
        _exact_route(other, chosen.shifted()),
    )
    if any(r is None for r in routes):
        return _quadrature_pair(chosen, other)
    r0, r1, r2 = (r[1] for r in routes if r is not None)
    win = _exact_greater(chosen, other, r0)
    loss = other.mean * _exact_greater(other.shifted(), chosen, r1) - chosen.mean * _exact_greater(
        other, chosen.shifted(), r2
    )
    return win, max(loss, 0.0)


# ------------------------------------------------------------------ k arms
def extremes(posts: list[BetaPosterior], higher: bool) -> tuple[FloatArray, float]:
    """P(arm extreme) and E[extreme] for Beta posteriors (max if ``higher``)."""
    from scipy.special import betainc

    if any(_is_rough(p) for p in posts):
        return _adaptive_extremes(posts, higher)
    breaks = np.concatenate([_quantile_breaks(p) for p in posts])
    if all(min(p.a, p.b) >= _NEAR_NORMAL for p in posts):
        breaks = thin_breaks(breaks, _THIN_GAP * math.sqrt(min(p.variance for p in posts)))
    nodes, weights = composite_gauss_legendre(breaks)
    a = np.array([p.a for p in posts])[:, None]
    b = np.array([p.b for p in posts])[:, None]
    density = np.nan_to_num(np.exp(np.vstack([_log_density(p, nodes) for p in posts])))
    below = betainc(a, b, nodes[None, :])
    if not higher:  # 1 - F: exact to 1e-16 absolute, and x stays unrounded near 0
        below = 1.0 - below
    return extreme_value_quadrature(density, below, nodes, weights)


def _adaptive_extremes(posts: list[BetaPosterior], higher: bool) -> tuple[FloatArray, float]:
    """QUADPACK fallback of :func:`extreme_value_quadrature` for rough densities."""
    probabilities = np.zeros(len(posts))
    expected = 0.0
    for i, post in enumerate(posts):
        others = [p for j, p in enumerate(posts) if j != i]

        def rest(x: FloatArray, others: list[BetaPosterior] = others) -> FloatArray:
            out = np.ones_like(x)
            for p in others:
                out = out * (_cdf(p, x) if higher else _sf(p, x))
            return out

        def both(x: FloatArray, rest: Callable[[FloatArray], FloatArray] = rest) -> FloatArray:
            value = rest(x)
            return np.vstack([value, x * value])

        p_i, e_i = _integrate(post, both, adaptive=True)
        probabilities[i] = p_i
        expected += e_i
    return probabilities, expected
