"""The Python API on a DataFrame: one million exposure rows analysed in place.

Run: ``python benchmarks/bench_api.py [ROWS]`` (about a minute on 2 cores at 1M).
Writes ``benchmarks/results/api.md`` and prints it. Compares the three ways a
script can analyse rows it holds in pandas:

- ``analyze(exposures=df, events=df)``: DuckDB reads the frames in place;
- the same frames written to Parquet first, then ``analyze(exposures=path, ...)``;
- ``upsell-ab ingest``'s path (``EventStore``) into a DuckDB file, then ``analyze(store)``.

Wall-clock seconds, best of ``REPEATS`` (the ingest once); peak RSS of this process
(includes the frames themselves). ``import upsell_ab`` is timed in a fresh process.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

import upsell_ab

REPO = Path(__file__).resolve().parents[1]
SPEC = REPO / "experiments" / "cake_wording.yaml"
REPEATS = 3


def best(action: Callable[[], object], repeats: int = REPEATS) -> float:
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        action()
        times.append(time.perf_counter() - began)
    return min(times)


def frames(rows: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(7)
    experiment = upsell_ab.load(SPEC)
    ids = np.char.add("c", np.arange(rows).astype(str)).astype(object)
    variants = experiment.assign_many(ids, pd.DataFrame({"channel": ["app"] * rows}))
    start = np.datetime64("2026-03-02T00:00:00", "us")
    seen = start + rng.integers(0, 14 * 86400, rows).astype("timedelta64[s]")
    exposures = pd.DataFrame(
        {"experiment": "cake_wording", "variant": variants, "unit_id": ids, "timestamp": seen,
         "channel": "app"}
    )  # fmt: skip
    buyers = np.flatnonzero(rng.random(rows) < np.where(variants == "pairing", 0.12, 0.10))
    events = pd.DataFrame(
        {
            "unit_id": ids[buyers],
            "timestamp": seen[buyers] + np.timedelta64(3600, "s"),
            "event_type": "upsell_purchase",
            "value": rng.gamma(2.0, 260.0, len(buyers)),
            "discount": 0.0,
            "quantity": 1.0,
            "event_id": np.char.add("e", buyers.astype(str)).astype(object),
        }
    )
    return exposures, events


def main(argv: list[str]) -> int:
    rows = int(argv[1]) if len(argv) > 1 else 1_000_000
    load_before = os.getloadavg()[0]
    import_s = best(
        lambda: subprocess.run([sys.executable, "-c", "import upsell_ab"], check=True), 5
    )
    exposures, events = frames(rows)
    experiment = upsell_ab.load(SPEC)
    in_place = best(lambda: experiment.analyze(exposures=exposures, events=events, daily=False))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)

        def via_parquet() -> None:
            exposures.to_parquet(folder / "x.parquet")
            events.to_parquet(folder / "e.parquet")
            experiment.analyze(
                exposures=folder / "x.parquet", events=folder / "e.parquet", daily=False
            )

        parquet = best(via_parquet)
        from upsell_ab.events.store import EventStore

        began = time.perf_counter()
        with EventStore(folder / "s.duckdb") as store:
            store.ingest_exposures(exposures)
            store.ingest_events(events)
        ingest = time.perf_counter() - began
        analyse_store = best(lambda: experiment.analyze(folder / "s.duckdb", daily=False))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    table = "\n".join(
        [
            f"# Python API on {rows:,} exposure rows ({len(events):,} events)",
            "",
            "| path | seconds |",
            "|---|---|",
            f"| `import upsell_ab` (fresh process, best of 5) | {import_s:.2f} |",
            f"| `analyze(exposures=df, events=df)`: frames read in place | {in_place:.2f} |",
            f"| write Parquet, then `analyze(exposures=path, events=path)` | {parquet:.2f} |",
            f"| ingest into a DuckDB store (validation, dedupe) | {ingest:.2f} |",
            f"| then `analyze(store)` | {analyse_store:.2f} |",
            "",
            f"Peak RSS of the process (frames included): {peak_mb:.0f} MiB. Load average "
            f"{load_before:.1f} at the start (2 cores shared with other jobs).",
            "",
        ]
    )
    results = REPO / "benchmarks" / "results"
    results.mkdir(exist_ok=True)
    (results / "api.md").write_text(table, encoding="utf-8")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
