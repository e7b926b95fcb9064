"""Compute an experiment's sufficient statistics inside the database.

``compute_experiment_data`` renders ONE query (see :mod:`upsell_ab.metrics.sql`)
for the engine holding the data, runs it, and turns the few aggregate rows
it returns into :class:`ExperimentData`. Raw rows never leave the database.

Semantics (documented in docs/metrics.md, each tested on hand-made tables):
the first exposure to a configured variant defines a unit's variant and
clock; units exposed to several variants are excluded and counted; exposure
rows of unknown variants are excluded and reported; an event counts when
``start <= event_ts - first_exposure_ts < end``; duplicates (same event_id)
are counted and dropped; events of units with no exposure to a configured
variant are orphans.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from upsell_ab.errors import SpecError, StoreError, TimestampKindError, UpsellAbError
from upsell_ab.events.engines import (
    Dialect,
    DuckDBEngine,
    PostgresEngine,
    QueryEngine,
    SparkEngine,
    postgres_dsn,
    wrap_connection,
)
from upsell_ab.events.sources import SourceTables, source_from_spec
from upsell_ab.lookalike import lookalikes
from upsell_ab.metrics.aggregates import (
    NEAR_MISS_CHECK_SHARE,
    ORPHAN_SHARE,
    REPEAT_SAMPLE_EVENTS,
    DailyStats,
    ExperimentData,
    ExposureId,
    LookalikeEvents,
    MetricData,
    NearMissUnits,
    PercentileCap,
    QualitySummary,
    RepeatCount,
    RepeatedEvents,
    UnitIdSamples,
)
from upsell_ab.metrics.periods import AllocationWindow
from upsell_ab.metrics.shared import SharedStore
from upsell_ab.metrics.shared import active as active_share
from upsell_ab.metrics.sufficient import MetricStats
from upsell_ab.spec.models import SourceKind

if TYPE_CHECKING:
    from upsell_ab.metrics.sql import QueryPlan
    from upsell_ab.metrics.sql_layout import MetricSlot
    from upsell_ab.spec.resolve import ResolvedExperiment
    from upsell_ab.spec.source_tables import TableColumns

DEFAULT_STORE = "upsell_ab.duckdb"
MAX_DENSE_DAYS = 731
"""A daily series spanning this many days or more lists only days with changes."""
MISSING_SEGMENT = "(missing)"
"""Segment value reported for units whose attribute is NULL."""


def build_plan(
    resolved: ResolvedExperiment,
    *,
    segments: bool = False,
    daily: bool = False,
    unique_event_ids: bool = False,
    allocation: Sequence[AllocationWindow] = (),
) -> QueryPlan:
    """The query plan of an experiment (pure: no connection). ``unique_event_ids``: the
    source holds one row per event id (our embedded store), so nothing is de-duplicated."""
    from upsell_ab.metrics.sql import QueryPlan

    experiment = resolved.experiment
    if not resolved.metrics:
        raise StoreError(f"experiment {experiment.id} has no metrics to compute")
    segment_names = tuple(experiment.analysis.segments) if segments else ()
    dated = experiment.analysis.outside_dates == "exclude"
    return QueryPlan(
        experiment_id=experiment.id,
        variants=tuple(v.id for v in experiment.variants),
        metrics=tuple(resolved.metrics.items()),
        source=source_from_spec(experiment.data, segment_names),
        segments=segment_names,
        daily=daily,
        unique_event_ids=unique_event_ids,
        start=experiment.start if dated else None,
        end=experiment.end if dated else None,
        allocation=tuple(allocation),
        switchback=(
            experiment.randomization.clock() if experiment.randomization.is_switchback else None
        ),
        forced_units=tuple(sorted(experiment.overrides)),
    )


def experiment_sql(
    resolved: ResolvedExperiment,
    dialect: Dialect = "duckdb",
    *,
    segments: bool = False,
    daily: bool = False,
) -> str:
    """The SQL that ``compute_experiment_data`` would run (for ``validate``/EXPLAIN, docs)."""
    from upsell_ab.metrics.sql import render

    return render(build_plan(resolved, segments=segments, daily=daily), dialect)


def store_path(
    source: SourceTables, store: str | Path | None, default: str | Path = DEFAULT_STORE
) -> str | Path:
    """The embedded store a source is read from: ``store`` when given, else the spec's."""
    return store or source.store or default


def open_engine(source: SourceTables, *, store: str | Path | None, connection: Any) -> QueryEngine:
    """The engine for a source: the caller's connection, else one opened from the spec."""
    if connection is not None:
        return wrap_connection(connection)
    if source.kind is SourceKind.postgres:
        assert source.dsn_env is not None
        return PostgresEngine(dsn=postgres_dsn(source.dsn_env))
    if source.kind is SourceKind.spark:
        return SparkEngine()
    if source.kind is SourceKind.files:
        return DuckDBEngine()
    return DuckDBEngine(path=store_path(source, store))


def recorded_windows(
    resolved: ResolvedExperiment, store: str | Path | None
) -> tuple[AllocationWindow, ...]:
    """The allocation windows a bandit's history records in its DuckDB store (the spec's
    weights first); empty when the weights never changed (one window: nothing to split)."""
    from upsell_ab.allocation.history import load_allocation_periods
    from upsell_ab.metrics.periods import allocation_windows

    periods = load_allocation_periods(store, resolved.experiment)
    if len(periods) < 2:
        return ()
    return allocation_windows(periods[0].weights, periods[1:])


