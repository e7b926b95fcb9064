"""Units without events: counted per (variant, day), not grouped one by one.

At 10M exposed customers about half never order: in the dense plan each of them is a
row of ``units LEFT JOIN kept`` and a group of the per-unit hash aggregate (10M groups
from 11.8M rows), only to produce the same all-zero state. The *sparse* plan
(DuckDB's exact sums only) joins the units to their events with an INNER join, so
``per_unit`` and ``capped`` hold the units with at least one event of the metrics'
types (5.0M groups from 6.7M rows at 10M), and adds the others back from two counts:

* ``unit_counts``: eligible units per (variant, first-exposure day), a group-by of
  ``units`` into a few hundred groups;
* ``zero_row``: one row of every channel's value in the empty state (0, through the
  channel's 0/1 map and cap, exactly as ``capped`` computes it for a unit without
  events), present only when some eligible unit has no event.

A statistic is ``sum over units of term(unit)``; each unit without events adds
``term(empty)``. With exact sums (:mod:`upsell_ab.metrics.sql_exact`) every term is an
integer number of quanta, so ``n_empty * quanta(term(empty))`` is exactly what the dense
plan adds one unit at a time; the frames (min/max of a channel) and the quanta
(max |term|) read ``zero_row`` beside the event units, so they see the same values as
the dense plan. The result is the dense plan's, bit for bit
(``tests/test_metrics_sparse_units.py`` compares the two on every bundled spec and on
hostile data).

Not used (dense plan kept) when a unit's empty state is not one row: segments (counts
per segment value), allocation periods and switchback slots (counts per period or
slot), CUPED covariates read from the exposures (a value per unit); nor on PostgreSQL
and Spark, whose floating-point sums would differ in the last bits from adding one
unit at a time.
"""

from __future__ import annotations

from sqlglot import exp

from upsell_ab.metrics.capping import Channel, eligible
from upsell_ab.metrics.sql_daily import terms, unit_state
from upsell_ab.metrics.sql_exact import quanta
from upsell_ab.metrics.sql_layout import MetricSlot, id_, num, qcol

UNIT_COUNTS = "unit_counts"
ZERO_ROW = "zero_row"
ZERO_UNITS = "zero_units"
"""One-row CTE: ``n``, the eligible units without any event (0 or more)."""


def unit_counts(variant_name: exp.Expr) -> exp.Select:
    """``SELECT v, day, n FROM units``: eligible units per (variant name, first day).
    ``variant_name`` maps ``c`` (the variant's index in ``units``) to its name."""
    grouped = (
        exp.select(
            qcol("v").as_(id_("c"), copy=False),
            exp.cast(qcol("first_ts"), "DATE", copy=False).as_(id_("day"), copy=False),
            exp.Count(this=exp.Star()).as_(id_("n"), copy=False),
            copy=False,
        )
        .from_(id_("units"), copy=False)
        .where(eligible(), copy=False)
        .group_by(qcol("v"), exp.cast(qcol("first_ts"), "DATE", copy=False), copy=False)
    )
    return exp.select(
        variant_name.as_(id_("v"), copy=False), qcol("day"), qcol("n"), copy=False
    ).from_(grouped.subquery(id_("g"), copy=False), copy=False)


def zero_units() -> exp.Select:
    """``n``: eligible units (all of ``unit_counts``) minus those with events (``capped``)."""
    everyone = exp.select(exp.Sum(this=qcol("n")), copy=False).from_(id_(UNIT_COUNTS), copy=False)
    with_events = exp.select(exp.Count(this=exp.Star()), copy=False).from_(
        id_("capped"), copy=False
    )
    difference = exp.Sub(
        this=exp.Coalesce(this=exp.Subquery(this=everyone), expressions=[exp.Literal.number(0)]),
        expression=exp.Subquery(this=with_events),
    )
    return exp.select(difference.as_(id_("n"), copy=False), copy=False)


