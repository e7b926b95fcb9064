"""Hostile names and values from a spec are names and values, never SQL.

Table names, column names and event types carrying quotes, backticks,
semicolons, comments and backslashes go through the real engines; the query
must compute the right numbers and leave every table in place.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import duckdb
import pytest
from metrics_support import (
    events_frame,
    exposures_frame,
    load_duckdb,
    load_postgres,
    load_spark,
    resolved,
)

from upsell_ab.metrics.compute import compute_experiment_data, experiment_sql
from upsell_ab.metrics.sufficient import SampleStats
from upsell_ab.spec.models import (
    DataSource,
    EventColumns,
    ExposureColumns,
    MetricDefinition,
    MetricType,
    Table,
)

EXPOSURES = 'x"; DROP TABLE events; --'
EVENTS = "ev`'; DELETE FROM canary; /* "
UNIT = 'unit"); DROP TABLE canary; --'
TYPE_COLUMN = "type' OR '1'='1"
HOSTILE_EVENT = "order'); DROP TABLE events; -- \\' \" `"
METRIC = MetricDefinition(type=MetricType.mean, event=HOSTILE_EVENT)
SOURCE = DataSource(
    exposures=Table(table=EXPOSURES),
    events=Table(table=EVENTS),
    exposure_columns=ExposureColumns(unit_id=UNIT),
    event_columns=EventColumns(type=TYPE_COLUMN, unit_id=UNIT),
)
SPEC = resolved({"revenue": METRIC}, data=SOURCE)


def _frames() -> tuple[Any, Any]:
    xp = exposures_frame(
        [("exp1", "control", "u1", "2024-01-01"), ("exp1", "treatment", "u2", "2024-01-01")]
    ).rename(columns={"unit_id": UNIT})
    ev = events_frame(
        [
            ("u1", "2024-01-01 01:00", HOSTILE_EVENT, 10.0, 0.0, 1.0, "e1"),
            ("u2", "2024-01-01 01:00", "order", 99.0, 0.0, 1.0, "e2"),  # a different type
        ]
    ).rename(columns={"event_type": TYPE_COLUMN, "unit_id": UNIT})
    return xp, ev


def _check(result: Any, count_rows: Callable[[str], int]) -> None:
    stats = result.metrics["revenue"].by_variant
    assert stats["control"] == SampleStats(1, 10.0, 100.0)
    assert stats["treatment"] == SampleStats(1, 0.0, 0.0)
    for table in (EXPOSURES, EVENTS, "events", "canary"):
        assert count_rows(table) >= 1, table


def test_rendered_sql_quotes_every_name() -> None:
    for dialect in ("duckdb", "postgres", "spark"):
        sql = experiment_sql(SPEC, dialect)  # type: ignore[arg-type]
        import sqlglot

        assert len(sqlglot.parse(sql, read=dialect)) == 1
        assert "DROP TABLE" not in sql.upper().replace('"', "").split("WITH", 1)[0]


def test_duckdb_hostile_names() -> None:
    con = duckdb.connect()
    load_duckdb(con, *_frames(), exposures_table=EXPOSURES, events_table=EVENTS)
    con.execute("CREATE TABLE canary AS SELECT 1 AS x")
    con.execute("CREATE TABLE events AS SELECT 1 AS x")
    result = compute_experiment_data(SPEC, connection=con)

    def count(table: str) -> int:
        quoted = '"' + table.replace('"', '""') + '"'
        return int(con.execute(f"SELECT COUNT(*) FROM {quoted}").fetchone()[0])  # type: ignore[index]

    _check(result, count)


@pytest.mark.postgres
def test_postgres_hostile_names(postgres_dsn: str) -> None:
    import psycopg
    from psycopg import sql

    load_postgres(postgres_dsn, *_frames(), exposures_table=EXPOSURES, events_table=EVENTS)
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS canary; CREATE TABLE canary AS SELECT 1 AS x")
        conn.execute("DROP TABLE IF EXISTS events; CREATE TABLE events AS SELECT 1 AS x")
        result = compute_experiment_data(SPEC, connection=conn)

        def count(table: str) -> int:
            query = sql.SQL("SELECT COUNT(*) FROM {}").format(sql.Identifier(table))
            return int(conn.execute(query).fetchone()[0])  # type: ignore[index]

        _check(result, count)


@pytest.mark.spark
def test_spark_hostile_names(spark_session: Any) -> None:
    load_spark(spark_session, *_frames(), exposures_table=EXPOSURES, events_table=EVENTS)
    spark_session.sql("CREATE OR REPLACE TEMPORARY VIEW canary AS SELECT 1 AS x")
    spark_session.sql("CREATE OR REPLACE TEMPORARY VIEW events AS SELECT 1 AS x")
    result = compute_experiment_data(SPEC, connection=spark_session)

    def count(table: str) -> int:
        quoted = "`" + table.replace("`", "``") + "`"
        return int(spark_session.sql(f"SELECT COUNT(*) FROM {quoted}").collect()[0][0])

    _check(result, count)