def compute_experiment_data(
    resolved: ResolvedExperiment,
    *,
    store: str | Path | None = None,
    connection: Any = None,
    segments: bool = False,
    daily: bool = False,
    allocation: Sequence[AllocationWindow] = (),
) -> ExperimentData:
    """Sufficient statistics per metric and variant (+ segments, + cumulative days,
    + per allocation window when ``allocation`` has more than one) and the data-quality
    summary, from one query run where the data lives."""
    from dataclasses import replace

    from upsell_ab.metrics.sql import QueryBuilder
    from upsell_ab.metrics.sql_exact import (
        FALLBACK_NOTE,
        FINEST,
        is_exact_failure,
        not_finite_counts,
        too_fine,
    )

    if connection is None and resolved.experiment.data.kind is SourceKind.files:
        import dataclasses

        from upsell_ab.spec.source_files import with_absent_optional_columns

        experiment = with_absent_optional_columns(resolved.experiment)
        if experiment is not resolved.experiment:
            resolved = dataclasses.replace(resolved, experiment=experiment)
    if not allocation and resolved.experiment.allocation.is_bandit:
        allocation = recorded_windows(resolved, store if connection is None else None)
    # the embedded store keeps one row per event id (ingest is idempotent by id), so a
    # store we open ourselves needs no de-duplication; a caller's connection may hold anything
    store_file = connection is None and resolved.experiment.data.kind is SourceKind.embedded
    plan = build_plan(
        resolved,
        segments=segments,
        daily=daily,
        unique_event_ids=store_file,
        allocation=allocation if len(allocation) > 1 else (),
    )
    # inside a report (:mod:`upsell_ab.metrics.shared`) the store's connection is shared
    shared = active_share() if store_file else None
    path = store_path(plan.source, store)
    engine: QueryEngine = (
        shared.engine(path)
        if shared is not None
        else open_engine(plan.source, store=store, connection=connection)
    )
    notes: tuple[str, ...] = ()
    retry: ResolvedExperiment | None = None
    try:
        builder = QueryBuilder(plan, engine.dialect)
        reason: str | None = None
        written_sides = False
        if store_file and isinstance(engine, DuckDBEngine):
            from upsell_ab.metrics.build_side import events_build_side

            written_sides = events_build_side(plan, builder.event_types, engine)
        try:
            rows = _execute(engine, _sql(builder), written_sides)
            fine = too_fine(rows, builder.output_columns) if builder.exact else None
            if fine is not None:
                reason = f"non-zero '{fine}' values below {FINEST:g}"
        except StoreError as error:
            # inf/NaN amounts: say so, rather than the engine's overflow or a slow re-run
            _refuse_not_finite(_not_finite_in_source(plan, builder, engine), plan.source)
            if not builder.exact or not is_exact_failure(str(error)):
                raise
            reason = _first_line(str(error))
        if reason is not None:
            # a value outside the exact ranges: DOUBLE sums, added in a fixed order
            plan = replace(plan, exact_sums=False)
            builder = QueryBuilder(plan, engine.dialect)
            if shared is not None:  # one thread from here on: a connection of its own
                engine, shared = open_engine(plan.source, store=store, connection=None), None
            if isinstance(engine, DuckDBEngine):
                engine.single_thread()
            rows = _execute(engine, _sql(builder), written_sides)
            notes = (FALLBACK_NOTE.format(reason=reason),)
        _refuse_not_finite(not_finite_counts(rows, builder.output_columns), plan.source)
        quantile_rows = _quantile_rows(plan, engine)
        weights = {v.id: v.weight for v in resolved.experiment.variants}
        data = assemble(plan, builder.output_columns, canonical_order(rows), weights)
        data = _without_other_experiments(
            plan, builder, engine, data, shared=(shared, path) if shared is not None else None
        )
        if data.quality.orphan_share > NEAR_MISS_CHECK_SHARE:
            near = _near_miss_units(plan, builder.event_types, engine)
            data = replace(data, near_miss_units=near)
        summed = summed_event_types(builder.channels)
        if summed and data.quality.metric_events:
            repeats = _repeated_events(plan, summed, engine, data.quality.metric_events)
            data = replace(data, repeated_events=repeats)
        if not data.quality.total_units and not data.quality.units_exposed_outside_dates:
            data = replace(data, exposure_ids=_exposure_ids(plan, engine))
        elif _no_event_matched(data):
            samples = _unit_id_samples(plan, builder.event_types, engine)
            data = replace(data, unit_id_samples=samples)
        _refuse_bad_covariates(plan, builder, engine, data)
        present = _event_types_present(plan, engine)
        if any(rows == 0 for rows in data.event_type_rows.values()):
            data = replace(data, event_types_present=present)
        alike = lookalikes([t for t, _ in present if t is not None], builder.event_types)
        if alike:
            lookalike = _lookalike_events(plan, dict(alike), engine)
            data = replace(data, lookalike_events=lookalike)
    except StoreError as error:
        columns = _table_columns(error, plan.source, engine)
        retry = _with_absent_table_columns(resolved, columns)
        if retry is None:
            raise _located(error, plan.source, resolved.source_file, columns) from error
    finally:
        if shared is None:
            engine.close()
    if retry is not None:
        # a table without the optional columns at their default names: read as absent,
        # as a files source and the Python API read them (discount 0, quantity 1)
        return compute_experiment_data(
            retry,
            store=store,
            connection=connection,
            segments=segments,
            daily=daily,
            allocation=allocation,
        )
    if notes:
        data = replace(data, input_notes=(*data.input_notes, *notes))
    if quantile_rows is None:
        return data
    return with_quantiles(plan, data, canonical_order(quantile_rows))