def empty_value(slot: MetricSlot, channel: Channel, caps: str | None) -> exp.Expr:
    """A channel's value in ``capped`` for a unit with no event: the per-unit sum or count
    is 0.0, then 0/1-mapped and capped as ``capped`` does."""
    return unit_state(num(0.0), channel, caps, slot)


def zero_row(channels: tuple[tuple[MetricSlot, Channel], ...], caps: str | None) -> exp.Select:
    """One row of every channel's empty value (named as in ``capped``), only when some
    eligible unit has no event (``zero_units.n > 0``); no row otherwise."""
    columns = [
        empty_value(slot, ch, caps).as_(id_(slot.column(ch.var)), copy=False)
        for slot, ch in channels
    ]
    select = exp.select(*columns, copy=False).from_(id_(ZERO_UNITS), copy=False)
    if caps:
        select = select.join(exp.Table(this=id_(caps)), join_type="CROSS", copy=False)
    positive = exp.GT(this=qcol("n", ZERO_UNITS), expression=exp.Literal.number(0))
    return select.where(positive, copy=False)


def with_zero_row(
    channels: tuple[tuple[MetricSlot, Channel], ...],
    source: str,
    framed: set[tuple[int, str]] | None = None,
) -> exp.Query:
    """The channel columns of ``source`` (``capped`` or ``scaled``) UNION ALL the empty
    state's row, its ``framed`` channels (slot index, var) centred and scaled like
    ``scaled``'s: what the frames and the quanta are computed over, so they see the
    values the dense plan's units would have."""
    from upsell_ab.metrics.sql_frames import to_frame

    keys = framed or set()
    names = [slot.column(ch.var) for slot, ch in channels]
    units = exp.select(*(qcol(name) for name in names), copy=False).from_(id_(source), copy=False)
    values = [
        (
            to_frame(qcol(slot.column(ch.var), ZERO_ROW), slot)
            if (slot.index, ch.var) in keys
            else qcol(slot.column(ch.var), ZERO_ROW)
        ).as_(id_(slot.column(ch.var)), copy=False)
        for slot, ch in channels
    ]
    empty = exp.select(*values, copy=False).from_(id_(ZERO_ROW), copy=False)
    if keys:
        empty = empty.join(exp.Table(this=id_("frames")), join_type="CROSS", copy=False)
    return exp.union(units, empty, distinct=False, copy=False)


def empty_terms(
    slots: tuple[MetricSlot, ...],
    channels: tuple[tuple[MetricSlot, Channel], ...],
    caps: str | None,
    framed: set[tuple[int, str]],
) -> dict[str, exp.Expr]:
    """Every statistic's term of a unit with no event (constants and the one-row
    ``caps``/``frames`` only): what ``scaled`` holds for such a unit."""
    from upsell_ab.metrics.sql_frames import to_frame

    def state(slot: MetricSlot, ch: Channel) -> exp.Expr:
        value = empty_value(slot, ch, caps)
        return to_frame(value, slot) if (slot.index, ch.var) in framed else value

    return terms(slots, channels, state)


def plus_empty(
    total: exp.Expr, units: exp.Expr, term: exp.Expr, name: str, *, increments: bool = False
) -> exp.Expr:
    """``total + units * quanta(term)``: an integer sum of quanta with ``units`` units of
    empty state added (``total`` NULL when no unit with events is in the group)."""
    each = quanta(term, name, increments=increments)
    wide = exp.cast(units, "HUGEINT", copy=False)
    return exp.Add(
        this=exp.Coalesce(this=total, expressions=[exp.Literal.number(0)]),
        expression=exp.Mul(this=wide, expression=each),
    )


__all__ = [
    "UNIT_COUNTS",
    "ZERO_ROW",
    "ZERO_UNITS",
    "empty_terms",
    "empty_value",
    "plus_empty",
    "unit_counts",
    "with_zero_row",
    "zero_row",
    "zero_units",
]
