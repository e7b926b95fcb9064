"""Which amounts the metrics add are not finite numbers (inf, -inf, NaN) in the source.

The experiment query counts them too (``nonfinite`` rows), but an engine may fail on
them first: Spark's ANSI mode raises ``ARITHMETIC_OVERFLOW`` while scaling the sums,
DuckDB's exact fixed-point sums cannot cast them. After a failed query this small
query tells the user what is wrong with the data instead of the engine's overflow
message, and saves DuckDB the single-threaded floating-point re-run that would only end
in the same refusal. Counted over every row of the metrics' event types (a repeated
event id counts each time: it is a count of bad rows, not of events).
"""

from __future__ import annotations

from sqlglot import exp

from upsell_ab.metrics.capping import Dialect
from upsell_ab.metrics.sql import QueryPlan, _relation, _source_col
from upsell_ab.metrics.sql_exact import not_finite
from upsell_ab.metrics.sql_layout import id_, string


def not_finite_sql(
    plan: QueryPlan, columns: tuple[str, ...], event_types: tuple[str, ...], dialect: Dialect
) -> str:
    """One row: per canonical event column in ``columns`` (``value``, ``discount``,
    ``quantity``), how many rows of ``event_types`` hold inf or NaN in it."""
    events = plan.source.events
    counts = [
        exp.Count(
            this=exp.Case(
                ifs=[
                    exp.If(
                        this=not_finite(exp.cast(_source_col(events, column), "DOUBLE")),
                        true=exp.Literal.number(1),
                    )
                ]
            )
        ).as_(id_(column), copy=False)
        for column in columns
    ]
    relevant = exp.In(
        this=_source_col(events, "event_type"), expressions=[string(t) for t in event_types]
    )
    query = (
        exp.select(*counts, copy=False)
        .from_(_relation(events, dialect), copy=False)
        .where(relevant, copy=False)
    )
    return query.sql(dialect=dialect)
