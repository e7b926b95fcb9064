"""Cumulative per-day statistics from the same scan as the totals.

For day D the statistics cover units first exposed on or before D, with
events counted up to the end of D. Every statistic is a sum over units of a
per-unit *term* (y, y^2, y*d, ...) of the unit's *state* (its capped,
0/1-mapped channel values as of that day), so the cumulative series is the
running sum of per-(variant, day) *increments*: each unit adds

* on its first exposure day: one unit (``dn = 1``) and the terms of its
  empty state (window channels 0, covariates already fixed);
* on each day it has in-window events: terms(state after the day) -
  terms(state before it).

Both come from the per-unit and per-(unit, day) aggregates the totals are
computed from (``capped`` and ``ev_day``); nothing rescans the events. Units
with in-window events on ONE day (most of them) take their increment straight
from the per-unit row (state after = the unit's total); only units with
events on several days need their running state, one windowed ``SUM`` per
channel over those units' unit-day rows (``ROWS UNBOUNDED PRECEDING`` for the
state after; the state before is that minus the day's own sum with exact integer
sums, else ``... AND 1 PRECEDING``; one sort), and no ``LAG`` over the terms. The
per-(unit, day) rows carry the unit's variant and fixed channels, so the running
sums need no second join. Channels with the same in-window sum (several metrics on one
order event: revenue, revenue with CUPED, a ratio's numerator; or conversion's event
count and a ratio's denominator) share one ``ev_day`` column and one running sum
(:func:`day_sums`): DuckDB merges identical aggregates inside a ``GROUP BY``, but
computes every identical window function again. Summing the increments per (variant, day) and
cumulating over days in Python gives exactly the cumulative sums (they
telescope). Percentile caps use the cap of the whole period (the same value
every day), so the last day equals the overall statistics. Centred, scaled
channels (:mod:`.sql_frames`) use the frame of the whole period too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlglot import exp

from upsell_ab.metrics.capping import Channel, apply_cap, cap_value, in_window, summand
from upsell_ab.metrics.sql_exact import as_double
from upsell_ab.metrics.sql_frames import to_frame
from upsell_ab.metrics.sql_layout import MetricSlot, id_, num, qcol

State = Callable[[MetricSlot, Channel], exp.Expr]
"""The value of a channel in some state (an expression over the row at hand)."""


@dataclass(frozen=True)
class DaySums:
    """The distinct per-(unit, day) in-window sums behind the window channels."""

    columns: tuple[tuple[tuple[int, str], str], ...]
    """(slot index, channel var) -> the ``ev_day`` column holding its raw sum."""
    distinct: tuple[tuple[str, Channel], ...]
    """Each ``ev_day`` column once, with the first channel summed into it."""

    def column(self, slot: MetricSlot, channel: Channel) -> str:
        return dict(self.columns)[(slot.index, channel.var)]


def day_sums(channels: tuple[tuple[MetricSlot, Channel], ...]) -> DaySums:
    """Window channels grouped by their raw in-window sum: the same event rows (type and
    window) and the same summand give the same sum, whatever the metric makes of it
    afterwards (0/1, cap, frame: applied per channel to the shared sum). The key is the
    SQL of the condition and the summand, so two channels share a column only when the
    query would compute the very same expression for both. Each column is named after
    the first channel summed into it (``m1_y``)."""
    names: dict[tuple[str, str], str] = {}
    columns: list[tuple[tuple[int, str], str]] = []
    distinct: list[tuple[str, Channel]] = []
    for slot, ch in channels:
        if ch.fixed:
            continue
        key = (in_window(ch).sql(), summand(ch).sql())
        if key not in names:
            names[key] = slot.column(ch.var)
            distinct.append((names[key], ch))
        columns.append(((slot.index, ch.var), names[key]))
    return DaySums(tuple(columns), tuple(distinct))


def _day(ts: exp.Expr) -> exp.Expr:
    return exp.cast(ts, "DATE", copy=False)


def unit_state(
    value: exp.Expr, channel: Channel, cap_table: str | None, slot: MetricSlot
) -> exp.Expr:
    """A window channel's per-unit value from its raw sum: 0/1 for indicators, then capped."""
    if channel.indicator:
        value = exp.Case(
            ifs=[exp.If(this=exp.GT(this=value, expression=num(0.0)), true=num(1.0))],
            default=num(0.0),
        )
    cap = cap_value(channel, qcol(slot.cap_column(channel.var), cap_table) if cap_table else None)
    return apply_cap(value, cap)


