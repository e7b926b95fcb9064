"""The quantile metrics' query: order statistics per variant, computed inside the database.

A quantile is not a sum, so it cannot ride in the main query's UNION of sums
(:mod:`upsell_ab.metrics.sql`); every quantile metric of an experiment is
computed by ONE second query, on the same engine, from the same ``units`` and
``kept`` CTEs as the main query (built by its :class:`~upsell_ab.metrics.sql.QueryBuilder`,
so first exposure, exclusions, dates and de-duplication mean the same). What
leaves the database per metric and variant is the handful of numbers of
:class:`~upsell_ab.metrics.quantile.QuantileStats`, never the rows.

CTEs:

1. ``obs``: one row per observation ``(k, v, u, y)``: for ``per: event`` each event
   of the metric's type in its window (``y`` = the event's value, NULL as 0), for
   ``per: unit`` each eligible unit's sum over those events (0 without events;
   left out with ``ignore_zeros``);
2. ``ranked``: ``ROW_NUMBER() OVER (PARTITION BY k, v ORDER BY y)`` and the
   partition size ``n``;
3. ``picks``: per (k, v) the values at the ranks ``ceil(nu n)`` (the quantile,
   ``quantile_disc``) and ``ceil((nu -+ z sqrt(nu (1 - nu) / n)) n)`` (the 95 %
   order-statistic bounds), each clipped to ``[1, n]``. The ranks are computed in
   DOUBLE with the same operations as :func:`upsell_ab.metrics.quantile.rank`, so
   every engine picks the same rows as the Python reference; no engine's own
   percentile function is used (DuckDB's ``quantile_disc`` and Spark's approximate
   percentiles would disagree), so the values are exact on all three;
4. ``clusters`` / ``cl``: per (k, v, unit) ``b`` = observations at or below the
   quantile and ``c`` = observations; per (k, v) the number of units and the sums of
   ``b, b^2, c, c^2, b c`` (the clustering adjustment of ``per: event``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlglot import exp

from upsell_ab.metrics.capping import (
    Dialect,
    count_if,
    eligible,
    in_window,
    metric_channels,
    summand,
)
from upsell_ab.metrics.quantile import Z_95, QuantileStats
from upsell_ab.metrics.sql import MATERIALIZING, QueryBuilder, QueryPlan
from upsell_ab.metrics.sql_layout import id_, num, qcol
from upsell_ab.spec.models import MetricDefinition, MetricType, QuantileOf

RANK_EPSILON = 1e-12
"""Subtracted before CEIL (as in :func:`upsell_ab.metrics.quantile.rank`)."""
COLUMNS: tuple[str, ...] = (
    "k",
    "v",
    "n",
    "q",
    "lower",
    "upper",
    "n_clusters",
    "below_sum",
    "below_sum_squares",
    "count_sum",
    "count_sum_squares",
    "cross_sum",
)


@dataclass(frozen=True)
class QuantileSlot:
    """A quantile metric's position ``k`` in the quantile query."""

    k: int
    name: str
    definition: MetricDefinition

    @property
    def level(self) -> float:
        assert self.definition.quantile is not None
        return float(self.definition.quantile.level)

    @property
    def per_event(self) -> bool:
        assert self.definition.quantile is not None
        return self.definition.quantile.per is QuantileOf.event


def quantile_slots(plan: QueryPlan) -> tuple[QuantileSlot, ...]:
    """The plan's quantile metrics, numbered in plan order."""
    chosen = [(n, d) for n, d in plan.metrics if d.type is MetricType.quantile]
    return tuple(QuantileSlot(k, name, d) for k, (name, d) in enumerate(chosen))


def _dbl(node: exp.Expr) -> exp.Expr:
    return exp.cast(node, "DOUBLE", copy=False)


