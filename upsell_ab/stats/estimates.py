"""One arm's point estimate and the variance of that estimate, for every metric kind.

Both engines (frequentist and Bayesian) start here, so they agree on what an
arm's estimate is. Arms are independent samples of units, so the variance of
a difference of two arm estimates is the sum of their variances.

Formulas (per arm, n units, sample moments with the n - 1 denominator):

- Plain mean (proportion, mean, count, profit): ``ybar``, ``Var = s_y^2 / n``.
- Ratio sum(y)/sum(d) by the delta method (Deng, Knoblich & Lu 2018, "Applying
  the Delta Method in Metric Analytics", KDD, eq. 3):
  ``R = ybar / dbar``, ``Var(R) ~= (s_y^2 - 2 R s_yd + R^2 s_d^2) / (n dbar^2)``.
- CUPED (Deng, Xu, Kohavi & Walker 2013, "Improving the Sensitivity of Online
  Controlled Experiments by Utilizing Pre-Experiment Data", WSDM, eq. 4):
  ``theta = cov(y, x) / var(x)`` from sums pooled over all arms, adjusted mean
  ``ybar - theta (xbar - xbar_pooled)``, ``Var = (s_y^2 - 2 theta s_yx + theta^2 s_x^2) / n``.
- CUPED on a ratio (GrowthBook's regression-adjusted ratio statistic, gbstats
  ``RegressionAdjustedRatioStatistic``): with per-unit vector ``(y, d, x, w)``
  (post numerator, post denominator, pre numerator, pre denominator),
  ``R_post = ybar / dbar`` and ``R_pre = xbar / wbar``; the delta-method gradients
  ``g_post = (1/dbar, -R_post/dbar, 0, 0)`` and ``g_pre = (0, 0, 1/wbar, -R_pre/wbar)``
  and the 4x4 unit covariance ``S`` give ``V_post = g_post' S g_post / n``,
  ``V_pre = g_pre' S g_pre / n``, ``C = g_post' S g_pre / n``; estimate
  ``R_post - theta (R_pre - R_pre_pooled)``, ``Var = V_post - 2 theta C + theta^2 V_pre``,
  with ``theta = (g_post' S g_pre) / (g_pre' S g_pre)`` from the pooled sums.

An arm with no units (or a ratio whose denominator sums to 0) has no estimate:
:func:`arm_status` says so, :func:`arm_estimate` raises and :func:`arm_estimates`
leaves it out, so no engine ever sees a made-up mean.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from upsell_ab.errors import StatsError
from upsell_ab.metrics.quantile import QuantileStats
from upsell_ab.metrics.sufficient import (
    CupedRatioStats,
    CupedStats,
    MetricStats,
    RatioStats,
    SampleStats,
    field_names,
)
from upsell_ab.stats.results import ArmEstimate, Status

_VARIABLES = ("y", "d", "x", "w")
"""Per-unit variables of a CUPED ratio: post numerator/denominator, pre numerator/denominator."""


def arm_status(stats: MetricStats) -> Status:
    """Whether an arm can be estimated: ``no_data`` (n == 0, or a ratio denominator
    summing to 0), ``too_few_units`` (n == 1: a mean but no variance), else ``ok``."""
    if stats.n == 0:
        return Status.no_data
    if isinstance(stats, RatioStats) and stats.denominator_sum == 0:
        return Status.no_data
    if isinstance(stats, CupedRatioStats) and (
        stats.denominator_sum == 0 or stats.covariate_denominator_sum == 0
    ):
        return Status.no_data
    if stats.n < 2:
        return Status.too_few_units
    if isinstance(stats, QuantileStats):
        from upsell_ab.stats.quantile import quantile_variance

        if quantile_variance(stats) is None:  # the interval's ranks fall outside the sample
            return Status.too_few_units
    return Status.ok


# ------------------------------------------------------------------ CUPED ratio
@dataclass(frozen=True)
class _RatioMoments:
    """Means and 4x4 per-unit covariance of (y, d, x, w) for a CUPED ratio arm."""

    n: int
    means: tuple[float, float, float, float]
    cov: tuple[tuple[float, ...], ...]

    @classmethod
    def of(cls, s: CupedRatioStats) -> _RatioMoments:
        n = s.n
        sums = (
            s.numerator_sum,
            s.denominator_sum,
            s.covariate_numerator_sum,
            s.covariate_denominator_sum,
        )
        squares = (
            s.numerator_sum_squares,
            s.denominator_sum_squares,
            s.covariate_numerator_sum_squares,
            s.covariate_denominator_sum_squares,
        )
        cross = {
            (0, 1): s.numerator_denominator_cross,
            (0, 2): s.numerator_covariate_numerator_cross,
            (0, 3): s.numerator_covariate_denominator_cross,
            (1, 2): s.denominator_covariate_numerator_cross,
            (1, 3): s.denominator_covariate_denominator_cross,
            (2, 3): s.covariate_numerator_denominator_cross,
        }
        rows: list[list[float]] = [[0.0] * 4 for _ in range(4)]
        for i in range(4):
            for j in range(4):
                product = squares[i] if i == j else cross[(min(i, j), max(i, j))]
                rows[i][j] = (product - sums[i] * sums[j] / n) / (n - 1) if n >= 2 else 0.0
        rows_t = tuple(tuple(r) for r in rows)
        return cls(n=n, means=(sums[0] / n, sums[1] / n, sums[2] / n, sums[3] / n), cov=rows_t)

    def gradients(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        y, d, x, w = self.means
        return (1 / d, -y / d**2, 0.0, 0.0), (0.0, 0.0, 1 / w, -x / w**2)

    def quad(self, a: tuple[float, ...], b: tuple[float, ...]) -> float:
        """a' S b (per unit)."""
        return sum(a[i] * self.cov[i][j] * b[j] for i in range(4) for j in range(4))


