"""Statistics per allocation period, computed inside DuckDB, PostgreSQL and Spark.

The synthetic data of ``metrics_support`` (every metric kind and data quirk) is
split by four allocation windows; each (variant, period) cell must equal the
plain-Python oracle restricted to the units first exposed in that window, and
the periods of a variant must add up to its totals.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import duckdb
import pytest
from metrics_support import assert_close, load_duckdb, load_postgres, load_spark, oracle, stats_dict
from test_metrics_engines import DATA, METRICS, RESOLVED, VARIANTS

from upsell_ab.errors import StoreError
from upsell_ab.metrics.aggregates import ExperimentData
from upsell_ab.metrics.compute import build_plan, compute_experiment_data
from upsell_ab.metrics.periods import AllocationWindow, allocation_windows
from upsell_ab.metrics.sql import render
from upsell_ab.metrics.sql_periods import timestamp_literal

EQUAL = {v: 1 / 3 for v in VARIANTS}
WINDOWS = (
    AllocationWindow(None, EQUAL),
    AllocationWindow(datetime(2024, 3, 2, 12), {"control": 0.2, "treatment": 0.5, "bold": 0.3}),
    AllocationWindow(datetime(2024, 3, 4), {"control": 0.1, "treatment": 0.7, "bold": 0.2}),
    AllocationWindow(
        datetime(2024, 3, 5, 6, 30, 0, 123456), {"control": 0.05, "treatment": 0.9, "bold": 0.05}
    ),
)


@pytest.fixture(scope="module")
def duckdb_periods() -> ExperimentData:
    con = duckdb.connect()
    load_duckdb(con, *DATA)
    return compute_experiment_data(RESOLVED, connection=con, allocation=WINDOWS)


def test_each_period_matches_the_oracle_and_periods_add_up(duckdb_periods: ExperimentData) -> None:
    split = duckdb_periods.periods
    assert split is not None and split.windows == WINDOWS
    bounds = [w.start for w in WINDOWS] + [None]
    for index in range(len(WINDOWS)):
        expected = oracle(*DATA, "exp1", VARIANTS, METRICS, first_between=bounds[index : index + 2])
        assert split.units[index] == expected.units
        assert sum(expected.units.values()) > 100  # every window holds real data
        for name in METRICS:
            for variant in VARIANTS:
                actual = stats_dict(split.by_metric[name][index][variant])
                assert_close(actual, expected.stats[name][variant])
    for name in METRICS:
        for variant in VARIANTS:
            cells = [period[variant] for period in split.by_metric[name]]
            total = cells[0]
            for cell in cells[1:]:
                total = total + cell  # type: ignore[operator]
            assert_close(
                stats_dict(total), stats_dict(duckdb_periods.metrics[name].by_variant[variant])
            )
    for variant in VARIANTS:
        assert (
            sum(u[variant] for u in split.units)
            == duckdb_periods.quality.exposures_by_variant[variant]
        )


def test_one_window_adds_no_branch() -> None:
    with_periods = render(build_plan(RESOLVED, allocation=WINDOWS), "duckdb")
    assert "'period'" in with_periods and "2024-03-04 00:00:00.000000" in with_periods
    con = duckdb.connect()
    load_duckdb(con, *DATA)
    data = compute_experiment_data(RESOLVED, connection=con, allocation=WINDOWS[:1])
    assert data.periods is None


def test_boundaries_are_typed_literals_and_history_records_are_normalised() -> None:
    literal = timestamp_literal(datetime(2024, 3, 5, 6, 30, 0, 123456))
    for dialect in ("duckdb", "postgres", "spark"):
        text = literal.sql(dialect=dialect)
        assert "2024-03-05 06:30:00.123456" in text and "TIMESTAMP" in text.upper()
    with pytest.raises(ValueError):
        timestamp_literal(datetime(2024, 3, 5, tzinfo=UTC))

    class Record:
        def __init__(self, start: datetime, weights: dict[str, float]) -> None:
            self.period_start, self.weights = start, weights

    later = datetime(2024, 3, 4, 9, tzinfo=UTC)
    windows = allocation_windows(
        EQUAL, [Record(later, EQUAL), Record(datetime(2024, 3, 2, tzinfo=UTC), EQUAL)]
    )
    assert [w.start for w in windows] == [None, datetime(2024, 3, 2), datetime(2024, 3, 4, 9)]
    with pytest.raises(StoreError, match="spec has variants"):
        allocation_windows(EQUAL, [Record(later, {"control": 1.0})])
    with pytest.raises(StoreError, match="two allocation periods"):
        allocation_windows(EQUAL, [Record(later, EQUAL), Record(later, EQUAL)])


def _same(a: ExperimentData, b: ExperimentData) -> None:
    assert a.periods is not None and b.periods is not None
    assert a.periods.units == b.periods.units
    for name in METRICS:
        for x, y in zip(a.periods.by_metric[name], b.periods.by_metric[name], strict=True):
            for variant in VARIANTS:
                assert_close(stats_dict(x[variant]), stats_dict(y[variant]), 1e-9)


@pytest.mark.postgres
def test_postgres_periods_agree_with_duckdb(
    postgres_dsn: str, duckdb_periods: ExperimentData
) -> None:
    import psycopg

    load_postgres(postgres_dsn, *DATA)
    with psycopg.connect(postgres_dsn) as conn:
        result = compute_experiment_data(RESOLVED, connection=conn, allocation=WINDOWS)
    _same(result, duckdb_periods)


@pytest.mark.spark
def test_spark_periods_agree_with_duckdb(
    spark_session: Any, duckdb_periods: ExperimentData
) -> None:
    load_spark(spark_session, *DATA)
    result = compute_experiment_data(RESOLVED, connection=spark_session, allocation=WINDOWS)
    _same(result, duckdb_periods)
