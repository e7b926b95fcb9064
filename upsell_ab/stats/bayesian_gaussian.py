"""Gaussian Bayesian engine: posterior on the relative lift, P(best) among k arms.

For means, ratios and CUPED metrics each arm arrives as an
:class:`~upsell_ab.stats.results.ArmEstimate` (mean and Var(mean); ratio arms
from the delta method, CUPED arms already adjusted), so this module does not
care how they were made.

Two-arm comparison (GrowthBook gbstats ``EffectBayesianABTest``, relative
difference type; Kohavi, Tang & Xu 2020, ch. 18 for the delta method):

    d = (mu_T - mu_C) / |mu_C|,   v = v_T / mu_C^2 + mu_T^2 v_C / mu_C^4
    flat prior:    lift | data ~ N(d, v)
    normal prior N(m0, s0^2) on the lift (conjugate normal update):
        prec = 1/v + 1/s0^2,  mean = (d/v + m0/s0^2) / prec,  var = 1/prec

Chance to beat control = P(lift > 0) (P(lift < 0) for lower-is-better
metrics); expected loss of shipping the treatment = E[max(-lift, 0)] |mu_C|
(in metric units), from the closed form E[max(-X, 0)] = s phi(m/s) - m Phi(-m/s)
for X ~ N(m, s^2). The absolute-difference interval uses the same update on
the absolute scale, with the prior rescaled by |mu_C| (gbstats' ``prior_type``
rescaling). The denominator is |mu_C| rather than mu_C so that a positive lift
always means "treatment larger", also for a negative baseline (profit can be
negative); for mu_C > 0 this is exactly GrowthBook's convention.

P(best) integrates the independent arms' posteriors on the absolute scale,
P(i best) = int f_i(x) prod_{j != i} F_j(x) dx, by composite Gauss-Legendre
quadrature with panel breaks at quantiles of every arm (deterministic; no
Monte Carlo). :func:`extreme_value_quadrature` is shared with the
Beta-Binomial engine.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from upsell_ab.errors import StatsError
from upsell_ab.spec.models import Direction, LiftPrior
from upsell_ab.stats.lift import relative_lift
from upsell_ab.stats.results import ArmEstimate, BayesianComparison, Interval, Status, difference

FloatArray = npt.NDArray[np.float64]

_GL_ORDER = 8
_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(_GL_ORDER)
_GL_NODES.setflags(write=False)
_GL_WEIGHTS.setflags(write=False)

PANEL_Z: tuple[float, ...] = (-9.5, -6.5, -4.5, -3.0, -1.5, 0.0, 1.5, 3.0, 4.5, 6.5, 9.5)
"""Panel breaks in standard-normal units: each arm contributes its quantiles at
Phi(z) for these z, so panels follow every posterior's scale and skew. Mass
beyond |z| = 9.5 is about 2e-21; with the order-8 rule the integrals agree
with adaptive QUADPACK to ~3e-11 over the test battery."""

_SQRT2PI = math.sqrt(2.0 * math.pi)
_THIN_GAP = 0.75
"""Merge panel breaks of different arms closer than this many (smallest) sd."""


def _phi(z: float) -> float:
    return math.exp(-0.5 * z * z) / _SQRT2PI


def _Phi(z: float) -> float:
    return 0.5 * math.erfc(-z / math.sqrt(2.0))


def _z_quantile(p: float) -> float:
    from statistics import NormalDist

    return NormalDist().inv_cdf(p)


def normal_negative_part_mean(mean: float, sd: float) -> float:
    """E[max(-X, 0)] for X ~ N(mean, sd^2): sd phi(mean/sd) - mean Phi(-mean/sd)."""
    if sd <= 0.0:
        return max(-mean, 0.0)
    z = mean / sd
    return sd * _phi(z) - mean * _Phi(-z)


def composite_gauss_legendre(breaks: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Nodes and weights of composite Gauss-Legendre quadrature on the panels
    between sorted, distinct ``breaks`` (order-8 rule per panel)."""
    b = np.unique(breaks)
    lo, hi = b[:-1], b[1:]
    half = 0.5 * (hi - lo)
    mid = 0.5 * (hi + lo)
    nodes = (mid[:, None] + half[:, None] * _GL_NODES[None, :]).ravel()
    weights = (half[:, None] * _GL_WEIGHTS[None, :]).ravel()
    return nodes, weights


