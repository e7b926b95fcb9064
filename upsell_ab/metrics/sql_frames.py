"""Centred and scaled per-unit values, so sums of squares neither overflow nor cancel.

The textbook one-pass variance ``(Q - S^2/n) / (n - 1)`` from ``S = sum y`` and
``Q = sum y^2`` loses every digit when the values sit far from 0 relative to
their spread (revenue of 1e9 + noise: Q and S^2/n agree in their first 16
digits), and ``y^2`` overflows a DOUBLE above ~1.3e154 (PostgreSQL raises,
DuckDB returns inf) or underflows to 0 below ~1e-162 (a false zero variance).
Chan, Golub & LeVeque (1983, "Algorithms for computing the sample variance:
analysis and recommendations", Am. Stat. 37:242) recommend shifting the data
by a value near the data before summing; we shift to the point of the data's
range nearest 0 and scale by a power of two, so every summed value is small:

    mid  = 0 if min <= 0 <= max, else min (all positive) or max (all negative)
    half = 2^floor(log2(max/2 - min/2))        a power of two (1 when max = min)
    z_i  = (y_i - mid) / half                  in [-4, 4]

Data far from 0 relative to their spread (revenue of 1e9 + noise) are then
summed as offsets from their minimum, with no cancellation; data whose range
holds 0 (sparse revenue: most customers 0) keep their raw sums, only scaled.
The power of two and an exact shift keep z exact for values on a coarse grid
(prices, counts), so the sums do not depend on the order in which an engine
adds them. The query returns ``sum z`` and ``sum z^2`` per variant with the
frame ``shift = mid`` and ``scale = half``, so that ``y = shift + scale * z``:
:class:`~upsell_ab.metrics.sufficient.SampleStats` keeps them, its mean is
``shift + scale * sum(z)/n`` and its variance ``scale^2 var(z)`` is formed from
the offsets' sums. Every variant shares one frame, so the sums still add
across days and segments.

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
    """``frames``: per channel ``mid`` and ``half`` (a power of two) over ``source``."""
    columns: list[exp.Expr] = []
    for slot, ch in channels:
        value = qcol(slot.column(ch.var))
        low = exp.Div(this=exp.Min(this=value), expression=num(2.0))
        high = exp.Div(this=exp.Max(this=value.copy()), expression=num(2.0))
        spread = exp.Sub(this=high, expression=low)
        positive = exp.GT(this=spread.copy(), expression=num(0.0))
        exponent = exp.Floor(
            this=exp.Div(this=exp.Ln(this=spread.copy()), expression=exp.Ln(this=num(2.0)))
        )
        power = exp.Pow(this=num(2.0), expression=exponent)
        # the point of [min, max] nearest 0: 0 when the range holds it (sparse revenue
        # keeps its exact raw sums), else the end nearest 0 (1e9 + noise -> the minimum)
        nearest = exp.Case(
            ifs=[
                exp.If(
                    this=exp.GT(this=exp.Min(this=value.copy()), expression=num(0.0)),
                    true=exp.Min(this=value.copy()),
                ),
                exp.If(
                    this=exp.LT(this=exp.Max(this=value.copy()), expression=num(0.0)),
                    true=exp.Max(this=value.copy()),
                ),
            ],
            default=num(0.0),
        )
        columns.append(nearest.as_(id_(_name("mid", slot)), copy=False))
        columns.append(
            exp.Case(ifs=[exp.If(this=positive, true=power)], default=num(1.0)).as_(
                id_(_name("half", slot)), copy=False
            )
        )
    return [("frames", exp.select(*columns, copy=False).from_(id_(source), copy=False))]


def to_frame(value: exp.Expr, slot: MetricSlot) -> exp.Expr:
    """``(value - mid) / half``: needs the ``frames`` CTE joined in."""
    return exp.Div(
        this=exp.Paren(this=exp.Sub(this=value, expression=qcol(_name("mid", slot), "frames"))),
        expression=qcol(_name("half", slot), "frames"),
    )


def shift(slot: MetricSlot) -> exp.Expr:
    """``mid``: the shift of the channel's values (``y = shift + scale z``)."""
    return qcol(_name("mid", slot))


def scale(slot: MetricSlot) -> exp.Expr:
    return qcol(_name("half", slot))
