"""Timestamps WITH time zone give the same statistics whatever the session's time zone.

A Parquet file written from tz-aware pandas columns (or a PostgreSQL ``timestamptz``
column) is compared with the spec's naive start/end dates and cut into days in the
*session* time zone, which DuckDB and PostgreSQL take from the machine. Before the
engines pinned the session to UTC, the same data analysed on a laptop in Los Angeles
counted other exposures and gave other lifts than on a UTC server. The oracle is the
same data with naive UTC timestamps (the store's contract).
"""

from __future__ import annotations

import dataclasses
from datetime import date
from typing import Any

import duckdb
from metrics_support import (
    assert_close,
    load_duckdb,
    load_postgres,
    resolved,
    stats_dict,
    synthetic,
)

from upsell_ab.metrics.compute import compute_experiment_data
from upsell_ab.spec.models import MetricDefinition, MetricType

METRICS = {
    "take": MetricDefinition(type=MetricType.proportion, event="upsell_purchase"),
    "orders": MetricDefinition(type=MetricType.count_, event="order"),
}
DATA = synthetic(n_units=1500, seed=11)
BASE = resolved(METRICS, variants=("control", "treatment", "bold"))
# Exposures run from 2024-03-01 00:00 to 03-07 00:00 UTC: the bounds cut through them, so
# reading them 8 hours off moves units in or out.
RESOLVED = dataclasses.replace(
    BASE,
    experiment=BASE.experiment.model_copy(
        update={"start": date(2024, 3, 2), "end": date(2024, 3, 5)}
    ),
)


def _aware(con: Any, table: str) -> None:
    con.execute(
        f"CREATE OR REPLACE TABLE {table} AS SELECT * REPLACE "
        f'(timezone(\'UTC\', "timestamp") AS "timestamp") FROM {table}'
    )


def _compute(con: Any) -> Any:
    return compute_experiment_data(RESOLVED, connection=con, daily=True)


def test_duckdb_timestamptz_in_a_los_angeles_session_equals_naive_utc() -> None:
    naive = duckdb.connect()
    load_duckdb(naive, *DATA)
    expected = _compute(naive)
    aware = duckdb.connect()
    load_duckdb(aware, *DATA)
    _aware(aware, "exposures")
    _aware(aware, "events")
    aware.execute("SET TimeZone = 'America/Los_Angeles'")
    kind = aware.execute(
        "SELECT data_type FROM information_schema.columns "
        "WHERE table_name = 'exposures' AND column_name = 'timestamp'"
    ).fetchall()
    assert kind == [("TIMESTAMP WITH TIME ZONE",)]
    result = _compute(aware)
    assert result == expected  # exact sums: bitwise equal, daily series included
    # the caller's session keeps its own time zone
    assert aware.execute("SELECT current_setting('TimeZone')").fetchall() == [
        ("America/Los_Angeles",)
    ]
    # and the bounds did cut the exposures: a shift of 8 hours would change the counts
    early = naive.execute(
        "SELECT count(*) FROM exposures WHERE \"timestamp\" >= TIMESTAMP '2024-03-01 16:00' "
        "AND \"timestamp\" < TIMESTAMP '2024-03-02 08:00'"
    ).fetchall()[0][0]
    assert early > 50


def test_postgres_timestamptz_in_a_los_angeles_session_equals_naive_utc(
    postgres_dsn: str,
) -> None:
    import psycopg

    naive = duckdb.connect()
    load_duckdb(naive, *DATA)
    expected = _compute(naive)
    load_postgres(postgres_dsn, *DATA)
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        for table in ("exposures", "events"):
            conn.execute(
                f'ALTER TABLE {table} ALTER COLUMN "timestamp" TYPE timestamptz '
                f"USING \"timestamp\" AT TIME ZONE 'UTC'"
            )
        conn.execute("SET TIME ZONE 'America/Los_Angeles'")
        result = _compute(conn)
        zone = conn.execute("SHOW TimeZone").fetchall()
    assert result.quality == expected.quality
    assert (result.first_exposure, result.last_exposure) == (
        expected.first_exposure,
        expected.last_exposure,
    )
    for name, metric in expected.metrics.items():
        for variant, stats in metric.by_variant.items():
            assert_close(stats_dict(result.metrics[name].by_variant[variant]), stats_dict(stats))
        assert [d.day for d in result.metrics[name].daily] == [d.day for d in metric.daily]
    assert zone == [("America/Los_Angeles",)]
