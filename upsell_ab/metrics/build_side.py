"""Which side of the per-unit join DuckDB hashes, from two counts of the embedded store.

``per_unit`` is ``units LEFT JOIN kept`` (:mod:`upsell_ab.metrics.sql`): a hash join
builds a table from one side and streams the other through it, and building on the
smaller side costs less. DuckDB chooses the side from its estimated sizes, but it has
no statistic for the number of groups of ``units`` (one row per exposed unit): it
estimates 60k groups for 1M units and 600k for 10M, so it always swaps the join to
hash the units. With 10M units and 6.8M order events that hashes the larger side;
hashing the events instead took ~2.5 CPU-s off ~14 at 10M (stop 25, h20b; no change
at 1M).

From the store two counts are nearly free (a filtered count over one column each,
~10 and ~30 ms at 10M): ``X``, the experiment's exposure rows, which is at least the
number of units ``U``, and ``E``, the rows of the metrics' event types, which is
exactly ``kept`` (the store holds one row per event id; nothing is de-duplicated).

When ``E <= X`` the query runs with DuckDB's swap off, so every join builds on the
side it is written with on its right: the events for ``per_unit``; the units with
events on several days for ``ev_day`` (at most ``E / 2`` of them); one-row tables
for the cross joins. When ``E > X`` the swap stays on, and its low estimate of the
units makes it hash them, then the smaller side (``U <= X < E``).

When it is wrong: ``E <= X`` does not prove ``E <= U`` (units exposed several times);
the table then holds at most ``X / U`` times the units' rows, each narrower than a
unit's. The statistics are the same either way; only the cost differs.

Only the embedded store: a files source would pay a read of the Parquet columns for
the counts (and its ``kept`` is de-duplicated first, which DuckDB already keeps on the
build side as written), and PostgreSQL and Spark plan their joins themselves.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlglot import exp

from upsell_ab.events.sources import Relation
from upsell_ab.metrics.sql import _relation, _source_col
from upsell_ab.metrics.sql_layout import id_, string

if TYPE_CHECKING:
    from upsell_ab.events.engines import DuckDBEngine
    from upsell_ab.metrics.sql import QueryPlan


def side_counts_sql(plan: QueryPlan, event_types: tuple[str, ...]) -> str:
    """One row: ``x`` the exposure rows of the experiment, ``e`` the event rows of
    ``event_types`` (DuckDB)."""
    exposures, events = plan.source.exposures, plan.source.events
    ours = exp.EQ(this=_source_col(exposures, "experiment"), expression=string(plan.experiment_id))
    relevant = exp.In(
        this=_source_col(events, "event_type"), expressions=[string(t) for t in event_types]
    )

    query = exp.select(_count(exposures, ours, "x"), _count(events, relevant, "e"), copy=False)
    return query.sql(dialect="duckdb")


def _count(relation: Relation, condition: exp.Expr, alias: str) -> exp.Expr:
    """``(SELECT COUNT(*) FROM relation WHERE condition) AS alias``."""
    query = (
        exp.select(exp.Count(this=exp.Star()), copy=False)
        .from_(_relation(relation, "duckdb"), copy=False)
        .where(condition, copy=False)
    )
    return exp.Subquery(this=query).as_(id_(alias), copy=False)


def hash_events(exposure_rows: int, event_rows: int) -> bool:
    """Build the per-unit join on the events: there are no more of them than exposure
    rows (an upper bound of the units)."""
    return event_rows <= exposure_rows


def events_build_side(plan: QueryPlan, event_types: tuple[str, ...], engine: DuckDBEngine) -> bool:
    """Whether the experiment query should run with the build sides as written (see the
    module docstring): the two counts, from the store ``engine`` reads."""
    from upsell_ab.errors import StoreError

    try:
        rows = engine.execute(side_counts_sql(plan, event_types))
    except StoreError:
        return False  # the experiment query then fails with its own, better worded error
    exposure_rows, event_rows = rows[0]
    return hash_events(int(exposure_rows), int(event_rows))
