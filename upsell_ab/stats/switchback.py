"""Analysis of a switchback experiment: the time slot is the unit of randomisation.

Why. In a switchback design every customer of a slot sees the slot's arm, and customers
of one slot share its weather, staff and queue, so their outcomes are correlated. A
per-customer analysis treats them as independent and its intervals are far too narrow
(its A/A false-positive rate is far above alpha when the within-slot correlation is
real; ``tests/test_stats_switchback.py`` shows both numbers). Here the inputs are slot
totals from the data layer (:class:`SlotTotals`: customers ``n_s`` and outcome total
``y_s`` per slot), and each arm's mean is the ratio of sums over its slots

    R_a = sum_s y_s / sum_s n_s,

with a cluster-robust variance over slots. The estimate is the treatment coefficient of
the (denominator-weighted) regression ``y ~ 1 + treated`` on the customers, so the
sandwich variance splits by arm; with u_s = y_s - R_a n_s the slot's residual total and
N_a = sum_{s in a} n_s:

* **CR2** (the default; Bell & McCaffrey 2002, "Bias reduction in standard errors for
  linear regression with multi-stage samples", Survey Methodology 28(2); Imbens &
  Kolesar 2016, "Robust Standard Errors in Small Samples: Some Practical Advice",
  REStat 98(4)). Each slot's residuals are scaled by (I - H_ss)^{-1/2}; here the slot's
  block of the hat matrix is n_s / N_a along the slot's own customers, so

      Var_CR2(R_a) = sum_{s in a} u_s^2 / (1 - n_s / N_a) / N_a^2,

  unbiased when the errors are independent and homoskedastic. The difference is referred
  to Student's t with the Bell-McCaffrey degrees of freedom (Satterthwaite under that
  working model): with d_s = n_s / (N_a^2 (1 - p_s)), v_s^2 = d_s p_s, p_s = n_s / N_a,
  one arm's matrix B_a = diag(d) - v v' has trace 1/N_a and squared Frobenius norm
  F_a = sum d_s^2 - 2 sum d_s v_s^2 + (sum v_s^2)^2, and df = (tr B_a + tr B_b)^2 /
  (F_a + F_b): G - 2 for equal slots, fewer when the slots or arms are unequal.
* **CR1** (Cameron & Miller 2015, "A Practitioner's Guide to Cluster-Robust Inference",
  J. Human Resources 50(2); Deng, Knoblich & Lu 2018, "Applying the Delta Method in
  Metric Analytics", KDD), with t(G - 2):

      Var_CR1(R_a) = G / (G - 1) * sum_{s in a} u_s^2 / N_a^2,

  G the slots of both arms. This equals the treatment coefficient's variance of
  statsmodels ``OLS(...).fit(cov_type='cluster')`` up to its extra (N - 1) / (N - 2).
  With 48 hourly slots of about 26 customers and a slot shock, its A/A false-positive
  rate at alpha 0.05 was 0.058 (5,000 runs, Monte-Carlo SE 0.003): slightly liberal,
  hence CR2 by default (docs/switchback.md has both figures).

The arms are independent (slots are assigned independently), so Var(R_b - R_a) =
Var(R_a) + Var(R_b). For a ratio metric n_s is the slot's denominator total.

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
class SlotEstimate:
    """One arm's ratio-of-sums mean and the cluster-robust variance of that estimate."""

    variant: str
    slots: int
    n: float
    mean: float
    variance: float
    trace: float  # tr(B_a) of the Bell-McCaffrey degrees of freedom (CR2 only)
    frobenius: float  # ||B_a||_F^2


CORRECTIONS = ("cr2", "cr1")


def slot_estimate(
    rows: Iterable[SlotTotals], variant: str, *, correction: str = "cr2", clusters: int = 0
) -> SlotEstimate:
    """The arm's mean R_a and Var(R_a) by ``correction`` (module docstring); ``clusters``
    is G of CR1 (the slots of every compared arm)."""
    mine = [r for r in rows if r.variant == variant and r.n > 0]
    arm = slot_arm(mine, variant)
    if correction == "cr1":
        g = clusters or arm.slots
        if g < 2:
            raise StatsError("CR1 needs at least 2 slots")
        variance = g / (g - 1) * arm.residual_ss / arm.n**2
        return SlotEstimate(variant, arm.slots, arm.n, arm.mean, variance, math.nan, math.nan)
    if correction != "cr2":
        raise StatsError(f"unknown correction {correction!r}: one of {', '.join(CORRECTIONS)}")
    total = arm.n
    variance = trace = d_squares = d_v = v_squares = 0.0
    for r in mine:
        p = r.n / total
        if p >= 1.0:
            raise StatsError(
                f"variant {variant!r} has all its customers in one slot: "
                "a switchback comparison needs at least 2 slots per arm"
            )
        u = r.total - arm.mean * r.n
        variance += u * u / (1.0 - p)
        d = r.n / (total * total * (1.0 - p))
        v2 = d * p
        trace += d - v2
        d_squares += d * d
        d_v += d * v2
        v_squares += v2
    variance /= total * total
    frobenius = d_squares - 2.0 * d_v + v_squares * v_squares
    return SlotEstimate(variant, arm.slots, arm.n, arm.mean, variance, trace, frobenius)


def bell_mccaffrey_df(a: SlotEstimate, b: SlotEstimate) -> float:
    """Bell-McCaffrey degrees of freedom of R_b - R_a (module docstring), at least 1."""
    denominator = a.frobenius + b.frobenius
    if not denominator > 0:
        return float(a.slots + b.slots - 2)
    return max(1.0, (a.trace + b.trace) ** 2 / denominator)


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
    df: float
    slots: int
    correction: str = "cr2"


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
    rows: Sequence[SlotTotals],
    baseline: str,
    variant: str,
    *,
    alpha: float = 0.05,
    correction: str = "cr2",
) -> SlotComparison:
    """Difference of ratio-of-sums means with the cluster-robust variance over slots:
    CR2 with Bell-McCaffrey df (default) or CR1 with t(G - 2) (module docstring)."""
    from scipy import stats

    slots = {v: sum(1 for r in rows if r.variant == v and r.n > 0) for v in (baseline, variant)}
    if min(slots.values()) < 2:
        raise StatsError(
            f"a switchback comparison needs at least 2 slots per arm, got {slots[baseline]} "
            f"({baseline}) and {slots[variant]} ({variant}): run more slots"
        )
    g = slots[baseline] + slots[variant]
    a = slot_estimate(rows, baseline, correction=correction, clusters=g)
    b = slot_estimate(rows, variant, correction=correction, clusters=g)
    se = math.sqrt(a.variance + b.variance)
    diff = b.mean - a.mean
    df = float(g - 2) if correction == "cr1" else bell_mccaffrey_df(a, b)
    quantile = float(stats.t.ppf(1 - alpha / 2, df))
    p = float(2 * stats.t.sf(abs(diff) / se, df)) if se > 0 else float(diff == 0)
    return SlotComparison(
        variant,
        baseline,
        diff,
        se,
        diff - quantile * se,
        diff + quantile * se,
        p,
        df,
        g,
        correction,
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
