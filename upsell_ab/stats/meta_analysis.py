"""Pooling effect estimates across experiments: fixed- and random-effects meta-analysis.

Input: one ``(estimate y_i, sampling variance v_i)`` pair per comparison
(i = 1..k), e.g. the relative lift of ``post_purchase`` over ``at_checkout`` in
each archived experiment and its delta-method variance. Nothing here reads
tables; callers pass the pairs.

Fixed effect (inverse variance; Borenstein et al. 2009, *Introduction to
Meta-Analysis*, ch. 11)::

    w_i = 1 / v_i,   mu_FE = sum w_i y_i / sum w_i,   SE(mu_FE) = 1 / sqrt(sum w_i)
    Q = sum w_i (y_i - mu_FE)^2   (Cochran; ~ chi2(k-1) under homogeneity)

Random effects ``y_i = mu + u_i + e_i``, ``u_i ~ N(0, tau^2)``, ``e_i ~ N(0, v_i)``:

* DerSimonian & Laird (1986), method of moments::

      tau^2_DL = max(0, (Q - (k-1)) / (sum w_i - sum w_i^2 / sum w_i))

* REML (Viechtbauer 2005, J. Educ. Behav. Stat. 30:261-293; metafor's default),
  maximising the restricted log-likelihood::

      l_R(tau^2) = -1/2 [sum log(v_i + tau^2) + log sum w*_i + sum w*_i (y_i - mu*)^2]

  by Fisher scoring with ``P = W - W 1 1' W / sum w*_i``, ``W = diag(w*_i)``::

      tau^2 <- max(0, tau^2 + (y' P P y - tr P) / tr(P P))

  started from tau^2_DL and iterated until the step is below 1e-10 (at most
  100 steps, each halved while it would lower l_R).

With ``w*_i = 1 / (v_i + tau^2)``: ``mu_RE = sum w*_i y_i / sum w*_i``,
``SE = 1 / sqrt(sum w*_i)``, interval ``mu_RE +- z_{1-a/2} SE``.

* Hartung-Knapp-Sidik-Jonkman (Hartung & Knapp 2001; Sidik & Jonkman 2002)::

      SE_HK^2 = sum w*_i (y_i - mu_RE)^2 / ((k-1) sum w*_i),
      interval mu_RE +- t_{k-1, 1-a/2} SE_HK

  (the unmodified form, as metafor's ``test="knha"``; it can be narrower than the
  normal interval when the estimates agree more than their variances say).

* Heterogeneity: ``I^2 = tau^2 / (tau^2 + s^2)`` with the typical within-study
  variance ``s^2 = (k-1) sum w_i / ((sum w_i)^2 - sum w_i^2)`` (Higgins &
  Thompson 2002, eq. 9; metafor's definition for every tau^2 estimator). For DL it
  equals ``(Q - (k-1)) / Q`` truncated at 0; the fixed-effect fit reports that
  Q-based value.

* Prediction interval for the true effect in a new experiment (Higgins,
  Thompson & Spiegelhalter 2009, J. R. Stat. Soc. A 172:137-159, eq. 12)::

      mu_RE +- t_{k-2, 1-a/2} sqrt(tau^2 + SE^2)

  defined for k >= 3 (None below); SE is the interval's standard error
  (HKSJ's when ``hksj``).

Oracles in tests: statsmodels' ``combine_effects`` (FE, DL, HKSJ), a direct
numerical maximisation of ``l_R`` (REML), and metafor's published results on the
BCG vaccine trials (``dat.bcg``, log risk ratios).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

METHODS = ("fe", "dl", "reml")
REML_TOLERANCE = 1e-10
REML_MAX_STEPS = 100


@dataclass(frozen=True)
class MetaAnalysis:
    """A pooled estimate with its interval, heterogeneity and per-study weights."""

    method: str
    k: int
    estimate: float
    se: float
    ci: tuple[float, float]
    tau2: float
    q: float
    q_df: int
    q_p_value: float | None
    """None for one study: there is no heterogeneity to test (not a p of 1)."""
    i2: float
    prediction_interval: tuple[float, float] | None
    weights: tuple[float, ...]
    hksj: bool
    level: float
    converged: bool = True

    @property
    def relative_weights(self) -> tuple[float, ...]:
        """Each study's share of the total weight (sums to 1)."""
        total = sum(self.weights)
        return tuple(w / total for w in self.weights)


def _check(estimates: Sequence[float], variances: Sequence[float]) -> None:
    if len(estimates) != len(variances):
        raise ValueError(
            f"{len(estimates)} estimates but {len(variances)} variances; "
            "give one variance per estimate"
        )
    if len(estimates) < 1:
        raise ValueError("no estimates to pool; give at least one (estimate, variance) pair")
    for i, (y, v) in enumerate(zip(estimates, variances, strict=True)):
        if not math.isfinite(y):
            raise ValueError(f"estimate {i + 1} is {y}; every estimate must be a finite number")
        if not (math.isfinite(v) and v > 0):
            raise ValueError(f"variance {i + 1} is {v}; every variance must be finite and > 0")


def _weighted_mean(y: Sequence[float], w: Sequence[float]) -> float:
    return sum(wi * yi for wi, yi in zip(w, y, strict=True)) / sum(w)