def thin_breaks(breaks: FloatArray, min_gap: float) -> FloatArray:
    """Sorted breaks with neighbours closer than ``min_gap`` merged (the outermost
    kept): arms that overlap need not each add their own panels. Only for smooth,
    near-normal densities, where a panel of ``min_gap`` ~ 0.75 sd is fine."""
    b = np.unique(breaks)
    if b.size < 3 or min_gap <= 0.0:
        return b
    kept = [float(b[0])]
    for value in b[1:-1]:
        if value - kept[-1] >= min_gap:
            kept.append(float(value))
    if b[-1] - kept[-1] < min_gap and len(kept) > 1:
        kept.pop()
    kept.append(float(b[-1]))
    return np.asarray(kept)


def extreme_value_quadrature(
    density: FloatArray,
    below: FloatArray,
    nodes: FloatArray,
    weights: FloatArray,
) -> tuple[FloatArray, float]:
    """P(arm i is the extreme) and E[extreme value] for independent arms.

    ``density[i, m]`` is f_i at node m; ``below[i, m]`` is P(X_i < x_m) for the
    maximum (or P(X_i > x_m) for the minimum). Then
    P(i extreme) = sum_m w_m f_i(x_m) prod_{j != i} below_j(x_m) and
    E[extreme] = sum_i sum_m w_m x_m f_i(x_m) prod_{j != i} below_j(x_m).
    Products leave out arm i by prefix/suffix products (no division by 0).
    """
    k, m = below.shape
    prefix = np.ones((k, m))
    suffix = np.ones((k, m))
    for i in range(1, k):
        prefix[i] = prefix[i - 1] * below[i - 1]
    for i in range(k - 2, -1, -1):
        suffix[i] = suffix[i + 1] * below[i + 1]
    integrand = density * prefix * suffix * weights[None, :]
    probabilities = integrand.sum(axis=1)
    expected = float((integrand * nodes[None, :]).sum())
    return probabilities, expected


# ------------------------------------------------------------------- two arms
def _none_result(status: Status, level: float, method: str) -> BayesianComparison:
    empty = Interval(None, None, level)
    return BayesianComparison(
        method=method,
        status=status,
        prob_beat_baseline=None,
        expected_loss=None,
        relative_lift=None,
        absolute_ci=empty,
        relative_ci=empty,
    )


def _posterior(
    data_mean: float, data_var: float, prior_mean: float, prior_var: float | None
) -> tuple[float, float]:
    """Conjugate normal update; ``prior_var`` None means a flat prior."""
    if prior_var is None:
        return data_mean, data_var
    precision = 1.0 / data_var + 1.0 / prior_var
    return (data_mean / data_var + prior_mean / prior_var) / precision, 1.0 / precision


def _interval(mean: float, sd: float, level: float) -> Interval:
    z = _z_quantile(0.5 + level / 2.0)
    return Interval(mean - z * sd, mean + z * sd, level)


