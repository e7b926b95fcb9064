"""The shape of the experiment query where it decides the cost (issue 17).

* From the embedded store (one row per event id, guaranteed at ingest) no window
  function runs over the events: no de-duplication, and the daily series takes its
  running sums over the unit-days of units with events on several days only.
* From other sources the events are ranked by event id once and the duplicates are
  dropped inside the single aggregation over events (no filtered copy).
* The totals come from ONE join of the units with their events and ONE aggregation
  per unit (like a hand-written query): the events are not grouped by unit first and
  all units joined back to that aggregate; orphans are the events left unmatched,
  counted from a join-free count of the events. The daily series adds per-day rows
  only for units with events on several days (most units have one).
* The daily series has no ``LAG`` (the old plan took one per statistic over unit-days).

Checked on the SQLGlot tree and on DuckDB's physical plan; the numbers the plan
produces are checked against the store-free path and the oracle.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pytest
import sqlglot
from metrics_support import assert_close, oracle, resolved, stats_dict
from sqlglot import exp
from test_metrics_engines import DATA, METRICS, RESOLVED, VARIANTS

from upsell_ab.events.store import EventStore
from upsell_ab.metrics.compute import build_plan, compute_experiment_data
from upsell_ab.metrics.sql import render


def _sql(*, unique: bool, daily: bool, dialect: str = "duckdb") -> str:
    # no segments: their first-exposure attributes rank exposures (not events) by unit
    plan = build_plan(RESOLVED, daily=daily, unique_event_ids=unique)
    return render(plan, dialect)  # type: ignore[arg-type]


def _windows(sql: str, dialect: str = "duckdb") -> list[exp.Window]:
    return list(sqlglot.parse_one(sql, read=dialect).find_all(exp.Window))


def _cte(sql: str, name: str, dialect: str = "duckdb") -> exp.Expr:
    tree = sqlglot.parse_one(sql, read=dialect)
    for cte in tree.find_all(exp.CTE):
        if cte.alias == name:
            return cte.this
    raise AssertionError(f"no CTE {name}")


def _events_reads(sql: str, dialect: str = "duckdb") -> int:
    tree = sqlglot.parse_one(sql, read=dialect)
    return sum(1 for t in tree.find_all(exp.Table) if t.name == "events")


@pytest.mark.parametrize("dialect", ["duckdb", "postgres", "spark"])
def test_store_source_has_no_window_over_events(dialect: str) -> None:
    assert _windows(_sql(unique=True, daily=False, dialect=dialect), dialect) == []
    daily = _sql(unique=True, daily=True, dialect=dialect)
    assert not list(_cte(daily, "kept", dialect).find_all(exp.Window))
    for window in _windows(daily, dialect):
        # only running sums, and only over per-(unit, day) rows of multi-day units (which
        # carry their variant and fixed channels: no join back to the units)
        assert isinstance(window.this, exp.Sum)
        select = window.find_ancestor(exp.Select)
        assert select is not None
        assert {t.name for t in select.find_all(exp.Table)} == {"ev_day"}
        spec = window.args["spec"]
        # DuckDB's exact integer sums: the state before a day is the state after it
        # minus the day's own sum, so one running sum per channel (no '1 PRECEDING')
        assert dialect != "duckdb" or spec.args.get("end") == "CURRENT ROW", window.sql()
    assert not list(sqlglot.parse_one(daily, read=dialect).find_all(exp.Lag))


@pytest.mark.parametrize("dialect", ["duckdb", "postgres", "spark"])
def test_other_sources_rank_event_ids_once(dialect: str) -> None:
    for daily in (False, True):
        sql = _sql(unique=False, daily=daily, dialect=dialect)
        ranks = [w for w in _windows(sql, dialect) if isinstance(w.this, exp.RowNumber)]
        assert len(ranks) == 1  # one ranking, in ``kept``
        assert _events_reads(sql, dialect) == 1
        tree = sqlglot.parse_one(sql, read=dialect)
        readers = [t for t in tree.find_all(exp.Table) if t.name == "kept"]
        # the ranked events feed the per-unit aggregate and the join-free totals (no CTE
        # of the surviving rows); with the daily series a third read joins them to the
        # units with events on several days
        assert len(readers) == (3 if daily else 2)
        if dialect != "spark":
            kept = next(c for c in tree.find_all(exp.CTE) if c.alias == "kept")
            assert kept.args.get("materialized") is True  # ranked once, read again


@pytest.mark.parametrize("dialect", ["duckdb", "postgres", "spark"])
def test_event_ids_are_ranked_by_the_documented_rule(dialect: str) -> None:
    """The one ranking partitions by the event id alone and orders by the documented
    tie-break, each ascending with NULLs last, in every dialect (docs/metrics.md; Spark's
    own default is NULLs first, so its SQL must say NULLS LAST). The same kept row on
    every engine is checked on data in tests/test_metrics_dedup_rule.py."""
    (rank,) = [
        w
        for w in _windows(_sql(unique=False, daily=True, dialect=dialect), dialect)
        if isinstance(w.this, exp.RowNumber)
    ]
    assert [p.name for p in rank.args["partition_by"]] == ["eid"]
    order = rank.args["order"].expressions
    assert [o.this.name for o in order] == ["ts", "u", "etype", "val", "disc", "qty"]
    assert not any(o.args.get("desc") or o.args.get("nulls_first") for o in order), rank.sql()


def test_event_ids_are_ranked_by_one_window_and_nothing_else_in_duckdbs_plan() -> None:
    """Files, PostgreSQL and Spark sources pay ONE window over the events of the metrics'
    types (issue 17, stop 25: an aggregate over event ids, ``arg_min`` of the row, or a
    count of each id to rank only the repeated ones, each cost as much or more at 10M)."""
    plan = _physical_plan(_sql(unique=False, daily=False))
    assert plan.count("WINDOW") == 1, plan
    assert plan.count("ROW_NUMBER") == 1, plan
    assert "ARG_MIN" not in plan and "ARG_MAX" not in plan, plan


@pytest.mark.parametrize("dialect", ["duckdb", "postgres", "spark"])
@pytest.mark.parametrize("daily", [True, False])
def test_one_join_of_units_and_events(dialect: str, daily: bool) -> None:
    """``units`` is read once, LEFT JOINed to the events and grouped by unit: no
    per-unit aggregate of the events joined back to every unit (the old plan's second
    join of all units, and its materialised copy of them)."""
    for unique in (True, False):
        tree = sqlglot.parse_one(_sql(unique=unique, daily=daily, dialect=dialect), read=dialect)
        ctes = {c.alias: c.this for c in tree.find_all(exp.CTE)}
        assert "ev_unit" not in ctes
        unit_reads = [t for t in tree.find_all(exp.Table) if t.name == "units"]
        per_unit = ctes["per_unit"]
        joined = [t for t in unit_reads if t.find_ancestor(exp.Select) is per_unit]
        assert len(joined) == 1
        (join,) = per_unit.args["joins"]
        assert join.this.name == "kept"
        if dialect == "duckdb":
            # sparse: the units with events only; the others are counted per (variant,
            # day) by ``unit_counts`` and mixed units by the ``multi`` row: two more
            # reads of ``units``, neither joined to anything
            assert join.side == "" and join.kind == "INNER"
            others = [t.find_ancestor(exp.Select) for t in unit_reads if t is not joined[0]]
            assert len(others) == 2
            assert all(select is not None and not select.args.get("joins") for select in others)
        else:
            assert join.side == "LEFT" and len(unit_reads) == 1
        assert per_unit.args["group"] is not None
        # every other reader of the events aggregates them without a join (the totals),
        # or joins only the units with in-window events on several days (``ev_day``)
        for name, cte in ctes.items():
            reads = {t.name for t in cte.find_all(exp.Table)}
            if "kept" in reads and name not in ("per_unit", "totals", "ev_day"):
                raise AssertionError(f"{name} reads the events")
        assert not ctes["totals"].args.get("joins")


@pytest.mark.parametrize("dialect", ["duckdb", "postgres"])
def test_store_events_are_scanned_not_buffered(dialect: str) -> None:
    """From the store the filtered scan of the events is read where it is needed rather
    than materialised (a buffered copy of 7M events cost more than two scans)."""
    tree = sqlglot.parse_one(_sql(unique=True, daily=True, dialect=dialect), read=dialect)
    kept = next(c for c in tree.find_all(exp.CTE) if c.alias == "kept")
    assert kept.args.get("materialized") is False


@pytest.mark.parametrize("unique", [True, False])
def test_per_day_rows_only_for_units_with_several_event_days(unique: bool) -> None:
    ev_day = _cte(_sql(unique=unique, daily=True), "ev_day")
    assert {t.name for t in ev_day.find_all(exp.Table)} == {"kept", "capped"}
    where = ev_day.args["where"].sql()
    assert '"capped"."nd" > 1' in where


@pytest.mark.parametrize("unique", [True, False])
@pytest.mark.parametrize("daily", [True, False])
def test_per_unit_event_counters_are_counts_not_integer_sums(unique: bool, daily: bool) -> None:
    """DuckDB sums integers into 128-bit HUGEINTs: the counters of the aggregations over
    events (quality counts, events per type, in-window days, count channels) are
    ``COUNT``s."""
    sql = _sql(unique=unique, daily=daily)
    for name in ("per_unit", "totals", "ev_day") if daily else ("per_unit", "totals"):
        cte = _cte(sql, name)
        for total in cte.find_all(exp.Sum):
            case = total.this
            if isinstance(case, exp.Case):
                values = [i.args["true"] for i in case.args["ifs"]] + [case.args.get("default")]
                assert not all(
                    isinstance(v, exp.Literal) and not v.is_string and "." not in v.name
                    for v in values
                ), total.sql()
    per_unit = [c.alias for c in _cte(sql, "per_unit").expressions]
    assert {"matched", "before", "near", "outside"} <= set(per_unit)
    assert "events" in [c.alias for c in _cte(sql, "totals").expressions]
    # conversion's and the ratio's denominator count events: COUNT, not a fixed-point SUM
    counted = {
        c.alias
        for c in _cte(sql, "per_unit").expressions
        if c.find(exp.Count) is not None and c.find(exp.Sum) is None
    }
    assert {"m0_y", "m3_d"} <= counted, counted


def _plan_tables() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with empty exposures and events tables of the test spec."""
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE exposures (experiment VARCHAR, variant VARCHAR, unit_id VARCHAR, "
        '"timestamp" TIMESTAMP, channel VARCHAR, tier VARCHAR)'
    )
    con.execute(
        'CREATE TABLE events (unit_id VARCHAR, "timestamp" TIMESTAMP, event_type VARCHAR, '
        "value DOUBLE, discount DOUBLE, quantity DOUBLE, event_id VARCHAR)"
    )
    return con


