"""Exact, order-independent sums, so DuckDB can aggregate on every core and two runs
(on any number of threads) still give byte-identical reports.

Floating-point addition is not associative: DuckDB's parallel hash aggregates add
per-thread partial sums in whatever order the threads finish, so the same data gave
sums differing in the last bits between runs (and reports differing in the 13th digit;
DuckDB's maintainers: "floating point summation is not associative", duckdb#4270,
duckdb-web#5710). Integer addition is associative, so every sum of the DuckDB query is
taken over integers and the order of the additions cannot matter:

1. **Event values** (value, discount, quantity, profit's ``value * margin - discount``)
   are summed per unit and per (unit, day) as binary fixed point: ``value * 2^60``
   rounded to a 128-bit integer (HUGEINT), which DuckDB adds exactly. Each value is
   rounded once to a multiple of 2^-60 (8.7e-19, far below any currency's or
   quantity's resolution); a value or a unit's sum must stay below 2^67 (1.5e20) in
   magnitude, and every non-zero value at least 2^-20 (about 1e-6), so that it keeps
   40 significant bits (relative rounding below 1e-12). The query reports the
   smallest non-zero magnitude of each summed column (``kind = 'fine'`` rows) to check
   that. (``DECIMAL(38, 18)`` would do the same in base 10, but converting its sums
   back to DOUBLE doubled the cost of the per-unit step; a power of two is exact and
   free.)
2. **Per-unit terms** (y, y^2, x*y, daily increments ...) are summed per variant,
   segment, allocation period and day as 128-bit integers in units of a per-statistic
   *quantum* ``q = 2^(floor(log2 M) - 62)``, where ``M = max |term|`` over the units
   (a MAX is exact, so ``q`` does not depend on the order either). Each term is
   rounded to the nearest multiple of ``q`` (error at most ``2^-63 M``, below the
   rounding of one DOUBLE addition), the integer sum is exact, and it is converted to
   DOUBLE once and multiplied by ``q`` (a power of two: exact). A term uses fewer than
   2^63 units (so it is cast to a BIGINT, cheaper than a HUGEINT; DuckDB adds BIGINTs
   into a 128-bit sum), so the sum of up to 2^64 units cannot overflow; the per-day
   increments reuse the totals' quantum, cast to HUGEINT where an empty or running
   state can lie outside the final range (a centred frame, a sum lowered by a refund;
   a running state larger than 2^40 times the largest final one would overflow) and
   to BIGINT where it cannot (counts, which only grow, and fixed covariates:
   ``QueryBuilder._bounded``), and are scaled once per (variant, day) after grouping.

**When it does not fit** (a non-finite value, a value or sum beyond the ranges above),
DuckDB raises a conversion or out-of-range error instead of returning a wrong number
(and a value below 2^-20 shows in the ``fine`` rows);
:func:`~upsell_ab.metrics.compute.compute_experiment_data` then re-runs the query with
plain DOUBLE sums on one thread (a fixed order: still deterministic) and says so in the
report's notes (:data:`FALLBACK_NOTE`).

Only the DuckDB dialect uses this; PostgreSQL's NUMERIC and Spark keep their own sums.
"""

from __future__ import annotations

from typing import Any

from sqlglot import exp

from upsell_ab.metrics.sql_layout import cast, id_, num, qcol

EVENT_BITS = 60
"""Fractional bits of the per-unit event sums (128-bit integers of 2^-60)."""
EVENT_SCALE = float(2**EVENT_BITS)
FINEST = 2.0**-20
"""Smallest non-zero event value (magnitude) the fixed point keeps to 1e-12 relative."""
SUMMED_COLUMNS: dict[str, tuple[str, ...]] = {
    "value": ("val",),
    "quantity": ("qty",),
    "discount": ("disc",),
    "profit": ("val", "disc"),
    "count": (),
}
"""The event columns (``kept`` aliases) each summand adds up."""
CANONICAL = {"val": "value", "disc": "discount", "qty": "quantity"}
QUANTUM_BITS = 62
"""A term is at most 2^(QUANTUM_BITS + 1) quanta (``M < 2^(floor(log2 M) + 1)``)."""
LOWEST_EXPONENT = -1012
"""Smallest ``floor(log2 M)`` used: keeps ``q >= 2^-1074`` (the smallest DOUBLE, never 0;
dividing by a power of two stays exact even when it is subnormal)."""
BOUNDS = "bounds"
"""The one-row CTE holding every statistic's quantum."""
FALLBACK_NOTE = (
    "Sums were added in floating point on one thread, because a value did not fit the "
    "exact 128-bit sums (beyond 1e20 or below 1e-6 in magnitude, or not finite: {reason}). "
    "The report is still reproducible; only the parallel speed-up was lost."
)
EXACT_FAILURES = ("Conversion Error", "Out of Range Error", "Overflow")
"""DuckDB error texts that mean 'outside the exact ranges' (not a broken query)."""