def _exposure_ids(plan: QueryPlan, engine: QueryEngine) -> tuple[ExposureId, ...]:
    """Nobody found: the experiment ids the exposures hold (:mod:`.sql_values`); empty
    when the query fails (the plain "waiting for data" then stands)."""
    from upsell_ab.metrics.sql_values import exposure_ids_sql

    try:
        rows = engine.execute(exposure_ids_sql(plan, engine.dialect))
    except StoreError:
        return ()
    return tuple(
        ExposureId(None if e is None else str(e), int(n), int(named)) for e, n, named in rows
    )


def _no_event_matched(data: ExperimentData) -> bool:
    """Units were exposed and the metrics' events exist, but not one event belongs to a
    unit of this experiment (every one is an orphan): the ids may not be the same kind."""
    quality = data.quality
    return bool(quality.total_units and quality.orphan_events) and (
        quality.orphan_events >= quality.metric_events
    )


def _unit_id_samples(
    plan: QueryPlan, event_types: tuple[str, ...], engine: QueryEngine
) -> UnitIdSamples | None:
    """No event matched: a few unit ids of each side (:mod:`.sql_values`); None when
    that query fails (the orphan warning then stands alone)."""
    from upsell_ab.metrics.sql_values import unit_id_samples_sql

    try:
        rows = engine.execute(unit_id_samples_sql(plan, event_types, engine.dialect))
    except StoreError:
        return None
    ordered = sorted((int(side), str(unit)) for side, unit in rows)
    return UnitIdSamples(
        exposures=tuple(u for side, u in ordered if side == 0),
        events=tuple(u for side, u in ordered if side == 1),
    )


def _near_miss_units(
    plan: QueryPlan, event_types: tuple[str, ...], engine: QueryEngine
) -> NearMissUnits | None:
    """Many orphan events: how many name an exposed unit in another spelling
    (:mod:`.sql_values`); None when there are none, or when that query fails."""
    from upsell_ab.metrics.sql_values import NEAR_MISS_SEPARATOR, near_miss_units_sql

    try:
        rows = engine.execute(near_miss_units_sql(plan, event_types, engine.dialect))
    except StoreError:
        return None
    by_variant = {str(v): int(n) for v, n, _ in rows if n}
    if not by_variant:
        return None
    examples = sorted(str(e) for _, n, e in rows if n and e is not None)
    pair = examples[0].split(NEAR_MISS_SEPARATOR, 1) if examples else []
    return NearMissUnits(by_variant, (pair[0], pair[1]) if len(pair) == 2 else None)


def _lookalike_events(
    plan: QueryPlan, meant: dict[str, str], engine: QueryEngine
) -> LookalikeEvents | None:
    """The exposed units' events of look-alike types per arm (:mod:`.sql_values`); None
    when that query fails."""
    from upsell_ab.metrics.sql_values import lookalike_events_sql

    try:
        rows = engine.execute(lookalike_events_sql(plan, tuple(sorted(meant)), engine.dialect))
    except StoreError:
        return None
    return LookalikeEvents(meant, {(str(v), str(t)): int(n) for v, t, n in rows})


def summed_event_types(channels: Any) -> tuple[str, ...]:
    """The event types whose events a metric adds up (amounts or counts, after exposure):
    a repeated event counts twice there. A 0/1 metric (any event) and a covariate read
    before exposure are left out: a copy does not change "bought at all"."""
    return tuple(sorted({ch.event for _, ch in channels if ch.sums_events}))


def _repeated_events(
    plan: QueryPlan, event_types: tuple[str, ...], engine: QueryEngine, events: int
) -> RepeatedEvents | None:
    """Events repeated within seconds at the same amount, per arm and type
    (:mod:`.sql_values`), on a hash sample of the units above
    :data:`~.aggregates.REPEAT_SAMPLE_EVENTS` events; None when the query fails."""
    from upsell_ab.metrics.sql_values import repeated_events_sql

    modulus = max(1, math.ceil(events / REPEAT_SAMPLE_EVENTS))
    try:
        rows = engine.execute(repeated_events_sql(plan, event_types, engine.dialect, modulus))
    except StoreError:
        return None
    counts = {
        (str(v), str(t)): RepeatCount(int(n), int(r), int(nu), int(ru))
        for v, t, n, r, nu, ru in rows
    }
    return RepeatedEvents(counts, modulus)


def _event_types_present(
    plan: QueryPlan, engine: QueryEngine
) -> tuple[tuple[str | None, int], ...]:
    """A metric's event type has no row: the types the events hold (:mod:`.sql_values`);
    empty when that query fails."""
    from upsell_ab.metrics.sql_values import event_types_sql

    try:
        rows = engine.execute(event_types_sql(plan, engine.dialect))
    except StoreError:
        return ()
    return tuple((None if t is None else str(t), int(n)) for t, n in rows)