def _physical_plan(sql: str) -> str:
    con = _plan_tables()
    con.execute("INSERT INTO exposures VALUES ('exp1', 'control', 'u1', '2024-01-01', 'a', 'b')")
    con.execute("INSERT INTO events VALUES ('u1', '2024-01-02', 'order', 1, 0, 1, 'e1')")
    con.execute("SET explain_output = 'physical_only'")
    rows = con.execute("EXPLAIN " + sql).fetchall()
    return "\n".join(str(r[1]) for r in rows).upper()


def _joins(plan: str) -> int:
    return plan.count("HASH JOIN") + plan.count("HASH_JOIN")


def _join_conditions(sql: str) -> list[str]:
    """The conditions of every hash join in DuckDB's physical plan (EXPLAIN in JSON)."""
    con = _plan_tables()
    con.execute("INSERT INTO exposures VALUES ('exp1', 'control', 'u1', '2024-01-01', 'a', 'b')")
    con.execute("INSERT INTO events VALUES ('u1', '2024-01-02', 'order', 1, 0, 1, 'e1')")
    text = con.execute(f"EXPLAIN (FORMAT json) {sql}").fetchall()[0][1]
    found: list[str] = []

    def walk(node: dict[str, Any]) -> None:
        if node.get("name") == "HASH_JOIN":
            conditions = node.get("extra_info", {}).get("Conditions", "")
            if isinstance(conditions, list):  # several: the first is the equality
                conditions = conditions[0]
            found.append(str(conditions))
        for child in node.get("children", []):
            walk(child)

    for node in json.loads(text):
        walk(node)
    return found


