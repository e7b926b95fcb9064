"""Metric-query time and run-to-run identity of the JSON report at 1 and 2 DuckDB threads.

Written when one thread was the determinism fix; the query's sums are now exact integer
sums (``upsell_ab/metrics/sql_exact.py``), so both settings should give one document.

Run: ``python benchmarks/bench_report_determinism.py [UNITS]`` (default 300,000
customers of the cake example, 14 days; about a minute on 2 cores). Each
setting runs ``REPEATS`` times in a fresh process (``UPSELL_AB_DUCKDB_THREADS``
is read when the engine opens the store); the table gives the best metric
query time (``compute_experiment_data``, daily series on) and how many
distinct JSON documents (raw floats, before the 12-digit rounding, and as
written) the runs produced. Results are recorded in docs/report.md.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
REPEATS = 5

CHILD = """
import hashlib, json, sys, time
from upsell_ab.metrics.compute import compute_experiment_data
from upsell_ab.report.json_format import render_json
from upsell_ab.report.model import to_document
from upsell_ab.spec.load import load_experiment
from upsell_ab.workflow import run_experiment

spec = load_experiment(sys.argv[1])
began = time.perf_counter()
compute_experiment_data(spec, store=sys.argv[2], daily=True)
seconds = time.perf_counter() - began
run = run_experiment(spec, store=sys.argv[2], daily=True)
raw = json.dumps(to_document([run.report()]))
written = render_json([run.report()])
print(json.dumps({"seconds": seconds,
                  "raw": hashlib.sha256(raw.encode()).hexdigest(),
                  "written": hashlib.sha256(written.encode()).hexdigest()}))
"""


def main() -> None:
    units = int(sys.argv[1]) if len(sys.argv) > 1 else 300_000
    sys.path.insert(0, str(REPO))
    from upsell_ab.events.store import EventStore
    from upsell_ab.simulate import simulate
    from upsell_ab.spec.load import load_experiment

    spec_path = REPO / "experiments" / "cake_wording.yaml"
    spec = load_experiment(spec_path)
    exposures, events = simulate([spec], units=units, days=14, seed=0)
    print(f"{len(exposures):,} exposures, {len(events):,} events")
    print("| DuckDB threads | best metric query | distinct raw JSON | distinct written JSON |")
    print("|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "bench.duckdb"
        with EventStore(store) as target:
            target.ingest_exposures(exposures)
            target.ingest_events(events)
        for threads in ("1", "2"):
            env = {**os.environ, "UPSELL_AB_DUCKDB_THREADS": threads, "PYTHONPATH": str(REPO)}
            results = []
            for _ in range(REPEATS):
                out = subprocess.run(
                    [sys.executable, "-c", CHILD, str(spec_path), str(store)],
                    env=env, capture_output=True, text=True, check=True,
                )  # fmt: skip
                results.append(json.loads(out.stdout.strip().splitlines()[-1]))
            best = min(r["seconds"] for r in results)
            raw = len({r["raw"] for r in results})
            written = len({r["written"] for r in results})
            print(f"| {threads} | {best:.3f} s | {raw} of {REPEATS} | {written} of {REPEATS} |")


if __name__ == "__main__":
    main()
