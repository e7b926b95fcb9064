"""Centred and scaled per-unit values, so sums of squares neither overflow nor cancel.

The textbook one-pass variance ``(Q - S^2/n) / (n - 1)`` from ``S = sum y`` and
``Q = sum y^2`` loses every digit when the values sit far from 0 relative to
their spread (revenue of 1e9 + noise: Q and S^2/n agree in their first 16
digits), and ``y^2`` overflows a DOUBLE above ~1.3e154 (PostgreSQL raises,
DuckDB returns inf) or underflows to 0 below ~1e-162 (a false zero variance).
Chan, Golub & LeVeque (1983, "Algorithms for computing the sample variance:
analysis and recommendations", Am. Stat. 37:242) recommend shifting the data
by a value near the mean before summing; we also scale, so every summed value
lies in [-2, 2]:

    mid = (max + min) / 2,  half = (max - min) / 2   (1 when 0)   over capped y
    m_i = (y_i - mid) / half                           in [-1, 1]
    z_i = m_i - mean(m)                                in [-2, 2], mean 0 overall

(max/2 - min/2 and min/2 + max/2 are formed so nothing overflows.) The query
returns ``sum z`` and ``sum z^2`` per variant together with the frame ``shift =
mid + half * mean(m)`` (the overall mean of y) and ``scale = half``, so that
``y = shift + scale * z``: :class:`~upsell_ab.metrics.sufficient.SampleStats`
keeps them, its mean is ``shift + scale * sum(z)/n`` and its variance
``scale^2 var(z)`` is formed from centred sums (no cancellation). Every variant
shares one frame, so the sums still add across days and segments.

Only plain value metrics (``SampleStats``: mean, count, profit) are framed;
0/1 metrics need no frame, and ratio / CUPED statistics keep raw sums.
"""

from __future__ import annotations

from sqlglot import exp

from upsell_ab.metrics.capping import Channel
from upsell_ab.metrics.sql_layout import MetricSlot, id_, num, qcol
from upsell_ab.metrics.sufficient import SampleStats


def framed(
    channels: tuple[tuple[MetricSlot, Channel], ...],
) -> tuple[tuple[MetricSlot, Channel], ...]:
    """The channels to centre and scale: the value of a plain (non-0/1) SampleStats metric."""
    return tuple(
        (slot, ch)
        for slot, ch in channels
        if slot.stats_class is SampleStats and ch.var == "y" and not ch.indicator
    )


def _name(kind: str, slot: MetricSlot) -> str:
    return f"{kind}{slot.index}"


def frame_ctes(
    channels: tuple[tuple[MetricSlot, Channel], ...], source: str
) -> list[tuple[str, exp.Expr]]:
    """``bounds`` (mid, half per channel) and ``frames`` (+ mean of m, shift) over ``source``."""
    bound_columns: list[exp.Expr] = []
    for slot, ch in channels:
        value = qcol(slot.column(ch.var))
        low = exp.Div(this=exp.Min(this=value), expression=num(2.0))
        high = exp.Div(this=exp.Max(this=value.copy()), expression=num(2.0))
        half = exp.Sub(this=high, expression=low)
        positive = exp.GT(this=half.copy(), expression=num(0.0))
        bound_columns.append(
            exp.Coalesce(
                this=exp.Add(this=low.copy(), expression=high.copy()), expressions=[num(0.0)]
            ).as_(id_(_name("mid", slot)), copy=False)
        )
        bound_columns.append(
            exp.Case(ifs=[exp.If(this=positive, true=half.copy())], default=num(1.0)).as_(
                id_(_name("half", slot)), copy=False
            )
        )
    bounds = exp.select(*bound_columns, copy=False).from_(id_(source), copy=False)
    frame_columns: list[exp.Expr] = []
    for slot, ch in channels:
        mid_column, half_column = qcol(_name("mid", slot)), qcol(_name("half", slot))
        frame_columns += [mid_column, half_column]
        m = exp.Div(
            this=exp.Paren(
                this=exp.Sub(this=qcol(slot.column(ch.var)), expression=mid_column.copy())
            ),
            expression=half_column.copy(),
        )
        centre = exp.Coalesce(this=exp.Avg(this=m), expressions=[num(0.0)])
        frame_columns.append(centre.as_(id_(_name("mbar", slot)), copy=False))
    frames = (
        exp.select(*frame_columns, copy=False)
        .from_(id_(source), copy=False)
        .join(exp.Table(this=id_("bounds")), join_type="CROSS", copy=False)
        .group_by(*(qcol(_name(k, s)) for s, _ in channels for k in ("mid", "half")), copy=False)
    )
    return [("bounds", bounds), ("frames", frames)]


def to_frame(value: exp.Expr, slot: MetricSlot) -> exp.Expr:
    """``(value - mid) / half - mean(m)``: needs the ``frames`` CTE joined in."""
    m = exp.Div(
        this=exp.Paren(this=exp.Sub(this=value, expression=qcol(_name("mid", slot), "frames"))),
        expression=qcol(_name("half", slot), "frames"),
    )
    return exp.Sub(this=m, expression=qcol(_name("mbar", slot), "frames"))


def shift(slot: MetricSlot) -> exp.Expr:
    """``mid + half * mean(m)``: the overall mean of the channel (``y = shift + scale z``)."""
    return exp.Add(
        this=qcol(_name("mid", slot)),
        expression=exp.Mul(this=qcol(_name("half", slot)), expression=qcol(_name("mbar", slot))),
    )


def scale(slot: MetricSlot) -> exp.Expr:
    return qcol(_name("half", slot))
