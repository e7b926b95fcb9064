"""Properties of the rendered query and of engine selection (no database needed
except one in-memory DuckDB for the query count)."""

from __future__ import annotations

from typing import Any

import duckdb
import pytest
import sqlglot
from metrics_support import events_frame, exposures_frame, load_duckdb, resolved
from test_metrics_engines import METRICS, RESOLVED, SEGMENTS, VARIANTS

from upsell_ab.errors import SpecError, StoreError
from upsell_ab.events.engines import DuckDBEngine, Row
from upsell_ab.metrics.compute import compute_experiment_data, experiment_sql
from upsell_ab.spec.models import DataSource, MetricDefinition, MetricType, SourceKind, Table

DIALECTS = ("duckdb", "postgres", "spark")


class CountingEngine:
    """A QueryEngine that records every statement it is asked to run."""

    dialect = "duckdb"

    def __init__(self, connection: Any) -> None:
        self.inner = DuckDBEngine(connection=connection)
        self.statements: list[str] = []

    def execute(self, sql: str) -> list[Row]:
        self.statements.append(sql)
        return self.inner.execute(sql)

    def close(self) -> None:
        self.inner.close()


def _diagnostics(statements: list[str]) -> None:
    """After the one experiment statement: exactly the two small trust checks every
    analysis runs (events sent twice, over a window; the source's event types, for
    look-alikes and the did-you-mean: upsell_ab.metrics.sql_values), neither a second
    pass over the statistics."""
    assert len(statements) == 3, statements[1:]
    assert "LAG(" in statements[1] and "INTERVAL '2' SECOND" in statements[1]
    assert 'GROUP BY "event_type"' in statements[2] and "LIMIT 50" in statements[2]


def test_one_query_for_all_metrics_segments_and_days() -> None:
    """One statement computes every metric, segment and day; a type the source never
    holds costs no statement more (the types query that names it runs anyway)."""
    types = sorted({d.event for d in METRICS.values() if d.event} | {"order"})
    con = duckdb.connect()
    load_duckdb(
        con,
        exposures_frame([("exp1", "control", "u1", "2024-01-01", "web", "new")], SEGMENTS),
        events_frame(
            [("u1", "2024-01-01 01:00", t, 5.0, 0.0, 1.0, f"e{i}") for i, t in enumerate(types)]
        ),
    )
    engine = CountingEngine(con)
    data = compute_experiment_data(RESOLVED, connection=engine, segments=True, daily=True)
    _diagnostics(engine.statements)
    assert set(data.metrics) == set(METRICS) and len(METRICS) >= 9
    assert data.metrics["revenue"].by_variant["control"].n == 1
    con.execute(f"DELETE FROM events WHERE event_type = '{types[0]}'")
    missing = CountingEngine(con)
    data = compute_experiment_data(RESOLVED, connection=missing, segments=True, daily=True)
    _diagnostics(missing.statements)
    assert data.event_types_present and types[0] not in dict(data.event_types_present)


@pytest.mark.parametrize("dialect", DIALECTS)
def test_rendered_sql_is_one_statement_with_quoted_names(dialect: str) -> None:
    sql = experiment_sql(RESOLVED, dialect, segments=True, daily=True)  # type: ignore[arg-type]
    statements = sqlglot.parse(sql, read=dialect)
    assert len(statements) == 1
    quote = "`" if dialect == "spark" else '"'
    for name in ("unit_id", "timestamp", "event_type", "experiment", "variant", *SEGMENTS):
        assert f"{quote}{name}{quote}" in sql
    assert "event_type =" not in sql.lower()  # columns never bare
    named = resolved({"Zq_metric-name": MetricDefinition(type=MetricType.count_, event="order")})
    assert "zq_metric" not in experiment_sql(named, dialect).lower()  # type: ignore[arg-type]


def test_spark_uses_the_exact_percentile() -> None:
    spark = experiment_sql(RESOLVED, "spark")
    assert "PERCENTILE(" in spark and "PERCENTILE_APPROX" not in spark.upper()
    assert "QUANTILE_CONT(" in experiment_sql(RESOLVED, "duckdb")
    assert "PERCENTILE_CONT(" in experiment_sql(RESOLVED, "postgres")
    assert "MATERIALIZED" not in spark


def test_rendering_is_deterministic() -> None:
    assert experiment_sql(RESOLVED, "postgres", segments=True) == experiment_sql(
        RESOLVED, "postgres", segments=True
    )


def test_postgres_source_needs_its_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("UPSELL_AB_TEST_DSN", raising=False)
    source = DataSource(kind=SourceKind.postgres, dsn_env="UPSELL_AB_TEST_DSN")
    spec = resolved({"take": MetricDefinition(type=MetricType.proportion, event="x")}, data=source)
    with pytest.raises(StoreError, match="UPSELL_AB_TEST_DSN"):
        compute_experiment_data(spec)


def test_files_are_refused_for_a_spark_source() -> None:
    source = DataSource(
        kind=SourceKind.spark, exposures=Table(path="x.parquet"), events=Table(table="events")
    )
    spec = resolved({"take": MetricDefinition(type=MetricType.proportion, event="x")}, data=source)
    with pytest.raises(SpecError, match="reads tables"):
        experiment_sql(spec, "spark")


def test_unsupported_connection_is_a_store_error() -> None:
    with pytest.raises(StoreError, match="unsupported connection"):
        compute_experiment_data(RESOLVED, connection=object())


def test_variants_of_the_spec_are_reported_even_without_units() -> None:
    con = duckdb.connect()
    load_duckdb(
        con,
        exposures_frame([("exp1", "control", "u1", "2024-01-01", "web", "new")], SEGMENTS),
        events_frame([("u1", "2024-01-01 01:00", "order", 5.0, 0.0, 1.0, "e1")]),
    )
    data = compute_experiment_data(RESOLVED, connection=con)
    assert list(data.quality.exposures_by_variant) == list(VARIANTS)
    assert data.quality.exposures_by_variant == {"control": 1, "treatment": 0, "bold": 0}
    assert data.metrics["aov"].by_variant["bold"].n == 0
