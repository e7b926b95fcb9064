"""Cumulative per-day statistics without a units x days cross join.

For day D the statistics cover units first exposed on or before D, with
events counted up to the end of D. A unit's value changes only on its first
exposure day and on days it has an in-window event, so we emit one row per
(unit, such day) holding the unit's *state* as of that day (running sums via
``SUM(..) OVER (PARTITION BY u ORDER BY day)``), turn the state into the
per-unit terms (capped y, y^2, y*d, ...), and take each term's increment
against the unit's previous row (``LAG``). Summing increments per (variant,
day) and cumulating them over days in Python gives exactly the cumulative
sums (they telescope), in O(units + unit-event-days) rows.

Percentile caps use the cap of the whole period (the same value every day),
so the last day equals the overall statistics; the covariates (pre-exposure)
are fixed per unit and enter on the unit's first day.
"""

from __future__ import annotations

from sqlglot import exp

from upsell_ab.metrics.capping import (
    Channel,
    apply_cap,
    cap_value,
    eligible,
    in_window,
    sum_if,
    summand,
)
from upsell_ab.metrics.sql_frames import to_frame
from upsell_ab.metrics.sql_layout import MetricSlot, id_, num, qcol


def _day(ts: exp.Expr) -> exp.Expr:
    return exp.cast(ts, "DATE", copy=False)


def _by_unit_day() -> exp.Order:
    return exp.Order(expressions=[exp.Ordered(this=qcol("day"))])


def daily_ctes(
    slots: tuple[MetricSlot, ...],
    channels: tuple[tuple[MetricSlot, Channel], ...],
    *,
    has_caps: bool,
    framed: tuple[tuple[MetricSlot, Channel], ...] = (),
) -> list[tuple[str, exp.Expr]]:
    """CTEs ending in ``deltas(v, day, dn, <stat columns>)``; needs ``kept``, ``units``,
    ``per_unit``, ``capped`` (and ``caps`` when ``has_caps``)."""
    window_channels = [(s, ch) for s, ch in channels if ch.lookback is None]
    names = [s.column(ch.var) for s, ch in window_channels]

    # 1. in-window sums per (unit, event day)
    any_window = exp.or_(*(in_window(ch) for _, ch in window_channels), copy=False)
    join = exp.EQ(this=qcol("u", "e"), expression=qcol("u", "units"))
    event_day = _day(qcol("ts", "e"))
    ev_day = (
        exp.select(
            qcol("u", "e"),
            event_day.as_(id_("day"), copy=False),
            *(
                sum_if(in_window(ch), summand(ch)).as_(id_(s.column(ch.var)), copy=False)
                for s, ch in window_channels
            ),
            copy=False,
        )
        .from_(exp.Table(this=id_("kept"), alias=exp.TableAlias(this=id_("e"))), copy=False)
        .join(exp.Table(this=id_("units")), on=join, copy=False)
        .where(exp.and_(eligible(), exp.Paren(this=any_window), copy=False), copy=False)
        .group_by(qcol("u", "e"), event_day.copy(), copy=False)
    )
    # 2. plus the first-exposure day of every unit (zero increments), merged per (unit, day)
    entry = exp.select(
        qcol("u"),
        _day(qcol("first_ts")).as_(id_("day"), copy=False),
        *(num(0.0).as_(id_(n), copy=False) for n in names),
        copy=False,
    ).from_(id_("per_unit"), copy=False)
    rows = exp.union(
        entry,
        exp.select(qcol("u"), qcol("day"), *map(qcol, names), copy=False).from_(
            id_("ev_day"), copy=False
        ),
        distinct=False,
        copy=False,
    )
    unit_day = (
        exp.select(
            qcol("u"),
            qcol("day"),
            *(exp.Sum(this=qcol(n)).as_(id_(n), copy=False) for n in names),
            copy=False,
        )
        .from_(rows.subquery(id_("rows"), copy=False), copy=False)
        .group_by(qcol("u"), qcol("day"), copy=False)
    )
    running = exp.WindowSpec(
        kind="ROWS", start="UNBOUNDED", start_side="PRECEDING", end="CURRENT ROW"
    )
    cumulative = exp.select(
        qcol("u"),
        qcol("day"),
        *(
            exp.Window(
                this=exp.Sum(this=qcol(n)),
                partition_by=[qcol("u")],
                order=_by_unit_day(),
                spec=running.copy(),
            ).as_(id_(n), copy=False)
            for n in names
        ),
        copy=False,
    ).from_(id_("unit_day"), copy=False)
    # 3. state as of the day: indicator and cap on y/d, covariates from ``capped``
    framed_keys = {(s.index, ch.var) for s, ch in framed}
    state_columns: list[exp.Expr] = [qcol("u", "cum"), qcol("v", "capped"), qcol("day")]
    for slot, ch in channels:
        name = slot.column(ch.var)
        if ch.lookback is not None:
            state_columns.append(qcol(name, "capped").as_(id_(name), copy=False))
            continue
        value: exp.Expr = qcol(name, "cum")
        if ch.indicator:
            value = exp.Case(
                ifs=[exp.If(this=exp.GT(this=value, expression=num(0.0)), true=num(1.0))],
                default=num(0.0),
            )
        cap = cap_value(ch, qcol(slot.cap_column(ch.var), "caps"))
        value = apply_cap(value, cap)
        if (slot.index, ch.var) in framed_keys:
            value = to_frame(value, slot)  # the same frame as the overall statistics
        state_columns.append(value.as_(id_(name), copy=False))
    state = (
        exp.select(*state_columns, copy=False)
        .from_(exp.Table(this=id_("cum")), copy=False)
        .join(
            exp.Table(this=id_("capped")),
            on=exp.EQ(this=qcol("u", "capped"), expression=qcol("u", "cum")),
            copy=False,
        )
    )
    if has_caps:
        state = state.join(exp.Table(this=id_("caps")), join_type="CROSS", copy=False)
    if framed:
        state = state.join(exp.Table(this=id_("frames")), join_type="CROSS", copy=False)
    # 4. per-unit terms, then their increments against the unit's previous row
    term_columns: list[exp.Expr] = [qcol("u"), qcol("v"), qcol("day")]
    stat_names: list[str] = []
    for slot in slots:
        for field, (a, b) in slot.terms:
            term: exp.Expr = qcol(slot.column(a))
            if b is not None:
                term = exp.Mul(this=term, expression=qcol(slot.column(b)))
            term_columns.append(term.as_(id_(slot.stat_column(field)), copy=False))
            stat_names.append(slot.stat_column(field))
    terms = exp.select(*term_columns, copy=False).from_(id_("state"), copy=False)

    def previous(name: str) -> exp.Expr:
        return exp.Window(
            this=exp.Lag(this=qcol(name)), partition_by=[qcol("u")], order=_by_unit_day()
        )

    first_row = exp.Case(
        ifs=[
            exp.If(
                this=exp.Is(this=previous("day"), expression=exp.Null()),
                true=exp.Literal.number(1),
            )
        ],
        default=exp.Literal.number(0),
    )
    deltas = exp.select(
        qcol("v"),
        qcol("day"),
        first_row.as_(id_("dn"), copy=False),
        *(
            exp.Sub(
                this=qcol(n), expression=exp.Coalesce(this=previous(n), expressions=[num(0.0)])
            ).as_(id_(n), copy=False)
            for n in stat_names
        ),
        copy=False,
    ).from_(id_("terms"), copy=False)
    return [
        ("ev_day", ev_day),
        ("unit_day", unit_day),
        ("cum", cumulative),
        ("state", state),
        ("terms", terms),
        ("deltas", deltas),
    ]
