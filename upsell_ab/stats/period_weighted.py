"""Arm estimates under changing allocation weights: the period-weighted combination.

Why. A bandit moves traffic between arms while the metric itself drifts
(weekends, a campaign). Pooling every unit of an arm then weighs each arm's
periods by *its own* traffic: an arm that received most of its units on a
good day looks better than it is (Simpson's paradox). The fix is to estimate
every arm's mean with the SAME period weights, those of the experiment's
whole traffic, so that a change shared by all arms cancels in the comparison
(GrowthBook weights its bandit estimates by period in the same way:
``getBanditStatisticsCTE`` in its SQL layer, and the "weighting across
periods" note of its bandit documentation).

Formulas. Periods t = 1..T (allocation periods: the weights were constant
inside each), arm k has n_kt units in period t with per-unit sums S_a,kt and
cross-products P_ab,kt of its per-unit variables a, b (y; for ratios also the
denominator d; for CUPED the covariates x, w). N_t = sum_k n_kt, N = sum_t N_t,

    w_t = N_t / N                                        (same for every arm)
    m_a,k = sum_t w_t S_a,kt / n_kt                      (period-weighted mean)
    C_ab,k = sum_t w_t^2 c_ab,kt / n_kt                  (variance of the weighted means)
    c_ab,kt = (P_ab,kt - S_a,kt S_b,kt / n_kt) / (n_kt - 1)

so C_yy,k = Var(m_y,k) since periods are independent samples (stratified
estimator, Cochran 1977, "Sampling Techniques", 3rd ed., eqs. 5.1 and 5.6 with
stratum weights W_h = N_h / N). Ratios, CUPED and CUPED ratios then follow by
the delta method on the period-weighted moment vector (the gradient formulas of
:mod:`.estimates`, with the unit covariance replaced by ``n C``).

The output is one *pseudo* sufficient-statistics object per arm, of the same
class as the input, whose moments reproduce exactly those weighted moments
(GrowthBook's construction): with n_k = sum_t n_kt,

    S_a = n_k m_a,    P_ab = (n_k - 1) n_k C_ab + n_k m_a m_b

because then ``S_a / n_k = m_a`` and ``(P_ab - S_a S_b / n_k) / (n_k - 1) = n_k C_ab``,
i.e. every engine's "variance of the mean = s^2 / n" is ``C``. Both engines
(Welch / delta / CUPED and the Gaussian Bayesian engine) therefore run
unchanged on them. 0/1 metrics must be analysed as means afterwards (the
pseudo sums are no longer counts of successes: a binomial test or a Beta
posterior would be wrong), as GrowthBook does for bandits ("binomial ->
count"). Welch's degrees of freedom computed from a pseudo object use n_k, an
approximation (the weighted estimator's own df would follow Satterthwaite);
with the tens of units per arm and period a bandit runs on this is immaterial.

Sparse periods. A period in which some arm has fewer than ``min_units`` (2)
units has no variance for that arm; such a period is merged with its
neighbour (the next one, the last with the previous) before weighting, so the
weights stay identical across arms. Merging only coarsens the protection
against drift within the merged span; :func:`merge_sparse_periods` says how
many periods were merged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from upsell_ab.errors import StatsError
from upsell_ab.metrics.sufficient import (
    MetricStats,
    SampleStats,
    sum_terms,
)

Period = Mapping[str, MetricStats]
"""Variant id -> statistics of the units first exposed in one allocation period."""


@dataclass(frozen=True)
class PeriodWeighting:
    """What :func:`period_weighted` did: the combined statistics and how they were formed."""

    by_variant: dict[str, MetricStats]
    """Pseudo statistics per arm (see the module docstring); arms with no units keep
    their (empty) pooled statistics."""
    shares: tuple[float, ...]
    """w_t = N_t / N of the periods actually used (after merging)."""
    periods_in: int
    periods_used: int

    @property
    def merged(self) -> int:
        """Periods folded into a neighbour because some arm had too few units."""
        return self.periods_in - self.periods_used


def _units(period: Period, variants: Sequence[str]) -> dict[str, int]:
    return {v: (period[v].n if v in period else 0) for v in variants}


def _add(a: Period, b: Period) -> dict[str, MetricStats]:
    out: dict[str, MetricStats] = dict(a)
    for variant, stats in b.items():
        out[variant] = out[variant] + stats if variant in out else stats  # type: ignore[operator]
    return out


def merge_sparse_periods(
    periods: Sequence[Period], variants: Sequence[str], min_units: int = 2
) -> list[dict[str, MetricStats]]:
    """Adjacent periods merged until every arm has ``min_units`` units in each (the
    last, if still short, joins the previous group). Periods with no units at all are
    dropped. With too few units overall, one period holding everything."""
    groups: list[dict[str, MetricStats]] = []
    current: dict[str, MetricStats] = {}
    for period in periods:
        if sum(_units(period, variants).values()) == 0:
            continue
        current = _add(current, period)
        if min(_units(current, variants).values()) >= min_units:
            groups.append(current)
            current = {}
    if current:
        if groups:
            groups[-1] = _add(groups[-1], current)
        else:
            groups.append(current)
    return groups


def _frame(stats: MetricStats, reference: MetricStats) -> MetricStats:
    """``stats`` in the frame (shift, scale) of ``reference`` (plain sums otherwise)."""
    if isinstance(stats, SampleStats) and isinstance(reference, SampleStats):
        return stats.in_frame(reference.shift, reference.scale)
    return stats


def _combine(parts: Sequence[tuple[float, MetricStats]]) -> MetricStats:
    """Pseudo statistics of one arm from its (period share, statistics) pairs."""
    reference = parts[0][1]
    kind = type(reference)
    terms = sum_terms(kind)
    parts = [(w, _frame(s, reference)) for w, s in parts]
    n = sum(s.n for _, s in parts)
    linear = {a: f for f, (a, b) in terms.items() if b is None}
    means = {
        a: sum(w * getattr(s, field) / s.n for w, s in parts if s.n) for a, field in linear.items()
    }
    values: dict[str, float] = {}
    for field, (a, b) in terms.items():
        if b is None:
            values[field] = n * means[a]
            continue
        covariance = 0.0
        for w, s in parts:
            if s.n < 2:
                continue
            sa, sb = getattr(s, linear[a]), getattr(s, linear[b])
            c = (getattr(s, field) - sa * sb / s.n) / (s.n - 1)
            covariance += w * w * c / s.n
        if a == b:
            covariance = max(covariance, 0.0)
        values[field] = (n - 1) * n * covariance + n * means[a] * means[b]
    if isinstance(reference, SampleStats):
        return SampleStats(
            n, values["sum"], values["sum_squares"], reference.shift, reference.scale
        )
    return kind(n=n, **values)  # type: ignore[arg-type]  # additive kinds only (never quantiles)


def period_weighted(
    periods: Sequence[Period], variants: Sequence[str], *, min_units: int = 2
) -> PeriodWeighting:
    """Every arm's period-weighted statistics with the same weights w_t = N_t / N
    (module docstring). ``periods`` in time order; every arm's statistics of one
    metric must be of one class."""
    if not variants:
        raise StatsError("period weighting needs at least one variant")
    kinds = {type(s) for p in periods for s in p.values()}
    if len(kinds) > 1:
        names = ", ".join(sorted(k.__name__ for k in kinds))
        raise StatsError(f"periods hold different statistics kinds ({names})")
    groups = merge_sparse_periods(periods, variants, min_units)
    totals = [sum(_units(g, variants).values()) for g in groups]
    grand = sum(totals)
    shares = tuple(t / grand for t in totals) if grand else ()
    by_variant: dict[str, MetricStats] = {}
    for variant in variants:
        parts = [(w, g[variant]) for w, g in zip(shares, groups, strict=True) if variant in g]
        with_units = [(w, s) for w, s in parts if s.n > 0]
        if len(groups) > 1 and with_units and all(s.n >= min_units for _, s in parts):
            by_variant[variant] = _combine(with_units)
        elif parts:
            pooled = parts[0][1]
            for _, s in parts[1:]:
                pooled = pooled + s  # type: ignore[operator]
            by_variant[variant] = pooled
    return PeriodWeighting(by_variant, shares, len(periods), len(groups))


__all__ = [
    "Period",
    "PeriodWeighting",
    "merge_sparse_periods",
    "period_weighted",
]