@pytest.mark.parametrize("unique", [True, False])
def test_one_hash_join_in_duckdbs_plan(unique: bool) -> None:
    """DuckDB's physical plan of the totals holds ONE hash join of units and events; the
    daily series adds one, of the events with the units with events on several days.
    The others join per-variant (per-day) counts of units to the sums of the units with
    events (the sparse plan, :mod:`upsell_ab.metrics.sql_sparse`): a few rows each."""
    for daily, unit_joins in ((False, 1), (True, 2)):
        conditions = _join_conditions(_sql(unique=unique, daily=daily))
        on_units = [c for c in conditions if c.startswith("u = u")]
        assert len(on_units) == unit_joins, conditions
        others = [c for c in conditions if not c.startswith("u = u")]
        assert others and all(c.startswith("v = v") for c in others), conditions


def test_daily_and_totals_from_one_scan_in_duckdbs_plan() -> None:
    plan = _physical_plan(_sql(unique=True, daily=True))
    # events: the per-unit aggregate (totals and the per-unit day bounds), the join-free
    # event counts, and one read restricted to units with several event days
    assert plan.count("TABLE: MEMORY.MAIN.EVENTS") <= 3, plan
    assert "ROW_NUMBER" not in plan
    assert "LAG" not in plan


def test_store_results_equal_the_deduplicating_path(tmp_path: Path) -> None:
    """The store drops repeated event ids at ingest; analysing it without de-duplication
    gives the oracle's numbers (which drop them by event id) and reports none dropped."""
    exposures, events = DATA
    path = tmp_path / "store.duckdb"
    with EventStore(path) as store:
        store.ingest_exposures(exposures, source_name="exposures")
        report = store.ingest_events(events, source_name="events")
    assert report.duplicates_in_source > 0
    data = compute_experiment_data(RESOLVED, store=path, segments=True, daily=True)
    expected = oracle(*DATA, "exp1", VARIANTS, METRICS)
    assert data.quality.duplicates_dropped == 0
    assert data.quality.orphan_events == expected.orphans
    for name in METRICS:
        for variant in VARIANTS:
            assert_close(
                stats_dict(data.metrics[name].by_variant[variant]), expected.stats[name][variant]
            )
    series = data.metrics["revenue"].daily
    for index in (0, 4, len(series) - 1):
        at_day = oracle(*DATA, "exp1", VARIANTS, METRICS, day=series[index].day)
        for name in ("revenue", "aov", "repeat"):
            for variant in VARIANTS:
                actual = stats_dict(data.metrics[name].daily[index].by_variant[variant])
                assert_close(actual, at_day.stats[name][variant])
    with duckdb.connect(str(path), read_only=True) as con:
        # the same store through a caller's connection is de-duplicated (nothing to drop)
        again = compute_experiment_data(RESOLVED, connection=con, segments=True)
    assert again.quality.duplicates_dropped == 0
    for name in METRICS:
        for variant in VARIANTS:
            assert_close(
                stats_dict(again.metrics[name].by_variant[variant]),
                stats_dict(data.metrics[name].by_variant[variant]),
            )