def _refuse_bad_covariates(
    plan: QueryPlan, builder: Any, engine: QueryEngine, data: ExperimentData
) -> None:
    """A covariate column of the exposures (``cuped.column``) with inf or NaN made its
    CUPED sums non-finite, which the statistics would call "beyond double precision":
    refuse, naming the column and how many rows (only looked at when a sum is not
    finite, so the common case pays nothing)."""
    import math

    from upsell_ab.metrics.sufficient import CupedStats

    columns: tuple[str, ...] = builder.covariate_columns
    broken = any(
        isinstance(stats, CupedStats)
        and not all(
            math.isfinite(v)
            for v in (stats.covariate_sum, stats.covariate_sum_squares, stats.cross_sum)
        )
        for metric in data.metrics.values()
        for stats in metric.by_variant.values()
    )
    if not columns or not broken:
        return
    from upsell_ab.metrics.sql_values import covariates_not_finite_sql

    try:
        (row,) = engine.execute(covariates_not_finite_sql(plan, columns, engine.dialect))
    except StoreError:
        return
    bad = [f"{int(n):,} in column '{name}'" for name, n in zip(columns, row, strict=True) if n]
    if bad:
        raise StoreError(
            "exposure rows with a CUPED covariate that is not a finite number (inf, -inf "
            f"or NaN): {', '.join(bad)}; the covariate sums would be meaningless. Fix those "
            "values at the source (a missing covariate is NULL, counted as 0)"
        )


def _not_finite_in_source(plan: QueryPlan, builder: Any, engine: QueryEngine) -> dict[str, int]:
    """After a failed query: the rows whose summed amounts are inf or NaN, per canonical
    column (:mod:`upsell_ab.metrics.sql_values`); empty when none, or when this check
    fails too (the original error then stands)."""
    from upsell_ab.metrics.sql_exact import CANONICAL
    from upsell_ab.metrics.sql_values import not_finite_sql

    columns = tuple(CANONICAL[alias] for alias in builder.summed)
    if not columns:
        return {}
    types: tuple[str, ...] = builder.event_types
    try:
        (row,) = engine.execute(not_finite_sql(plan, columns, types, engine.dialect))
    except StoreError:
        return {}
    return {column: int(n) for column, n in zip(columns, row, strict=True) if n}


def _refuse_not_finite(counts: dict[str, int], source: SourceTables) -> None:
    """inf or NaN in a column the metrics add makes every sum, mean and test over it
    meaningless (a percentile cap would silently turn it into the cap): refuse, naming
    the column, how many events, where they are and how to fix it (ingest refuses them
    row by row too)."""
    if not counts:
        return
    events = source.events
    where = (
        f"the events file {events.path!r}"
        if events.path is not None
        else f"the events table {events.table or 'events'!r}"
    )
    parts = []
    for canonical, count in sorted(counts.items()):
        column = events.column(canonical)
        name = column if isinstance(column, str) else canonical
        parts.append(f"{count:,} in column '{name}'")
    raise StoreError(
        f"events with a value that is not a finite number (inf, -inf or NaN) in {where}: "
        f"{', '.join(parts)}; sums, means and tests over them would be meaningless. Fix "
        "or drop those rows at the source (a missing amount is NULL, not NaN), or load "
        "the data with 'upsell-ab ingest', which lists every such row"
    )


_MISSING_INPUT = ("No files found that match the pattern", "Binder Error")
"""DuckDB's words for a files source whose path matches nothing, whose file lacks a
column the spec maps (or leaves at its default), or holds it in a type the analysis
cannot compare (epoch seconds as integers for a timestamp)."""


_UNIT_TYPES = re.compile(
    r"Could not convert string '([^']*)' to (\w+) when casting from source column u\b"
)
"""DuckDB's words when the join of unit ids (aliased ``u`` in every query) compares a
number column with a text column whose ids are not numbers."""


def _unit_types(error: StoreError) -> StoreError:
    """Unit ids of two types (numbers on one side, ``C000008`` on the other), said in those
    words; any other error unchanged. (Files read in place get the cell's row instead.)"""
    mismatch = _UNIT_TYPES.search(str(error))
    if mismatch is None:
        return error
    return StoreError(
        "the exposures' and the events' unit ids are of different types: one side "
        f"holds {mismatch.group(2)} numbers, the other text such as '{mismatch.group(1)}', "
        "so no event can be matched to its unit. Give both sides the same id, as text "
        "(e.g. df['unit_id'] = df['unit_id'].astype(str), or CAST(... AS VARCHAR) in the "
        "source), and check that they use the same id scheme"
    )


_ZONES = re.compile(
    r"Cannot compare values of type (TIMESTAMP(?:_\w+)?) and type TIMESTAMP WITH TIME ZONE"
    r"|Cannot compare values of type TIMESTAMP WITH TIME ZONE and type (TIMESTAMP(?:_\w+)?)\b"
)
"""DuckDB's words when a timestamp with a time zone meets one without (the exposures'
first exposure and the events' time, compared in every query)."""


_NUMBER_TIMES = re.compile(
    r"Cannot compare values of type (?:(?P<a>(?:U?(?:BIG|SMALL|TINY|HUGE)?INT(?:EGER)?"
    r"|DOUBLE|FLOAT|DECIMAL)\b[^ ]*) and type TIMESTAMP|TIMESTAMP[\w ]* and type "
    r"(?P<b>(?:U?(?:BIG|SMALL|TINY|HUGE)?INT(?:EGER)?|DOUBLE|FLOAT|DECIMAL)\b))"
)
"""DuckDB's words when one side's timestamps are numbers (epoch seconds, say)."""


_TEXT_TIMES = "Cannot compare values of type VARCHAR and type TIMESTAMP"
"""DuckDB's words when a timestamp column holds text (files get the cell located)."""


