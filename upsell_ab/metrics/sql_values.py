"""Small diagnostic queries, run only after the experiment query failed or found nobody.

``not_finite_sql``: which amounts the metrics add are not finite numbers (inf, -inf,
NaN) in the source.

The experiment query counts them too (``nonfinite`` rows), but an engine may fail on
them first: Spark's ANSI mode raises ``ARITHMETIC_OVERFLOW`` while scaling the sums,
DuckDB's exact fixed-point sums cannot cast them. After a failed query this small
query tells the user what is wrong with the data instead of the engine's overflow
message, and saves DuckDB the single-threaded floating-point re-run that would only end
in the same refusal. Counted over every row of the metrics' event types (a repeated
event id counts each time: it is a count of bad rows, not of events).

``event_types_sql``: when one of the metrics' event types has no row at all (a
``upsell_purchse`` in metrics.yaml, complaints never ingested), which types the events
do hold, for a did-you-mean.

``covariates_not_finite_sql``: when a CUPED metric's covariate sums come back inf or
NaN, whether the exposures' covariate column (``cuped.column``) holds such values
(rather than finite values too large to square).

``exposure_ids_sql``: when the experiment has no unit at all, which experiment ids the
exposures do hold, with how many rows and how many of them name a variant: the app may
log ``cake-wording`` for the spec's ``cake_wording``, or send no variant (a script's
``assign_many`` without the targeting attributes returns None for everyone).

``unit_id_samples_sql``: when not one of the metrics' events belongs to a unit of the
experiment, the smallest few unit ids of each side as text (``8`` against ``C000008``).

``near_miss_units_sql``: when many events belong to no exposed unit, how many of them
name a unit of the experiment once case, blanks at either end and leading zeros are
ignored (``'C12 '`` or ``'c12'`` or ``'0012'`` for ``'C12'`` / ``'12'``), per arm of
that unit, with one example pair: an export that changed the ids' format (a trailing
blank, upper case, a spreadsheet that dropped leading zeros) drops those events from
their arm silently, and if it hit one arm only, that arm reads far worse.

``lookalike_events_sql``: per arm, the events of types that equal a metric's type only in
another spelling (``Upsell_Purchase`` for ``upsell_purchase``): one app or export that
writes the type otherwise drops that arm's conversions without a word.

``repeated_events_sql``: per arm and event type, how many events repeat the one before
(same unit, type and amount, within :data:`REPEAT_WITHIN` seconds): a tracker that fires
twice in one variant's page doubles that arm's revenue, and without event ids nothing
else drops the copy.
"""

from __future__ import annotations

from datetime import timedelta

from sqlglot import exp

from upsell_ab.events.sources import Relation
from upsell_ab.metrics.capping import Dialect, _shift
from upsell_ab.metrics.sql import QueryPlan, _relation, _source_col
from upsell_ab.metrics.sql_exact import not_finite
from upsell_ab.metrics.sql_layout import id_, qcol, string


def _count_not_finite(column: exp.Expr, alias: str) -> exp.Expr:
    """``COUNT(CASE WHEN |CAST(column AS DOUBLE)| > largest double THEN 1 END) AS alias``."""
    bad = not_finite(exp.cast(column, "DOUBLE"))
    return exp.Count(this=exp.Case(ifs=[exp.If(this=bad, true=exp.Literal.number(1))])).as_(
        id_(alias), copy=False
    )


def not_finite_sql(
    plan: QueryPlan, columns: tuple[str, ...], event_types: tuple[str, ...], dialect: Dialect
) -> str:
    """One row: per canonical event column in ``columns`` (``value``, ``discount``,
    ``quantity``), how many rows of ``event_types`` hold inf or NaN in it."""
    events = plan.source.events
    counts = [_count_not_finite(_source_col(events, column), column) for column in columns]
    relevant = exp.In(
        this=_source_col(events, "event_type"), expressions=[string(t) for t in event_types]
    )
    query = (
        exp.select(*counts, copy=False)
        .from_(_relation(events, dialect), copy=False)
        .where(relevant, copy=False)
    )
    return query.sql(dialect=dialect)


MOST_FREQUENT = 50
"""The most frequent experiment ids (event types) read back: enough for a look-alike."""


