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
    """Delta-method relative lift of ``treatment`` over ``control``; None if mu_C == 0."""
    mu_c = control.mean
    if mu_c == 0:
        return None
    mu_t = treatment.mean
    lift = (mu_t - mu_c) / abs(mu_c)
    variance = treatment.variance / mu_c**2 + mu_t**2 * control.variance / mu_c**4
    return RelativeLift(lift=lift, variance=max(variance, 0.0))