def fixed_value(value: exp.Expr) -> exp.Expr:
    """An event's summand in units of 2^-60 as a HUGEINT (exactly summable)."""
    scaled = exp.Mul(this=exp.Paren(this=value), expression=num(EVENT_SCALE))
    return cast(scaled, "HUGEINT")


def exact_sum_if(condition: exp.Expr, value: exp.Expr) -> exp.Expr:
    """``SUM(CASE WHEN condition THEN fixed(value) ELSE 0 END)``: an exact per-unit sum
    (in units of 2^-60; :func:`as_double` reads it back)."""
    zero = cast(exp.Literal.number(0), "HUGEINT")
    return exp.Sum(
        this=exp.Case(ifs=[exp.If(this=condition, true=fixed_value(value))], default=zero)
    )


def finest(condition: exp.Expr, column: exp.Expr) -> exp.Expr:
    """``MIN(|column|)`` over the rows where ``condition`` holds and it is not 0."""
    nonzero = exp.and_(condition, exp.NEQ(this=column, expression=num(0.0)), copy=False)
    return exp.Min(this=exp.Case(ifs=[exp.If(this=nonzero, true=exp.Abs(this=column.copy()))]))


LARGEST_DOUBLE = 1.7976931348623157e308


def not_finite(column: exp.Expr) -> exp.Expr:
    """``|column| > largest double``: true for +-inf and NaN in DuckDB, PostgreSQL and
    Spark SQL alike (all three order NaN above every number), NULL for NULL."""
    return exp.GT(this=exp.Abs(this=column), expression=num(LARGEST_DOUBLE))


def not_finite_counts(rows: list[tuple[Any, ...]], columns: tuple[str, ...]) -> dict[str, int]:
    """Event column (``value``, ``discount``, ``quantity``) -> how many of the counted
    events hold inf or NaN in it (from the query's ``nonfinite`` rows; zeros left out)."""
    index = {name: i for i, name in enumerate(columns)}
    counts: dict[str, int] = {}
    for row in rows:
        if row[index["kind"]] == "nonfinite" and row[index["n"]]:
            counts[CANONICAL[str(row[index["seg_value"]])]] = int(row[index["n"]])
    return counts


def too_fine(rows: list[tuple[Any, ...]], columns: tuple[str, ...]) -> str | None:
    """The event column (``value``, ``discount``, ``quantity``) whose smallest non-zero
    value is below :data:`FINEST` (from the query's ``fine`` rows), or None when the
    fixed-point event sums were exact enough."""
    index = {name: i for i, name in enumerate(columns)}
    for row in rows:
        if row[index["kind"]] != "fine":
            continue
        smallest = row[index["value"]]
        if smallest is not None and float(smallest) < FINEST:
            return CANONICAL[str(row[index["seg_value"]])]
    return None


def as_double(value: exp.Expr) -> exp.Expr:
    """An exact fixed-point sum back as DOUBLE: the integer rounded once to DOUBLE, then
    divided by 2^60 (exact), so the same on every run."""
    return exp.Div(this=cast(value, "DOUBLE"), expression=num(EVENT_SCALE))


def quantum_column(name: str) -> str:
    return f"q_{name}"


