"""Per-metric channels (what is summed per unit) and their caps, as SQLGlot nodes.

A metric reduces per unit to one to four *channels*: ``y`` (the value or the
ratio numerator), ``d`` (ratio denominator), ``x`` and ``w`` (CUPED
covariates: ``y`` and ``d`` over the lookback window before first exposure,
Deng et al. 2013). Capping winsorises ``y`` (and its covariate ``x``) per unit
*before* squaring, from above only (GrowthBook's convention): ``min(y, c)``
with ``c`` fixed or the ``q``-quantile of the pooled per-unit values.

The quantile is exact and linearly interpolated on every engine (Hyndman &
Fan type 7): DuckDB ``quantile_cont``, PostgreSQL ``percentile_cont ... WITHIN
GROUP``, Spark ``percentile`` (exact; Spark's ``percentile_approx`` is *not*
used because it would disagree with the other two).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from sqlglot import exp

from upsell_ab.metrics.sql_layout import Var, num, qcol, string
from upsell_ab.spec.models import Capping, MetricDefinition, MetricType

Dialect = Literal["duckdb", "postgres", "spark"]
DIALECTS: tuple[Dialect, ...] = ("duckdb", "postgres", "spark")
Summand = Literal["value", "quantity", "discount", "count", "profit"]


@dataclass(frozen=True)
class Channel:
    """One per-unit sum: events of ``event`` in the metric window (or the CUPED
    lookback window before exposure), each contributing ``summand``."""

    var: Var
    event: str
    summand: Summand
    start: timedelta
    end: timedelta
    lookback: timedelta | None = None
    """Set for covariates: the window is [first_exposure - lookback, first_exposure)."""
    indicator: bool = False
    """0/1 metrics: the unit value is 1 when the sum (an event count) is > 0."""
    column: str | None = None
    """Set for a covariate read from an exposure column (no events, no window)."""
    margin: float | None = None
    cap: Capping | None = None

    @property
    def fixed(self) -> bool:
        """A covariate: one value per unit from before exposure (no daily increments)."""
        return self.lookback is not None or self.column is not None

    @property
    def sums_events(self) -> bool:
        """Adds up its events after exposure (amounts or counts): an event sent twice
        counts twice here, not in a 0/1 channel nor in a covariate from before exposure."""
        return not self.indicator and not self.fixed


def metric_channels(metric: MetricDefinition) -> tuple[Channel, ...]:
    """The channels of a metric, in the fixed order y, d, x, w."""
    start, end = metric.window.start, metric.window.end
    if metric.type is MetricType.ratio:
        assert metric.numerator is not None and metric.denominator is not None
        main = [
            Channel(
                "y",
                metric.numerator.event,
                metric.numerator.value,
                start,
                end,
                margin=metric.margin,
                cap=metric.capping,
            ),
            Channel(
                "d",
                metric.denominator.event,
                metric.denominator.value,
                start,
                end,
                margin=metric.margin,
            ),
        ]
    else:
        assert metric.event is not None
        indicator = metric.type in (MetricType.proportion, MetricType.retention)
        summand: Summand
        if indicator or metric.type is MetricType.count_:
            summand = "count"
        elif metric.type in (MetricType.profit, MetricType.ltv):
            summand = "profit"
        else:
            summand = metric.value
        main = [
            Channel(
                "y",
                metric.event,
                summand,
                start,
                end,
                indicator=indicator,
                margin=metric.margin,
                cap=metric.capping,
            )
        ]
    if metric.cuped is None:
        return tuple(main)
    if metric.cuped.column is not None:
        covariate = Channel("x", main[0].event, "value", start, end, column=metric.cuped.column)
        return (*main, covariate)
    covariates = [
        Channel(
            "x" if ch.var == "y" else "w",
            ch.event,
            ch.summand,
            start,
            end,
            lookback=metric.cuped.lookback,
            indicator=ch.indicator,
            margin=ch.margin,
            cap=ch.cap,
        )
        for ch in main
    ]
    return (*main, *covariates)


def quantile(value: exp.Expr, q: float, dialect: Dialect) -> exp.Expr:
    """Exact, linearly interpolated q-quantile of ``value`` (an aggregate) for ``dialect``."""
    level = exp.Literal.number(repr(float(q)))
    if dialect == "duckdb":
        return exp.Anonymous(this="QUANTILE_CONT", expressions=[value, level])
    if dialect == "spark":
        return exp.Anonymous(this="PERCENTILE", expressions=[value, level])
    return exp.WithinGroup(
        this=exp.PercentileCont(this=level),
        expression=exp.Order(expressions=[exp.Ordered(this=value)]),
    )


def cap_value(channel: Channel, cap_column: exp.Expr | None) -> exp.Expr | None:
    """The cap of a channel: a literal (fixed), the caps-CTE column (percentile), or None."""
    if channel.cap is None:
        return None
    if channel.cap.kind == "fixed":
        return exp.cast(exp.Literal.number(repr(float(channel.cap.value))), "DOUBLE", copy=False)
    return cap_column


def apply_cap(value: exp.Expr, cap: exp.Expr | None) -> exp.Expr:
    """``min(value, cap)``; CASE instead of LEAST because LEAST's NULL handling differs
    between engines (PostgreSQL and Spark skip NULLs, DuckDB returns NULL)."""
    if cap is None:
        return value
    return exp.Case(
        ifs=[exp.If(this=exp.GT(this=value, expression=cap), true=cap.copy())],
        default=value.copy(),
    )


def _interval(delta: timedelta) -> exp.Expr:
    """An interval of whole seconds plus microseconds (portable across the three engines)."""
    micros = round(delta.total_seconds() * 1_000_000)
    seconds, rest = divmod(micros, 1_000_000)
    node: exp.Expr = exp.Interval(this=string(str(seconds)), unit=exp.var("SECOND"))
    if rest:
        extra = exp.Interval(this=string(str(rest)), unit=exp.var("MICROSECOND"))
        node = exp.Paren(this=exp.Add(this=node, expression=extra))
    return node


def _shift(ts: exp.Expr, delta: timedelta) -> exp.Expr:
    if delta == timedelta(0):
        return ts.copy()
    if delta < timedelta(0):
        return exp.Sub(this=ts.copy(), expression=_interval(-delta))
    return exp.Add(this=ts.copy(), expression=_interval(delta))


def in_window(channel: Channel) -> exp.Expr:
    """Event row of the channel's type inside its window (needs ``e.*`` and ``first_ts``)."""
    ts, first = qcol("ts", "e"), qcol("first_ts")
    lower: exp.Expr
    upper: exp.Expr
    if channel.lookback is not None:
        lower, upper = _shift(first, -channel.lookback), first.copy()
    else:
        lower, upper = _shift(first, channel.start), _shift(first, channel.end)
    return exp.and_(
        exp.EQ(this=qcol("etype", "e"), expression=string(channel.event)),
        exp.GTE(this=ts, expression=lower),
        exp.LT(this=ts.copy(), expression=upper),
        copy=False,
    )


