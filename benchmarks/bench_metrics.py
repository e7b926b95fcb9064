"""Benchmark: ``compute_experiment_data`` vs one hand-written DuckDB query, and other engines.

Data: ``scripts/generate_synthetic.py`` (N exposures, N/10 events, 3 variants),
three metrics with a 7-day window (take rate, revenue per unit, revenue per
order). Every measurement runs in a fresh subprocess so that its peak memory
(``resource.getrusage(RUSAGE_SELF).ru_maxrss``) is its own. Results of our
query and of the hand-written one are compared (same n and sums) so the
timing compares equal work on the metrics.

    python benchmarks/bench_metrics.py --sizes 1000000 10000000 \
        --postgres-sizes 1000000 --spark-sizes 1000000 --data /tmp/upsell_bench
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

HAND_WRITTEN = """
WITH u AS (
    SELECT unit_id, MIN(variant) AS v, MIN("timestamp") AS t
    FROM read_parquet('{x}') WHERE experiment = 'bench'
    GROUP BY unit_id HAVING MIN(variant) = MAX(variant)
), e AS (
    SELECT e.unit_id,
           SUM(CASE WHEN event_type = 'upsell_purchase' THEN 1 ELSE 0 END) AS up,
           SUM(CASE WHEN event_type = 'order' THEN value ELSE 0 END) AS rev,
           SUM(CASE WHEN event_type = 'order' THEN 1 ELSE 0 END) AS n_orders
    FROM read_parquet('{e}') e JOIN u ON e.unit_id = u.unit_id
    WHERE e."timestamp" >= u.t AND e."timestamp" < u.t + INTERVAL 7 DAY
    GROUP BY e.unit_id
)
SELECT v, COUNT(*) AS n,
       SUM(CASE WHEN up > 0 THEN 1 ELSE 0 END) AS take,
       SUM(COALESCE(rev, 0)) AS rev, SUM(COALESCE(rev, 0) ^ 2) AS rev2,
       SUM(COALESCE(n_orders, 0)) AS orders, SUM(COALESCE(n_orders, 0) ^ 2) AS orders2,
       SUM(COALESCE(rev * n_orders, 0)) AS cross_
FROM u LEFT JOIN e ON u.unit_id = e.unit_id GROUP BY v ORDER BY v
"""


def _resolved(folder: Path, kind: str) -> Any:
    sys.path.insert(0, str(ROOT))
    from upsell_ab.spec.models import (
        Aggregate,
        DataSource,
        Experiment,
        MetricDefinition,
        MetricRoles,
        SourceKind,
        Table,
        Variant,
    )
    from upsell_ab.spec.resolve import ResolvedExperiment

    if kind == "files":
        source = DataSource(
            kind=SourceKind.files,
            exposures=Table(path=str(folder / "exposures.parquet")),
            events=Table(path=str(folder / "events.parquet")),
        )
    else:
        source = DataSource()
    experiment = Experiment(
        id="bench",
        name="benchmark",
        variants=[
            Variant(id="control", weight=1 / 3, control=True),
            Variant(id="treatment_a", weight=1 / 3),
            Variant(id="treatment_b", weight=1 / 3),
        ],
        metrics=MetricRoles(primary="take", secondary=["revenue", "aov"]),
        data=source,
    )
    metrics = {
        "take": MetricDefinition(type="proportion", event="upsell_purchase"),
        "revenue": MetricDefinition(type="mean", event="order"),
        "aov": MetricDefinition(
            type="ratio",
            numerator=Aggregate(event="order"),
            denominator=Aggregate(event="order", value="count"),
        ),
    }
    roles = {"take": "primary", "revenue": "secondary", "aov": "secondary"}
    return ResolvedExperiment(experiment=experiment, metrics=metrics, roles=roles)


def _summary(data: Any) -> dict[str, list[float]]:
    """Per variant: n, take successes, revenue sum, revenue sum of squares (for comparison)."""
    out = {}
    for variant, take in data.metrics["take"].by_variant.items():
        revenue = data.metrics["revenue"].by_variant[variant]
        out[variant] = [take.n, take.sum, revenue.sum, revenue.sum_squares]
    return out


def worker(mode: str, folder: Path) -> dict[str, Any]:
    import resource

    began = time.perf_counter()
    if mode == "hand-duckdb":
        import duckdb

        rows = (
            duckdb.connect()
            .execute(
                HAND_WRITTEN.format(x=folder / "exposures.parquet", e=folder / "events.parquet")
            )
            .fetchall()
        )
        summary = {r[0]: [r[1], r[2], r[3], r[4]] for r in rows}
    elif mode == "ours-duckdb":
        from upsell_ab.metrics.compute import compute_experiment_data

        summary = _summary(compute_experiment_data(_resolved(folder, "files")))
    elif mode == "ours-postgres":
        import psycopg

        from upsell_ab.metrics.compute import compute_experiment_data

        with psycopg.connect(os.environ["BENCH_PG_DSN"]) as conn:
            began = time.perf_counter()
            summary = _summary(compute_experiment_data(_resolved(folder, "db"), connection=conn))
    elif mode == "ours-spark":
        from pyspark.sql import SparkSession

        from upsell_ab.metrics.compute import compute_experiment_data

        spark = (
            SparkSession.builder.master("local[2]")
            .config("spark.ui.enabled", "false")
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.driver.memory", "2g")
            .getOrCreate()
        )
        spark.sparkContext.setLogLevel("ERROR")
        spark.read.parquet(str(folder / "exposures.parquet")).createOrReplaceTempView("exposures")
        spark.read.parquet(str(folder / "events.parquet")).createOrReplaceTempView("events")
        began = time.perf_counter()
        summary = _summary(compute_experiment_data(_resolved(folder, "db"), connection=spark))
    else:
        raise SystemExit(f"unknown mode {mode}")
    seconds = time.perf_counter() - began
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"mode": mode, "seconds": seconds, "peak_mb": peak_mb, "summary": summary}


REPEAT = 1


def _run(mode: str, folder: Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Best (minimum) time of ``REPEAT`` fresh subprocesses; the largest peak memory."""
    command = [sys.executable, __file__, "--worker", mode, "--data", str(folder)]
    results: list[dict[str, Any]] = []
    for _ in range(REPEAT):
        done = subprocess.run(
            command, capture_output=True, text=True, env={**os.environ, **(env or {})}, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"{mode} failed:\n{done.stderr[-3000:]}")
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    best = min(results, key=lambda r: float(r["seconds"]))
    best["peak_mb"] = max(float(r["peak_mb"]) for r in results)
    return best