def terms(
    slots: tuple[MetricSlot, ...],
    channels: tuple[tuple[MetricSlot, Channel], ...],
    state: State,
) -> dict[str, exp.Expr]:
    """Every statistic's per-unit term (``SUM`` of it is the statistic) in ``state``."""
    by_var = {(slot.index, ch.var): (slot, ch) for slot, ch in channels}
    out: dict[str, exp.Expr] = {}
    for slot in slots:
        for field, (a, b) in slot.terms:
            term = state(*by_var[(slot.index, a)])
            if b is not None:
                term = exp.Mul(
                    this=exp.Paren(this=term),
                    expression=exp.Paren(this=state(*by_var[(slot.index, b)])),
                )
            out[slot.stat_column(field)] = term
    return out


def daily_increments(
    slots: tuple[MetricSlot, ...],
    channels: tuple[tuple[MetricSlot, Channel], ...],
    *,
    has_caps: bool,
    framed: tuple[tuple[MetricSlot, Channel], ...] = (),
    exact: bool = False,
    entry: bool = True,
) -> exp.Query:
    """``SELECT v, day, dn, <stat columns>`` of every increment (a UNION ALL of three
    branches); needs ``capped`` (with ``nd``, ``dmax``), ``ev_day``, maybe ``caps`` and,
    for ``framed`` channels, ``frames``. ``exact``: ``ev_day`` holds fixed-point HUGEINT sums
    (:mod:`upsell_ab.metrics.sql_exact`), whose running sums are exact too. ``entry=False``:
    without the first-exposure rows (the caller sums them per day: :func:`entry_terms`)."""
    caps = "caps" if has_caps else None
    frame = _framing(framed)
    start = entry_terms(slots, channels, has_caps=has_caps, framed=framed)

    def final(slot: MetricSlot, ch: Channel) -> exp.Expr:
        return frame(slot, ch, qcol(slot.column(ch.var), "capped"))

    def with_caps(select: exp.Select) -> exp.Select:
        return with_one_row_tables(select, has_caps=has_caps, framed=bool(framed))

    entries = with_caps(
        exp.select(
            qcol("v", "capped"),
            _day(qcol("first_ts", "capped")).as_(id_("day"), copy=False),
            exp.Literal.number(1).as_(id_("dn"), copy=False),
            *(value.copy().as_(id_(name), copy=False) for name, value in start.items()),
            copy=False,
        ).from_(id_("capped"), copy=False)
    )
    end = terms(slots, channels, final)
    single = with_caps(
        exp.select(
            qcol("v", "capped"),
            qcol("dmax", "capped").as_(id_("day"), copy=False),
            exp.Literal.number(0).as_(id_("dn"), copy=False),
            *(
                exp.Sub(this=end[name], expression=exp.Paren(this=start[name].copy())).as_(
                    id_(name), copy=False
                )
                for name in start
            ),
            copy=False,
        )
        .from_(id_("capped"), copy=False)
        .where(exp.EQ(this=qcol("nd", "capped"), expression=exp.Literal.number(1)), copy=False)
    )
    multi = _multi_day(slots, channels, caps, framed, exact, day_sums(channels))
    if not entry:
        return exp.union(single, multi, distinct=False, copy=False)
    return exp.union(
        exp.union(entries, single, distinct=False, copy=False),
        multi,
        distinct=False,
        copy=False,
    )


def entry_terms(
    slots: tuple[MetricSlot, ...],
    channels: tuple[tuple[MetricSlot, Channel], ...],
    *,
    has_caps: bool,
    framed: tuple[tuple[MetricSlot, Channel], ...] = (),
) -> dict[str, exp.Expr]:
    """Every statistic's term of a unit's empty state (its first-exposure increment):
    window channels 0 (capped, framed), fixed channels the unit's value in ``capped``.
    A term reading no ``capped`` column is the same for every unit (:func:`per_unit_term`)."""
    caps = "caps" if has_caps else None
    frame = _framing(framed)

    def empty(slot: MetricSlot, ch: Channel) -> exp.Expr:
        if ch.fixed:
            return qcol(slot.column(ch.var), "capped")
        return frame(slot, ch, unit_state(num(0.0), ch, caps, slot))

    return terms(slots, channels, empty)