def quantum(term: exp.Expr) -> exp.Expr:
    """``2^(floor(log2 max|term|) - 62)`` as an aggregate over the units (1 when all 0)."""
    largest = exp.Max(this=exp.Abs(this=term))
    exponent = exp.Floor(this=exp.Anonymous(this="LOG2", expressions=[largest]))
    bounded = exp.Greatest(this=exponent, expressions=[exp.Literal.number(LOWEST_EXPONENT)])
    power = exp.Pow(
        this=num(2.0),
        expression=exp.Sub(this=bounded, expression=exp.Literal.number(QUANTUM_BITS)),
    )
    positive = exp.GT(this=largest.copy(), expression=num(0.0))
    return exp.Case(ifs=[exp.If(this=positive, true=power)], default=num(1.0))


def bounds_cte(terms: dict[str, exp.Expr], source: str) -> exp.Select:
    """``SELECT <quantum of each statistic> FROM source`` (one row, joined by every sum)."""
    columns = [
        quantum(term.copy()).as_(id_(quantum_column(name)), copy=False)
        for name, term in terms.items()
    ]
    return exp.select(*columns, copy=False).from_(id_(source), copy=False)


def exact_sum(term: exp.Expr, name: str) -> exp.Expr:
    """``CAST(SUM(CAST(term / q AS BIGINT)) AS DOUBLE) * q``: the sum of ``term`` over
    the group, each term rounded to the statistic's quantum (needs ``bounds`` joined).

    A per-unit term is at most ``M``: ``|term / q| < 2^63``, and the largest DOUBLE below
    2^63 is ``2^63 - 2^10``, so the rounded term always fits a BIGINT; DuckDB adds
    BIGINTs into a 128-bit sum (``SUM`` of BIGINT is a HUGEINT), exactly. These are the
    same integers as a cast to HUGEINT (both round half to even), at less cost per unit
    and term."""
    q = qcol(quantum_column(name), BOUNDS)
    return from_quanta(quanta_sum(term, name), exp.Min(this=q))


def quanta_sum(term: exp.Expr, name: str, *, increments: bool = False) -> exp.Expr:
    """``SUM(CAST(term / q AS BIGINT))``: the integer sum in quanta of :func:`exact_sum`
    (for a query that scales it once per group, after grouping). ``increments`` (the
    daily series): a unit's empty state can lie far outside the final values' range (a
    centred frame), so those terms are cast to HUGEINT."""
    return exp.Sum(this=quanta(term, name, increments=increments))


def quanta(term: exp.Expr, name: str, *, increments: bool = False) -> exp.Expr:
    """``CAST(term / q AS BIGINT)`` (HUGEINT for ``increments``): one term in quanta, the
    summand of :func:`quanta_sum`."""
    q = qcol(quantum_column(name), BOUNDS)
    integer = "HUGEINT" if increments else "BIGINT"
    return cast(exp.Div(this=exp.Paren(this=term), expression=q), integer)


def from_quanta(total: exp.Expr, quantum: exp.Expr | str) -> exp.Expr:
    """``CAST(total AS DOUBLE) * q``: an integer sum of quanta as DOUBLE (rounded once;
    ``q`` is a power of two, so the product is exact). ``quantum``: the statistic's name
    (read from ``bounds``) or an expression giving its quantum."""
    q = qcol(quantum_column(quantum), BOUNDS) if isinstance(quantum, str) else quantum
    return exp.Mul(this=cast(total, "DOUBLE"), expression=q)


def with_bounds(select: exp.Select) -> exp.Select:
    """``select`` with the one-row ``bounds`` CTE cross-joined in."""
    return select.join(exp.Table(this=id_(BOUNDS)), join_type="CROSS", copy=False)


def is_exact_failure(message: str) -> bool:
    """The query failed because a value left the exact ranges (worth a DOUBLE re-run)."""
    return any(marker in message for marker in EXACT_FAILURES)


__all__ = [
    "BOUNDS",
    "EVENT_BITS",
    "FALLBACK_NOTE",
    "as_double",
    "bounds_cte",
    "exact_sum",
    "exact_sum_if",
    "finest",
    "fixed_value",
    "from_quanta",
    "is_exact_failure",
    "quanta",
    "quanta_sum",
    "quantum",
    "too_fine",
    "with_bounds",
]