def _dataset(base: Path, size: int) -> Path:
    folder = base / f"n{size}"
    if not (folder / "events.parquet").exists():
        sys.path.insert(0, str(ROOT / "scripts"))
        from generate_synthetic import generate

        generate(size, folder)
    return folder


def _same(a: dict[str, list[float]], b: dict[str, list[float]]) -> bool:
    return a.keys() == b.keys() and all(
        abs(x - y) <= 1e-9 * max(1.0, abs(y)) for k in a for x, y in zip(a[k], b[k], strict=True)
    )


def _postgres(folder: Path) -> tuple[dict[str, str], Any]:
    """Start a throwaway server (as in tests/conftest.py) and COPY the Parquet files in."""
    sys.path.insert(0, str(ROOT / "tests"))
    import conftest  # the fixture's helpers: binaries, free port, run as postgres

    generator = conftest.start_postgres()
    dsn = next(generator)
    import duckdb
    import psycopg

    con = duckdb.connect()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "DROP TABLE IF EXISTS exposures; DROP TABLE IF EXISTS events;"
            "CREATE TABLE exposures (experiment TEXT, variant TEXT, unit_id TEXT,"
            " timestamp TIMESTAMP, event_id TEXT, channel TEXT);"
            "CREATE TABLE events (unit_id TEXT, timestamp TIMESTAMP, event_type TEXT,"
            " value DOUBLE PRECISION, discount DOUBLE PRECISION, quantity DOUBLE PRECISION,"
            " order_id TEXT, event_id TEXT)"
        )
        for table in ("exposures", "events"):
            csv = folder / f"{table}.csv"
            con.execute(f"COPY (SELECT * FROM '{folder / table}.parquet') TO '{csv}' (HEADER)")
            with (
                conn.cursor() as cursor,
                cursor.copy(f"COPY {table} FROM STDIN (FORMAT csv, HEADER true)") as copy,
                open(csv, "rb") as handle,
            ):
                while chunk := handle.read(1 << 20):
                    copy.write(chunk)
            csv.unlink()
        conn.execute("ANALYZE")
    return {"BENCH_PG_DSN": dsn}, generator


def main() -> None:
    parser = argparse.ArgumentParser(description="metrics data-layer benchmark")
    parser.add_argument("--sizes", type=int, nargs="*", default=[1_000_000, 10_000_000])
    parser.add_argument("--postgres-sizes", type=int, nargs="*", default=[])
    parser.add_argument("--spark-sizes", type=int, nargs="*", default=[])
    parser.add_argument("--data", type=Path, default=Path("/tmp/upsell_ab_bench"))
    parser.add_argument("--repeat", type=int, default=1, help="runs per measurement (min time)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.data)))
        return
    global REPEAT
    REPEAT = max(1, args.repeat)
    print("| engine | exposures | events | ours (s) | hand-written DuckDB (s) | ratio | peak MB |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for size in args.sizes:
        folder = _dataset(args.data, size)
        hand = _run("hand-duckdb", folder)
        ours = _run("ours-duckdb", folder)
        assert _same(ours["summary"], hand["summary"]), (ours["summary"], hand["summary"])
        print(
            f"| DuckDB (files) | {size:,} | {size // 10:,} | {ours['seconds']:.2f} |"
            f" {hand['seconds']:.2f} | {ours['seconds'] / hand['seconds']:.2f} |"
            f" {ours['peak_mb']:.0f} (hand {hand['peak_mb']:.0f}) |",
            flush=True,
        )
    for size in args.postgres_sizes:
        folder = _dataset(args.data, size)
        env, server = _postgres(folder)
        try:
            ours = _run("ours-postgres", folder, env)
        finally:
            server.close()
        hand = _run("hand-duckdb", folder)
        assert _same(ours["summary"], hand["summary"])
        print(
            f"| PostgreSQL 15 | {size:,} | {size // 10:,} | {ours['seconds']:.2f} |"
            f" {hand['seconds']:.2f} | {ours['seconds'] / hand['seconds']:.2f} | server-side |",
            flush=True,
        )
    for size in args.spark_sizes:
        folder = _dataset(args.data, size)
        ours = _run("ours-spark", folder)
        hand = _run("hand-duckdb", folder)
        assert _same(ours["summary"], hand["summary"])
        print(
            f"| Spark local[2] | {size:,} | {size // 10:,} | {ours['seconds']:.2f} |"
            f" {hand['seconds']:.2f} | {ours['seconds'] / hand['seconds']:.2f} | JVM |",
            flush=True,
        )


if __name__ == "__main__":
    main()