def _rank(level: exp.Expr, n: exp.Expr) -> exp.Expr:
    """``min(n, max(1, ceil(level n - 1e-12)))`` in DOUBLE arithmetic."""
    product = exp.Mul(this=exp.Paren(this=level), expression=_dbl(n))
    raw = exp.Ceil(this=exp.Sub(this=product, expression=num(RANK_EPSILON)))
    floor_one = exp.Greatest(this=exp.Literal.number(1), expressions=[raw])
    return exp.Least(this=n.copy(), expressions=[floor_one])


def _per_slot(slots: Sequence[QuantileSlot], value: Any) -> exp.Expr:
    """``CASE k WHEN 0 THEN f(slot 0) ...`` for a per-metric constant."""
    return exp.Case(
        ifs=[
            exp.If(this=exp.EQ(this=qcol("k"), expression=exp.Literal.number(s.k)), true=value(s))
            for s in slots
        ]
    )


class QuantileQueryBuilder:
    """Builds the quantile query for one dialect (module docstring)."""

    def __init__(self, plan: QueryPlan, dialect: Dialect) -> None:
        self.slots = quantile_slots(plan)
        if not self.slots:
            raise ValueError("the plan has no quantile metric")
        self.dialect = dialect
        only = tuple((s.name, s.definition) for s in self.slots)
        self.base = QueryBuilder(replace(plan, metrics=only, segments=(), daily=False), dialect)

    def _observations(self) -> exp.Expr:
        base = self.base
        join = exp.EQ(this=qcol("u", "e"), expression=qcol("u", "units"))
        kept = exp.Table(this=id_("kept"), alias=exp.TableAlias(this=id_("e")))
        branches: list[exp.Select] = []
        by_unit = [s for s in self.slots if not s.per_event]
        for slot in self.slots:
            channel = metric_channels(slot.definition)[0]
            if not slot.per_event:
                continue
            condition: exp.Expr = exp.and_(
                eligible(), base._fresh(), in_window(channel), copy=False
            )
            branches.append(
                exp.select(
                    exp.Literal.number(slot.k).as_(id_("k"), copy=False),
                    base.variant_name(qcol("v", "units")).as_(id_("v"), copy=False),
                    qcol("u", "e").as_(id_("u"), copy=False),
                    summand(channel).as_(id_("y"), copy=False),
                    copy=False,
                )
                .from_(kept.copy(), copy=False)
                .join(exp.Table(this=id_("units")), on=join.copy(), copy=False)
                .where(condition, copy=False)
            )
        if by_unit:
            # exact (fixed-point) per-unit sums on DuckDB, as in the main query, so the
            # quantile does not depend on the number of threads
            sums = [
                base._exact_value(
                    base._sum_if(
                        exp.and_(base._fresh(), in_window(metric_channels(s.definition)[0])),
                        summand(metric_channels(s.definition)[0]),
                    )
                ).as_(id_(f"y{s.k}"), copy=False)
                for s in by_unit
            ]
            ev = (
                exp.select(qcol("u", "e"), *sums, copy=False)
                .from_(kept.copy(), copy=False)
                .join(exp.Table(this=id_("units")), on=join.copy(), copy=False)
                .where(eligible(), copy=False)
                .group_by(qcol("u", "e"), copy=False)
            )
            base._cte("ev_q", ev)
            on = exp.EQ(this=qcol("u", "ev_q"), expression=qcol("u", "units"))
            for slot in by_unit:
                value = exp.Coalesce(this=qcol(f"y{slot.k}", "ev_q"), expressions=[num(0.0)])
                condition = eligible()
                assert slot.definition.quantile is not None
                if slot.definition.quantile.ignore_zeros:
                    condition = exp.and_(
                        condition, exp.NEQ(this=value.copy(), expression=num(0.0)), copy=False
                    )
                branches.append(
                    exp.select(
                        exp.Literal.number(slot.k).as_(id_("k"), copy=False),
                        base.variant_name(qcol("v", "units")).as_(id_("v"), copy=False),
                        qcol("u", "units").as_(id_("u"), copy=False),
                        value.as_(id_("y"), copy=False),
                        copy=False,
                    )
                    .from_(exp.Table(this=id_("units")), copy=False)
                    .join(exp.Table(this=id_("ev_q")), on=on.copy(), join_type="LEFT", copy=False)
                    .where(condition, copy=False)
                )
        query: exp.Expr = branches[0]
        for branch in branches[1:]:
            query = exp.union(query, branch, distinct=False, copy=False)
        return query

    def _picks(self) -> exp.Select:
        partition = [qcol("k"), qcol("v")]
        order = exp.Order(expressions=[exp.Ordered(this=qcol("y"))])
        ranked = exp.select(
            qcol("k"),
            qcol("v"),
            qcol("y"),
            exp.Window(this=exp.RowNumber(), partition_by=partition, order=order).as_(
                id_("r"), copy=False
            ),
            exp.Window(
                this=exp.Count(this=exp.Star()), partition_by=[c.copy() for c in partition]
            ).as_(id_("n"), copy=False),
            copy=False,
        ).from_(id_("obs"), copy=False)
        self.base._cte("ranked", ranked)
        n = qcol("n")
        level = _per_slot(self.slots, lambda s: num(s.level))
        spread = exp.Mul(
            this=num(Z_95),
            expression=exp.Sqrt(
                this=exp.Div(
                    this=_per_slot(self.slots, lambda s: num(s.level * (1.0 - s.level))),
                    expression=_dbl(n.copy()),
                )
            ),
        )
        ranks = {
            "q": _rank(level, n),
            "lower": _rank(exp.Sub(this=level.copy(), expression=spread), n),
            "upper": _rank(exp.Add(this=level.copy(), expression=spread.copy()), n),
        }

        def at(rank: exp.Expr) -> exp.Expr:
            hit = exp.EQ(this=qcol("r"), expression=rank)
            return exp.Max(this=exp.Case(ifs=[exp.If(this=hit, true=qcol("y"))]))

        return (
            exp.select(
                qcol("k"),
                qcol("v"),
                exp.Max(this=n.copy()).as_(id_("n"), copy=False),
                *(at(rank).as_(id_(name), copy=False) for name, rank in ranks.items()),
                copy=False,
            )
            .from_(id_("ranked"), copy=False)
            .group_by(qcol("k"), qcol("v"), copy=False)
        )

    def build(self) -> exp.Expr:
        base = self.base
        base.ctes = []
        base._exposure_ctes()
        base._event_ctes()
        base._cte("obs", self._observations(), reused=True)
        base._cte("picks", self._picks(), reused=True)
        on = exp.and_(
            exp.EQ(this=qcol("k", "o"), expression=qcol("k", "picks")),
            exp.EQ(this=qcol("v", "o"), expression=qcol("v", "picks")),
            copy=False,
        )
        below = exp.LTE(this=qcol("y", "o"), expression=qcol("q", "picks"))
        clusters = (
            exp.select(
                qcol("k", "o"),
                qcol("v", "o"),
                _dbl(count_if(below)).as_(id_("b"), copy=False),
                _dbl(exp.Count(this=exp.Star())).as_(id_("c"), copy=False),
                copy=False,
            )
            .from_(exp.Table(this=id_("obs"), alias=exp.TableAlias(this=id_("o"))), copy=False)
            .join(exp.Table(this=id_("picks")), on=on, copy=False)
            .group_by(qcol("k", "o"), qcol("v", "o"), qcol("u", "o"), copy=False)
        )
        base._cte("clusters", clusters)
        b, c = qcol("b"), qcol("c")
        cl = (
            exp.select(
                qcol("k"),
                qcol("v"),
                exp.Count(this=exp.Star()).as_(id_("n_clusters"), copy=False),
                exp.Sum(this=b).as_(id_("below_sum"), copy=False),
                exp.Sum(this=exp.Mul(this=b.copy(), expression=b.copy())).as_(
                    id_("below_sum_squares"), copy=False
                ),
                exp.Sum(this=c).as_(id_("count_sum"), copy=False),
                exp.Sum(this=exp.Mul(this=c.copy(), expression=c.copy())).as_(
                    id_("count_sum_squares"), copy=False
                ),
                exp.Sum(this=exp.Mul(this=b.copy(), expression=c.copy())).as_(
                    id_("cross_sum"), copy=False
                ),
                copy=False,
            )
            .from_(id_("clusters"), copy=False)
            .group_by(qcol("k"), qcol("v"), copy=False)
        )
        base._cte("cl", cl)
        same = exp.and_(
            exp.EQ(this=qcol("k", "picks"), expression=qcol("k", "cl")),
            exp.EQ(this=qcol("v", "picks"), expression=qcol("v", "cl")),
            copy=False,
        )
        types = {"k": "BIGINT", "v": "VARCHAR", "n": "BIGINT", "n_clusters": "BIGINT"}
        columns = [
            exp.cast(
                qcol(name, "cl" if name in COLUMNS[6:] else "picks"),
                types.get(name, "DOUBLE"),
                copy=False,
            ).as_(id_(name), copy=False)
            for name in COLUMNS
        ]
        result: exp.Select = (
            exp.select(*columns, copy=False)
            .from_(id_("picks"), copy=False)
            .join(exp.Table(this=id_("cl")), on=same, join_type="LEFT", copy=False)
            .order_by(qcol("k", "picks"), qcol("v", "picks"), copy=False)
        )
        for name, cte, reusable in base.ctes:
            materialized = reusable and self.dialect in MATERIALIZING
            result = result.with_(id_(name), as_=cte, materialized=materialized or None, copy=False)
        return result

    def sql(self) -> str:
        return self.build().sql(dialect=self.dialect)


