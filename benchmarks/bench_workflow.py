"""Timings of the everyday path: simulate, ingest, analyse + decide, and the demo.

Run: ``python benchmarks/bench_workflow.py`` (about a minute on 2 cores).
Prints a Markdown table; results are recorded in docs/workflow.md. Wall-clock
seconds, best of ``REPEATS`` after one warm-up (imports and the assigner's
one-off hash tables are excluded from the per-step numbers but included in
the demo's, which runs as a fresh process like a newcomer's first command).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
REPEATS = 3


def best(action: Callable[[], object], repeats: int = REPEATS) -> float:
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        action()
        times.append(time.perf_counter() - began)
    return min(times)


def main() -> None:
    sys.path.insert(0, str(REPO))
    from upsell_ab.events.store import EventStore
    from upsell_ab.simulate import simulate
    from upsell_ab.spec.load import load_experiment
    from upsell_ab.workflow import run_experiment

    spec = load_experiment(REPO / "experiments" / "cake_wording.yaml")
    rows: list[tuple[str, str]] = []
    simulate([spec], units=2000, days=14, seed=0)  # warm-up
    for units in (20000, 100000):
        seconds = best(lambda u=units: simulate([spec], units=u, days=14, seed=0))
        rows.append((f"simulate 1 experiment, {units:,} customers", f"{seconds:.2f} s"))
    exposures, events = simulate([spec], units=100000, days=14, seed=0)
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "bench.duckdb"
        began = time.perf_counter()
        with EventStore(store) as target:
            target.ingest_exposures(exposures)
            target.ingest_events(events)
        rows.append(
            (
                f"ingest {len(exposures):,} exposures + {len(events):,} events",
                f"{time.perf_counter() - began:.2f} s",
            )
        )
        run_experiment(spec, store=store, daily=False)  # warm-up
        rows.append(
            (
                "run_experiment (aggregate + analyse + decide), 100k customers",
                f"{best(lambda: run_experiment(spec, store=store, daily=False)):.2f} s",
            )
        )
        rows.append(
            (
                "run_experiment with daily cumulative lifts",
                f"{best(lambda: run_experiment(spec, store=store, daily=True)):.2f} s",
            )
        )
        began = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "upsell_ab.cli.main", "demo", "--output-dir", tmp],
            check=True,
            capture_output=True,
            cwd=tmp,
        )
        rows.append(
            (
                "`upsell-ab demo` (fresh process, 4 experiments)",
                f"{time.perf_counter() - began:.1f} s",
            )
        )
    print("| step | wall time |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")


if __name__ == "__main__":
    main()
