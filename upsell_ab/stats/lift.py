"""Relative lift (mu_T - mu_C) / mu_C and its variance by the delta method.

GrowthBook's convention (gbstats ``frequentist_diff``/``frequentist_variance``
with ``relative=True``), so its published test vectors apply. For independent
arm estimates with variances ``v_T`` and ``v_C`` (variances of the means):

    lift = (mu_T - mu_C) / |mu_C|
    Var(lift) ~= v_T / mu_C^2 + mu_T^2 v_C / mu_C^4

(first-order Taylor expansion of mu_T / mu_C; Kohavi, Tang & Xu 2020,
"Trustworthy Online Controlled Experiments", ch. 18; Deng, Knoblich & Lu 2018).
Dividing by |mu_C| (not mu_C) keeps "positive lift = treatment larger" for a
negative baseline (profit can be negative) and equals GrowthBook's convention
for mu_C > 0; the Bayesian engine uses the same. The baseline 0 has no relative
lift: callers get None and say so with a status.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from upsell_ab.stats.results import ArmEstimate


@dataclass(frozen=True)
class RelativeLift:
    """A relative lift and the variance of its estimate."""

    lift: float
    variance: float

    @property
    def standard_error(self) -> float:
        return float(self.variance**0.5)


def relative_lift(control: ArmEstimate, treatment: ArmEstimate) -> RelativeLift | None:
    """Delta-method relative lift of ``treatment`` over ``control``; None if mu_C == 0
    (or the numbers are too extreme for floating point). The variance is formed from
    standard-error ratios, sqrt(v) / |mu_C|, so tiny or huge means neither underflow
    to a division by zero nor overflow."""
    mu_c = float(control.mean)
    if mu_c == 0:
        return None
    mu_t = float(treatment.mean)
    scale = abs(mu_c)
    lift = (mu_t - mu_c) / scale
    se_treatment = math.sqrt(max(float(treatment.variance), 0.0)) / scale
    se_control = abs(mu_t / mu_c) * math.sqrt(max(float(control.variance), 0.0)) / scale
    # products, not **2: float ** raises OverflowError where * gives inf (checked below)
    variance = se_treatment * se_treatment + se_control * se_control
    if not (math.isfinite(lift) and math.isfinite(variance)):
        return None
    return RelativeLift(lift=lift, variance=variance)