def _most_frequent(relation: Relation, canonical: str, dialect: Dialect, *extra: exp.Expr) -> str:
    """Rows (value of ``canonical``, rows, ``extra`` aggregates) of ``relation``, the
    most frequent values first (ties by value), at most :data:`MOST_FREQUENT`."""
    column = _source_col(relation, canonical)
    query = (
        exp.select(
            column.as_(id_("value"), copy=False),
            exp.Count(this=exp.Star()).as_(id_("n"), copy=False),
            *extra,
            copy=False,
        )
        .from_(_relation(relation, dialect), copy=False)
        .group_by(column.copy(), copy=False)
        .order_by(exp.Ordered(this=id_("n"), desc=True), exp.Ordered(this=id_("value")))
        .limit(MOST_FREQUENT, copy=False)
    )
    return query.sql(dialect=dialect)


def exposure_ids_sql(plan: QueryPlan, dialect: Dialect) -> str:
    """Rows (experiment, rows, rows with a variant), the most frequent ids first."""
    exposures = plan.source.exposures
    named = exp.Count(this=_source_col(exposures, "variant")).as_(id_("named"), copy=False)
    return _most_frequent(exposures, "experiment", dialect, named)


def event_types_sql(plan: QueryPlan, dialect: Dialect) -> str:
    """Rows (event type, rows), the most frequent types first."""
    return _most_frequent(plan.source.events, "event_type", dialect)


def covariates_not_finite_sql(plan: QueryPlan, columns: tuple[str, ...], dialect: Dialect) -> str:
    """One row: per exposure covariate column (``cuped.column``), how many exposure rows
    of the experiment hold inf or NaN in it."""
    exposures = plan.source.exposures
    counts = [
        _count_not_finite(exp.column(name, quoted=True), f"c{index}")
        for index, name in enumerate(columns)
    ]
    ours = exp.EQ(this=_source_col(exposures, "experiment"), expression=string(plan.experiment_id))
    query = (
        exp.select(*counts, copy=False)
        .from_(_relation(exposures, dialect), copy=False)
        .where(ours, copy=False)
    )
    return query.sql(dialect=dialect)


UNIT_ID_SAMPLES = 5
"""Unit ids shown from each side when no event belongs to an exposed unit."""


def unit_id_samples_sql(plan: QueryPlan, event_types: tuple[str, ...], dialect: Dialect) -> str:
    """Rows (side, unit id as text): the :data:`UNIT_ID_SAMPLES` smallest distinct unit ids
    of the experiment's exposures (``side`` 0) and of the metrics' events (``side`` 1)."""
    exposures, events = plan.source.exposures, plan.source.events
    ours = exp.EQ(this=_source_col(exposures, "experiment"), expression=string(plan.experiment_id))
    relevant = exp.In(
        this=_source_col(events, "event_type"), expressions=[string(t) for t in event_types]
    )
    sides = []
    for side, (relation, condition) in enumerate(((exposures, ours), (events, relevant))):
        unit = exp.cast(_source_col(relation, "unit_id"), "VARCHAR")
        present = exp.Not(this=exp.Is(this=unit.copy(), expression=exp.Null()))
        ids = (
            exp.select(unit.as_(id_("u"), copy=False), copy=False)
            .distinct()
            .from_(_relation(relation, dialect), copy=False)
            .where(exp.and_(condition, present, copy=False), copy=False)
            .order_by(exp.Ordered(this=id_("u")))
            .limit(UNIT_ID_SAMPLES, copy=False)
        )
        sides.append(
            exp.select(exp.Literal.number(side).as_(id_("side"), copy=False), id_("u")).from_(
                ids.subquery(id_(f"s{side}"), copy=False), copy=False
            )
        )
    return exp.union(sides[0], sides[1], distinct=False).sql(dialect=dialect)


NEAR_MISS_SEPARATOR = chr(31)
"""Joins the example pair (event's id, exposure's id) into one text aggregate."""


def _normalised(unit: exp.Expr) -> exp.Expr:
    """The id as text in lower case, without blanks at either end or leading zeros. Only
    an id that sorts below '1' (a leading blank or zero) or ends in a blank is trimmed:
    ``TRIM`` costs more than the comparisons (10M ids: ~0.7 s for ``TRIM`` alone)."""
    text = exp.cast(unit, "VARCHAR")
    trimmed = exp.Trim(
        this=exp.Trim(this=text.copy()),
        position="LEADING",
        expression=exp.Literal.string("0"),
    )
    edge = exp.or_(
        exp.LT(this=text.copy(), expression=exp.Literal.string("1")),
        exp.Like(this=text.copy(), expression=exp.Literal.string("% ")),
        copy=False,
    )
    return exp.Lower(this=exp.Case(ifs=[exp.If(this=edge, true=trimmed)], default=text), copy=False)


