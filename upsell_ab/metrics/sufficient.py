"""Sufficient statistics: the only thing that leaves the database.

Every metric reduces, per variant (and per segment / day), to a handful of
additive sums over units. Engines in ``upsell_ab.stats`` take these objects and
nothing else (GrowthBook gbstats ``models/statistics.py`` and tea-tasting
``aggr.py`` use the same idea). Sums add exactly, so days and segments combine
without rescanning raw events: ``a + b`` pools two disjoint groups of units.

Per unit i a metric has a value y_i (for a proportion 0/1, so sum_squares ==
sum), and optionally a denominator d_i (ratio metrics) and pre-exposure
covariates x_i (CUPED). Means and (co)variances use the n - 1 denominator:

    mean = S / n,   var = (Q - S^2 / n) / (n - 1),   cov(y, d) = (C - S_y S_d / n) / (n - 1)
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Literal

from upsell_ab.errors import StatsError
from upsell_ab.metrics.quantile import QuantileStats


def _sample_variance(n: int, total: float, total_squares: float) -> float:
    """Unbiased variance from sums; 0 for n < 2 and clamped at 0 against rounding."""
    if n < 2:
        return 0.0
    return max((total_squares - total * total / n) / (n - 1), 0.0)


def _sample_covariance(n: int, sum_a: float, sum_b: float, cross: float) -> float:
    if n < 2:
        return 0.0
    return (cross - sum_a * sum_b / n) / (n - 1)


@dataclass(frozen=True)
class SampleStats:
    """n units with per-unit values y: sum(z) and sum(z^2) of z = (y - shift) / scale.
    Proportions and means.

    ``shift`` 0 and ``scale`` 1 (the defaults, and always for 0/1 metrics and
    summary CSVs) make z = y. The metric query centres and scales value metrics
    (:mod:`upsell_ab.metrics.sql_frames`: shift = the range's point nearest 0,
    scale = a power of two near half the range), so the sums neither overflow nor cancel; then

        mean = shift + scale * S / n,   var = scale^2 (Q - S^2/n) / (n - 1).

    ``variance`` may overflow (values beyond ~1e154) or underflow; the statistics
    engines therefore work in units of a common scale (see
    :func:`upsell_ab.stats.scaling.working_units`)."""

    n: int
    sum: float
    sum_squares: float
    shift: float = 0.0
    scale: float = 1.0

    def __post_init__(self) -> None:
        if self.n < 0:
            raise StatsError(f"n must be >= 0, got {self.n}")
        if self.sum_squares < 0:
            raise StatsError(f"sum_squares must be >= 0, got {self.sum_squares}")
        if not self.scale > 0:
            raise StatsError(f"scale must be > 0, got {self.scale}")

    @property
    def mean(self) -> float:
        """Sample mean; ``shift`` (0.0 by default) when n == 0 (callers check ``n``)."""
        return self.shift + self.scale * (self.sum / self.n) if self.n else self.shift

    @property
    def variance(self) -> float:
        spread = _sample_variance(self.n, self.sum, self.sum_squares)
        return spread if self.scale == 1.0 else self.scale * self.scale * spread

    def __eq__(self, other: object) -> bool:
        """The same units' statistics: equal n and, in this object's frame, sums equal to
        1e-12 relative (summing in another order, or changing the frame, rounds)."""
        if not isinstance(other, SampleStats):
            return NotImplemented
        if self.n != other.n:
            return False
        b = other.in_frame(self.shift, self.scale)
        return all(
            x == y or abs(x - y) <= 1e-12 * max(abs(x), abs(y), 1.0)
            for x, y in ((self.sum, b.sum), (self.sum_squares, b.sum_squares))
        )

    def __hash__(self) -> int:
        return hash(("SampleStats", self.n))

    def in_frame(self, shift: float, scale: float) -> SampleStats:
        """The same units with sums of (y - shift) / scale (exact up to rounding):
        with y = a + s w and c = (a - shift) / scale, r = s / scale,
        sum z = n c + r sum w,  sum z^2 = n c^2 + 2 c r sum w + r^2 sum w^2."""
        if (shift, scale) == (self.shift, self.scale):
            return self
        c = (self.shift - shift) / scale
        r = self.scale / scale
        total = self.n * c + r * self.sum
        squares = self.n * c * c + 2 * c * r * self.sum + r * r * self.sum_squares
        return SampleStats(self.n, total, max(squares, 0.0), shift, scale)

    def __add__(self, other: SampleStats) -> SampleStats:
        other = other.in_frame(self.shift, self.scale)
        return SampleStats(
            self.n + other.n,
            self.sum + other.sum,
            self.sum_squares + other.sum_squares,
            self.shift,
            self.scale,
        )

    @classmethod
    def from_proportion(cls, n: int, successes: int) -> SampleStats:
        """A 0/1 metric from counts ("offered to 100, 30 bought")."""
        if not 0 <= successes <= n:
            raise StatsError(f"successes must be within [0, n]: {successes} of {n}")
        return cls(n=n, sum=float(successes), sum_squares=float(successes))


@dataclass(frozen=True)
class RatioStats:
    """Ratio metric sum(y) / sum(d) over n units (revenue per order), with the
    numerator-denominator cross-product needed by the delta method."""

    n: int
    numerator_sum: float
    numerator_sum_squares: float
    denominator_sum: float
    denominator_sum_squares: float
    cross_sum: float

    @property
    def numerator(self) -> SampleStats:
        return SampleStats(self.n, self.numerator_sum, self.numerator_sum_squares)

    @property
    def denominator(self) -> SampleStats:
        return SampleStats(self.n, self.denominator_sum, self.denominator_sum_squares)

    @property
    def covariance(self) -> float:
        """Sample covariance of per-unit numerator and denominator."""
        return _sample_covariance(self.n, self.numerator_sum, self.denominator_sum, self.cross_sum)

    @property
    def ratio(self) -> float | None:
        """sum(y) / sum(d); None when the denominator sum is 0."""
        return self.numerator_sum / self.denominator_sum if self.denominator_sum else None

    def __add__(self, other: RatioStats) -> RatioStats:
        return RatioStats(
            self.n + other.n,
            self.numerator_sum + other.numerator_sum,
            self.numerator_sum_squares + other.numerator_sum_squares,
            self.denominator_sum + other.denominator_sum,
            self.denominator_sum_squares + other.denominator_sum_squares,
            self.cross_sum + other.cross_sum,
        )


@dataclass(frozen=True)
class CupedStats:
    """A mean metric y with a pre-exposure covariate x (the same metric over a
    lookback window before first exposure) for CUPED (Deng et al. 2013)."""

    n: int
    sum: float
    sum_squares: float
    covariate_sum: float
    covariate_sum_squares: float
    cross_sum: float

    @property
    def outcome(self) -> SampleStats:
        return SampleStats(self.n, self.sum, self.sum_squares)

    @property
    def covariate(self) -> SampleStats:
        return SampleStats(self.n, self.covariate_sum, self.covariate_sum_squares)

    @property
    def covariance(self) -> float:
        return _sample_covariance(self.n, self.sum, self.covariate_sum, self.cross_sum)

    def __add__(self, other: CupedStats) -> CupedStats:
        return CupedStats(
            self.n + other.n,
            self.sum + other.sum,
            self.sum_squares + other.sum_squares,
            self.covariate_sum + other.covariate_sum,
            self.covariate_sum_squares + other.covariate_sum_squares,
            self.cross_sum + other.cross_sum,
        )


@dataclass(frozen=True)
class CupedRatioStats:
    """A ratio metric y/d with pre-exposure covariates x (numerator) and w
    (denominator) for CUPED on ratios (Deng et al. 2013; GrowthBook's
    regression-adjusted ratio statistic). Holds every sum and cross-product of
    the four per-unit variables (y, d, x, w)."""

    n: int
    numerator_sum: float
    numerator_sum_squares: float
    denominator_sum: float
    denominator_sum_squares: float
    covariate_numerator_sum: float
    covariate_numerator_sum_squares: float
    covariate_denominator_sum: float
    covariate_denominator_sum_squares: float
    numerator_denominator_cross: float
    numerator_covariate_numerator_cross: float
    numerator_covariate_denominator_cross: float
    denominator_covariate_numerator_cross: float
    denominator_covariate_denominator_cross: float
    covariate_numerator_denominator_cross: float

    def __add__(self, other: CupedRatioStats) -> CupedRatioStats:
        from dataclasses import fields

        return CupedRatioStats(
            *(getattr(self, f.name) + getattr(other, f.name) for f in fields(self))
        )


MetricStats = SampleStats | RatioStats | CupedStats | CupedRatioStats | QuantileStats
"""Any per-variant sufficient statistic an engine accepts (:class:`QuantileStats`, of a
quantile metric, is not additive: it is never pooled, per segment or per day)."""


SumVariable = Literal["y", "d", "x", "w"]
"""Per-unit variables: y value (numerator), d denominator, x covariate of y, w covariate of d."""

_SUM_TERMS: dict[str, tuple[SumVariable, SumVariable | None]] = {
    "sum": ("y", None),
    "sum_squares": ("y", "y"),
    "covariate_sum": ("x", None),
    "covariate_sum_squares": ("x", "x"),
    "numerator_sum": ("y", None),
    "numerator_sum_squares": ("y", "y"),
    "denominator_sum": ("d", None),
    "denominator_sum_squares": ("d", "d"),
    "covariate_numerator_sum": ("x", None),
    "covariate_numerator_sum_squares": ("x", "x"),
    "covariate_denominator_sum": ("w", None),
    "covariate_denominator_sum_squares": ("w", "w"),
    "numerator_denominator_cross": ("y", "d"),
    "numerator_covariate_numerator_cross": ("y", "x"),
    "numerator_covariate_denominator_cross": ("y", "w"),
    "denominator_covariate_numerator_cross": ("d", "x"),
    "denominator_covariate_denominator_cross": ("d", "w"),
    "covariate_numerator_denominator_cross": ("x", "w"),
}


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def field_names(stats_class: type) -> tuple[str, ...]:
    """The field names of a statistics dataclass, in order (``dataclasses.fields`` builds
    its answer anew on every call; the daily series asks a few thousand times)."""
    names = _FIELD_NAMES.get(stats_class)
    if names is None:
        names = _FIELD_NAMES[stats_class] = tuple(f.name for f in fields(stats_class))
    return names


def sum_terms(
    stats_class: type[MetricStats],
) -> dict[str, tuple[SumVariable, SumVariable | None]]:
    """Each sum field of a statistics class (in field order) -> the per-unit variable it sums,
    or the pair whose product it sums. One table for the SQL that builds the sums and the
    code that recombines them. ``cross_sum`` is y*x for CUPED and y*d for a ratio."""
    cross: tuple[SumVariable, SumVariable] = ("y", "x") if stats_class is CupedStats else ("y", "d")
    return {
        f.name: cross if f.name == "cross_sum" else _SUM_TERMS[f.name]
        for f in fields(stats_class)
        if f.name not in ("n", "shift", "scale")
    }
