"""The per-allocation-period branch of the experiment query.

Each unit belongs to the allocation window in which it was FIRST exposed (its
variant was drawn with that window's weights). With window starts
b_1 < ... < b_{T-1} (typed TIMESTAMP literals, naive UTC like the stores),

    period = CASE WHEN first_ts >= b_{T-1} THEN T-1 ... WHEN first_ts >= b_1 THEN 1 ELSE 0 END

and the branch sums the same per-unit statistics as the totals, grouped by
(variant, period): one more GROUP BY over the per-unit table the totals read,
no second scan of the events. Rows: ``kind = 'period'``, ``seg_index`` = period.
The periods of a variant add up to its totals (tested on DuckDB, PostgreSQL and
Spark against a plain-Python oracle).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlglot import exp

from upsell_ab.metrics.periods import AllocationWindow, PeriodSplit
from upsell_ab.metrics.sql_layout import id_, qcol, string
from upsell_ab.metrics.sufficient import MetricStats

if TYPE_CHECKING:
    from upsell_ab.metrics.sql_layout import MetricSlot, RowFactory


def timestamp_literal(moment: datetime) -> exp.Expr:
    """``CAST('YYYY-MM-DD HH:MM:SS.ffffff' AS TIMESTAMP)`` from a naive UTC datetime."""
    if moment.tzinfo is not None:
        raise ValueError("period boundaries are naive UTC datetimes")
    return exp.cast(string(moment.isoformat(sep=" ", timespec="microseconds")), "TIMESTAMP")


def period_index(first_ts: exp.Expr, starts: Sequence[datetime]) -> exp.Expr:
    """0 before ``starts[0]``, i + 1 from ``starts[i]`` on (``starts`` ascending)."""
    ifs = [
        exp.If(
            this=exp.GTE(this=first_ts.copy(), expression=timestamp_literal(start)),
            true=exp.Literal.number(index + 1),
        )
        for index, start in reversed(list(enumerate(starts)))
    ]
    return exp.Case(ifs=ifs, default=exp.Literal.number(0))


def period_branch(
    row: RowFactory,
    table: str,
    stats: dict[str, exp.Expr],
    windows: Sequence[AllocationWindow],
    joins: Sequence[str] = (),
) -> exp.Select:
    """``kind='period'`` rows: n and every statistic per (variant, period); ``joins``:
    one-row tables the statistics read (cross-joined)."""
    starts = [w.start for w in windows[1:]]
    if any(s is None for s in starts):
        raise ValueError("only the first allocation window may start at the beginning")
    index = period_index(qcol("first_ts"), [s for s in starts if s is not None])
    select = row(
        "period", variant=qcol("v"), seg_index=index, n=exp.Count(this=exp.Star()), **stats
    ).from_(id_(table), copy=False)
    for name in joins:
        select = select.join(exp.Table(this=id_(name)), join_type="CROSS", copy=False)
    return select.group_by(qcol("v"), index.copy(), copy=False)


def period_split(
    windows: Sequence[AllocationWindow],
    variants: Sequence[str],
    slots: Sequence[MetricSlot],
    rows: Sequence[Any],
    make: Callable[[MetricSlot, Any], MetricStats],
    empty: Callable[[MetricSlot], MetricStats],
) -> PeriodSplit:
    """The ``period`` rows as a :class:`PeriodSplit` (every window x variant present;
    ``make(slot, row)`` / ``empty(slot)`` build the statistics as the totals do)."""
    units = [dict.fromkeys(variants, 0) for _ in windows]
    by_metric: dict[str, list[dict[str, MetricStats]]] = {
        slot.name: [{} for _ in windows] for slot in slots
    }
    for r in rows:
        period = r.count("seg_index")
        variant = str(r.values["variant"])
        if variant not in units[period]:
            continue
        units[period][variant] = r.count("n")
        for slot in slots:
            by_metric[slot.name][period][variant] = make(slot, r)
    for slot in slots:
        for cell in by_metric[slot.name]:
            for variant in variants:
                cell.setdefault(variant, empty(slot))
    return PeriodSplit(
        windows=tuple(windows),
        units=tuple(units),
        by_metric={
            name: tuple({v: cell[v] for v in variants} for cell in cells)
            for name, cells in by_metric.items()
        },
    )


__all__ = ["period_branch", "period_index", "period_split", "timestamp_literal"]