def _cuped_ratio_theta(pooled: CupedRatioStats) -> float:
    """g_post' S g_pre / g_pre' S g_pre over pooled sums (0 if the pre ratio is constant)."""
    moments = _RatioMoments.of(pooled)
    g_post, g_pre = moments.gradients()
    denominator = moments.quad(g_pre, g_pre)
    return moments.quad(g_post, g_pre) / denominator if denominator > 0 else 0.0


def _cuped_ratio_estimate(s: CupedRatioStats, theta: float, pooled_pre: float) -> ArmEstimate:
    moments = _RatioMoments.of(s)
    g_post, g_pre = moments.gradients()
    unit_post = moments.quad(g_post, g_post)
    unit_pre = moments.quad(g_pre, g_pre)
    unit_cross = moments.quad(g_post, g_pre)
    unit_variance = max(unit_post - 2 * theta * unit_cross + theta**2 * unit_pre, 0.0)
    y, d, x, w = moments.means
    mean = y / d - theta * (x / w - pooled_pre)
    return ArmEstimate(n=s.n, mean=mean, variance=unit_variance / s.n, unit_variance=unit_variance)


# ------------------------------------------------------------------ public API
def _cuped_mean_theta(stats: CupedStats) -> float:
    var_x = stats.covariate.variance
    return stats.covariance / var_x if var_x > 0 else 0.0


def cuped_theta(stats: MetricStats) -> float | None:
    """The CUPED coefficient from (pooled) sums: ``cov(y, x) / var(x)`` for
    :class:`CupedStats`, the delta-method analogue for :class:`CupedRatioStats`;
    None for metric kinds without a covariate; 0 when the covariate is constant."""
    if isinstance(stats, CupedStats):
        return _cuped_mean_theta(stats)
    if isinstance(stats, CupedRatioStats):
        if arm_status(stats) is Status.no_data:
            return 0.0
        return _cuped_ratio_theta(stats)
    return None


def covariate_centre(stats: MetricStats) -> float | None:
    """Pooled pre-period mean (``xbar``) or pre-period ratio (``xbar / wbar``)."""
    if isinstance(stats, CupedStats):
        return stats.covariate_sum / stats.n if stats.n else None
    if isinstance(stats, CupedRatioStats):
        if stats.covariate_denominator_sum == 0:
            return None
        return stats.covariate_numerator_sum / stats.covariate_denominator_sum
    return None


def arm_estimate(
    stats: MetricStats,
    *,
    theta: float | None = None,
    pooled_covariate_mean: float | None = None,
) -> ArmEstimate:
    """Mean and Var(mean) of one arm (formulas in the module docstring).

    For CUPED kinds pass ``theta`` and ``pooled_covariate_mean`` computed over
    all arms (as :func:`arm_estimates` does); without them the arm's own sums
    are used, which is right only for a single arm. Raises :class:`StatsError`
    when :func:`arm_status` is ``no_data``. Results are memoised (the inputs are
    frozen): both engines and the guardrail test ask for the same arms.
    """
    return _cached_estimate(_ExactKey(stats), theta, pooled_covariate_mean)


@dataclass(frozen=True, slots=True)
class _ExactKey:
    """The memo key of one arm's statistics: its class and exact field values.

    ``SampleStats`` compares equal to the same units in another frame (to 1e-12) and so
    hashes on ``n`` alone; as a cache key that put every arm and day with the same ``n``
    in one bucket (the daily series made ~30 tolerance comparisons per lookup). Exact
    fields hash apart, and the same arm asked twice still hits."""

    stats: MetricStats = field(compare=False, hash=False)
    exact: tuple[object, ...] = field(init=False)

    def __post_init__(self) -> None:
        values = tuple(getattr(self.stats, name) for name in field_names(type(self.stats)))
        object.__setattr__(self, "exact", (type(self.stats), values))


