"""Ingestion throughput of the embedded store (rows/s), with a raw-DuckDB baseline.

Usage: python benchmarks/bench_ingest.py [--rows 1000000] [--keep DIR]
(with --keep, a second run reuses the files, so peak RSS covers ingestion only)

Measures, on synthetic exposures (4 columns + 1 attribute, ISO timestamps with
offsets) and events:
- first ingest of a CSV file into an empty store (validate + hash + dedupe + insert);
- the same file again (every row a duplicate: nothing added);
- the same rows from Parquet;
- a baseline: DuckDB ``INSERT ... SELECT FROM read_csv`` with no validation,
  no content keys and no de-duplication (the floor for any CSV load).
Wall time and process CPU time (all threads) are both printed: on a shared
machine wall time mostly measures the neighbours. Peak RSS of the process is
reported too (ru_maxrss; includes generating the data).
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def make_data(rows: int, directory: Path) -> dict[str, Path]:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(7)
    start = np.datetime64("2024-05-01T00:00:00")
    seconds = rng.integers(0, 30 * 86400, rows).astype("timedelta64[s]")
    stamps = pd.Series(np.datetime_as_string(start + seconds)) + "+09:00"
    exposures = pd.DataFrame(
        {
            "experiment": "checkout_upsell",
            "variant": rng.choice(["control", "treatment_a", "treatment_b"], rows),
            "unit_id": "c" + pd.Series(np.arange(rows)).astype(str),
            "timestamp": stamps,
            "segment": rng.choice(["new", "returning"], rows),
        }
    )
    events = pd.DataFrame(
        {
            "unit_id": "c" + pd.Series(rng.integers(0, rows, rows)).astype(str),
            "timestamp": stamps,
            "event_type": rng.choice(["order", "upsell_purchase", "refund"], rows),
            "value": np.round(rng.lognormal(8, 0.6, rows), 2),
            "discount": np.round(rng.uniform(0, 300, rows), 2),
            "quantity": rng.integers(1, 4, rows).astype(float),
            "order_id": "o" + pd.Series(np.arange(rows)).astype(str),
        }
    )
    paths = {
        "exposures_csv": directory / "exposures.csv",
        "exposures_parquet": directory / "exposures.parquet",
        "events_csv": directory / "events.csv",
    }
    exposures.to_csv(paths["exposures_csv"], index=False)
    exposures.to_parquet(paths["exposures_parquet"], index=False)
    events.to_csv(paths["events_csv"], index=False)
    return paths


def timed(label: str, rows: int, action: Callable[[], Any]) -> dict[str, Any]:
    began, cpu_began = time.perf_counter(), time.process_time()
    result = action()
    seconds = time.perf_counter() - began
    cpu = time.process_time() - cpu_began
    print(
        f"{label:<44} wall {seconds:6.2f} s {rows / seconds:>10,.0f} rows/s | "
        f"cpu {cpu:6.2f} s {rows / cpu:>10,.0f} rows/cpu-s | {result or ''}",
        flush=True,
    )
    return {"case": label, "rows": rows, "wall_s": seconds, "cpu_s": cpu}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--keep", type=Path, help="write the data here instead of a temp dir")
    parser.add_argument("--chunk-rows", type=int, default=1_000_000, help="rows per chunk")
    args = parser.parse_args()

    import duckdb

    from upsell_ab.events.store import EventStore

    with tempfile.TemporaryDirectory() as tmp:
        directory = args.keep or Path(tmp)
        directory.mkdir(parents=True, exist_ok=True)
        paths = {
            "exposures_csv": directory / "exposures.csv",
            "exposures_parquet": directory / "exposures.parquet",
            "events_csv": directory / "events.csv",
        }
        if args.keep and all(p.exists() for p in paths.values()):
            print(f"reusing data in {directory} (peak RSS then measures ingestion only)")
        else:
            began = time.perf_counter()
            paths = make_data(args.rows, directory)
            print(f"generated {args.rows:,} rows in {time.perf_counter() - began:.1f} s")
        n = args.rows
        store_path = directory / "bench.duckdb"
        store_path.unlink(missing_ok=True)
        print(f"chunk_rows = {args.chunk_rows:,}")
        with EventStore(store_path, chunk_rows=args.chunk_rows) as store:

            def ingest(kind: str, path: Path) -> str:
                method = store.ingest_exposures if kind == "exposures" else store.ingest_events
                r = method(path)
                return f"added {r.rows_added:,}, duplicates {r.duplicates_skipped:,}"

            timed(
                "exposures CSV, empty store", n, lambda: ingest("exposures", paths["exposures_csv"])
            )
            timed(
                "exposures CSV again (all duplicates)",
                n,
                lambda: ingest("exposures", paths["exposures_csv"]),
            )
            timed(
                "exposures Parquet (all duplicates)",
                n,
                lambda: ingest("exposures", paths["exposures_parquet"]),
            )
            timed(
                "events CSV, empty events table", n, lambda: ingest("events", paths["events_csv"])
            )

        baseline = duckdb.connect(str(directory / "baseline.duckdb"))
        baseline.execute(
            "CREATE OR REPLACE TABLE exposures (experiment VARCHAR, variant VARCHAR, "
            'unit_id VARCHAR, "timestamp" TIMESTAMP, segment VARCHAR)'
        )
        csv = str(paths["exposures_csv"]).replace("'", "''")
        timed(
            "baseline: DuckDB read_csv INSERT (no checks)",
            n,
            lambda: baseline.execute(
                f"INSERT INTO exposures SELECT * FROM read_csv('{csv}', header = true)"
            ).fetchall(),
        )
        baseline.close()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {peak_mb:,.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
