"""Analysis of a switchback experiment: the time slot is the unit of randomisation.

Why. In a switchback design every customer of a slot sees the slot's arm, and customers
of one slot share its weather, staff and queue, so their outcomes are correlated. A
per-customer analysis treats them as independent and its intervals are far too narrow
(its A/A false-positive rate is far above alpha when the within-slot correlation is
real; ``tests/test_stats_switchback.py`` shows both numbers). Here the inputs are slot
totals from the data layer (:class:`SlotTotals`: customers ``n_s`` and outcome total
``y_s`` per slot), and each arm's mean is the ratio of sums over its slots

    R_a = sum_s y_s / sum_s n_s,

with the cluster-robust (delta-method) variance over slots (Cameron & Miller 2015,
"A Practitioner's Guide to Cluster-Robust Inference", J. Human Resources 50(2), eq. 11;
Deng, Knoblich & Lu 2018, "Applying the Delta Method in Metric Analytics", KDD):

    Var(R_a) = c / (sum_s n_s)^2 * sum_{s in a} (y_s - R_a n_s)^2,   c = G / (G - 1),

G the number of slots of both arms (the CR1 small-sample factor). The difference
R_b - R_a has variance Var(R_a) + Var(R_b) (slots are assigned independently) and is
referred to Student's t with G - 2 degrees of freedom (few slots: the normal would be
too narrow). This equals the treatment coefficient of OLS ``y ~ 1 + treated`` on the
customers with ``cov_type='cluster'`` over slots, whose variance statsmodels multiplies
further by (N - 1) / (N - 2) (the oracle test checks exactly that).

SRM is tested on slot counts against the weights (:func:`slot_srm`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from upsell_ab.errors import StatsError
from upsell_ab.stats.results import SrmResult


@dataclass(frozen=True)
class SlotTotals:
    """One slot's sufficient statistics: its arm, customers (denominator) and outcome total."""

    slot: str
    variant: str
    n: float
    total: float


@dataclass(frozen=True)
class SlotArm:
    """One arm's ratio-of-sums mean over its slots and the sum of squared residuals."""

    variant: str
    slots: int
    n: float
    mean: float
    residual_ss: float  # sum_s (y_s - mean * n_s)^2


@dataclass(frozen=True)
class SlotComparison:
    """``variant`` minus ``baseline`` with the cluster-robust interval over slots."""

    variant: str
    baseline: str
    difference: float
    std_error: float
    ci_low: float
    ci_high: float
    p_value: float
    df: int
    slots: int


def slot_arm(rows: Iterable[SlotTotals], variant: str) -> SlotArm:
    """The ratio-of-sums mean of ``variant`` over its slots (slots with n = 0 add nothing)."""
    mine = [r for r in rows if r.variant == variant]
    n = sum(r.n for r in mine)
    if n <= 0:
        raise StatsError(f"variant {variant!r} has no customers in any slot")
    mean = sum(r.total for r in mine) / n
    residual_ss = sum((r.total - mean * r.n) ** 2 for r in mine)
    return SlotArm(variant, len(mine), n, mean, residual_ss)


def compare_slots(
    rows: Sequence[SlotTotals], baseline: str, variant: str, *, alpha: float = 0.05
) -> SlotComparison:
    """Difference of ratio-of-sums means with the CR1 cluster-robust variance over slots
    and a t(G - 2) interval (formula in the module docstring)."""
    from scipy import stats

    a = slot_arm(rows, baseline)
    b = slot_arm(rows, variant)
    g = a.slots + b.slots
    if a.slots < 2 or b.slots < 2:
        raise StatsError(
            f"a switchback comparison needs at least 2 slots per arm, got {a.slots} "
            f"({baseline}) and {b.slots} ({variant}): run more slots"
        )
    c = g / (g - 1)
    variance = c * (a.residual_ss / a.n**2 + b.residual_ss / b.n**2)
    se = math.sqrt(variance)
    diff = b.mean - a.mean
    df = g - 2
    quantile = float(stats.t.ppf(1 - alpha / 2, df))
    p = float(2 * stats.t.sf(abs(diff) / se, df)) if se > 0 else float(diff == 0)
    return SlotComparison(
        variant, baseline, diff, se, diff - quantile * se, diff + quantile * se, p, df, g
    )


def slot_srm(
    rows: Iterable[SlotTotals], weights: Mapping[str, float], alpha: float = 0.001
) -> SrmResult:
    """Sample-ratio test on the number of slots per arm (the randomised units)."""
    from upsell_ab.stats.srm import srm_test

    counts = dict.fromkeys(weights, 0)
    for r in rows:
        counts[r.variant] = counts.get(r.variant, 0) + 1
    return srm_test(counts, weights, alpha=alpha)
