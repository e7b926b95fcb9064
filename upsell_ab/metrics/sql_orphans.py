"""Which "orphan" events belong to customers of other experiments in the same source.

The experiment query counts as orphans the events of units never exposed to *this*
experiment. In a store shared by several experiments (every store ``simulate`` and
``demo`` write, and a shop's store after a few experiments) most of those are simply the
orders of other experiments' customers, so the orphan share said "check that events and
exposures use the same unit id" on every experiment of the demo. This second, small
query counts the orphan events whose unit IS exposed to another experiment of the
source; they are taken out of the orphan count and of the events' denominator.

It runs only when the first query's orphan share is above the warning threshold
(:data:`upsell_ab.metrics.aggregates.ORPHAN_SHARE`), so the common case pays nothing.
Duplicate event ids count once (``COUNT(DISTINCT eid)`` plus the rows without an id):
the cheapest correct de-duplication for a count (issue 17).
"""

from __future__ import annotations

from sqlglot import exp

from upsell_ab.metrics.capping import Dialect
from upsell_ab.metrics.sql import QueryPlan, _relation, _source_col
from upsell_ab.metrics.sql_layout import string


def orphans_elsewhere_sql(plan: QueryPlan, event_types: tuple[str, ...], dialect: Dialect) -> str:
    """One row, one column: events of ``event_types`` whose unit is exposed to no
    configured variant of this experiment but to some other experiment of the source."""
    exposures, events = plan.source.exposures, plan.source.events

    def exposed(this_experiment: bool) -> exp.Select:
        unit = _source_col(exposures, "unit_id")
        experiment = exp.EQ(
            this=_source_col(exposures, "experiment"), expression=string(plan.experiment_id)
        )
        condition: exp.Expr
        if this_experiment:
            known = exp.In(
                this=_source_col(exposures, "variant"),
                expressions=[string(v) for v in plan.variants],
            )
            condition = exp.and_(experiment, known, copy=False)
        else:
            condition = exp.Not(this=experiment)
        present = exp.Not(this=exp.Is(this=unit.copy(), expression=exp.Null()))
        return (
            exp.select(unit, copy=False)
            .from_(_relation(exposures, dialect), copy=False)
            .where(exp.and_(condition, present, copy=False), copy=False)
        )

    unit = _source_col(events, "unit_id")
    relevant = exp.In(
        this=_source_col(events, "event_type"), expressions=[string(t) for t in event_types]
    )
    outside = exp.Not(this=exp.In(this=unit.copy(), query=exposed(True).subquery(copy=False)))
    elsewhere = exp.In(this=unit.copy(), query=exposed(False).subquery(copy=False))
    count: exp.Expr = exp.Count(this=exp.Star())
    if events.column("event_id") is not None and not plan.unique_event_ids:
        event_id = _source_col(events, "event_id")
        no_id = exp.Is(this=event_id.copy(), expression=exp.Null())
        count = exp.Add(
            this=exp.Count(this=exp.Distinct(expressions=[event_id])),
            expression=exp.Count(
                this=exp.Case(ifs=[exp.If(this=no_id, true=exp.Literal.number(1))])
            ),
        )
    query = (
        exp.select(count.as_("n"), copy=False)
        .from_(_relation(events, dialect), copy=False)
        .where(exp.and_(relevant, outside, elsewhere, copy=False), copy=False)
    )
    return query.sql(dialect=dialect)