def summand(channel: Channel) -> exp.Expr:
    def zero_filled(name: str) -> exp.Expr:
        return exp.Coalesce(this=qcol(name, "e"), expressions=[num(0.0)])

    if channel.summand == "count":
        return num(1.0)
    if channel.summand == "profit":
        margin = channel.margin if channel.margin is not None else 1.0
        revenue = exp.Mul(this=zero_filled("val"), expression=num(margin))
        return exp.Sub(this=revenue, expression=zero_filled("disc"))
    column = {"value": "val", "quantity": "qty", "discount": "disc"}[channel.summand]
    return zero_filled(column)


def sum_if(condition: exp.Expr, value: exp.Expr) -> exp.Expr:
    return exp.Sum(this=exp.Case(ifs=[exp.If(this=condition, true=value)], default=num(0.0)))


def count_if(condition: exp.Expr) -> exp.Expr:
    one, zero = exp.Literal.number(1), exp.Literal.number(0)
    return exp.Sum(this=exp.Case(ifs=[exp.If(this=condition, true=one)], default=zero))


def count_where(condition: exp.Expr) -> exp.Expr:
    """``COUNT(CASE WHEN condition THEN 1 END)``: the rows where ``condition`` holds, as a
    64-bit count. For per-group counters: DuckDB sums integers into 128-bit HUGEINTs, and
    seven such sums in the per-unit aggregate of 10M units cost 10 % of the analysis
    (issue 17). Unlike :func:`count_if` it gives 0, not NULL, over no rows."""
    return exp.Count(this=exp.Case(ifs=[exp.If(this=condition, true=exp.Literal.number(1))]))


def eligible() -> exp.Expr:
    """A unit counts: exposed to a known variant, and to one variant only (``units.v``
    is NULL for a unit seen in several)."""
    return exp.and_(
        exp.Not(this=exp.Is(this=qcol("first_ts"), expression=exp.Null())),
        exp.Not(this=exp.Is(this=qcol("v"), expression=exp.Null())),
        copy=False,
    )