# The window channels of METRICS (test_metrics_engines) and their in-window sums, listed
# by hand: revenue's value and aov's numerator are one sum (order value, 0-7 days), as
# are orders and aov's denominator (order count, 0-7 days); the other seven are distinct.
DISTINCT_DAY_SUMS = 9
"""take; order value 0-7d (revenue, aov y); order count 0-7d (orders, aov d); items'
quantity and count 1h-10d; repeat's count 1-30d; profit; refund; discount."""
DISTINCT_WINDOWS = 5
"""upsell_purchase 0-7d; order 0-7d, 1h-10d, 1-30d; refund 0-7d."""


@pytest.mark.parametrize("dialect", ["duckdb", "postgres", "spark"])
def test_one_running_sum_per_distinct_in_window_sum(dialect: str) -> None:
    """Metrics on one event share their per-(unit, day) sum and its running sum: DuckDB
    merges identical aggregates in a GROUP BY but computes identical window functions
    again (issue 17: 5 running sums where 2 were distinct)."""
    daily = _sql(unique=True, daily=True, dialect=dialect)
    running = _windows(daily, dialect)
    summed = {w.this.this.sql() for w in running}
    assert len(summed) == DISTINCT_DAY_SUMS, sorted(summed)
    # DuckDB: one running sum per column (the state before is the same window minus the
    # day's own sum: the same expression, computed once); the other engines add a
    # '1 PRECEDING' frame for the state before the day
    distinct = {w.sql(dialect=dialect) for w in running}
    assert len(distinct) == DISTINCT_DAY_SUMS * (1 if dialect == "duckdb" else 2)
    ev_day = _cte(daily, "ev_day", dialect)
    sums = [c for c in ev_day.expressions if isinstance(c, exp.Alias) and c.this.find(exp.Sum)]
    assert len(sums) == DISTINCT_DAY_SUMS, [c.alias for c in sums]


