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


@dataclass(frozen=True)
class SlotPlan:
    """Slots a switchback needs: per arm and in all, with the design effect behind them."""

    slots_per_arm: int
    slots: int
    design_effect: float  # slot-mean variance over a single customer's variance / m


def slots_needed(
    *,
    within_sd: float,
    between_slot_sd: float,
    customers_per_slot: float,
    mde: float,
    alpha: float = 0.05,
    power: float = 0.8,
) -> SlotPlan:
    """Slots per arm to detect an absolute difference ``mde`` between two arms at equal
    weights, the slot being the unit (Donner & Klar 2000, "Design and Analysis of Cluster
    Randomization Trials", ch. 5; two-sided, normal approximation):

        sigma_slot^2 = tau^2 + sigma^2 / m,
        G_arm = ceil((z_{1-alpha/2} + z_{power})^2 * 2 sigma_slot^2 / mde^2),

    tau the sd of the slot effect, sigma the sd of one customer's outcome within a slot,
    m the customers per slot. The design effect (variance against m independent customers)
    is 1 + m tau^2 / sigma^2: a busy slot adds customers but not independent information.
    At least 2 slots per arm (the analysis needs them)."""
    from statistics import NormalDist

    if mde <= 0 or customers_per_slot <= 0 or within_sd < 0 or between_slot_sd < 0:
        raise StatsError("slots_needed needs mde > 0, customers_per_slot > 0 and sds >= 0")
    variance = between_slot_sd**2 + within_sd**2 / customers_per_slot
    z = NormalDist().inv_cdf(1 - alpha / 2) + NormalDist().inv_cdf(power)
    per_arm = max(2, math.ceil(z**2 * 2 * variance / mde**2))
    effect = (
        1 + customers_per_slot * between_slot_sd**2 / within_sd**2 if within_sd > 0 else math.inf
    )
    return SlotPlan(per_arm, 2 * per_arm, effect)