def _timestamp_kinds(error: StoreError) -> StoreError:
    """Timestamps with a time zone on one side and without on the other, or numbers on
    one side, said in those words (DuckDB refuses to compare them) as a
    :class:`~upsell_ab.errors.TimestampKindError`; any other error unchanged."""
    numbers = _NUMBER_TIMES.search(str(error))
    if numbers is not None:
        holds = f"holds numbers ({numbers['a'] or numbers['b']}), not times"
        return TimestampKindError(
            "numbers",
            f"a timestamp column {holds}",
            ", so it cannot be compared with the spec's dates or the other side's times. "
            "If they are Unix epoch seconds, convert them "
            "(pandas: df['timestamp'] = pd.to_datetime(df['timestamp'], unit='s', "
            "utc=True); unit='ms' for milliseconds; SQL: to_timestamp(ts)), or load them "
            "with upsell-ab ingest, which reads epoch seconds and milliseconds",
            holds,
        )
    if _TEXT_TIMES in str(error):
        holds = "holds text, not times"
        return TimestampKindError(
            "text",
            f"a timestamp column {holds}",
            ", so it cannot be compared with the spec's dates or the other side's times. "
            "Convert it (pandas: df['timestamp'] = pd.to_datetime(df['timestamp'], "
            "utc=True), with format= for day-first dates such as '31/03/2026 10:00'; SQL: "
            "CAST(ts AS TIMESTAMP)), or load the data with upsell-ab ingest, which reads "
            "ISO text and names every row it cannot read",
            holds,
        )
    if _ZONES.search(str(error)) is None:
        return error
    return TimestampKindError(
        "zones",
        "the exposures' and the events' timestamps are of different kinds: one side's "
        "carry a time zone, the other's do not",
        ", so they cannot be compared. upsell-ab reads timestamps without a zone as UTC; "
        "give both sides the same kind: convert the zoned side to UTC without a zone "
        "(pandas: df['timestamp'] = df['timestamp'].dt.tz_convert('UTC').dt.tz_localize("
        "None); SQL: CAST(ts AT TIME ZONE 'UTC' AS TIMESTAMP)), or, if the naive side is "
        "UTC, give it the zone (df['timestamp'].dt.tz_localize('UTC'))",
    )


def _located(
    error: StoreError,
    source: SourceTables,
    spec_file: Path | None = None,
    table_columns: TableColumns | None = None,
) -> UpsellAbError:
    """A failure on files read in place, located: a missing file or column as the spec
    problems ``validate`` reports (file, line, field, did-you-mean), a conversion failure
    with the file, row and column of the cell and how to fix it (DuckDB names the value
    and column, not where it is); a table source's missing table or column the same way
    (:func:`_table_problems`); unit ids of two types elsewhere (:func:`_unit_types`);
    any other error unchanged. ``table_columns``: a table source's columns, read after
    the failure (:func:`_table_columns`)."""
    if source.kind is not SourceKind.files:
        located = _table_problems(source, spec_file, table_columns)
        if located is not None:
            return located
        kinds = _timestamp_kinds(error)
        return kinds if kinds is not error else _unit_types(error)
    from upsell_ab.events.file_header import locate_bad_value, text_timestamp_problem

    relations = (("exposures", source.exposures), ("events", source.events))
    files = {
        name: (relation.path, relation.format or "csv")
        for name, relation in relations
        if relation.path is not None
    }
    if _TEXT_TIMES in str(error):
        # text DuckDB could not read as time: name the first cell that does not parse
        for name, relation in relations:
            column = relation.column("timestamp")
            if relation.path is None or not isinstance(column, str):
                continue
            problem = text_timestamp_problem(relation.path, files[name][1], column, name)
            if problem is not None:
                return StoreError(problem)
    if spec_file is not None and any(words in str(error) for words in _MISSING_INPUT):
        from upsell_ab.spec.load import parse_file
        from upsell_ab.spec.models import Experiment
        from upsell_ab.spec.source_files import source_file_problems

        problems = source_file_problems(parse_file(spec_file, Experiment), require_files=True)
        if problems:
            return SpecError(problems)
    if "Conversion Error" not in str(error):
        return _timestamp_kinds(error)  # a spec of its own given: located above
    bad = locate_bad_value(str(error), files)
    if bad is None:
        return _unit_types(error)
    return StoreError(
        f"{bad.describe()} (DuckDB: {_first_line(str(error))}); {bad.hint}, or load "
        "the files with 'upsell-ab ingest', which lists every bad row"
    )


_MISSING_TABLE_INPUT = (
    "Binder Error",  # DuckDB: Referenced column "x" not found; Cannot compare VARCHAR ...
    "Catalog Error",  # DuckDB: Table with name x does not exist
    "does not exist",  # PostgreSQL: column / relation / operator / function ... does not exist
    "UNRESOLVED_COLUMN",  # Spark
    "TABLE_OR_VIEW_NOT_FOUND",  # Spark
    "DATATYPE_MISMATCH",  # Spark: a text column compared with a timestamp
    "CAST_INVALID_INPUT",  # Spark (ANSI): text that is not a timestamp or number
)
"""The engines' words for a table source without a table or column the spec maps, or
with one of a type the analysis cannot compute with."""


def _table_columns(
    error: StoreError, source: SourceTables, engine: QueryEngine
) -> TableColumns | None:
    """A table source's query failed for a table or column it lacks (or one of a type the
    analysis cannot use): each side's columns and types (no rows read), or the engine's
    error reading it; None for any other failure, a files source, or an engine that cannot
    say (a caller's DuckDB relations, an aborted PostgreSQL transaction)."""
    from upsell_ab.metrics.sql import _relation

    read_columns = getattr(engine, "columns", None)
    if source.kind is SourceKind.files or read_columns is None:
        return None
    if not any(words in str(error) for words in _MISSING_TABLE_INPUT):
        return None
    columns: TableColumns = {}
    for side, relation in (("exposures", source.exposures), ("events", source.events)):
        rendered = _relation(relation, engine.dialect).sql(dialect=engine.dialect)
        try:
            columns[side] = dict(read_columns(rendered))
        except StoreError as unreadable:
            if "current transaction is aborted" in str(unreadable):
                # a caller's PostgreSQL transaction, dead since the failed query: it
                # cannot be asked anything, and rolling it back is the caller's choice
                return None
            columns[side] = _first_line(str(unreadable))
    return columns


