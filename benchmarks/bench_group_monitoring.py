"""Benchmark: the statistics step with group-sequential monitoring on.

Same 5 variants x 10 metrics as ``bench_stats.py``, with
``sequential: {method: obrien_fleming | pocock, looks: K}``: the extra cost is
the Lan-DeMets bound and the repeated p-value (root finding over alpha, one
spending design per step) for each treatment on the confirmatory metric. Run:

    python benchmarks/bench_group_monitoring.py [--repeats 5] [--looks 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_stats import build

from upsell_ab.spec.models import Sequential
from upsell_ab.stats.analysis import analyze
from upsell_ab.stats.group_monitoring import current_bound


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--looks", type=int, default=5)
    args = parser.parse_args()
    for method in ("none", "obrien_fleming", "pocock"):
        resolved, data = build("both")
        sequential = (
            Sequential(enabled=False)
            if method == "none"
            else Sequential(enabled=True, method=method, looks=args.looks)
        )
        analysis = resolved.experiment.analysis.model_copy(update={"sequential": sequential})
        experiment = resolved.experiment.model_copy(update={"analysis": analysis})
        resolved = replace(resolved, experiment=experiment)
        analyze(resolved, data)  # warm-up: imports, caches
        times, cold = [], []
        for _ in range(args.repeats):
            start = time.perf_counter()
            result = analyze(resolved, data)
            times.append(time.perf_counter() - start)
            current_bound.cache_clear()  # a fresh process: no bound computed yet
            start = time.perf_counter()
            analyze(resolved, data)
            cold.append(time.perf_counter() - start)
        status = result.sequential.reason[:90] if result.sequential else "-"
        print(
            f"{method:15s} K={args.looks}: warm median {statistics.median(times) * 1000:7.1f} ms, "
            f"cold cache {statistics.median(cold) * 1000:7.1f} ms | {status}"
        )


if __name__ == "__main__":
    main()