def _exposed_condition(plan: QueryPlan, *extra: exp.Expr) -> exp.Expr:
    """An exposure row of the experiment's units: this experiment, a configured variant,
    a unit id (and ``extra``)."""
    exposures = plan.source.exposures
    return exp.and_(
        exp.EQ(this=_source_col(exposures, "experiment"), expression=string(plan.experiment_id)),
        exp.In(
            this=_source_col(exposures, "variant"), expressions=[string(v) for v in plan.variants]
        ),
        exp.Not(this=exp.Is(this=_source_col(exposures, "unit_id"), expression=exp.Null())),
        *extra,
        copy=False,
    )


def near_miss_units_sql(plan: QueryPlan, event_types: tuple[str, ...], dialect: Dialect) -> str:
    """Rows (variant, event rows, example): the events of ``event_types`` whose unit is
    not an exposed unit of the experiment (configured variants) but whose normalised id
    (:func:`_normalised`) is one's, grouped by that unit's variant. The example is the
    smallest ``event id || U+001F || exposure id`` of the arm. Rows are counted as the
    source holds them (a repeated event id counts each time: a diagnostic count).

    Cost: finding the orphans is an anti-join of the events against the exposed units
    (the main query's join again), so this runs only above
    :data:`~upsell_ab.metrics.aggregates.NEAR_MISS_CHECK_SHARE` of orphans; the
    exposures' ids are normalised in one pass to keep those whose key is an orphan's (a
    semi-join on a small set)."""
    exposures, events = plan.source.exposures, plan.source.events

    def exposed() -> exp.Select:
        unit = _source_col(exposures, "unit_id")
        ours = _exposed_condition(plan)
        return (
            exp.select(
                unit.as_(id_("u"), copy=False),
                _source_col(exposures, "variant").as_(id_("v"), copy=False),
                copy=False,
            )
            .from_(_relation(exposures, dialect), copy=False)
            .where(ours, copy=False)
        )

    event_unit = _source_col(events, "unit_id")
    orphans = (
        exp.select(event_unit.as_(id_("u"), copy=False), copy=False)
        .from_(_relation(events, dialect), copy=False)
        .where(
            exp.and_(
                exp.In(
                    this=_source_col(events, "event_type"),
                    expressions=[string(t) for t in event_types],
                ),
                exp.Not(this=exp.Is(this=event_unit.copy(), expression=exp.Null())),
                exp.Not(
                    this=exp.In(
                        this=event_unit.copy(),
                        query=exp.select("u").from_(exposed().subquery(id_("x1"))).subquery(),
                    )
                ),
                copy=False,
            ),
            copy=False,
        )
    )
    # the orphans are read twice (their keys, then the join): computed once where the
    # dialect can say so (Spark SQL has no MATERIALIZED; it may evaluate them twice)
    orphan_keys = (
        exp.select(_normalised(exp.column("u")).as_(id_("k"), copy=False), copy=False)
        .from_(id_("orphans"), copy=False)
        .subquery(copy=False)
    )
    keys = (
        exp.select(
            _normalised(exp.column("u")).as_(id_("k"), copy=False),
            exp.Min(this=exp.cast(exp.column("u"), "VARCHAR")).as_(id_("u"), copy=False),
            exp.Min(this=exp.column("v")).as_(id_("v"), copy=False),
            copy=False,
        )
        .from_(exposed().subquery(id_("x2"), copy=False), copy=False)
        .where(exp.In(this=_normalised(exp.column("u")), query=orphan_keys), copy=False)
        .group_by(_normalised(exp.column("u")), copy=False)
    )
    pair = exp.DPipe(
        this=exp.DPipe(
            this=exp.cast(exp.column("u", "o"), "VARCHAR"),
            expression=exp.func("CHR", exp.Literal.number(31)),
            safe=True,
        ),
        expression=exp.column("u", "n"),
        safe=True,
    )
    query = (
        exp.select(
            exp.column("v", "n").as_(id_("v"), copy=False),
            exp.Count(this=exp.Star()).as_(id_("rows"), copy=False),
            exp.Min(this=pair).as_(id_("example"), copy=False),
            copy=False,
        )
        .from_(exp.Table(this=id_("orphans"), alias=exp.TableAlias(this=id_("o"))), copy=False)
        .join(
            keys.subquery(id_("n"), copy=False),
            on=exp.EQ(this=_normalised(exp.column("u", "o")), expression=exp.column("k", "n")),
            copy=False,
        )
        .group_by(exp.column("v", "n"), copy=False)
        .order_by(exp.Ordered(this=id_("v")))
        .with_(
            id_("orphans"),
            as_=orphans,
            materialized=True if dialect != "spark" else None,
            copy=False,
        )
    )
    return query.sql(dialect=dialect)


