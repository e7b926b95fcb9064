"""ONE query per experiment, built as a SQLGlot syntax tree and rendered per dialect.

The tree is built once per engine (only the quantile function differs) and
rendered with ``dialect=duckdb|postgres|spark``; hand-written SQL is never
transpiled. Every table and column name from the spec is a *quoted*
identifier; every value (experiment id, variant ids, event types, margins,
caps) is a literal built from a typed Python value, escaped by SQLGlot for
the dialect. Our own aliases (``u``, ``ts``, ``m0_y`` ...) never come from
user text.

Pipeline (CTEs):

1. ``xp``: exposure rows of the experiment naming a configured variant;
   ``units``: per unit, first exposure time and its variant's index in the spec
   (NULL when exposed to several variants: excluded and counted; ``per_unit``
   reads the name back). Rows naming other
   variants are counted per variant (distinct units) in their own branch.
2. ``kept``: events of the metrics' types. When the source may hold several
   rows per ``event_id`` (not the embedded store, whose ingest keeps one),
   ``rn`` numbers the rows of each id (``kept`` is then materialised; the first by
   timestamp, unit, type, value, discount, quantity, NULLs last); rows after the
   first are duplicates, counted in ``totals`` and left out of the join below.
   From the store ``kept`` is a filtered scan, read where needed, never buffered.
3. ``per_unit``: units LEFT JOIN their (fresh) events, grouped by unit: ONE join
   and ONE aggregation, like a hand-written query. Every metric channel as
   ``SUM(CASE WHEN <type, start <= ts - first_ts < end> THEN v ELSE 0 END)`` (a
   ``COUNT`` for counts), 0/1 for proportions, the before-exposure / outside-window
   counts and the events ``matched``; with ``daily`` also the unit's number of
   in-window event days and the last one (see :mod:`upsell_ab.metrics.sql_daily`).
   ``totals``: the events alone (no join): events, duplicates, events per type;
   orphans are ``events`` minus the events matched to a unit.
4. ``caps`` (percentile caps) and ``capped`` (eligible units, ``min(y, cap)``
   before squaring).
5. Result: UNION ALL of typed rows: per variant (and per segment) sums of
   the sufficient statistics, quality counts, and with ``daily`` the per-day
   *increments* of every statistic from ``capped`` and ``ev_day`` (cumulated
   in Python), so the totals and the series come from one scan of the events.

Time arithmetic is ``ts >= first_ts + INTERVAL 'n' SECOND`` which SQLGlot
renders for each engine; it was checked on real DuckDB, PostgreSQL and Spark.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlglot import exp

from upsell_ab.assignment.switchback import SlotClock
from upsell_ab.events.sources import Relation, SourceTables
from upsell_ab.metrics.capping import (
    Channel,
    Dialect,
    _shift,
    apply_cap,
    cap_value,
    count_where,
    eligible,
    in_window,
    metric_channels,
    quantile,
    sum_if,
    summand,
)
from upsell_ab.metrics.periods import AllocationWindow
from upsell_ab.metrics.sql_daily import (
    daily_increments,
    day_sums,
    entry_terms,
    per_unit_term,
    with_one_row_tables,
)
from upsell_ab.metrics.sql_exact import (
    BOUNDS,
    SUMMED_COLUMNS,
    as_double,
    bounds_cte,
    exact_sum,
    exact_sum_if,
    finest,
    from_quanta,
    not_finite,
    quanta,
    quanta_sum,
    with_bounds,
)
from upsell_ab.metrics.sql_frames import frame_ctes, framed, scale, shift, to_frame
from upsell_ab.metrics.sql_layout import (
    OUTPUT_COLUMNS,
    MetricSlot,
    RowFactory,
    build_slots,
    cast,
    id_,
    num,
    qcol,
    string,
)
from upsell_ab.metrics.sql_sparse import (
    UNIT_COUNTS,
    ZERO_ROW,
    ZERO_UNITS,
    empty_terms,
    plus_empty,
    unit_counts,
    with_zero_row,
    zero_row,
    zero_units,
)
from upsell_ab.spec.models import Constant, MetricDefinition

MEASURED = {"value": "val", "profit": "val", "discount": "disc", "quantity": "qty"}
"""Summand -> the event column it measures (profit's revenue part is the value)."""
CLOCK_SLIP = timedelta(hours=14)
"""The largest offset a time-zone mistake can put between two clocks (UTC-12 to UTC+14):
events this close before a unit's first exposure count as ``near`` (the time-zone check)."""
SAME_SESSION = timedelta(minutes=30)
"""Events less than this before the first exposure are not ``near``: the order a
post-purchase offer follows is seconds before it, legitimately, and no time-zone offset
between two clocks is under half an hour."""

MATERIALIZING = frozenset({"duckdb", "postgres"})
"""Dialects that accept ``WITH x AS MATERIALIZED`` (computed once, reused)."""


@dataclass(frozen=True)
class QueryPlan:
    """Everything the query depends on (no engine, no connection)."""

    experiment_id: str
    variants: tuple[str, ...]
    metrics: tuple[tuple[str, MetricDefinition], ...]
    source: SourceTables
    segments: tuple[str, ...] = ()
    daily: bool = False
    unique_event_ids: bool = False
    """The source guarantees one row per event id (the embedded store, whose ingest is
    idempotent by event id): no de-duplication in the query."""
    start: date | None = None
    """Exposures before this day (UTC) are excluded and counted (``undated`` rows)."""
    end: date | None = None
    """Exposures after this day (inclusive end) are excluded and counted."""
    allocation: tuple[AllocationWindow, ...] = ()
    """Allocation windows of an adaptive experiment: adds per-(variant, period) rows
    (:mod:`upsell_ab.metrics.sql_periods`)."""
    exact_sums: bool = True
    """DuckDB: every sum over integers (:mod:`upsell_ab.metrics.sql_exact`), so the
    result does not depend on the number of threads; False: plain DOUBLE sums (the
    fallback, run on one thread)."""
    switchback: SlotClock | None = None
    """The slot clock of a switchback spec: adds per-(variant, slot) rows after the
    burn-in (:mod:`upsell_ab.metrics.sql_slots`)."""
    sparse_units: bool = True
    """DuckDB with exact sums: group only the units with events and add the others from
    their counts (:mod:`upsell_ab.metrics.sql_sparse`; the same numbers, bit for bit).
    False: every unit its own group (the dense plan, kept to test the sparse one)."""
    forced_units: tuple[str, ...] = ()
    """Unit ids the spec's QA ``overrides`` force into a variant: their exposures are left
    out (the variant was chosen, not randomised, and QA orders are not customers';
    GrowthBook's SDKs do not track forced variations either)."""


def _relation(relation: Relation, dialect: Dialect) -> exp.Expr:
    if relation.path is not None:
        if dialect != "duckdb":
            from upsell_ab.errors import StoreError

            raise StoreError(f"files ({relation.path}) are read in place by DuckDB only")
        reader = "READ_PARQUET" if relation.format == "parquet" else "READ_CSV"
        return exp.Table(this=exp.Anonymous(this=reader, expressions=[string(relation.path)]))
    assert relation.table is not None
    return exp.Table(this=id_(relation.table), db=id_(relation.schema) if relation.schema else None)


def _source_col(relation: Relation, canonical: str) -> exp.Expr:
    """The source column (a quoted identifier), or a typed literal for a constant mapping."""
    actual = relation.column(canonical)
    if actual is None:
        raise KeyError(canonical)
    if isinstance(actual, Constant):
        if isinstance(actual.value, str):
            return string(actual.value)
        return num(float(actual.value))
    return exp.Column(this=id_(actual))


def _measured(channels: tuple[tuple[MetricSlot, Channel], ...]) -> tuple[tuple[str, str], ...]:
    return tuple(
        sorted(
            {
                (ch.event, MEASURED[ch.summand])
                for _, ch in channels
                if ch.summand in MEASURED and ch.column is None
            }
        )
    )


def measured_pairs(plan: QueryPlan) -> tuple[tuple[str, str], ...]:
    """The (event type, ``kept`` column) pairs whose values feed a metric, in the order
    of the query's ``measured`` and ``empty`` rows (their ``seg_index``)."""
    slots = build_slots(plan.metrics)
    return _measured(tuple((s, ch) for s in slots for ch in metric_channels(s.definition)))


class QueryBuilder:
    """Builds the experiment query for one dialect from a :class:`QueryPlan`."""

    def __init__(self, plan: QueryPlan, dialect: Dialect) -> None:
        self.plan = plan
        self.dialect = dialect
        self.exact = plan.exact_sums and dialect == "duckdb"
        """Order-independent integer sums (DuckDB's parallel aggregation)."""
        self.slots: tuple[MetricSlot, ...] = build_slots(plan.metrics)
        self.channels: tuple[tuple[MetricSlot, Channel], ...] = tuple(
            (slot, ch) for slot in self.slots for ch in metric_channels(slot.definition)
        )
        self.covariate_columns: tuple[str, ...] = tuple(
            sorted({ch.column for _, ch in self.channels if ch.column is not None})
        )
        """Exposure columns holding CUPED covariates (``cuped.column``), aliased c0, c1..."""
        self.ctes: list[tuple[str, exp.Expr, bool]] = []
        self.inline: set[str] = set()
        """CTEs cheaper to recompute than to store (``NOT MATERIALIZED``): a projection of
        a materialised table read twice (DuckDB would otherwise buffer all its rows)."""
        self.row = RowFactory(self.output_columns)
        self.framed = framed(self.channels)
        self.stats_source = "scaled" if self.framed else "capped"
        """The per-unit table the statistics are summed over."""
        self.measured: tuple[tuple[str, str], ...] = _measured(self.channels)
        """(event type, column) pairs whose measured values feed a metric: the query
        counts their events and those with a non-zero value (an unmapped column is all 0)."""
        self.event_types: tuple[str, ...] = tuple(sorted({ch.event for _, ch in self.channels}))
        """The metrics' event types: the query counts each one's rows (a type with none
        at all is likely misspelt in the metric or missing from the source)."""
        self.summed: tuple[str, ...] = tuple(
            sorted(
                {
                    column
                    for _, ch in self.channels
                    if ch.column is None
                    for column in SUMMED_COLUMNS[ch.summand]
                }
            )
        )
        """Event columns the per-unit sums add (``kept`` aliases): with exact sums the
        query reports each one's smallest non-zero magnitude (:mod:`.sql_exact`)."""
        self.sparse = (
            self.exact
            and plan.sparse_units
            and not plan.segments
            and not plan.allocation
            and plan.switchback is None
            and not self.covariate_columns
        )
        """Units without events counted, not grouped (:mod:`.sql_sparse`)."""
        self.caps_table: str | None = (
            "caps"
            if any(ch.cap and ch.cap.kind == "percentile" for _, ch in self.channels)
            else None
        )

    # ------------------------------------------------------------------ helpers
    def _cte(self, name: str, query: exp.Expr, reused: bool = False) -> None:
        self.ctes.append((name, query, reused and self.dialect in MATERIALIZING))

    def _reuse(self, name: str) -> None:
        """Mark an existing CTE as read several times (materialised when it is)."""
        self.ctes = [(n, q, True if n == name else r) for n, q, r in self.ctes]

    def _segment_alias(self, index: int) -> str:
        return f"a{index}"

    def _sum_if(self, condition: exp.Expr, value: exp.Expr) -> exp.Expr:
        """A per-unit (or per-unit-day) sum of event values: exact fixed point on DuckDB."""
        return exact_sum_if(condition, value) if self.exact else sum_if(condition, value)

    # ------------------------------------------------------------------- stages
    def _dated(self, source: Relation) -> exp.Expr | None:
        """``start <= ts < end + 1 day`` on the exposure timestamp (None without dates)."""
        ts = _source_col(source, "timestamp")
        bounds: list[exp.Expr] = []
        if self.plan.start is not None:
            low = exp.cast(string(f"{self.plan.start.isoformat()} 00:00:00"), "TIMESTAMP")
            bounds.append(exp.GTE(this=ts, expression=low))
        if self.plan.end is not None:
            after = self.plan.end + timedelta(days=1)
            high = exp.cast(string(f"{after.isoformat()} 00:00:00"), "TIMESTAMP")
            bounds.append(exp.LT(this=ts.copy(), expression=high))
        return exp.and_(*bounds, copy=False) if bounds else None

    def _raw_exposures(
        self, known: bool, dated: bool | None = True, *, unitless: bool = False
    ) -> exp.Select:
        """Exposure rows of the experiment naming a configured (or, ``known=False``, any
        other) variant, with canonical aliases u, v, ts, a0.. ``dated`` True keeps the rows
        inside the spec's [start, end], False only those outside, None all of them.
        ``unitless`` (with ``known=False``) adds the experiment's rows without a unit id,
        whatever their variant, which every other read leaves out (they are counted, one
        scan with the unknown variants')."""
        source = self.plan.source.exposures
        columns: list[exp.Expr] = [
            _source_col(source, "unit_id").as_(id_("u"), copy=False),
            _source_col(source, "variant").as_(id_("v"), copy=False),
            _source_col(source, "timestamp").as_(id_("ts"), copy=False),
        ]
        if known:
            for index, name in enumerate(self.plan.segments):
                attribute = exp.cast(
                    _source_col(source, f"attribute:{name}"), "VARCHAR", copy=False
                )
                columns.append(attribute.as_(id_(self._segment_alias(index)), copy=False))
            for index, name in enumerate(self.covariate_columns):
                value = exp.cast(exp.Column(this=id_(name)), "DOUBLE", copy=False)
                columns.append(value.as_(id_(f"c{index}"), copy=False))
        variants: exp.Expr = exp.In(
            this=_source_col(source, "variant"),
            expressions=[string(v) for v in self.plan.variants],
        )
        if not known:
            variants = exp.Not(this=variants)
        experiment = exp.EQ(
            this=_source_col(source, "experiment"), expression=string(self.plan.experiment_id)
        )
        no_unit = exp.Is(this=_source_col(source, "unit_id"), expression=exp.Null())
        has_unit = exp.Not(this=no_unit.copy())
        conditions: list[exp.Expr] = [experiment, variants, has_unit]
        if self.plan.forced_units:
            # compared as text: a numeric unit column must not make 'qa-1' a cast error
            unit_text = exp.cast(_source_col(source, "unit_id"), "VARCHAR", copy=False)
            forced = exp.In(this=unit_text, expressions=[string(u) for u in self.plan.forced_units])
            conditions.append(exp.Not(this=forced))
        if unitless and not known:
            unit_rows = exp.and_(*conditions[1:], copy=False)
            conditions = [experiment, exp.Paren(this=exp.or_(unit_rows, no_unit, copy=False))]
        window = self._dated(source) if known and dated is not None else None
        if window is not None and dated:
            conditions.append(window)
        elif window is not None:
            # outside the dates, or with no time at all (counted apart in ``undated``)
            untimed = exp.Is(this=_source_col(source, "timestamp"), expression=exp.Null())
            conditions.append(
                exp.Paren(this=exp.or_(exp.Not(this=exp.Paren(this=window)), untimed, copy=False))
            )
        return (
            exp.select(*columns, copy=False)
            .from_(_relation(source, self.dialect), copy=False)
            .where(exp.and_(*conditions, copy=False), copy=False)
        )

    def _exposure_ctes(self) -> None:
        xp = self._raw_exposures(known=True)
        if self.plan.segments:
            # attributes are those of the first exposure (ties broken by variant id, then
            # by the attributes themselves, so parallel threads cannot pick another row)
            keys = ["ts", "v", *(self._segment_alias(i) for i in range(len(self.plan.segments)))]
            order = exp.Order(expressions=[exp.Ordered(this=qcol(k)) for k in keys])
            rank = exp.Window(this=exp.RowNumber(), partition_by=[qcol("u")], order=order)
            xp = exp.select(exp.Star(), rank.as_(id_("rn"), copy=False), copy=False).from_(
                xp.subquery(id_("raw"), copy=False), copy=False
            )
        self._cte("xp", xp)
        # plain MIN/MAX on columns (no CASE): the grouping of every exposure row by unit is
        # the most expensive step of the whole query at 10M exposures
        # ``v`` is NULL for a unit exposed to several variants (xp's variants are never
        # NULL): one column, not min and max, in ``units`` and ``per_unit``
        # ``v`` is the variant's index in the spec (a 1-byte integer, not its name): the
        # join's hash table and the per-unit aggregate carry it for every unit (10M units:
        # 0.4 GB less at the peak, and no string comparisons in MIN/MAX)
        code = self._variant_code(qcol("v"))
        single = exp.EQ(this=exp.Min(this=code), expression=exp.Max(this=code.copy()))
        unit_columns: list[exp.Expr] = [
            qcol("u"),
            exp.Min(this=qcol("ts")).as_(id_("first_ts"), copy=False),
            exp.Case(ifs=[exp.If(this=single, true=exp.Min(this=code.copy()))]).as_(
                id_("v"), copy=False
            ),
        ]
        for index in range(len(self.plan.segments)):
            alias = self._segment_alias(index)
            first = exp.EQ(this=qcol("rn"), expression=exp.Literal.number(1))
            value = exp.Case(ifs=[exp.If(this=first, true=qcol(alias))])
            unit_columns.append(exp.Max(this=value).as_(id_(alias), copy=False))
        for index in range(len(self.covariate_columns)):
            # one value per unit; if its exposure rows disagree, the largest
            unit_columns.append(exp.Max(this=qcol(f"c{index}")).as_(id_(f"c{index}"), copy=False))
        units = (
            exp.select(*unit_columns, copy=False)
            .from_(id_("xp"), copy=False)
            .group_by(qcol("u"), copy=False)
        )
        self._cte("units", units, reused=True)

    @property
    def _indexed_variants(self) -> bool:
        """``units.v`` as the variant's index on DuckDB only: Spark inlines the CTEs and
        collapses projections, so the index -> name CASE was copied into every reference
        and the plan text outgrew a 1 GB driver heap (tests/test_metrics_quantile_engines:
        OutOfMemoryError in Alias.toString); PostgreSQL keeps the names as before."""
        return self.dialect == "duckdb"

    def _variant_code(self, variant: exp.Expr) -> exp.Expr:
        """A variant name -> its index in the spec (``units.v``; NULL for any other name);
        the name itself where variants are not indexed (:attr:`_indexed_variants`)."""
        if not self._indexed_variants:
            return variant
        ifs = [
            exp.If(
                this=exp.EQ(this=variant.copy(), expression=string(name)),
                true=exp.Literal.number(i),
            )
            for i, name in enumerate(self.plan.variants)
        ]
        return cast(exp.Case(ifs=ifs), "TINYINT" if len(ifs) < 128 else "INTEGER")

    def variant_name(self, code: exp.Expr) -> exp.Expr:
        """``units.v`` (a variant's index, :meth:`_variant_code`) -> the variant's name."""
        if not self._indexed_variants:
            return code
        ifs = [
            exp.If(
                this=exp.EQ(this=code.copy(), expression=exp.Literal.number(i)), true=string(name)
            )
            for i, name in enumerate(self.plan.variants)
        ]
        return exp.Case(ifs=ifs)

    def _event_ctes(self) -> None:
        """``kept``: events of the metrics' types. With event ids the source does not
        guarantee unique (files, PostgreSQL, Spark, a caller's connection), ``rn`` numbers
        the rows of each id by (ts, u, etype, val, disc, qty), ascending, NULLs last on
        every dialect (SQLGlot writes Spark's NULLS LAST); rows after the first are
        duplicates, counted in ``totals`` and left out of the units' join (no filtered
        copy of the events is kept). The embedded store guarantees unique ids at ingest,
        so nothing is ranked there.

        One window is the cheapest plan measured (scale.md, stop 25): an aggregate over
        the ids (``arg_min``/``min`` of the row) costs more on DuckDB than the sort, and
        ranking only repeated ids needs an aggregate of every id plus a second scan."""
        source = self.plan.source.events
        types = sorted({ch.event for _, ch in self.channels})
        columns = [
            _source_col(source, "unit_id").as_(id_("u"), copy=False),
            _source_col(source, "timestamp").as_(id_("ts"), copy=False),
            _source_col(source, "event_type").as_(id_("etype"), copy=False),
            exp.cast(_source_col(source, "value"), "DOUBLE", copy=False).as_(
                id_("val"), copy=False
            ),
            exp.cast(_source_col(source, "discount"), "DOUBLE", copy=False).as_(
                id_("disc"), copy=False
            ),
            exp.cast(_source_col(source, "quantity"), "DOUBLE", copy=False).as_(
                id_("qty"), copy=False
            ),
        ]
        self.dedup = source.column("event_id") is not None and not self.plan.unique_event_ids
        if self.dedup:
            columns.append(
                exp.cast(_source_col(source, "event_id"), "VARCHAR", copy=False).as_(
                    id_("eid"), copy=False
                )
            )
        relevant = exp.In(
            this=_source_col(source, "event_type"), expressions=[string(t) for t in types]
        )
        ev = (
            exp.select(*columns, copy=False)
            .from_(_relation(source, self.dialect), copy=False)
            .where(relevant, copy=False)
        )
        if not self.dedup:
            self._cte("kept", ev)
            return
        order = exp.Order(
            expressions=[
                exp.Ordered(this=qcol(c)) for c in ("ts", "u", "etype", "val", "disc", "qty")
            ]
        )
        rank = exp.Window(this=exp.RowNumber(), partition_by=[qcol("eid")], order=order)
        ranked = exp.select(exp.Star(), rank.as_(id_("rn"), copy=False), copy=False).from_(
            ev.subquery(id_("ev"), copy=False), copy=False
        )
        self._cte("kept", ranked)

    def _fresh(self) -> exp.Expr:
        """The event row counts (it is not a repeat of an earlier row's event id)."""
        if not self.dedup:
            return exp.true()
        return exp.Paren(
            this=exp.or_(
                exp.Is(this=qcol("eid", "e"), expression=exp.Null()),
                exp.EQ(this=qcol("rn", "e"), expression=exp.Literal.number(1)),
                copy=False,
            )
        )

    def _any_window(self) -> exp.Expr:
        """The event is inside some window channel's window (each distinct window once:
        several metrics on one event share theirs)."""
        windows: dict[str, exp.Expr] = {}
        for _, ch in self.channels:
            if not ch.fixed:
                window = in_window(ch)
                windows.setdefault(window.sql(), window)
        return exp.or_(*windows.values(), copy=False)

    def _event_totals_cte(self) -> None:
        """``totals``: one row of counts over the events of the metrics' types, joined to
        nothing: events, duplicates, events per measured type, the smallest non-zero
        magnitudes. Orphans are ``events`` minus the events matched to a unit (summed from
        ``per_unit``), so the per-unit aggregate needs no rows for units never exposed."""
        fresh = self._fresh()
        columns: list[exp.Expr] = [count_where(fresh.copy()).as_(id_("events"), copy=False)]
        # events no window can admit (an empty time cell): counted, never lost silently
        no_time = exp.Is(this=qcol("ts", "e"), expression=exp.Null())
        columns.append(
            count_where(exp.and_(fresh.copy(), no_time, copy=False)).as_(id_("nots"), copy=False)
        )
        # events at midnight exactly: an export of dates without times, whose events of
        # the exposure day then read as before the exposure (counted, see the gates)
        midnight = exp.EQ(
            this=qcol("ts", "e"),
            expression=exp.cast(exp.cast(qcol("ts", "e"), "DATE"), "TIMESTAMP"),
        )
        columns.append(
            count_where(exp.and_(fresh.copy(), midnight, copy=False)).as_(id_("midn"), copy=False)
        )
        if self.dedup:
            columns.append(count_where(exp.Not(this=fresh.copy())).as_(id_("dups"), copy=False))
        if self.exact:
            for column in self.summed:
                columns.append(
                    finest(fresh.copy(), qcol(column, "e")).as_(id_(f"fine_{column}"), copy=False)
                )
        for column in self.summed:
            columns.append(
                count_where(exp.and_(fresh.copy(), not_finite(qcol(column, "e")), copy=False)).as_(
                    id_(f"bad_{column}"), copy=False
                )
            )
        for k, event in enumerate(self.event_types):
            is_type = exp.EQ(this=qcol("etype", "e"), expression=string(event))
            columns.append(count_where(is_type).as_(id_(f"ty{k}"), copy=False))
        for k, (event, column) in enumerate(self.measured):
            of_type = exp.and_(
                fresh.copy(),
                exp.EQ(this=qcol("etype", "e"), expression=string(event)),
                copy=False,
            )
            nonzero = exp.NEQ(
                this=exp.Coalesce(this=qcol(column, "e"), expressions=[num(0.0)]),
                expression=num(0.0),
            )
            columns.append(count_where(of_type).as_(id_(f"t{k}"), copy=False))
            columns.append(
                count_where(exp.and_(of_type.copy(), nonzero, copy=False)).as_(
                    id_(f"f{k}"), copy=False
                )
            )
            # negative amounts: ingest refuses them, a source read in place may hold them
            # (refunds exported as negative orders); counted so the report can say so
            negative = exp.LT(this=qcol(column, "e"), expression=num(0.0))
            columns.append(
                count_where(exp.and_(of_type.copy(), negative, copy=False)).as_(
                    id_(f"ng{k}"), copy=False
                )
            )
        kept = exp.Table(this=id_("kept"), alias=exp.TableAlias(this=id_("e")))
        self._cte("totals", exp.select(*columns, copy=False).from_(kept, copy=False))

    def _channel_value(self, slot: MetricSlot, ch: Channel) -> exp.Expr:
        """A channel's per-unit value inside the per-unit aggregate: the covariate column,
        a count (64-bit, exact in DOUBLE), or the sum of the in-window summands (exact
        fixed point on DuckDB, read back as DOUBLE); 0/1 for indicators."""
        value: exp.Expr
        if ch.column is not None:
            covariate = qcol(f"c{self.covariate_columns.index(ch.column)}", "units")
            value = exp.Coalesce(this=self._one_value(covariate), expressions=[num(0.0)])
        else:
            condition = exp.and_(eligible(), in_window(ch), copy=False)
            if ch.summand == "count":
                # a count of events is an integer: no 128-bit fixed-point sum needed
                value = exp.cast(count_where(condition), "DOUBLE", copy=False)
            else:
                value = self._exact_value(self._sum_if(condition, summand(ch)))
        if ch.indicator:
            value = exp.Case(
                ifs=[exp.If(this=exp.GT(this=value, expression=num(0.0)), true=num(1.0))],
                default=num(0.0),
            )
        return value

    def _one_value(self, column: exp.Expr) -> exp.Expr:
        """A ``units`` column inside the per-unit aggregate (grouped by ``u`` alone, so
        every row of a group holds the same value): ANY_VALUE on DuckDB, MIN elsewhere."""
        if self.dialect == "duckdb":
            return exp.AnyValue(this=column)
        return exp.Min(this=column)

    def _unit_aggregates(self) -> list[exp.Expr]:
        """Per-unit sums over the unit's (fresh) events: every metric channel, the quality
        counts, and the events matched (for the orphan count)."""
        ok = eligible()
        ts, first = qcol("ts", "e"), qcol("first_ts", "units")
        columns: list[exp.Expr] = [
            self._channel_value(slot, ch).as_(id_(slot.column(ch.var)), copy=False)
            for slot, ch in self.channels
        ]
        columns += [
            exp.Count(this=qcol("u", "e")).as_(id_("matched"), copy=False),
            count_where(exp.and_(ok.copy(), exp.LT(this=ts, expression=first), copy=False)).as_(
                id_("before"), copy=False
            ),
            # the span a clock mistake can explain (UTC-12 to UTC+14): the time-zone check
            # reads these, not orders placed weeks before a customer's first offer
            count_where(
                exp.and_(
                    ok.copy(),
                    exp.LT(this=ts.copy(), expression=_shift(first.copy(), -SAME_SESSION)),
                    exp.GTE(this=ts.copy(), expression=_shift(first.copy(), -CLOCK_SLIP)),
                    copy=False,
                )
            ).as_(id_("near"), copy=False),
            count_where(
                exp.and_(
                    ok.copy(),
                    exp.GTE(this=ts.copy(), expression=first.copy()),
                    exp.Not(this=exp.Paren(this=self._any_window())),
                    copy=False,
                )
            ).as_(id_("outside"), copy=False),
        ]
        columns += self._empty_value_counts()
        if self.plan.daily:
            columns += self._event_days()
        return columns

    def _empty_value_counts(self) -> list[exp.Expr]:
        """Per measured (event type, column): ``w<k>``, 0 when the unit has no event of that
        type since its first exposure, 1 when it has, 2 when one of them has the column 0
        or missing (ONE small aggregate: two counters cost 0.1-0.2 GB more at 10M units);
        per variant, the units with 2 show an arm whose amounts went missing
        (:mod:`upsell_ab.decision.empty_values`)."""
        ts, first = qcol("ts", "e"), qcol("first_ts", "units")
        columns: list[exp.Expr] = []
        for k, (event, column) in enumerate(self.measured):
            since = exp.and_(
                eligible(),
                exp.EQ(this=qcol("etype", "e"), expression=string(event)),
                exp.GTE(this=ts.copy(), expression=first.copy()),
                copy=False,
            )
            empty = exp.EQ(
                this=exp.Coalesce(this=qcol(column, "e"), expressions=[num(0.0)]),
                expression=num(0.0),
            )
            flag = exp.Case(
                ifs=[exp.If(this=empty, true=exp.Literal.number(2))],
                default=exp.Literal.number(1),
            )
            worst = exp.Max(this=exp.Case(ifs=[exp.If(this=since, true=flag)]))
            columns.append(
                exp.Coalesce(this=worst, expressions=[exp.Literal.number(0)]).as_(
                    id_(f"w{k}"), copy=False
                )
            )
        return columns

    def _event_days(self) -> list[exp.Expr]:
        """``nd`` (days with in-window events: 0, 1, or 2 for several) and ``dmax`` (the
        last of them), for the daily series: the per-(unit, day) rows (``ev_day``) are
        built later for the units with events on several days only."""
        day = exp.cast(qcol("ts", "e"), "DATE", copy=False)
        in_any = exp.and_(eligible(), exp.Paren(this=self._any_window()), copy=False)
        window_day = exp.Case(ifs=[exp.If(this=in_any, true=day)])
        first_day = exp.Min(this=window_day)
        last_day = exp.Max(this=window_day.copy())
        days = exp.Case(
            ifs=[
                exp.If(
                    this=exp.Is(this=last_day.copy(), expression=exp.Null()),
                    true=exp.Literal.number(0),
                ),
                exp.If(
                    this=exp.EQ(this=first_day, expression=last_day.copy()),
                    true=exp.Literal.number(1),
                ),
            ],
            default=exp.Literal.number(2),
        )
        return [days.as_(id_("nd"), copy=False), last_day.as_(id_("dmax"), copy=False)]

    def _multi_day_cte(self) -> None:
        """``ev_day``: per (unit, day) window sums of the units with in-window events on
        several days (joined to ``capped``, which holds their clocks, variant and fixed
        channels, carried along so the running sums need no second join); each distinct
        in-window sum once (:func:`~upsell_ab.metrics.sql_daily.day_sums`). Only events
        inside some window are grouped (the others add 0 to every sum), so every row has
        an in-window event; with ONE distinct window (the usual spec) that filter is each
        sum's condition too, and the sums add their summands unconditionally."""
        fixed = [qcol(s.column(ch.var), "capped") for s, ch in self.channels if ch.fixed]
        day = exp.cast(qcol("ts", "e"), "DATE", copy=False)
        join = exp.EQ(this=qcol("u", "e"), expression=qcol("u", "capped"))
        several = exp.GT(this=qcol("nd", "capped"), expression=exp.Literal.number(1))
        any_window = self._any_window()
        one_window = not isinstance(any_window, exp.Or)

        def condition(ch: Channel) -> exp.Expr:
            return exp.true() if one_window else in_window(ch)

        ev_day = (
            exp.select(
                qcol("u", "e"),
                day.as_(id_("day"), copy=False),
                qcol("v", "capped"),
                *(f.copy() for f in fixed),
                *(
                    self._sum_if(condition(ch), summand(ch)).as_(id_(name), copy=False)
                    for name, ch in day_sums(self.channels).distinct
                ),
                copy=False,
            )
            .from_(exp.Table(this=id_("kept"), alias=exp.TableAlias(this=id_("e"))), copy=False)
            .join(exp.Table(this=id_("capped")), on=join, copy=False)
            .where(
                exp.and_(several, self._fresh(), exp.Paren(this=any_window), copy=False),
                copy=False,
            )
            .group_by(
                qcol("u", "e"),
                day.copy(),
                qcol("v", "capped"),
                *(f.copy() for f in fixed),
                copy=False,
            )
        )
        self._cte("ev_day", ev_day)

    def _per_unit_ctes(self) -> None:
        """``per_unit``: every unit (eligible or not) LEFT JOIN its fresh events, grouped
        by unit: ONE join and ONE aggregation, like the hand-written query (the events are
        not grouped by unit first and joined back to all units)."""
        # grouped by the unit alone: ``units`` holds one row per unit, so its other columns
        # are carried as aggregates of one value (a hash key per column cost ~30 % more)
        carried = ["first_ts", *(self._segment_alias(i) for i in range(len(self.plan.segments)))]
        # ``units.v`` is the variant's index: ``per_unit`` and everything after it read names
        variant = self.variant_name(self._one_value(qcol("v", "units")))
        unit_columns = [variant.as_(id_("v"), copy=False)]
        unit_columns += [
            self._one_value(qcol(name, "units")).as_(id_(name), copy=False) for name in carried
        ]
        on: exp.Expr = exp.EQ(this=qcol("u", "e"), expression=qcol("u", "units"))
        if self.dedup:
            on = exp.and_(on, self._fresh(), copy=False)
        per_unit = (
            exp.select(qcol("u", "units"), *unit_columns, *self._unit_aggregates(), copy=False)
            .from_(exp.Table(this=id_("units")), copy=False)
            .join(
                exp.Table(this=id_("kept"), alias=exp.TableAlias(this=id_("e"))),
                on=on,
                # sparse: the units with events only (the others are counted apart)
                join_type="INNER" if self.sparse else "LEFT",
                copy=False,
            )
            .group_by(qcol("u", "units"), copy=False)
        )
        self._cte("per_unit", per_unit, reused=True)
        percentile = [(s, ch) for s, ch in self.channels if ch.cap and ch.cap.kind == "percentile"]
        if percentile:
            cap_columns: list[exp.Expr] = []
            for s, ch in percentile:
                assert ch.cap is not None
                value = qcol(s.column(ch.var))
                positive = exp.GT(this=value, expression=num(0.0))
                # the quantile of the POSITIVE values only (NULLs are skipped by every
                # engine): with 0.6 % buyers the 99th percentile of all units is 0
                only_positive = exp.Case(ifs=[exp.If(this=positive, true=value.copy())])
                cap_columns.append(
                    quantile(only_positive, ch.cap.value, self.dialect).as_(
                        id_(s.cap_column(ch.var)), copy=False
                    )
                )
                cap_columns.append(
                    # 0, not NULL, over no rows (the sparse plan's per_unit may be empty)
                    count_where(positive.copy()).as_(id_(s.positive_column(ch.var)), copy=False)
                )
            caps = (
                exp.select(*cap_columns, copy=False)
                .from_(id_("per_unit"), copy=False)
                .where(eligible(), copy=False)
            )
            self._cte("caps", caps, reused=True)
        capped_columns: list[exp.Expr] = [qcol("u"), qcol("v"), qcol("first_ts")]
        capped_columns += [qcol(self._segment_alias(i)) for i in range(len(self.plan.segments))]
        for slot, ch in self.channels:
            name = slot.column(ch.var)
            cap = cap_value(ch, qcol(slot.cap_column(ch.var), "caps"))
            capped_columns.append(apply_cap(qcol(name, "per_unit"), cap).as_(id_(name), copy=False))
        capped_columns += [qcol(f"w{k}") for k in range(len(self.measured))]
        if self.plan.daily:
            capped_columns += [qcol("nd"), qcol("dmax")]
        capped = exp.select(*capped_columns, copy=False).from_(id_("per_unit"), copy=False)
        if percentile:
            capped = capped.join(exp.Table(this=id_("caps")), join_type="CROSS", copy=False)
        self._cte("capped", capped.where(eligible(), copy=False), reused=True)
        if self.dialect in MATERIALIZING:
            # a projection of the materialised per_unit: recomputed by each reader rather
            # than stored a second time (10M units: ~1 GB less, no slower)
            self.inline.add("capped")
        if self.sparse:
            self._empty_units_ctes()
        if not self.framed:
            return
        # centred and scaled values of the plain value metrics (see sql_frames)
        frame_source = "capped"
        if self.sparse:
            self._cte("capped_z", with_zero_row(self.channels, "capped"))
            frame_source = "capped_z"
        for name, query in frame_ctes(self.framed, frame_source):
            self._cte(name, query, reused=True)
        framed = {(s.index, ch.var) for s, ch in self.framed}
        scaled_columns: list[exp.Expr] = [qcol("u"), qcol("v"), qcol("first_ts")]
        scaled_columns += [qcol(self._segment_alias(i)) for i in range(len(self.plan.segments))]
        for slot, ch in self.channels:
            name = slot.column(ch.var)
            column: exp.Expr = qcol(name, "capped")
            if (slot.index, ch.var) in framed:
                column = to_frame(column, slot)
            scaled_columns.append(column.as_(id_(name), copy=False))
        scaled = (
            exp.select(*scaled_columns, copy=False)
            .from_(id_("capped"), copy=False)
            .join(exp.Table(this=id_("frames")), join_type="CROSS", copy=False)
        )
        self._cte("scaled", scaled)
        if self.dialect in MATERIALIZING:
            self.inline.add("scaled")  # read by the sums and their bounds: recomputed

    def _empty_units_ctes(self) -> None:
        """``unit_counts``, ``zero_units`` and ``zero_row`` of the sparse plan."""
        self._cte(UNIT_COUNTS, unit_counts(self.variant_name(qcol("c"))), reused=True)
        self._cte(ZERO_UNITS, zero_units(), reused=True)
        self._cte(ZERO_ROW, zero_row(self.channels, self.caps_table), reused=True)

    @property
    def _framed_keys(self) -> set[tuple[int, str]]:
        return {(slot.index, ch.var) for slot, ch in self.framed}

    def _empty_terms(self) -> dict[str, exp.Expr]:
        return empty_terms(self.slots, self.channels, self.caps_table, self._framed_keys)

    def _sparse_metric_branch(self) -> exp.Select:
        """Per variant: the sums over the units with events plus ``n - n_events`` times
        the empty state's terms, all in quanta (exact); ``n``, first and last day from
        ``unit_counts``, which holds every eligible unit."""
        names = list(self._terms())
        event_sums = with_bounds(
            exp.select(
                qcol("v"),
                exp.Count(this=exp.Star()).as_(id_("n"), copy=False),
                *(
                    quanta_sum(term, name).as_(id_(name), copy=False)
                    for name, term in self._terms().items()
                ),
                copy=False,
            ).from_(id_(self.stats_source), copy=False)
        ).group_by(qcol("v"), copy=False)
        counts = (
            exp.select(
                qcol("v"),
                exp.Min(this=qcol("day")).as_(id_("day"), copy=False),
                exp.Max(this=qcol("day")).as_(id_("last_day"), copy=False),
                exp.Sum(this=qcol("n")).as_(id_("n"), copy=False),
                copy=False,
            )
            .from_(id_(UNIT_COUNTS), copy=False)
            .group_by(qcol("v"), copy=False)
        )
        empty = self._empty_terms()
        without = exp.Sub(
            this=qcol("n", "c"),
            expression=exp.Coalesce(this=qcol("n", "s"), expressions=[exp.Literal.number(0)]),
        )
        stats = {
            name: from_quanta(plus_empty(qcol(name, "s"), without.copy(), empty[name], name), name)
            for name in names
        }
        select = self.row(
            "metric",
            variant=qcol("v", "c"),
            day=qcol("day", "c"),
            last_day=qcol("last_day", "c"),
            n=qcol("n", "c"),
            **stats,
        ).from_(counts.subquery(id_("c"), copy=False), copy=False)
        select = select.join(
            event_sums.subquery(id_("s"), copy=False),
            on=exp.EQ(this=qcol("v", "s"), expression=qcol("v", "c")),
            join_type="LEFT",
            copy=False,
        )
        select = with_one_row_tables(
            select, has_caps=self.caps_table is not None, framed=bool(self.framed)
        )
        return with_bounds(select)

    def _exact_value(self, value: exp.Expr) -> exp.Expr:
        """An exact fixed-point per-unit sum as DOUBLE (unchanged without exact sums)."""
        return as_double(value) if self.exact else value

    # ------------------------------------------------------------------ outputs
    def _terms(self, table: str | None = None) -> dict[str, exp.Expr]:
        """Every statistic's per-unit term (its SUM over units is the statistic)."""
        values: dict[str, exp.Expr] = {}
        for slot in self.slots:
            for field, (a, b) in slot.terms:
                term: exp.Expr = qcol(slot.column(a), table)
                if b is not None:
                    term = exp.Mul(this=term, expression=qcol(slot.column(b), table))
                values[slot.stat_column(field)] = term
        return values

    def _stat_columns(self, table: str | None = None) -> dict[str, exp.Expr]:
        return {name: self._total(term, name) for name, term in self._terms(table).items()}

    def _total(self, term: exp.Expr, name: str) -> exp.Expr:
        """SUM of a statistic's terms: exact (quantised integers) on DuckDB."""
        return exact_sum(term, name) if self.exact else exp.Sum(this=term)

    def _from_stats(self, select: exp.Select) -> exp.Select:
        """``select`` FROM the per-unit statistics table (with ``bounds`` when exact)."""
        select = select.from_(id_(self.stats_source), copy=False)
        return with_bounds(select) if self.exact else select

    def _branches(self) -> list[exp.Select]:
        count = exp.Count(this=exp.Star())
        first_day = exp.cast(exp.Min(this=qcol("first_ts")), "DATE", copy=False)
        last_day = exp.cast(exp.Max(this=qcol("first_ts")), "DATE", copy=False)
        stats = self._stat_columns()
        branches = [
            self._sparse_metric_branch()
            if self.sparse
            else self._from_stats(
                self.row(
                    "metric", variant=qcol("v"), day=first_day, last_day=last_day, n=count, **stats
                )
            ).group_by(qcol("v"), copy=False)
        ]
        for index in range(len(self.plan.segments)):
            alias = self._segment_alias(index)
            branches.append(
                self._from_stats(
                    self.row(
                        "segment",
                        variant=qcol("v"),
                        seg_index=exp.Literal.number(index),
                        seg_value=qcol(alias),
                        n=count.copy(),
                        **self._stat_columns(),
                    )
                ).group_by(qcol("v"), qcol(alias), copy=False)
            )
        matched = exp.Coalesce(this=qcol("matched", "q"), expressions=[exp.Literal.number(0)])
        counts = exp.select(
            *(
                # 0 over no rows: the sparse plan's per_unit holds no unit without events
                exp.Coalesce(
                    this=exp.Sum(this=qcol(name)), expressions=[exp.Literal.number(0)]
                ).as_(id_(name), copy=False)
                for name in ("matched", "before", "near", "outside")
            ),
            copy=False,
        ).from_(id_("per_unit"), copy=False)
        branches.append(
            self.row(
                "quality",
                orphans=exp.Sub(this=qcol("events", "totals"), expression=matched),
                before=qcol("before", "q"),
                near=qcol("near", "q"),
                outside=qcol("outside", "q"),
                n=qcol("events", "totals"),
                value=exp.cast(qcol("nots", "totals"), "DOUBLE", copy=False),
            )
            .from_(counts.subquery(id_("q"), copy=False), copy=False)
            .join(exp.Table(this=id_("totals")), join_type="CROSS", copy=False)
        )
        for k, (event, column) in enumerate(self.measured):
            # units with events of the type since exposure / with an empty amount, per arm
            flag = qcol(f"w{k}")
            ever = count_where(exp.GT(this=flag, expression=exp.Literal.number(0)))
            empty = count_where(exp.EQ(this=flag.copy(), expression=exp.Literal.number(2)))
            branches.append(
                self.row(
                    "empty",
                    variant=qcol("v"),
                    seg_index=exp.Literal.number(k),
                    n=ever,
                    value=empty,
                )
                .from_(id_("capped"), copy=False)
                .group_by(qcol("v"), copy=False)
            )
            branches.append(
                self.row(
                    "measured",
                    variant=string(event),
                    seg_value=string(column),
                    n=qcol(f"t{k}"),
                    value=qcol(f"f{k}"),
                ).from_(id_("totals"), copy=False)
            )
            branches.append(
                self.row(
                    "negative", variant=string(event), seg_value=string(column), n=qcol(f"ng{k}")
                ).from_(id_("totals"), copy=False)
            )
        branches.append(self.row("midnight", n=qcol("midn")).from_(id_("totals"), copy=False))
        if self.dedup:
            branches.append(self.row("dups", n=qcol("dups")).from_(id_("totals"), copy=False))
        for k, event in enumerate(self.event_types):
            branches.append(
                self.row("etype", variant=string(event), n=qcol(f"ty{k}")).from_(
                    id_("totals"), copy=False
                )
            )
        for column in self.summed:
            branches.append(
                self.row("nonfinite", seg_value=string(column), n=qcol(f"bad_{column}")).from_(
                    id_("totals"), copy=False
                )
            )
        if self.exact:
            for column in self.summed:
                branches.append(
                    self.row("fine", seg_value=string(column), value=qcol(f"fine_{column}")).from_(
                        id_("totals"), copy=False
                    )
                )
        multi = exp.and_(
            exp.Not(this=exp.Is(this=qcol("first_ts"), expression=exp.Null())),
            exp.Is(this=qcol("v"), expression=exp.Null()),
            copy=False,
        )
        branches.append(
            self.row("multi", n=count.copy())
            # sparse: per_unit lacks the units without events; units holds every unit
            .from_(id_("units" if self.sparse else "per_unit"), copy=False)
            .where(multi, copy=False)
        )
        # n: units per unknown variant; value: rows without a unit id (any variant).
        # Grouped by (v, u) first, so that COUNT(u) counts distinct units with no
        # DISTINCT aggregate next to a plain one (DuckDB splits such a pair into two
        # aggregates and a join)
        per_unit = (
            exp.select(
                qcol("v"), qcol("u"), exp.Count(this=exp.Star()).as_(id_("n_rows"), copy=False)
            )
            .from_(
                self._raw_exposures(known=False, unitless=True).subquery(
                    id_("unknown"), copy=False
                ),
                copy=False,
            )
            .group_by(qcol("v"), qcol("u"), copy=False)
        )
        # one (v, NULL) group per variant holds its rows without a unit: MAX picks it
        # (NULL when there is none), no SUM for the exact-sum rules to police
        unitless = exp.Max(
            this=exp.Case(
                ifs=[
                    exp.If(this=exp.Is(this=qcol("u"), expression=exp.Null()), true=qcol("n_rows"))
                ]
            )
        )
        branches.append(
            self.row("unknown", variant=qcol("v"), n=exp.Count(this=qcol("u")), value=unitless)
            .from_(per_unit.subquery(id_("unknown_units"), copy=False), copy=False)
            .group_by(qcol("v"), copy=False)
        )
        for slot, ch in self.channels:
            if ch.cap is not None and ch.cap.kind == "percentile":
                branches.append(
                    self.row(
                        "cap",
                        variant=string(ch.var),
                        seg_index=exp.Literal.number(slot.index),
                        n=qcol(slot.positive_column(ch.var)),
                        value=qcol(slot.cap_column(ch.var)),
                    ).from_(id_("caps"), copy=False)
                )
        for slot, _ in self.framed:
            branches.append(
                self.row(
                    "frame",
                    seg_index=exp.Literal.number(slot.index),
                    value=shift(slot),
                    scale=scale(slot),
                ).from_(id_("frames"), copy=False)
            )
        if self.plan.start is not None or self.plan.end is not None:
            outside = self._raw_exposures(known=True, dated=False)
            timed = exp.Not(this=exp.Is(this=qcol("ts"), expression=exp.Null()))
            # n: units with exposures outside the dates; value: exposure rows with no time
            # (NULL timestamp), which no date can admit: counted, not dropped silently
            units = exp.Case(ifs=[exp.If(this=timed, true=qcol("u"))])
            untimed = exp.Case(
                ifs=[exp.If(this=exp.Not(this=timed.copy()), true=exp.Literal.number(1))]
            )
            branches.append(
                self.row(
                    "undated",
                    n=exp.Count(this=exp.Distinct(expressions=[units])),
                    value=exp.Count(this=untimed),
                ).from_(outside.subquery(id_("undated"), copy=False), copy=False)
            )
        if self.plan.daily:
            branches.append(self._daily_branch())
        if self.plan.allocation:
            from upsell_ab.metrics.sql_periods import period_branch

            stats = self._stat_columns()
            branches.append(
                period_branch(
                    self.row,
                    self.stats_source,
                    stats,
                    self.plan.allocation,
                    joins=(BOUNDS,) if self.exact else (),
                )
            )
        if self.plan.switchback is not None:
            from upsell_ab.metrics.sql_slots import slot_branch

            stats = self._stat_columns()
            slots = slot_branch(self.row, self.stats_source, stats, self.plan.switchback)
            branches.append(with_bounds(slots) if self.exact else slots)
        return branches

    def _bounded(self) -> set[str]:
        """Statistics whose every daily increment is at most the largest final term ``M``
        in magnitude, so its quanta fit a BIGINT like the totals' (:func:`.exact_sum`):
        terms of count channels (not framed, capped at >= 0 if at all) and fixed ones only.
        A count's state grows from 0 to the unit's final value, so every state's term has
        the final term's sign and at most its size, and the difference of two such terms
        (after a day minus before it; final minus the empty state's 0) is no larger;
        rounding is monotone, so the DOUBLE terms keep these bounds. Sums of values can
        go down (refunds) and framed values start far from their frame: HUGEINT."""
        framed = {(s.index, ch.var) for s, ch in self.framed}

        def grows_from_zero(slot: MetricSlot, var: str) -> bool:
            ch = next(c for s, c in self.channels if s.index == slot.index and c.var == var)
            if ch.fixed:
                return True
            if ch.summand != "count" or (slot.index, var) in framed:
                return False
            return ch.cap is None or ch.cap.kind == "percentile" or ch.cap.value >= 0

        return {
            slot.stat_column(field)
            for slot in self.slots
            for field, (a, b) in slot.terms
            if grows_from_zero(slot, a) and (b is None or grows_from_zero(slot, b))
        }

    def _daily_branch(self) -> exp.Select:
        self._multi_day_cte()
        percentile = any(ch.cap and ch.cap.kind == "percentile" for _, ch in self.channels)
        names = [slot.stat_column(field) for slot in self.slots for field, _ in slot.terms]
        if not self.exact:
            increments = daily_increments(
                self.slots, self.channels, has_caps=percentile, framed=self.framed
            ).subquery(id_("increments"), copy=False)
            values: dict[str, exp.Expr] = {
                name: exp.Sum(this=qcol(name, "increments")) for name in names
            }
            select = self.row(
                "daily", variant=qcol("v"), day=qcol("day"), n=exp.Sum(this=qcol("dn")), **values
            ).from_(increments, copy=False)
            return select.group_by(qcol("v"), qcol("day"), copy=False)
        # exact: integer sums of quanta per (variant, day), scaled by each quantum after
        # grouping (no MIN(q) per statistic over every increment row: as many aggregates
        # again as the sums); the first-exposure increments (one per unit) summed apart
        bounded = self._bounded()
        changes = (
            exp.select(
                qcol("v"),
                qcol("day"),
                exp.Literal.number(0).as_(id_("dn"), copy=False),
                *(
                    quanta_sum(qcol(name, "increments"), name, increments=name not in bounded).as_(
                        id_(name), copy=False
                    )
                    for name in names
                ),
                copy=False,
            )
            .from_(
                daily_increments(
                    self.slots,
                    self.channels,
                    has_caps=percentile,
                    framed=self.framed,
                    exact=True,
                    entry=False,
                ).subquery(id_("increments"), copy=False),
                copy=False,
            )
            .join(exp.Table(this=id_(BOUNDS)), join_type="CROSS", copy=False)
            .group_by(qcol("v"), qcol("day"), copy=False)
        )
        both = exp.union(
            self._daily_entries(names, percentile, bounded), changes, distinct=False, copy=False
        )
        sums = (
            exp.select(
                qcol("v"),
                qcol("day"),
                *(exp.Sum(this=qcol(n)).as_(id_(n), copy=False) for n in ("dn", *names)),
                copy=False,
            )
            .from_(both.subquery(id_("parts"), copy=False), copy=False)
            .group_by(qcol("v"), qcol("day"), copy=False)
        )
        values = {name: from_quanta(qcol(name, "k"), name) for name in names}
        select = self.row(
            "daily", variant=qcol("v", "k"), day=qcol("day", "k"), n=qcol("dn", "k"), **values
        ).from_(sums.subquery(id_("k"), copy=False), copy=False)
        return with_bounds(select)

    def _daily_entries(self, names: list[str], percentile: bool, bounded: set[str]) -> exp.Select:
        """The first-exposure increments in quanta per (variant, first day), from ONE
        group-by of the units counting them (``dn``): a term that reads the unit's own
        values (a fixed covariate) is summed per unit; one that does not (the empty
        state's terms: 0, or a frame's or cap's constant) is the same integer for every
        unit, so its sum is that integer times ``dn``, exactly (integers add exactly)."""
        start = entry_terms(self.slots, self.channels, has_caps=percentile, framed=self.framed)
        day = exp.cast(qcol("first_ts", "capped"), "DATE", copy=False)
        grouped = with_one_row_tables(
            exp.select(
                qcol("v", "capped"),
                day.as_(id_("day"), copy=False),
                exp.Count(this=exp.Star()).as_(id_("dn"), copy=False),
                *(
                    quanta_sum(start[name].copy(), name, increments=name not in bounded).as_(
                        id_(name), copy=False
                    )
                    for name in names
                    if per_unit_term(start[name])
                ),
                copy=False,
            ).from_(id_("capped"), copy=False),
            has_caps=percentile,
            framed=bool(self.framed),
        )
        grouped = with_bounds(grouped).group_by(qcol("v", "capped"), day.copy(), copy=False)
        # sparse: every eligible unit is in unit_counts (``c``), the units with events in
        # ``g``; each of the others adds the empty state's terms
        table = "c" if self.sparse else "g"
        columns: list[exp.Expr] = [qcol("v", table), qcol("day", table)]
        columns.append((qcol("n", "c") if self.sparse else qcol("dn", "g")).as_(id_("dn")))
        empty = self._empty_terms() if self.sparse else {}
        for name in names:
            if per_unit_term(start[name]):
                value: exp.Expr = qcol(name, "g")
                if self.sparse:
                    without = exp.Sub(
                        this=qcol("n", "c"),
                        expression=exp.Coalesce(
                            this=qcol("dn", "g"), expressions=[exp.Literal.number(0)]
                        ),
                    )
                    value = plus_empty(
                        value, without, empty[name], name, increments=name not in bounded
                    )
                columns.append(value.as_(id_(name), copy=False))
                continue
            each = quanta(start[name].copy(), name, increments=name not in bounded)
            count = cast(qcol("n", "c") if self.sparse else qcol("dn", "g"), "HUGEINT")
            columns.append(exp.Mul(this=count, expression=each).as_(id_(name), copy=False))
        source: exp.Select = exp.select(*columns, copy=False)
        if self.sparse:
            source = source.from_(
                exp.Table(this=id_(UNIT_COUNTS), alias=exp.TableAlias(this=id_("c"))), copy=False
            ).join(
                grouped.subquery(id_("g"), copy=False),
                on=exp.and_(
                    exp.EQ(this=qcol("v", "g"), expression=qcol("v", "c")),
                    exp.EQ(this=qcol("day", "g"), expression=qcol("day", "c")),
                    copy=False,
                ),
                join_type="LEFT",
                copy=False,
            )
        else:
            source = source.from_(grouped.subquery(id_("g"), copy=False), copy=False)
        select = with_one_row_tables(source, has_caps=percentile, framed=bool(self.framed))
        return with_bounds(select)

    def build(self) -> exp.Expr:
        self.ctes = []
        self.inline = set()
        self._exposure_ctes()
        self._event_ctes()
        self._per_unit_ctes()
        self._event_totals_cte()
        if self.dialect in MATERIALIZING:
            if self.dedup:
                # ranked once, read by the per-unit aggregate, the totals and the daily rows
                self._reuse("kept")
            else:
                # a filtered scan of the source: read again rather than buffered
                self.inline.add("kept")
        if self.exact:
            bounded_over = self.stats_source
            if self.sparse:
                # the quanta see the empty state's terms as the dense plan's units would
                framing = self._framed_keys if self.framed else None
                self._cte("stats_z", with_zero_row(self.channels, self.stats_source, framing))
                bounded_over = "stats_z"
            self._cte(BOUNDS, bounds_cte(self._terms(), bounded_over), reused=True)
        branches = self._branches()
        query: exp.Expr = branches[0]
        for branch in branches[1:]:
            query = exp.union(query, branch, distinct=False, copy=False)
        result = exp.select(*(qcol(c) for c in self.output_columns), copy=False).from_(
            exp.Subquery(this=query, alias=exp.TableAlias(this=id_("result"))), copy=False
        )
        references: dict[str, int] = {}
        for tree in (result, *(cte for _, cte, _ in self.ctes)):
            for table in tree.find_all(exp.Table):
                if isinstance(table.this, exp.Identifier) and not table.args.get("db"):
                    references[table.name] = references.get(table.name, 0) + 1
        for name, cte, reusable in self.ctes:
            # materialise only what is read more than once (else DuckDB buffers it for nothing)
            materialized = reusable and references.get(name, 0) > 1
            keep: bool | None = False if name in self.inline else (materialized or None)
            result = result.with_(id_(name), as_=cte, materialized=keep, copy=False)
        return result

    @property
    def output_columns(self) -> tuple[str, ...]:
        return (*OUTPUT_COLUMNS, *(s.stat_column(f) for s in self.slots for f, _ in s.terms))


def render(plan: QueryPlan, dialect: Dialect) -> str:
    """The experiment query as SQL text for ``dialect``."""
    return QueryBuilder(plan, dialect).build().sql(dialect=dialect)