def cochran_q(estimates: Sequence[float], variances: Sequence[float]) -> float:
    """Cochran's Q around the inverse-variance (fixed-effect) mean."""
    w = [1.0 / v for v in variances]
    mu = _weighted_mean(estimates, w)
    return sum(wi * (yi - mu) ** 2 for wi, yi in zip(w, estimates, strict=True))


def tau2_dl(estimates: Sequence[float], variances: Sequence[float]) -> float:
    """DerSimonian-Laird moment estimate of tau^2 (0 when Q <= k - 1)."""
    _check(estimates, variances)
    k = len(estimates)
    if k < 2:
        return 0.0
    w = [1.0 / v for v in variances]
    c = sum(w) - sum(wi * wi for wi in w) / sum(w)
    return max(0.0, (cochran_q(estimates, variances) - (k - 1)) / c)


def restricted_log_likelihood(
    estimates: Sequence[float], variances: Sequence[float], tau2: float
) -> float:
    """l_R(tau^2) up to a constant (see the module docstring)."""
    w = [1.0 / (v + tau2) for v in variances]
    mu = _weighted_mean(estimates, w)
    return -0.5 * (
        sum(math.log(v + tau2) for v in variances)
        + math.log(sum(w))
        + sum(wi * (yi - mu) ** 2 for wi, yi in zip(w, estimates, strict=True))
    )


def tau2_reml(estimates: Sequence[float], variances: Sequence[float]) -> tuple[float, bool]:
    """REML estimate of tau^2 by Fisher scoring; returns (tau2, converged)."""
    _check(estimates, variances)
    k = len(estimates)
    if k < 2:
        return 0.0, True
    tau2 = tau2_dl(estimates, variances)
    for _ in range(REML_MAX_STEPS):
        w = [1.0 / (v + tau2) for v in variances]
        sw = sum(w)
        mu = _weighted_mean(estimates, w)
        # P y = w_i (y_i - mu); tr P = sum w - sum w^2 / sum w;
        # tr PP = sum w^2 - 2 sum w^3 / sum w + (sum w^2 / sum w)^2.
        py = [wi * (yi - mu) for wi, yi in zip(w, estimates, strict=True)]
        sw2 = sum(wi * wi for wi in w)
        sw3 = sum(wi**3 for wi in w)
        tr_p = sw - sw2 / sw
        tr_pp = sw2 - 2.0 * sw3 / sw + (sw2 / sw) ** 2
        step = (sum(p * p for p in py) - tr_p) / tr_pp
        current = restricted_log_likelihood(estimates, variances, tau2)
        new = max(0.0, tau2 + step)
        for _ in range(60):
            if restricted_log_likelihood(estimates, variances, new) >= current - 1e-14:
                break
            step /= 2.0
            new = max(0.0, tau2 + step)
        if abs(new - tau2) < REML_TOLERANCE:
            return new, True
        tau2 = new
    return tau2, False


def _typical_variance(variances: Sequence[float]) -> float:
    w = [1.0 / v for v in variances]
    sw = sum(w)
    return (len(w) - 1) * sw / (sw * sw - sum(wi * wi for wi in w))


def meta_analyze(
    estimates: Sequence[float],
    variances: Sequence[float],
    method: str = "reml",
    hksj: bool = False,
    level: float = 0.95,
) -> MetaAnalysis:
    """Pool (estimate, variance) pairs; ``method`` fe | dl | reml; ``hksj`` for HKSJ."""
    from scipy.stats import chi2, norm, t

    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; use one of {', '.join(METHODS)}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level {level} must lie strictly between 0 and 1, e.g. 0.95")
    _check(estimates, variances)
    y = [float(x) for x in estimates]
    v = [float(x) for x in variances]
    k = len(y)
    if hksj and k < 2:
        raise ValueError("the Hartung-Knapp interval needs at least 2 estimates")
    q = cochran_q(y, v) if k >= 2 else 0.0
    q_df = k - 1
    q_p = float(chi2.sf(q, q_df)) if q_df > 0 else None
    converged = True
    if method == "fe":
        tau2 = 0.0
        i2 = max(0.0, (q - q_df) / q) if q > 0 else 0.0
    else:
        if method == "dl":
            tau2 = tau2_dl(y, v)
        else:
            tau2, converged = tau2_reml(y, v)
        i2 = tau2 / (tau2 + _typical_variance(v)) if k >= 2 else 0.0
    w = [1.0 / (vi + tau2) for vi in v]
    mu = _weighted_mean(y, w)
    alpha = 1.0 - level
    if hksj:
        resid = sum(wi * (yi - mu) ** 2 for wi, yi in zip(w, y, strict=True))
        se = math.sqrt(resid / ((k - 1) * sum(w)))
        crit = float(t.ppf(1.0 - alpha / 2.0, k - 1))
    else:
        se = 1.0 / math.sqrt(sum(w))
        crit = float(norm.ppf(1.0 - alpha / 2.0))
    pi: tuple[float, float] | None = None
    if k >= 3 and method != "fe":
        half = float(t.ppf(1.0 - alpha / 2.0, k - 2)) * math.sqrt(tau2 + se * se)
        pi = (mu - half, mu + half)
    return MetaAnalysis(
        method=method,
        k=k,
        estimate=mu,
        se=se,
        ci=(mu - crit * se, mu + crit * se),
        tau2=tau2,
        q=q,
        q_df=q_df,
        q_p_value=q_p,
        i2=i2,
        prediction_interval=pi,
        weights=tuple(w),
        hksj=hksj,
        level=level,
        converged=converged,
    )