REPEAT_WITHIN = timedelta(seconds=2)
"""An event this soon after the unit's previous event of its type, with the same amount,
is a repeat: a tracker firing twice (a double-bound click handler, a page that reloads on
the confirmation step) sends the copy milliseconds later; two real purchases of one
customer at one price within two seconds are not a thing a shop sees."""


def _sampled(unit: exp.Expr, modulus: int, dialect: Dialect) -> exp.Expr:
    """The unit is in the hash sample (1 in ``modulus``), the same units on both sides:
    the dialect's own hash of the id as text (DuckDB and Spark ``HASH``, PostgreSQL
    ``HASHTEXT``); a multiple of the modulus is 0 modulo it whatever the sign."""
    text = exp.cast(unit, "VARCHAR")
    name = "HASHTEXT" if dialect == "postgres" else "HASH"
    hashed = exp.Anonymous(this=name, expressions=[text])
    return exp.EQ(
        this=exp.Mod(this=hashed, expression=exp.Literal.number(modulus)),
        expression=exp.Literal.number(0),
    )


def repeated_events_sql(
    plan: QueryPlan, event_types: tuple[str, ...], dialect: Dialect, modulus: int = 1
) -> str:
    """Rows (variant, event type, events, repeats, units, units with a repeat) over the
    events of ``event_types`` of
    the experiment's exposed units (configured variants; a unit in two arms under its
    smallest variant id). A repeat has the same unit, type and amount (``value``, NULLs
    alike) as the unit's previous event of that type, at most :data:`REPEAT_WITHIN` later,
    and not both rows carry an event id of the source (ids the source gives are trusted to
    name distinct events: two lines of one order with their own ids are not repeats;
    equal ids are dropped as duplicates by the experiment query anyway).

    ``modulus`` > 1 reads only the units whose id hashes to 0 modulo it (both sides), so
    the window over each unit's events stays small on large sources: the shares, not the
    counts, are what the gate reads. One ``LAG`` window partitioned by (unit, type) and
    ordered by time; ties in time are repeats whichever comes first."""
    exposures, events = plan.source.exposures, plan.source.events
    event_unit = _source_col(events, "unit_id")
    ts = _source_col(events, "timestamp")
    events_where: list[exp.Expr] = [
        exp.In(
            this=_source_col(events, "event_type"), expressions=[string(t) for t in event_types]
        ),
        exp.Not(this=exp.Is(this=event_unit.copy(), expression=exp.Null())),
        exp.Not(this=exp.Is(this=ts.copy(), expression=exp.Null())),
    ]
    sample: list[exp.Expr] = []
    if modulus > 1:
        sample.append(_sampled(_source_col(exposures, "unit_id"), modulus, dialect))
        events_where.append(_sampled(event_unit.copy(), modulus, dialect))
    units = _exposed_arms(plan, dialect, *sample)
    has_ids = events.column("event_id") is not None
    identity: exp.Expr = (
        exp.cast(_source_col(events, "event_id"), "VARCHAR") if has_ids else exp.Null()
    )
    rows = (
        exp.select(
            event_unit.as_(id_("u"), copy=False),
            _source_col(events, "event_type").as_(id_("t"), copy=False),
            ts.as_(id_("ts"), copy=False),
            exp.cast(_source_col(events, "value"), "DOUBLE").as_(id_("val"), copy=False),
            identity.as_(id_("eid"), copy=False),
            copy=False,
        )
        .from_(_relation(events, dialect), copy=False)
        .where(exp.and_(*events_where, copy=False), copy=False)
    )

    def previous(column: str) -> exp.Expr:
        return exp.Window(
            this=exp.Anonymous(this="LAG", expressions=[qcol(column, "e")]),
            partition_by=[qcol("u", "e"), qcol("t", "e")],
            order=exp.Order(expressions=[exp.Ordered(this=qcol("ts", "e"))]),
        )

    lagged = (
        exp.select(
            qcol("u", "e").as_(id_("u"), copy=False),
            qcol("v", "x").as_(id_("v"), copy=False),
            qcol("t", "e").as_(id_("t"), copy=False),
            qcol("ts", "e").as_(id_("ts"), copy=False),
            qcol("val", "e").as_(id_("val"), copy=False),
            qcol("eid", "e").as_(id_("eid"), copy=False),
            previous("ts").as_(id_("pts"), copy=False),
            previous("val").as_(id_("pval"), copy=False),
            previous("eid").as_(id_("peid"), copy=False),
            copy=False,
        )
        .from_(rows.subquery(id_("e"), copy=False), copy=False)
        .join(
            units.subquery(id_("x"), copy=False),
            on=exp.EQ(this=qcol("u", "e"), expression=qcol("u", "x")),
            copy=False,
        )
    )
    repeat = exp.and_(
        exp.Not(this=exp.Is(this=qcol("pts"), expression=exp.Null())),
        exp.LTE(this=qcol("ts"), expression=_shift(qcol("pts"), REPEAT_WITHIN)),
        exp.NullSafeEQ(this=qcol("val"), expression=qcol("pval")),
        exp.Paren(
            this=exp.or_(
                exp.Is(this=qcol("eid"), expression=exp.Null()),
                exp.Is(this=qcol("peid"), expression=exp.Null()),
                copy=False,
            )
        ),
        copy=False,
    )
    query = (
        exp.select(
            qcol("v"),
            qcol("t"),
            exp.Count(this=exp.Star()).as_(id_("n"), copy=False),
            exp.Count(this=exp.Case(ifs=[exp.If(this=repeat, true=exp.Literal.number(1))])).as_(
                id_("r"), copy=False
            ),
            exp.Count(this=exp.Distinct(expressions=[qcol("u")])).as_(id_("nu"), copy=False),
            exp.Count(
                this=exp.Distinct(
                    expressions=[exp.Case(ifs=[exp.If(this=repeat.copy(), true=qcol("u"))])]
                )
            ).as_(id_("ru"), copy=False),
            copy=False,
        )
        .from_(lagged.subquery(id_("l"), copy=False), copy=False)
        .group_by(qcol("v"), qcol("t"), copy=False)
        .order_by(exp.Ordered(this=qcol("v")), exp.Ordered(this=qcol("t")))
    )
    return query.sql(dialect=dialect)