def _with_absent_table_columns(
    resolved: ResolvedExperiment, columns: TableColumns | None
) -> ResolvedExperiment | None:
    """The experiment with the optional columns its tables lack at their default names
    (:data:`~upsell_ab.spec.source_files.OPTIONAL_DEFAULTS`) read as absent, to run again;
    None when nothing changes (or ``columns`` is None: no table failure)."""
    import dataclasses

    from upsell_ab.spec.source_files import without_absent_defaults

    if columns is None:
        return None
    readable = {side: tuple(found) for side, found in columns.items() if isinstance(found, dict)}
    experiment = without_absent_defaults(resolved.experiment, readable)
    if experiment is resolved.experiment:
        return None
    return dataclasses.replace(resolved, experiment=experiment)


def _table_problems(
    source: SourceTables, spec_file: Path | None, columns: TableColumns | None
) -> UpsellAbError | None:
    """The tables' ``columns`` against every column the spec maps, as located spec
    problems (:mod:`upsell_ab.spec.source_tables`); None when that finds nothing to say."""
    if spec_file is None or columns is None:
        return None
    from upsell_ab.spec.load import parse_file
    from upsell_ab.spec.models import Experiment
    from upsell_ab.spec.source_tables import table_column_problems

    where: dict[str, str] = {}
    for side, relation in (("exposures", source.exposures), ("events", source.events)):
        name = ".".join(n for n in (relation.schema, relation.table) if n)
        embedded = source.kind is SourceKind.embedded and source.store
        where[side] = f"table '{name}'" + (f" of the store {source.store}" if embedded else "")
    problems = table_column_problems(parse_file(spec_file, Experiment), columns, where)
    return SpecError(problems) if problems else None


def _execute(engine: QueryEngine, sql: str, written_build_sides: bool) -> list[tuple[Any, ...]]:
    """The experiment query's rows; on DuckDB with ``written_build_sides``, each join
    builds on the side written on its right (:mod:`upsell_ab.metrics.build_side`)."""
    if written_build_sides and isinstance(engine, DuckDBEngine):
        return engine.execute(sql, written_build_sides=True)
    return engine.execute(sql)


def _sql(builder: Any) -> str:
    """The builder's query as text. The tree is built for this one rendering, so SQLGlot
    need not deep-copy it first (``copy=False``; the copy took a third of the rendering)."""
    return str(builder.build().sql(dialect=builder.dialect, copy=False))