def per_unit_term(term: exp.Expr) -> bool:
    """The term reads a unit's own value (a ``capped`` column), not only constants and the
    one-row ``caps``/``frames``."""
    return any(column.table == "capped" for column in term.find_all(exp.Column))


def with_one_row_tables(select: exp.Select, *, has_caps: bool, framed: bool) -> exp.Select:
    """``select`` with the one-row ``caps`` and ``frames`` cross-joined in when needed."""
    if has_caps:
        select = select.join(exp.Table(this=id_("caps")), join_type="CROSS", copy=False)
    if framed:
        select = select.join(exp.Table(this=id_("frames")), join_type="CROSS", copy=False)
    return select


Framing = Callable[[MetricSlot, Channel, exp.Expr], exp.Expr]


def _framing(framed: tuple[tuple[MetricSlot, Channel], ...]) -> Framing:
    """``value`` in its channel's frame (centred and scaled) when the channel is framed."""
    keys = {(slot.index, ch.var) for slot, ch in framed}

    def frame(slot: MetricSlot, ch: Channel, value: exp.Expr) -> exp.Expr:
        return to_frame(value, slot) if (slot.index, ch.var) in keys else value

    return frame


def _multi_day(
    slots: tuple[MetricSlot, ...],
    channels: tuple[tuple[MetricSlot, Channel], ...],
    caps: str | None,
    framed: tuple[tuple[MetricSlot, Channel], ...],
    exact: bool,
    sums: DaySums,
) -> exp.Select:
    """Increments of units with in-window events on several days, from their running sums
    (exact fixed-point running sums when ``exact``, read back as DOUBLE): one running sum
    per distinct ``ev_day`` column, read by every channel summed into it."""
    order = exp.Order(expressions=[exp.Ordered(this=qcol("day", "e"))])

    def running(name: str, end: str, end_side: str | None) -> exp.Expr:
        spec = exp.WindowSpec(
            kind="ROWS", start="UNBOUNDED", start_side="PRECEDING", end=end, end_side=end_side
        )
        return exp.Window(
            this=exp.Sum(this=qcol(name, "e")),
            partition_by=[qcol("u", "e")],
            order=order.copy(),
            spec=spec,
        )

    columns: list[exp.Expr] = [qcol("v", "e"), qcol("day", "e")]
    for slot, ch in channels:
        if ch.fixed:
            name = slot.column(ch.var)
            columns.append(qcol(name, "e").as_(id_(name), copy=False))
    for name, _ in sums.distinct:
        running_sum = running(name, "CURRENT ROW", None)
        columns.append(running_sum.as_(id_(f"{name}_after"), copy=False))
        previous: exp.Expr
        if exact:
            # exact integers: the state before the day is the state after it minus the
            # day's own sum (one running sum per channel instead of two)
            previous = exp.Sub(this=running_sum.copy(), expression=qcol(name, "e"))
        else:
            previous = running(name, "1", "PRECEDING")
        columns.append(previous.as_(id_(f"{name}_before"), copy=False))
    states = exp.select(*columns, copy=False).from_(
        exp.Table(this=id_("ev_day"), alias=exp.TableAlias(this=id_("e"))), copy=False
    )

    frame = _framing(framed)

    def at(suffix: str) -> State:
        def state(slot: MetricSlot, ch: Channel) -> exp.Expr:
            if ch.fixed:
                return qcol(slot.column(ch.var), "s")
            running: exp.Expr = qcol(f"{sums.column(slot, ch)}_{suffix}", "s")
            if exact:
                running = as_double(running)
            raw = exp.Coalesce(this=running, expressions=[num(0.0)])
            return frame(slot, ch, unit_state(raw, ch, caps, slot))

        return state

    after, before = terms(slots, channels, at("after")), terms(slots, channels, at("before"))
    select = exp.select(
        qcol("v", "s"),
        qcol("day", "s"),
        exp.Literal.number(0).as_(id_("dn"), copy=False),
        *(
            exp.Sub(this=after[name], expression=exp.Paren(this=before[name])).as_(
                id_(name), copy=False
            )
            for name in after
        ),
        copy=False,
    ).from_(states.subquery(id_("s"), copy=False), copy=False)
    if caps:
        select = select.join(exp.Table(this=id_("caps")), join_type="CROSS", copy=False)
    if framed:
        select = select.join(exp.Table(this=id_("frames")), join_type="CROSS", copy=False)
    return select