def _exposed_arms(plan: QueryPlan, dialect: Dialect, *extra: exp.Expr) -> exp.Select:
    """(u, v): the experiment's exposed units (configured variants, a unit id) with the
    smallest variant id each was exposed to; ``extra`` conditions on the exposures."""
    exposures = plan.source.exposures
    unit = _source_col(exposures, "unit_id")
    return (
        exp.select(
            unit.as_(id_("u"), copy=False),
            exp.Min(this=_source_col(exposures, "variant")).as_(id_("v"), copy=False),
            copy=False,
        )
        .from_(_relation(exposures, dialect), copy=False)
        .where(_exposed_condition(plan, *extra), copy=False)
        .group_by(unit.copy(), copy=False)
    )


def lookalike_events_sql(plan: QueryPlan, types: tuple[str, ...], dialect: Dialect) -> str:
    """Rows (variant, event type, rows): the events of ``types`` (look-alikes of the
    metrics' types, found in :func:`event_types_sql`'s answer) of the experiment's exposed
    units, per arm (a unit in two arms under its smallest variant id), any time. Rows as
    the source holds them (a diagnostic count)."""
    events = plan.source.events
    event_type = _source_col(events, "event_type")
    rows = (
        exp.select(
            _source_col(events, "unit_id").as_(id_("u"), copy=False),
            event_type.as_(id_("t"), copy=False),
            copy=False,
        )
        .from_(_relation(events, dialect), copy=False)
        .where(exp.In(this=event_type.copy(), expressions=[string(t) for t in types]), copy=False)
    )
    query = (
        exp.select(
            qcol("v", "x"),
            qcol("t", "e"),
            exp.Count(this=exp.Star()).as_(id_("n"), copy=False),
            copy=False,
        )
        .from_(rows.subquery(id_("e"), copy=False), copy=False)
        .join(
            _exposed_arms(plan, dialect).subquery(id_("x"), copy=False),
            on=exp.EQ(this=qcol("u", "e"), expression=qcol("u", "x")),
            copy=False,
        )
        .group_by(qcol("v", "x"), qcol("t", "e"), copy=False)
        .order_by(exp.Ordered(this=qcol("v", "x")), exp.Ordered(this=qcol("t", "e")))
    )
    return query.sql(dialect=dialect)
