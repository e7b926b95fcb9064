"""Run the engines in a metric's own units, so no finite input overflows or underflows.

Every test statistic, p-value, relative lift and posterior probability is
invariant under y -> y / c for a constant c > 0, and every absolute quantity
(difference, interval end, expected loss, absolute margin) scales by c. So the
analysis of a plain value metric divides its values by a power of two c near
their scale (exact in binary floating point: no digit is lost), runs the
engines on numbers of order 1, and multiplies the absolute results back by c.
Revenue of 1e300 (variance 1e600 in raw units, beyond a double) and of 1e-300
(variance 1e-600, a false zero) then give the same p-values as revenue of 1.

The centred, scaled sums come from the metric query
(:mod:`upsell_ab.metrics.sql_frames`); summary-CSV sums are raw and get the
same power-of-two rescaling when their magnitude calls for it. Statistics
that still cannot be represented (ratio or CUPED sums that overflowed in the
database, or squares that underflowed to 0) are reported as
``Status.out_of_range`` with a plain reason, never as ``zero_variance``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace

from upsell_ab.metrics.sufficient import (
    CupedRatioStats,
    CupedStats,
    MetricStats,
    RatioStats,
    SampleStats,
    field_names,
)
from upsell_ab.stats.results import (
    BayesianComparison,
    Comparison,
    FrequentistComparison,
    Interval,
    MetricResult,
    NonInferiority,
    Status,
    VariantSummary,
)

EXTREME = 1e100
"""Raw sums whose root mean square lies beyond [1/EXTREME, EXTREME] are rescaled."""


def _power_of_two(x: float) -> float:
    """2^e with 2^(e-1) <= x < 2^e (exact; x > 0 finite)."""
    return math.ldexp(1.0, math.frexp(x)[1])


def working_units(stats: Mapping[str, MetricStats]) -> tuple[dict[str, MetricStats], float]:
    """The arms in units of c (a power of two) and c; c = 1 when nothing needs it.

    Framed :class:`SampleStats` (``scale != 1``, from the query) are re-expressed
    as shift / c + (scale / c) z; raw ones are divided by c when their root mean
    square is extreme (sum / c, sum_squares / c^2, both exact)."""
    arms = dict(stats)
    if not arms or not all(isinstance(s, SampleStats) for s in arms.values()):
        return arms, 1.0
    samples = [s for s in arms.values() if isinstance(s, SampleStats)]
    scales = [s.scale for s in samples if s.scale != 1.0]
    if scales:
        c = _power_of_two(max(scales))
    else:
        n = sum(s.n for s in samples)
        squares = sum(s.sum_squares for s in samples)
        if not n or not squares > 0 or not math.isfinite(squares):
            return arms, 1.0
        rms = math.sqrt(squares / n) if squares / n < math.inf else math.sqrt(squares) / n**0.5
        if 1 / EXTREME <= rms <= EXTREME:
            return arms, 1.0
        c = _power_of_two(rms)
    out: dict[str, MetricStats] = {}
    for variant, s in arms.items():
        assert isinstance(s, SampleStats)
        if s.scale != 1.0 or s.shift != 0.0:
            out[variant] = SampleStats(s.n, s.sum, s.sum_squares, s.shift / c, s.scale / c)
        else:
            out[variant] = SampleStats(s.n, s.sum / c, s.sum_squares / (c * c))
    return out, c


def out_of_range(stats: MetricStats) -> bool:
    """A sum that is not finite, or a sum of squares that underflowed to 0 while its sum
    is not 0 (the values are too small to square): the arm cannot be analysed."""
    values = {name: getattr(stats, name) for name in field_names(type(stats))}
    if not all(math.isfinite(float(v)) for v in values.values()):
        return True
    pairs: list[tuple[str, str]] = []
    if isinstance(stats, SampleStats):
        if stats.scale != 1.0 or stats.shift != 0.0:
            # framed by the query: the frame spans every arm, so an arm whose squares
            # vanish is only negligible next to another arm's spread, not out of range
            return False
        pairs = [("sum", "sum_squares")]
    elif isinstance(stats, RatioStats):
        pairs = [
            ("numerator_sum", "numerator_sum_squares"),
            ("denominator_sum", "denominator_sum_squares"),
        ]
    elif isinstance(stats, CupedStats):
        pairs = [("sum", "sum_squares"), ("covariate_sum", "covariate_sum_squares")]
    elif isinstance(stats, CupedRatioStats):
        pairs = [
            ("numerator_sum", "numerator_sum_squares"),
            ("denominator_sum", "denominator_sum_squares"),
            ("covariate_numerator_sum", "covariate_numerator_sum_squares"),
            ("covariate_denominator_sum", "covariate_denominator_sum_squares"),
        ]
    return any(values[total] != 0 and values[squares] == 0 for total, squares in pairs)


def _times(value: float | None, c: float) -> float | None:
    return None if value is None else value * c


def _interval(interval: Interval, c: float) -> Interval:
    return Interval(_times(interval.low, c), _times(interval.high, c), interval.level)


def _frequentist(f: FrequentistComparison | None, c: float) -> FrequentistComparison | None:
    if f is None:
        return None
    return replace(
        f, absolute_lift=_times(f.absolute_lift, c), absolute_ci=_interval(f.absolute_ci, c)
    )


def _bayesian(b: BayesianComparison | None, c: float) -> BayesianComparison | None:
    if b is None:
        return None
    return replace(
        b, expected_loss=_times(b.expected_loss, c), absolute_ci=_interval(b.absolute_ci, c)
    )


def _non_inferiority(ni: NonInferiority | None, c: float) -> NonInferiority | None:
    if ni is None or ni.margin_kind == "relative":
        return ni
    return replace(ni, margin=ni.margin * c, bound=_times(ni.bound, c))


def rescale(result: MetricResult, c: float) -> MetricResult:
    """Absolute quantities of a result computed in units of c, back in the metric's units."""
    if c == 1.0:
        return result
    comparisons = [
        Comparison(
            variant=x.variant,
            baseline=x.baseline,
            frequentist=_frequentist(x.frequentist, c),
            bayesian=_bayesian(x.bayesian, c),
            p_value_adjusted=x.p_value_adjusted,
            non_inferiority=_non_inferiority(x.non_inferiority, c),
        )
        for x in result.comparisons
    ]
    return replace(result, comparisons=comparisons)


def out_of_range_result(
    name: str,
    role: str,
    variants: list[str],
    control: str,
    stats: Mapping[str, MetricStats],
    broken: list[str],
    alpha: float,
) -> MetricResult:
    """A result with no numbers, status ``out_of_range`` and a note saying why."""
    from upsell_ab.stats.frequentist import empty_comparison

    where = f" in {', '.join(broken)}" if broken else ""
    note = (
        f"metric {name!r}: its sums{where} are beyond double precision (values too large "
        "to square, or too small: squares underflow to 0); no test was run. Express the "
        "metric in another unit (e.g. thousands) or check the data for absurd values."
    )
    return MetricResult(
        metric=name,
        role=role,
        variants=[VariantSummary(v, stats[v].n if v in stats else 0, None) for v in variants],
        comparisons=[
            Comparison(
                variant=t,
                baseline=control,
                frequentist=empty_comparison("none", Status.out_of_range, "two_sided", alpha),
            )
            for t in variants
            if t != control
        ],
        notes=[note],
    )