def _any_window_filter(ev_day: exp.Expr) -> exp.Expr:
    """The any-window condition in ``ev_day``'s WHERE (the parenthesised conjunct)."""
    condition = ev_day.args["where"].this.expression  # the last of the AND's terms
    assert isinstance(condition, exp.Paren), condition.sql()
    return condition.this


def test_each_distinct_window_once_in_the_any_window_condition() -> None:
    ev_day = _cte(_sql(unique=True, daily=True), "ev_day")
    condition = _any_window_filter(ev_day)
    assert isinstance(condition, exp.Or)
    windows = list(condition.flatten())
    assert len(windows) == DISTINCT_WINDOWS, [w.sql() for w in windows]
    assert len({w.sql() for w in windows}) == DISTINCT_WINDOWS


@pytest.mark.parametrize("dialect", ["duckdb", "postgres", "spark"])
def test_unit_days_are_grouped_from_in_window_events_only(dialect: str) -> None:
    """``ev_day`` groups only the events inside some window (the others add 0 to every
    sum): no per-(unit, day) count of in-window events and no filter on it afterwards.
    With several windows each sum keeps its own window's condition."""
    daily = _sql(unique=True, daily=True, dialect=dialect)
    ev_day = _cte(daily, "ev_day", dialect)
    assert isinstance(_any_window_filter(ev_day), exp.Or)
    assert "nwin" not in {c.alias_or_name for c in ev_day.expressions}
    assert not list(ev_day.find_all(exp.Count))
    for column in ev_day.expressions:
        if isinstance(column, exp.Alias) and column.this.find(exp.Sum):
            case = column.this.find(exp.Case)
            assert case is not None and case.args["ifs"][0].this.find(exp.GTE), column.sql()
    states = [
        s
        for s in sqlglot.parse_one(daily, read=dialect).find_all(exp.Select)
        if {t.name for t in s.find_all(exp.Table)} == {"ev_day"}
    ]
    assert states and all(s.args.get("where") is None for s in states)


def test_with_one_window_the_unit_day_sums_are_unconditional() -> None:
    """Every metric on one window (the usual spec: conversion, revenue, revenue with CUPED,
    a ratio, all within 60 days): the WHERE already holds that window, so the per-(unit,
    day) sums add their summands with no condition of their own."""
    from test_metrics_daily_shared import METRICS as ONE_WINDOW
    from test_metrics_daily_shared import VARIANTS as TWO

    plan = build_plan(resolved(ONE_WINDOW, variants=TWO), daily=True, unique_event_ids=True)
    ev_day = _cte(render(plan, "duckdb"), "ev_day")
    window = _any_window_filter(ev_day)
    assert isinstance(window, exp.And) and window.find(exp.GTE)  # the one window
    sums = [c for c in ev_day.expressions if isinstance(c, exp.Alias) and c.this.find(exp.Sum)]
    assert len(sums) == 2  # the order count and the order value
    for column in sums:
        case = column.this.find(exp.Case)
        assert case is not None and isinstance(case.args["ifs"][0].this, exp.Boolean)