def canonical_order(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """The result rows in one fixed order: parallel threads return the UNION's rows in
    any order, and nothing built from them may depend on it."""
    return sorted(rows, key=lambda row: tuple((value is None, str(value)) for value in row))


def _first_line(message: str) -> str:
    """The gist of a DuckDB error (its first line, without our 'query failed' prefix)."""
    line = message.splitlines()[0] if message else ""
    return line.removeprefix("DuckDB query failed: ").strip() or "a value"


def _without_other_experiments(
    plan: QueryPlan,
    builder: Any,
    engine: QueryEngine,
    data: ExperimentData,
    *,
    shared: tuple[SharedStore, str | Path] | None = None,
) -> ExperimentData:
    """Above the warning threshold only: take the events of other experiments' units out
    of the orphan count (:mod:`upsell_ab.metrics.sql_orphans`; inside a report one query
    answers for every experiment of the store, :mod:`upsell_ab.metrics.shared`)."""
    from dataclasses import replace

    from upsell_ab.metrics.sql_orphans import orphans_elsewhere_sql

    quality = data.quality
    if quality.orphan_share <= ORPHAN_SHARE:
        return data
    types: tuple[str, ...] = builder.event_types
    if shared is not None:
        count = shared[0].orphans_elsewhere(shared[1], plan, types)
    else:
        (row,) = engine.execute(orphans_elsewhere_sql(plan, types, engine.dialect))
        count = int(row[0] or 0)
    elsewhere = min(count, quality.orphan_events)
    quality = replace(
        quality,
        orphan_events=quality.orphan_events - elsewhere,
        metric_events=quality.metric_events - elsewhere,
        other_experiment_events=elsewhere,
    )
    return replace(data, quality=quality)


def _quantile_rows(plan: QueryPlan, engine: QueryEngine) -> list[tuple[Any, ...]] | None:
    """The rows of the quantile metrics' query (None when the plan has none)."""
    from upsell_ab.metrics.sql_quantile import quantile_sql

    sql = quantile_sql(plan, engine.dialect)
    return None if sql is None else list(engine.execute(sql))


def with_quantiles(
    plan: QueryPlan, data: ExperimentData, rows: list[tuple[Any, ...]]
) -> ExperimentData:
    """``data`` with the quantile metrics' statistics from their own query (the main
    query's per-unit sums of those metrics are dropped; no segments or daily series)."""
    from dataclasses import replace

    from upsell_ab.metrics.sql_quantile import assemble_quantiles

    quantiles = assemble_quantiles(plan, rows, data.quality.exposures_by_variant)
    metrics = dict(data.metrics)
    for name, by_variant in quantiles.items():
        metrics[name] = MetricData(metric=name, by_variant=dict(by_variant))
    return replace(data, metrics=metrics)


@dataclass(frozen=True)
class _Row:
    values: dict[str, Any]

    def text(self, name: str) -> str | None:
        value = self.values[name]
        return None if value is None else str(value)

    def count(self, name: str) -> int:
        value = self.values[name]
        return 0 if value is None else int(value)

    def number(self, name: str) -> float:
        value = self.values[name]
        if value is None:
            return 0.0
        return float(value)  # Decimal from PostgreSQL NUMERIC, float elsewhere


Frames = dict[int, dict[str, float]]
"""Metric index -> ``{"shift": .., "scale": ..}`` of its centred, scaled sums."""


def _make(slot: MetricSlot, n: int, sums: dict[str, float], frames: Frames) -> MetricStats:
    if slot.index in frames:
        # running sums of increments round (a unit's empty state can sit far from the
        # frame's centre): a sum of squares is never below 0
        sums = {k: max(v, 0.0) if k == "sum_squares" else v for k, v in sums.items()}
    return slot.stats_class(n=n, **sums, **frames.get(slot.index, {}))


def _stats(slot: MetricSlot, row: _Row, frames: Frames) -> MetricStats:
    n = row.count("n")
    sums = {field: row.number(slot.stat_column(field)) for field, _ in slot.terms}
    return _make(slot, n, sums, frames)


def _empty(slot: MetricSlot, frames: Frames) -> MetricStats:
    return _make(slot, 0, {field: 0.0 for field, _ in slot.terms}, frames)


def _frames(rows: list[_Row]) -> Frames:
    """The frame rows of the query (``y = shift + scale z``); none for 0/1, ratio, CUPED."""
    frames: Frames = {}
    for r in rows:
        shift, scale = r.values["value"], r.values["scale"]
        frames[r.count("seg_index")] = {
            "shift": 0.0 if shift is None else float(shift),
            "scale": 1.0 if scale is None or not float(scale) > 0 else float(scale),
        }
    return frames


def _cumulate(
    plan: QueryPlan, slots: tuple[MetricSlot, ...], rows: list[_Row], frames: Frames
) -> dict[str, list[DailyStats]]:
    """Running sums of the per-day increments, for every calendar day in range; when the
    days span ``MAX_DENSE_DAYS`` or more (stray clocks in a spec without start/end),
    only for the days on which something changed, so two bad timestamps cannot make
    a series of 100,000 days."""
    if not rows:
        return {slot.name: [] for slot in slots}
    increments: dict[tuple[date, str], _Row] = {}
    for r in rows:
        day = r.values["day"]
        increments[(day, str(r.values["variant"]))] = r
    days = sorted({d for d, _ in increments})
    first, last = days[0], days[-1]
    if (last - first).days < MAX_DENSE_DAYS:
        days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    totals: dict[tuple[str, str], list[float]] = {}
    counts: dict[str, int] = defaultdict(int)
    out: dict[str, list[DailyStats]] = {slot.name: [] for slot in slots}
    for day in days:
        for variant in plan.variants:
            increment = increments.get((day, variant))
            if increment is None:
                continue
            counts[variant] += increment.count("n")
            for slot in slots:
                running = totals.setdefault((slot.name, variant), [0.0] * len(slot.terms))
                for i, (field, _) in enumerate(slot.terms):
                    running[i] += increment.number(slot.stat_column(field))
        for slot in slots:
            by_variant: dict[str, MetricStats] = {}
            for variant in plan.variants:
                sums = totals.get((slot.name, variant))
                by_variant[variant] = (
                    _make(
                        slot,
                        counts[variant],
                        {f: v for (f, _), v in zip(slot.terms, sums, strict=True)},
                        frames,
                    )
                    if sums is not None
                    else _empty(slot, frames)
                )
            out[slot.name].append(DailyStats(day=day, by_variant=by_variant))
    return out


def assemble(
    plan: QueryPlan,
    columns: tuple[str, ...],
    raw_rows: list[tuple[Any, ...]],
    weights: dict[str, float],
) -> ExperimentData:
    """Turn the query's tagged rows into :class:`ExperimentData`."""
    from upsell_ab.metrics.sql_exact import CANONICAL
    from upsell_ab.metrics.sql_layout import build_slots

    slots = build_slots(plan.metrics)
    rows = [_Row(dict(zip(columns, r, strict=True))) for r in raw_rows]
    by_kind: dict[str, list[_Row]] = defaultdict(list)
    for r in rows:
        by_kind[str(r.values["kind"])].append(r)

    frames = _frames(by_kind["frame"])
    by_variant: dict[str, dict[str, MetricStats]] = {s.name: {} for s in slots}
    exposures = dict.fromkeys(plan.variants, 0)
    first_days: list[date] = []
    last_days: list[date] = []
    periods: dict[str, tuple[date, date]] = {}
    for r in by_kind["metric"]:
        variant = str(r.values["variant"])
        exposures[variant] = r.count("n")
        first_days.append(r.values["day"])
        last_days.append(r.values["last_day"])
        periods[variant] = (_as_date(r.values["day"]), _as_date(r.values["last_day"]))
        for slot in slots:
            by_variant[slot.name][variant] = _stats(slot, r, frames)
    for slot in slots:
        for variant in plan.variants:
            by_variant[slot.name].setdefault(variant, _empty(slot, frames))
        by_variant[slot.name] = {v: by_variant[slot.name][v] for v in plan.variants}

    by_segment: dict[str, dict[tuple[str, str], dict[str, MetricStats]]] = {
        s.name: {} for s in slots
    }
    for r in by_kind["segment"]:
        key = (plan.segments[r.count("seg_index")], r.text("seg_value") or MISSING_SEGMENT)
        for slot in slots:
            cell = by_segment[slot.name].setdefault(key, {})
            cell[str(r.values["variant"])] = _stats(slot, r, frames)
    for slot in slots:
        for cell in by_segment[slot.name].values():
            for variant in plan.variants:
                cell.setdefault(variant, _empty(slot, frames))
        by_segment[slot.name] = dict(sorted(by_segment[slot.name].items()))

    daily = _cumulate(plan, slots, by_kind["daily"], frames) if plan.daily else {}
    for slot in slots:
        series = daily.get(slot.name)
        if series and all(
            series[-1].by_variant[v].n == by_variant[slot.name][v].n for v in plan.variants
        ):
            # the last day IS the whole period: its exact totals, not rounded running sums
            series[-1] = DailyStats(day=series[-1].day, by_variant=dict(by_variant[slot.name]))
    quality_row = by_kind["quality"][0] if by_kind["quality"] else None
    quality = QualitySummary(
        exposures_by_variant=exposures,
        configured_weights=dict(weights),
        multiple_exposure_units=sum(r.count("n") for r in by_kind["multi"]),
        orphan_events=quality_row.count("orphans") if quality_row else 0,
        events_before_exposure=quality_row.count("before") if quality_row else 0,
        events_just_before_exposure=quality_row.count("near") if quality_row else 0,
        events_outside_window=quality_row.count("outside") if quality_row else 0,
        duplicates_dropped=sum(r.count("n") for r in by_kind["dups"]),
        event_rows_at_midnight=sum(r.count("n") for r in by_kind["midnight"]),
        unknown_variants=dict(
            sorted(
                (str(r.values["variant"]), r.count("n"))
                for r in by_kind["unknown"]
                if r.count("n") and r.values["variant"] not in plan.variants
            )
        ),
        exposure_rows_without_unit=sum(int(r.number("value") or 0) for r in by_kind["unknown"]),
        units_exposed_outside_dates=sum(r.count("n") for r in by_kind["undated"]),
        exposure_rows_without_time=sum(int(r.number("value")) for r in by_kind["undated"]),
        metric_events=quality_row.count("n") if quality_row else 0,
        event_rows_without_time=(
            int(quality_row.number("value") or 0) if quality_row is not None else 0
        ),
        negative_values={
            (str(r.values["variant"]), CANONICAL[str(r.values["seg_value"])]): r.count("n")
            for r in by_kind["negative"]
            if r.count("n")
        },
        exposure_periods={v: periods[v] for v in plan.variants if v in periods},
    )
    caps = tuple(
        PercentileCap(
            metric=slots[r.count("seg_index")].name,
            channel=str(r.values["variant"]),
            level=_percentile_level(slots[r.count("seg_index")].definition),
            value=None if r.values["value"] is None else float(r.values["value"]),
            positive_units=r.count("n"),
        )
        for r in by_kind["cap"]
    )
    split = None
    if plan.allocation:
        from upsell_ab.metrics.sql_periods import period_split

        split = period_split(
            plan.allocation,
            plan.variants,
            slots,
            by_kind["period"],
            lambda slot, r: _stats(slot, r, frames),
            lambda slot: _empty(slot, frames),
        )
    slot_stats = None
    if plan.switchback is not None:
        from upsell_ab.metrics.sql_slots import slot_split

        slot_stats = slot_split(
            plan.experiment_id,
            plan.switchback,
            slots,
            by_kind["slot"],
            lambda slot, r: _stats(slot, r, frames),
        )
    metrics = {
        slot.name: MetricData(
            metric=slot.name,
            by_variant=by_variant[slot.name],
            by_segment=by_segment[slot.name],
            daily=daily.get(slot.name, []),
        )
        for slot in slots
    }
    return ExperimentData(
        experiment_id=plan.experiment_id,
        metrics=metrics,
        quality=quality,
        first_exposure=min(first_days) if first_days else None,
        last_exposure=max(last_days) if last_days else None,
        caps=tuple(sorted(caps, key=lambda c: (c.metric, c.channel))),
        measured={
            (str(r.values["variant"]), str(r.values["seg_value"])): (r.count("n"), r.count("value"))
            for r in by_kind["measured"]
        },
        event_type_rows={str(r.values["variant"]): r.count("n") for r in by_kind["etype"]},
        empty_values=_empty_values(plan, by_kind["empty"]),
        periods=split,
        slots=slot_stats,
    )


def _empty_values(
    plan: QueryPlan, rows: list[Any]
) -> dict[tuple[str, str], dict[str, tuple[int, int]]]:
    """The ``empty`` rows by (event type, column) and variant, every variant present."""
    from upsell_ab.metrics.sql import measured_pairs

    pairs = measured_pairs(plan)
    found: dict[tuple[str, str], dict[str, tuple[int, int]]] = {p: {} for p in pairs}
    for r in rows:
        cell = found[pairs[r.count("seg_index")]]
        cell[str(r.values["variant"])] = (r.count("n"), r.count("value"))
    return {
        pair: {v: counts.get(v, (0, 0)) for v in plan.variants} for pair, counts in found.items()
    }


def _as_date(value: Any) -> date:
    """A DATE cell (``datetime.date`` from every engine; a datetime is cut to its day)."""
    from datetime import datetime

    return value.date() if isinstance(value, datetime) else value


def _percentile_level(definition: Any) -> float:
    capping = definition.capping
    return float(capping.value) if capping is not None else 0.0