def gaussian(
    control: ArmEstimate,
    treatment: ArmEstimate,
    prior: LiftPrior,
    level: float = 0.95,
    direction: Direction = Direction.higher_is_better,
) -> BayesianComparison:
    """Gaussian posterior on the relative lift of ``treatment`` over ``control``.

    Returns chance to beat control, expected loss of shipping the treatment in
    metric units, the relative lift (posterior mean) and equal-tailed credible
    intervals for the relative and absolute lift. Statuses: ``no_data`` (an arm
    has no units), ``too_few_units`` (n < 2), ``zero_variance`` (both arm
    variances 0), ``zero_baseline`` (mu_C == 0: no relative lift; absolute
    results under a flat prior are still given, the lift prior cannot apply).
    """
    if not 0.0 < level < 1.0:
        raise StatsError(f"level must be in (0, 1), got {level}")
    method = "gaussian relative lift" + (" (normal prior)" if prior.proper else "")
    if control.n == 0 or treatment.n == 0:
        return _none_result(Status.no_data, level, method)
    if control.n < 2 or treatment.n < 2:
        return _none_result(Status.too_few_units, level, method)
    abs_var = control.variance + treatment.variance
    if not math.isfinite(abs_var):
        return _none_result(Status.out_of_range, level, method)
    if not abs_var > 0.0:
        return _none_result(Status.zero_variance, level, method)
    higher = direction is Direction.higher_is_better
    diff = difference(control, treatment)
    base = abs(control.mean)

    if base == 0.0 or relative_lift(control, treatment) is None:
        # no baseline, or one so small against the spread that the relative lift is
        # not representable: the absolute difference only
        sd = math.sqrt(abs_var)
        win = _Phi(diff / sd) if higher else _Phi(-diff / sd)
        loss = normal_negative_part_mean(diff if higher else -diff, sd)
        return BayesianComparison(
            method="gaussian absolute difference (zero baseline, flat prior)",
            status=Status.zero_baseline,
            prob_beat_baseline=win,
            expected_loss=loss,
            relative_lift=None,
            absolute_ci=_interval(diff, sd, level),
            relative_ci=Interval(None, None, level),
        )

    rel = diff / base
    rel_var = treatment.variance / base**2 + treatment.mean**2 * control.variance / base**4
    prior_var = prior.stddev**2 if prior.proper else None
    post_mean, post_var = _posterior(rel, rel_var, prior.mean, prior_var)
    post_sd = math.sqrt(post_var)
    abs_prior_var = prior_var * base**2 if prior_var is not None else None
    abs_mean, abs_var_post = _posterior(diff, abs_var, prior.mean * base, abs_prior_var)

    win = _Phi(post_mean / post_sd) if higher else _Phi(-post_mean / post_sd)
    signed = post_mean if higher else -post_mean
    loss = normal_negative_part_mean(signed, post_sd) * base
    return BayesianComparison(
        method=method,
        status=Status.ok,
        prob_beat_baseline=win,
        expected_loss=loss,
        relative_lift=post_mean,
        absolute_ci=_interval(abs_mean, math.sqrt(abs_var_post), level),
        relative_ci=_interval(post_mean, post_sd, level),
    )


# -------------------------------------------------------------------- k arms
def _normal_arrays(estimates: Sequence[ArmEstimate]) -> tuple[FloatArray, FloatArray]:
    means = np.array([e.mean for e in estimates], dtype=float)
    sds = np.sqrt(np.array([e.variance for e in estimates], dtype=float))
    return means, sds


def _normal_extremes(
    estimates: Mapping[str, ArmEstimate], direction: Direction
) -> tuple[list[str], FloatArray, float, FloatArray] | None:
    """P(extreme) per arm, E[extreme], arm means; None if some arm cannot be used."""
    from scipy.special import ndtr

    names = list(estimates)
    arms = [estimates[name] for name in names]
    if len(arms) < 2 or any(a.n < 2 or not a.variance > 0.0 for a in arms):
        return None
    means, sds = _normal_arrays(arms)
    z = np.asarray(PANEL_Z)
    breaks = (means[:, None] + sds[:, None] * z[None, :]).ravel()
    nodes, weights = composite_gauss_legendre(thin_breaks(breaks, _THIN_GAP * float(sds.min())))
    standard = (nodes[None, :] - means[:, None]) / sds[:, None]
    density = np.exp(-0.5 * standard**2) / (_SQRT2PI * sds[:, None])
    below = ndtr(standard) if direction is Direction.higher_is_better else ndtr(-standard)
    probabilities, expected = extreme_value_quadrature(density, below, nodes, weights)
    return names, probabilities, expected, means


def prob_best_gaussian(
    estimates: Mapping[str, ArmEstimate],
    direction: Direction = Direction.higher_is_better,
) -> dict[str, float] | None:
    """P(arm is best) for independent normal posteriors N(mean, Var(mean)) per arm
    (flat prior, absolute scale) by deterministic quadrature; sums to 1 within
    ~1e-10. None when an arm has n < 2 or zero variance (no posterior spread)."""
    result = _normal_extremes(estimates, direction)
    if result is None:
        return None
    names, probabilities, _, _ = result
    return {name: float(p) for name, p in zip(names, probabilities, strict=True)}


def expected_loss_gaussian(
    estimates: Mapping[str, ArmEstimate],
    direction: Direction = Direction.higher_is_better,
) -> dict[str, float] | None:
    """Expected loss of choosing each arm, in metric units:
    E[max_j mu_j] - mu_i (higher is better) or mu_i - E[min_j mu_j]."""
    result = _normal_extremes(estimates, direction)
    if result is None:
        return None
    names, _, expected, means = result
    sign = 1.0 if direction is Direction.higher_is_better else -1.0
    return {
        name: max(sign * (expected - float(mean)), 0.0)
        for name, mean in zip(names, means, strict=True)
    }