def test_daily_sums_are_scaled_after_grouping() -> None:
    """The daily group-by over every increment row adds integers only: each quantum
    multiplies its sum once per (variant, day) afterwards, not through a ``MIN(q)`` per
    statistic and row (as many aggregates again as the sums)."""
    tree = sqlglot.parse_one(_sql(unique=True, daily=True), read="duckdb")
    daily = [
        s
        for s in tree.find_all(exp.Select)
        if any(c.alias == "kind" and c.this.name == "daily" for c in s.expressions)
    ]
    (row,) = daily
    assert row.args.get("group") is None and not list(row.find_all(exp.Min))
    grouped = [s for s in row.find_all(exp.Select) if s.args.get("group") is not None]
    sums = [s for s in grouped if {c.alias_or_name for c in s.expressions} >= {"v", "day", "dn"}]
    # the increments' sums, the first exposures' counts and sums, and the two added up
    assert len(sums) == 3
    for select in sums:
        assert not list(select.find_all(exp.Min))
    assert {t.name for t in _increment_sums(tree).find_all(exp.Table)} >= {"bounds"}


def _increment_sums(tree: exp.Expr) -> exp.Select:
    """The daily group-by over the increment rows (the subquery ``increments``)."""
    (sums,) = [
        s
        for s in tree.find_all(exp.Select)
        if s.args.get("group") is not None
        and s.args.get("from_") is not None
        and isinstance(s.args["from_"].this, exp.Subquery)
        and s.args["from_"].this.alias == "increments"
    ]
    return sums


def _entry_sums(tree: exp.Expr) -> exp.Select:
    """The group-by counting the units by first-exposure day (``COUNT(*) AS dn``)."""
    (entries,) = [
        s
        for s in tree.find_all(exp.Select)
        if s.args.get("group") is not None
        and any(c.alias == "dn" and isinstance(c.this, exp.Count) for c in s.expressions)
    ]
    return entries


def test_first_exposures_are_counted_per_day_not_added_row_by_row() -> None:
    """Every unit adds its empty state's terms on its first-exposure day: 10M rows, most
    of them constants. They are no rows of the daily 39-sum group-by: one group-by of the
    units counts them per (variant, first day) and sums only the terms that read a unit's
    own value (a fixed CUPED covariate); every other term is one integer of quanta for
    all units, multiplied by the count (exact: integer arithmetic)."""
    tree = sqlglot.parse_one(_sql(unique=True, daily=True), read="duckdb")
    increments = _increment_sums(tree).args["from_"].this
    for select in increments.find_all(exp.Select):
        # no first-exposure branch left: no '1 AS dn', no first_ts read
        assert not any(c.alias == "dn" and c.this.sql() == "1" for c in select.expressions)
        assert "first_ts" not in {c.name for c in select.find_all(exp.Column)}
    entries = _entry_sums(tree)
    assert entries.args["from_"].this.name == "capped"
    assert [g.sql() for g in entries.args["group"].expressions] == [
        '"capped"."v"',
        'CAST("capped"."first_ts" AS DATE)',
    ]
    summed = {c.alias for c in entries.expressions if isinstance(c.this, exp.Sum)}
    # by hand from METRICS: the terms with a CUPED covariate factor (revenue's, aov's
    # numerator and denominator covariates, refund's), and nothing else
    assert summed == {
        "m1__covariate_sum",
        "m1__covariate_sum_squares",
        "m1__cross_sum",
        "m3__covariate_numerator_sum",
        "m3__covariate_numerator_sum_squares",
        "m3__covariate_denominator_sum",
        "m3__covariate_denominator_sum_squares",
        "m3__covariate_numerator_denominator_cross",
        "m3__numerator_covariate_numerator_cross",
        "m3__numerator_covariate_denominator_cross",
        "m3__denominator_covariate_numerator_cross",
        "m3__denominator_covariate_denominator_cross",
        "m7__covariate_sum",
        "m7__covariate_sum_squares",
        "m7__cross_sum",
    }
    outer = entries.find_ancestor(exp.Select)
    assert outer is not None
    constant = [
        c for c in outer.expressions if isinstance(c.this, exp.Mul) and c.alias.startswith("m")
    ]
    assert len(constant) == 39 - len(summed)
    for column in constant:
        count = column.this.this
        # every eligible unit's count (``unit_counts``): the sparse plan's ``capped``
        # holds the units with events only
        assert isinstance(count, exp.Cast) and count.sql() == 'CAST("c"."n" AS INT128)'

        assert count.to.sql(dialect="duckdb") == "INT128"  # no 64-bit overflow


