"""The scale benchmark's data on PostgreSQL and Spark local, measured once each (issue 17).

Same generated log as ``bench_scale.py`` (``gen_eventlog.py``). PostgreSQL: a
throwaway server (the tests' ``start_postgres``), the two Parquet files loaded
with COPY (via DuckDB -> CSV), ANALYZE, then upsell_ab's query (the same shape
as on DuckDB: one statement, shared CTEs MATERIALIZED) and the hand query's
logic is not re-timed there. Spark local: the Parquet files as temporary
views, upsell_ab's query through a SparkSession. Each engine's per-arm
statistics are checked against the DuckDB hand query before the time is
reported. Times are of the query only (loading is reported separately).

    nice python benchmarks/bench_scale_engines.py DATA_DIR [--postgres] [--spark]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))

from bench_scale import plain  # noqa: E402
from hand_query import hand_stats  # noqa: E402


def _spec(data: Path, kind: str) -> Any:
    from upsell_ab.spec.load import load_experiment
    from upsell_ab.spec.models import SourceKind

    resolved = load_experiment(data / "upsell_bench.files.yaml")
    experiment = resolved.experiment
    source = experiment.data.model_copy(
        update={
            "kind": SourceKind(kind),
            "exposures": experiment.data.exposures.model_copy(
                update={"path": None, "table": "bench_exposures", "format": None}
            ),
            "events": experiment.data.events.model_copy(
                update={"path": None, "table": "bench_orders", "format": None}
            ),
            "dsn_env": "UPSELL_AB_BENCH_DSN" if kind == "postgres" else None,
        }
    )
    from dataclasses import replace

    return replace(resolved, experiment=experiment.model_copy(update={"data": source}))


def _check(data: Path, ours: Any) -> float:
    hand = hand_stats(data, "upsell_bench")
    worst = 0.0
    for arm, metrics in hand.items():
        for metric, fields in metrics.items():
            mine = plain(ours.metrics[metric].by_variant[arm])  # undo the centred frames
            for field, value in fields.items():
                error = abs(float(mine[field]) - value) / max(1.0, abs(value))
                assert error <= 1e-9, (arm, metric, field, mine[field], value)
                worst = max(worst, error)
    return worst


def postgres(data: Path) -> str:
    import duckdb
    import psycopg
    from conftest import start_postgres

    from upsell_ab.metrics.compute import compute_experiment_data

    server = start_postgres()
    dsn = next(server)
    try:
        started = time.perf_counter()
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(
                "CREATE UNLOGGED TABLE bench_exposures (experiment_id TEXT, customer_id TEXT, "
                "arm TEXT, exposed_at TIMESTAMP, channel TEXT)"
            )
            conn.execute(
                "CREATE UNLOGGED TABLE bench_orders (order_id TEXT, customer_id TEXT, kind TEXT, "
                "ordered_at TIMESTAMP, amount DOUBLE PRECISION, discount_amount DOUBLE PRECISION, "
                "items INTEGER)"
            )
            con = duckdb.connect()
            for table, file in (("bench_exposures", "exposures"), ("bench_orders", "orders")):
                csv = data / f"{file}.pg.csv"
                con.execute(f"COPY (SELECT * FROM '{data / file}.parquet') TO '{csv}' (HEADER)")
                with (
                    conn.cursor() as cursor,
                    cursor.copy(f"COPY {table} FROM STDIN (FORMAT csv, HEADER)") as copy,
                    csv.open("rb") as handle,
                ):
                    while block := handle.read(1 << 20):
                        copy.write(block)
                csv.unlink()
            conn.execute("ANALYZE")
        load = time.perf_counter() - started
        resolved = _spec(data, "postgres")
        with psycopg.connect(dsn) as conn:
            conn.execute("SET work_mem = '256MB'")
            started = time.perf_counter()
            ours = compute_experiment_data(resolved, connection=conn, daily=True)
            query = time.perf_counter() - started
        worst = _check(data, ours)
    finally:
        server.close()
    return f"| PostgreSQL (work_mem 256MB) | {load:.0f} | {query:.1f} | {worst:.1e} |"


def spark(data: Path, adaptive: bool = True) -> str:
    from pyspark.sql import SparkSession

    from upsell_ab.metrics.compute import compute_experiment_data

    session = (
        SparkSession.builder.master("local[2]")
        .appName("upsell_ab_bench")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.memory", "6g")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.adaptive.enabled", str(adaptive).lower())
        .getOrCreate()
    )
    try:
        started = time.perf_counter()
        session.read.parquet(str(data / "exposures.parquet")).createOrReplaceTempView(
            "bench_exposures"
        )
        session.read.parquet(str(data / "orders.parquet")).createOrReplaceTempView("bench_orders")
        load = time.perf_counter() - started
        resolved = _spec(data, "spark")
        started = time.perf_counter()
        ours = compute_experiment_data(resolved, connection=session, daily=True)
        query = time.perf_counter() - started
        worst = _check(data, ours)
    finally:
        session.stop()
    label = "" if adaptive else ", adaptive execution off"
    return f"| Spark local[2] (Parquet views{label}) | {load:.0f} | {query:.1f} | {worst:.1e} |"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("data", type=Path)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--spark", action="store_true")
    parser.add_argument(
        "--spark-no-aqe", action="store_true", help="Spark with adaptive query execution off"
    )
    args = parser.parse_args()
    data = args.data.resolve()
    print("| engine | load (s) | upsell_ab query with daily series (s) | worst rel. diff vs hand |")
    print("|---|---:|---:|---:|")
    if args.postgres:
        print(postgres(data), flush=True)
    if args.spark:
        print(spark(data), flush=True)
    if args.spark_no_aqe:
        print(spark(data, adaptive=False), flush=True)


if __name__ == "__main__":
    main()