@functools.lru_cache(maxsize=4096)
def _cached_estimate(
    key: _ExactKey, theta: float | None, pooled_covariate_mean: float | None
) -> ArmEstimate:
    return _arm_estimate(key.stats, theta, pooled_covariate_mean)


def _arm_estimate(
    stats: MetricStats, theta: float | None, pooled_covariate_mean: float | None
) -> ArmEstimate:
    if arm_status(stats) is Status.no_data:
        raise StatsError(
            f"no estimate for an arm with n = {stats.n} (or a zero denominator); "
            "check arm_status() first"
        )
    n = stats.n
    if isinstance(stats, QuantileStats):
        from upsell_ab.stats.quantile import quantile_variance

        variance = quantile_variance(stats)
        return ArmEstimate(
            n=n, mean=stats.quantile, variance=math.nan if variance is None else variance
        )
    if isinstance(stats, SampleStats):
        unit_variance = stats.variance
        return ArmEstimate(
            n=n,
            mean=stats.mean,
            variance=unit_variance / n,
            unit_variance=unit_variance,
            shift=stats.shift,
            offset=stats.scale * (stats.sum / n),
        )
    if isinstance(stats, RatioStats):
        d_mean = stats.denominator_sum / n
        ratio = stats.numerator_sum / stats.denominator_sum
        unit_variance = max(
            (
                stats.numerator.variance
                - 2 * ratio * stats.covariance
                + ratio**2 * stats.denominator.variance
            )
            / d_mean**2,
            0.0,
        )
        return ArmEstimate(n=n, mean=ratio, variance=unit_variance / n, unit_variance=unit_variance)
    if isinstance(stats, CupedStats):
        t = _cuped_mean_theta(stats) if theta is None else theta
        centre = stats.covariate_sum / n if pooled_covariate_mean is None else pooled_covariate_mean
        unit_variance = max(
            stats.outcome.variance - 2 * t * stats.covariance + t**2 * stats.covariate.variance,
            0.0,
        )
        mean = stats.sum / n - t * (stats.covariate_sum / n - centre)
        return ArmEstimate(n=n, mean=mean, variance=unit_variance / n, unit_variance=unit_variance)
    if isinstance(stats, CupedRatioStats):
        t = _cuped_ratio_theta(stats) if theta is None else theta
        centre = (
            stats.covariate_numerator_sum / stats.covariate_denominator_sum
            if pooled_covariate_mean is None
            else pooled_covariate_mean
        )
        return _cuped_ratio_estimate(stats, t, centre)
    raise StatsError(f"unsupported statistics type {type(stats).__name__}")


def pool(stats: Mapping[str, MetricStats]) -> MetricStats | None:
    """Sum of the arms' sufficient statistics (None for an empty mapping)."""
    kinds = {type(value).__name__ for value in stats.values()}
    if len(kinds) > 1:
        raise StatsError(f"arms hold different statistics kinds: {', '.join(sorted(kinds))}")
    if any(isinstance(value, QuantileStats) for value in stats.values()):
        return None  # order statistics do not add up
    total: MetricStats | None = None
    for value in stats.values():
        total = value if total is None else total + value  # type: ignore[operator]
    return total


def arm_estimates(stats_by_variant: Mapping[str, MetricStats]) -> dict[str, ArmEstimate]:
    """Estimates for every arm that has one (arms with status ``no_data`` are left
    out: check :func:`arm_status`). CUPED theta and the centring mean are pooled
    over all arms (Deng et al. 2013), so the adjustment is the same for every arm
    and the lift estimate stays unbiased."""
    theta: float | None = None
    centre: float | None = None
    pooled = pool(stats_by_variant)
    if isinstance(pooled, CupedStats | CupedRatioStats):
        theta = cuped_theta(pooled)
        centre = covariate_centre(pooled)
    return {
        variant: arm_estimate(s, theta=theta, pooled_covariate_mean=centre)
        for variant, s in stats_by_variant.items()
        if arm_status(s) is not Status.no_data
    }


def unadjusted(stats: MetricStats) -> MetricStats:
    """The same metric without its covariate (for reporting CUPED's variance reduction)."""
    if isinstance(stats, CupedStats):
        return stats.outcome
    if isinstance(stats, CupedRatioStats):
        return RatioStats(
            n=stats.n,
            numerator_sum=stats.numerator_sum,
            numerator_sum_squares=stats.numerator_sum_squares,
            denominator_sum=stats.denominator_sum,
            denominator_sum_squares=stats.denominator_sum_squares,
            cross_sum=stats.numerator_denominator_cross,
        )
    return stats