@pytest.mark.parametrize("dialect", ["postgres", "spark"])
def test_other_dialects_keep_one_row_per_first_exposure(dialect: str) -> None:
    """PostgreSQL's NUMERIC and Spark's DOUBLE sums keep the plain form (a count times a
    DOUBLE constant is not the sum of the same constants in floating point)."""
    tree = sqlglot.parse_one(_sql(unique=True, daily=True, dialect=dialect), read=dialect)
    firsts = [
        s
        for s in tree.find_all(exp.Select)
        if any(c.alias == "dn" and c.this.sql() == "1" for c in s.expressions)
    ]
    assert len(firsts) == 1
    assert not [
        s
        for s in tree.find_all(exp.Select)
        if any(c.alias == "dn" and isinstance(c.this, exp.Count) for c in s.expressions)
    ]


@pytest.mark.parametrize("dialect", ["duckdb", "postgres", "spark"])
@pytest.mark.parametrize("daily", [True, False])
def test_per_unit_aggregate_is_grouped_by_the_unit_alone(dialect: str, daily: bool) -> None:
    """``units`` holds one row per unit, so the per-unit aggregate groups by ``u`` only
    and carries the unit's variant and clock as one-value aggregates: at 10M units a
    hash key per column (u, v, first_ts, v_max) cost ~30 % more than one. A unit seen
    in several variants has ``v`` NULL (no ``v_max`` column anywhere)."""
    for unique in (True, False):
        sql = _sql(unique=unique, daily=daily, dialect=dialect)
        assert "v_max" not in sql
        group = _cte(sql, "per_unit", dialect).args["group"]
        assert [(k.table, k.name) for k in group.expressions] == [("units", "u")]
        units = _cte(sql, "units", dialect)
        assert [c.alias_or_name for c in units.expressions] == ["u", "first_ts", "v"]


def test_units_carry_the_variant_index_not_its_name() -> None:
    """``units`` (one row per unit, carried through the join's hash table and the
    per-unit aggregate) holds the variant's index in the spec as a 1-byte integer, NULL
    for a unit seen in several variants: at 10M units the name cost 0.4 GB at the peak.
    ``per_unit`` and everything after it read the name again."""
    con = _plan_tables()
    rows = [
        ("exp1", "bold", "u1", "2024-01-01 10:00:00"),
        ("exp1", "bold", "u1", "2024-01-03 10:00:00"),
        ("exp1", "control", "u2", "2024-01-02 00:00:00"),
        ("exp1", "treatment", "u3", "2024-01-02 00:00:00"),
        ("exp1", "control", "u4", "2024-01-01 00:00:00"),
        ("exp1", "bold", "u4", "2024-01-05 00:00:00"),  # two variants: excluded
        ("exp1", "other", "u5", "2024-01-01 00:00:00"),  # unknown variant: not a unit
        ("exp2", "control", "u6", "2024-01-01 00:00:00"),  # another experiment
    ]
    con.executemany(
        "INSERT INTO exposures VALUES (?, ?, ?, CAST(? AS TIMESTAMP), 'web', 'gold')", rows
    )
    for unique in (True, False):
        tree = sqlglot.parse_one(_sql(unique=unique, daily=False), read="duckdb")
        with_ = tree.args["with_"]
        ctes = [c for c in with_.expressions if c.alias in ("xp", "units")]
        query = exp.select("u", "v", "typeof(v)").from_("units").order_by("u")
        query.set("with_", exp.With(expressions=[c.copy() for c in ctes]))
        got = con.execute(query.sql(dialect="duckdb")).fetchall()
        # by hand: the index of the variant in VARIANTS = (control, treatment, bold)
        assert VARIANTS == ("control", "treatment", "bold")
        assert got == [
            ("u1", 2, "TINYINT"),
            ("u2", 0, "TINYINT"),
            ("u3", 1, "TINYINT"),
            ("u4", None, "TINYINT"),
        ]
        per_unit = _cte(tree.sql(dialect="duckdb"), "per_unit")
        (variant,) = [c for c in per_unit.expressions if c.alias_or_name == "v"]
        names = {lit.this for lit in variant.find_all(exp.Literal) if lit.is_string}
        assert names == set(VARIANTS)