def quantile_sql(plan: QueryPlan, dialect: Dialect) -> str | None:
    """The quantile query as SQL text for ``dialect`` (None: the plan has no quantile metric)."""
    if not quantile_slots(plan):
        return None
    return QuantileQueryBuilder(plan, dialect).sql()


def assemble_quantiles(
    plan: QueryPlan, rows: Sequence[Sequence[Any]], units: Mapping[str, int]
) -> dict[str, dict[str, QuantileStats]]:
    """The query's rows as metric -> variant -> :class:`QuantileStats` (every variant
    present: one without observations has ``n = 0``). ``units``: exposed units per
    variant (the main query's counts)."""
    slots = quantile_slots(plan)
    found: dict[tuple[int, str], dict[str, Any]] = {}
    for row in rows:
        values = dict(zip(COLUMNS, row, strict=True))
        found[(int(values["k"]), str(values["v"]))] = values
    out: dict[str, dict[str, QuantileStats]] = {}
    for slot in slots:
        by_variant: dict[str, QuantileStats] = {}
        for variant in plan.variants:
            exposed = int(units.get(variant, 0))
            picked = found.get((slot.k, variant))
            if picked is None or not picked["n"]:
                by_variant[variant] = QuantileStats(
                    0, slot.level, math.nan, math.nan, math.nan, units=exposed
                )
                continue
            stats = QuantileStats(
                n=int(picked["n"]),
                nu=slot.level,
                quantile=float(picked["q"]),
                lower=float(picked["lower"]),
                upper=float(picked["upper"]),
                units=exposed,
            )
            if slot.per_event:
                stats = replace(
                    stats,
                    n_clusters=int(picked["n_clusters"]),
                    below_sum=float(picked["below_sum"]),
                    below_sum_squares=float(picked["below_sum_squares"]),
                    count_sum=float(picked["count_sum"]),
                    count_sum_squares=float(picked["count_sum_squares"]),
                    cross_sum=float(picked["cross_sum"]),
                )
            by_variant[variant] = stats
        out[slot.name] = by_variant
    return out
