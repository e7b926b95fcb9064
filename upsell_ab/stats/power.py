"""Power, sample size, reachable MDE and duration for a planned experiment.

Normal approximations, per comparison of one treatment with the control:

- Proportions (baseline p1, target p2 = p1 +- delta), the form of Evan Miller's
  sample-size calculator (evanmiller.org/ab-testing/sample-size.html), with the
  null variance taken at the baseline for both arms:

      n = (z_a sqrt(2 p1 q1) + z_b sqrt(p1 q1 + p2 q2))^2 / delta^2

  (baseline 0.20625, delta 0.01, alpha 0.05 two-sided, power 0.8 -> 25,835 per
  group, the example in ``shared/design.md``). Fleiss' pooled form and Cohen's h
  (statsmodels ``NormalIndPower`` with ``proportion_effectsize``) differ by ~1 %.
- Means (per-unit standard deviation sigma): ``n = 2 (z_a + z_b)^2 sigma^2 / delta^2``
  (Chow, Shao & Wang 2008, "Sample Size Calculations in Clinical Research", 3.2).

``z_a = z_{1-alpha/2}`` two-sided, ``z_{1-alpha}`` one-sided; ``z_b = z_{power}``.

More than two arms: the analysis adjusts the (primary x treatments) family by
Holm, whose first step tests at ``alpha / m``. Planning with the Bonferroni split
``alpha / (arms - 1)`` per comparison is therefore conservative for Holm (and
for BH), so the planned power holds for every treatment. Unequal weights:
comparing control (share w_C) with treatment (w_T) out of N units has variance
proportional to ``1/(N w_C) + 1/(N w_T)``, so equal-split ``n`` becomes
``N = (n / 2)(1/w_C + 1/w_T)``, the largest over treatments.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from upsell_ab.errors import StatsError


def _z(tail: float) -> float:
    """Upper-tail normal quantile z with P(Z > z) = tail."""
    from scipy import special

    return float(-special.ndtri(tail))


def _name(value: object) -> str:
    return str(getattr(value, "value", value))


def comparison_alpha(alpha: float, arms: int) -> float:
    """Alpha per treatment-vs-control comparison: Bonferroni over ``arms - 1``."""
    if arms < 2:
        raise StatsError(f"an experiment needs at least 2 arms, got {arms}")
    return alpha / (arms - 1)


def _z_alpha(alpha: float, alternative: object) -> float:
    return _z(alpha / 2.0) if _name(alternative) == "two_sided" else _z(alpha)


def absolute_effect(baseline: float, mde: float, mde_kind: object) -> float:
    """The MDE as an absolute difference (``relative`` multiplies by |baseline|)."""
    if mde <= 0:
        raise StatsError(f"the MDE must be positive, got {mde}")
    if _name(mde_kind) == "relative":
        if baseline == 0:
            raise StatsError("a relative MDE needs a non-zero baseline; give an absolute MDE")
        return mde * abs(baseline)
    return mde


def _target(baseline: float, delta: float, alternative: object) -> float:
    p2 = baseline - delta if _name(alternative) == "less" else baseline + delta
    if not 0.0 < p2 < 1.0:
        raise StatsError(
            f"baseline {baseline} with an absolute effect of {delta} gives a rate of {p2}, "
            "outside (0, 1); use a smaller MDE"
        )
    return p2


def _check_rate(baseline: float) -> None:
    if not 0.0 < baseline < 1.0:
        raise StatsError(f"a proportion baseline must be within (0, 1), got {baseline}")


# ---------------------------------------------------------------- proportions
def sample_size_proportion(
    baseline: float,
    delta: float,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    alternative: object = "two_sided",
) -> int:
    """Units per group to detect an absolute change ``delta`` of a rate (module docstring)."""
    _check_rate(baseline)
    p2 = _target(baseline, delta, alternative)
    q1, q2 = baseline * (1 - baseline), p2 * (1 - p2)
    root = _z_alpha(alpha, alternative) * math.sqrt(2 * q1) + _z(1 - power) * math.sqrt(q1 + q2)
    return math.ceil(root**2 / delta**2 - 1e-9)


def power_proportion(
    baseline: float,
    delta: float,
    n: float,
    *,
    alpha: float = 0.05,
    alternative: object = "two_sided",
) -> float:
    """Power with ``n`` units per group (the inverse of :func:`sample_size_proportion`;
    the opposite tail of a two-sided test is ignored, as in the sample-size form)."""
    from scipy import stats

    _check_rate(baseline)
    p2 = _target(baseline, delta, alternative)
    q1, q2 = baseline * (1 - baseline), p2 * (1 - p2)
    z = (delta * math.sqrt(n) - _z_alpha(alpha, alternative) * math.sqrt(2 * q1)) / math.sqrt(
        q1 + q2
    )
    return float(stats.norm.cdf(z))


def mde_proportion(
    baseline: float,
    n: float,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    alternative: object = "two_sided",
) -> float | None:
    """Smallest absolute change detectable with ``n`` per group; None if even the
    largest possible change is not (the rate would leave (0, 1))."""
    from scipy import optimize

    _check_rate(baseline)
    limit = (baseline if _name(alternative) == "less" else 1 - baseline) * (1 - 1e-9)

    def gap(delta: float) -> float:
        return power_proportion(baseline, delta, n, alpha=alpha, alternative=alternative) - power

    if n <= 0 or gap(limit) < 0:
        return None
    return float(optimize.brentq(gap, 1e-12, limit, xtol=1e-12))


# ---------------------------------------------------------------------- means
def sample_size_mean(
    std: float,
    delta: float,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    alternative: object = "two_sided",
) -> int:
    """Units per group to detect a change ``delta`` of a mean with per-unit ``std``."""
    if std <= 0:
        raise StatsError(f"the standard deviation must be positive, got {std}")
    z = _z_alpha(alpha, alternative) + _z(1 - power)
    return math.ceil(2 * (z * std / delta) ** 2 - 1e-9)


def power_mean(
    std: float, delta: float, n: float, *, alpha: float = 0.05, alternative: object = "two_sided"
) -> float:
    """Power of the z/Welch test with ``n`` per group (one tail, as the sample size)."""
    from scipy import stats

    z = abs(delta) / (std * math.sqrt(2.0 / n)) - _z_alpha(alpha, alternative)
    return float(stats.norm.cdf(z))


def mde_mean(
    std: float,
    n: float,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    alternative: object = "two_sided",
) -> float:
    """Smallest change of a mean detectable with ``n`` per group."""
    return (_z_alpha(alpha, alternative) + _z(1 - power)) * std * math.sqrt(2.0 / n)


# ----------------------------------------------------------------------- plan
@dataclass(frozen=True)
class SampleSizePlan:
    """How many units an experiment needs, per variant and in total, and for how long."""

    metric_kind: str
    """``proportion`` or ``mean``."""
    baseline: float | None
    std: float | None
    mde_absolute: float
    mde_relative: float | None
    alpha: float
    alpha_per_comparison: float
    power: float
    alternative: str
    n_equal_split: int
    """Units per group of a two-arm 50/50 comparison at ``alpha_per_comparison``."""
    n_per_variant: dict[str, int]
    total_units: int
    daily_units: float | None
    days: float | None
    """``total_units / daily_units`` (None without daily traffic)."""


def allocate(
    n_equal_split: int, weights: Mapping[str, float], control: str
) -> tuple[int, dict[str, int]]:
    """Total units and units per variant so every treatment-vs-control comparison has at
    least the precision of ``n_equal_split`` per group (module docstring)."""
    total_weight = sum(weights.values())
    shares = {v: w / total_weight for v, w in weights.items()}
    if control not in shares:
        raise StatsError(f"control {control!r} is not among the variants {sorted(shares)}")
    treatments = [v for v in shares if v != control]
    if not treatments:
        raise StatsError("an experiment needs at least one treatment variant")
    total = max(
        math.ceil(n_equal_split / 2 * (1 / shares[control] + 1 / shares[t]) - 1e-9)
        for t in treatments
    )
    return total, {v: math.ceil(total * s - 1e-9) for v, s in shares.items()}


def plan(
    *,
    weights: Mapping[str, float],
    control: str,
    mde: float,
    mde_kind: object = "relative",
    baseline: float | None = None,
    std: float | None = None,
    alpha: float = 0.05,
    power: float = 0.8,
    alternative: object = "two_sided",
    daily_units: float | None = None,
) -> SampleSizePlan:
    """Plan for a proportion metric (``std`` None: needs ``baseline``) or a mean metric
    (``std`` given; ``baseline`` needed only for a relative MDE)."""
    arms = len(weights)
    per_comparison = comparison_alpha(alpha, arms)
    if std is None:
        if baseline is None:
            raise StatsError("a proportion plan needs the baseline rate")
        delta = absolute_effect(baseline, mde, mde_kind)
        n = sample_size_proportion(
            baseline, delta, alpha=per_comparison, power=power, alternative=alternative
        )
        kind = "proportion"
    else:
        if baseline is None and _name(mde_kind) == "relative":
            raise StatsError("a relative MDE on a mean needs the baseline mean")
        delta = absolute_effect(baseline if baseline is not None else 0.0, mde, mde_kind)
        n = sample_size_mean(std, delta, alpha=per_comparison, power=power, alternative=alternative)
        kind = "mean"
    total, per_variant = allocate(n, weights, control)
    if daily_units is not None and daily_units <= 0:
        raise StatsError(f"daily units must be positive, got {daily_units}")
    return SampleSizePlan(
        metric_kind=kind,
        baseline=baseline,
        std=std,
        mde_absolute=delta,
        mde_relative=delta / abs(baseline) if baseline else None,
        alpha=alpha,
        alpha_per_comparison=per_comparison,
        power=power,
        alternative=_name(alternative),
        n_equal_split=n,
        n_per_variant=per_variant,
        total_units=total,
        daily_units=daily_units,
        days=total / daily_units if daily_units else None,
    )