def _group_keys(sql: str) -> list[tuple[int, int]]:
    """(keys, aggregates) of each hash aggregate in DuckDB's physical plan (JSON)."""
    import json

    con = _plan_tables()
    con.execute("SET explain_output = 'physical_only'")
    (_, text), *_ = con.execute("EXPLAIN (FORMAT JSON) " + sql).fetchall()
    keys: list[tuple[int, int]] = []

    def walk(node: dict[str, Any]) -> None:
        if node.get("name") == "HASH_GROUP_BY":
            info = node["extra_info"]
            groups, aggregates = info["Groups"], info.get("Aggregates", [])
            keys.append(
                (
                    len(groups) if isinstance(groups, list) else 1,
                    len(aggregates) if isinstance(aggregates, list) else 1,
                )
            )
        for child in node.get("children", []):
            walk(child)

    for root in json.loads(text):
        walk(root)
    return keys


def test_per_unit_hash_aggregate_has_one_key_in_duckdbs_plan() -> None:
    """The big hash aggregates have one key: exposures by unit (first exposure, variant)
    and units x events by unit (every channel and counter), and the per-variant sums.
    (COUNT(DISTINCT u) per unknown variant groups (v, u) first, over the few rows naming
    an unknown variant only.)"""
    for unique in (True, False):
        shapes = _group_keys(_sql(unique=unique, daily=False))
        per_unit = max(shapes, key=lambda shape: shape[1])
        assert per_unit[1] >= 7, shapes  # the channels, matched, before, near, outside
        assert {keys for keys, aggregates in shapes if aggregates >= 3} == {1}, shapes


def test_daily_quanta_are_bigint_only_for_counts_and_fixed_channels() -> None:
    """A count's state grows from 0 to its final value, so its daily increments stay
    within the totals' bound and its quanta fit a BIGINT (half the cost of a HUGEINT
    sum); sums of values (which refunds can lower) and framed values keep HUGEINTs."""
    tree = sqlglot.parse_one(_sql(unique=True, daily=True), read="duckdb")
    sums = _increment_sums(tree)
    types = {
        c.alias: c.this.this.to.sql(dialect="duckdb")
        for c in sums.expressions
        if c.alias.startswith("m") and "__" in c.alias
    }
    bigint = {name for name, t in types.items() if t == "BIGINT"}
    assert set(types.values()) == {"BIGINT", "INT128"}, types
    # by hand from METRICS: take (0/1), orders' and items' counts, repeat (0/1), refund
    # (0/1 with a 0/1 covariate), and the fixed CUPED covariates of revenue and aov
    assert bigint == {
        "m0__sum",
        "m0__sum_squares",
        "m1__covariate_sum",
        "m1__covariate_sum_squares",
        "m3__denominator_sum",
        "m3__denominator_sum_squares",
        "m3__covariate_numerator_sum",
        "m3__covariate_numerator_sum_squares",
        "m3__covariate_denominator_sum",
        "m3__covariate_denominator_sum_squares",
        "m3__covariate_numerator_denominator_cross",
        "m3__denominator_covariate_numerator_cross",
        "m3__denominator_covariate_denominator_cross",
        "m4__denominator_sum",
        "m4__denominator_sum_squares",
        "m5__sum",
        "m5__sum_squares",
        "m7__sum",
        "m7__sum_squares",
        "m7__covariate_sum",
        "m7__covariate_sum_squares",
        "m7__cross_sum",
    }
