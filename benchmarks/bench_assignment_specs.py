"""Assigner.assign per call for EVERY bundled spec, with and without attributes (issue 17).

For each spec in experiments/: ``assign(unit, attributes)`` with attributes that
pass its targeting (the common case), with attributes that fail its first
condition, and with no attributes at all. 20,000 distinct unit ids per batch,
the batches of all specs and cases interleaved round-robin (a busy neighbour
slows them alike); the median and fastest batch are reported per call.

    python benchmarks/bench_assignment_specs.py [--batches 15]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

from upsell_ab.assignment import Assigner
from upsell_ab.spec.load import discover, load_experiment

ROOT = Path(__file__).resolve().parents[1]
PASSING = {"channel": "app", "past_orders": 3, "segment": "one_off"}
"""Attributes that pass the targeting of every bundled spec."""
FAILING = {"channel": "fax", "past_orders": 0, "segment": "business"}


def cases() -> list[tuple[str, str, Assigner, dict[str, object] | None]]:
    out = []
    for path in discover([ROOT / "experiments"]):
        experiment = load_experiment(path).experiment
        assigner = Assigner(experiment)
        for label, attributes in (("passing", PASSING), ("failing", FAILING), ("none", None)):
            out.append((experiment.id, label, assigner, attributes))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=15)
    args = parser.parse_args()
    ids = [f"customer-{i:07d}" for i in range(20_000)]
    all_cases = cases()
    timings: dict[tuple[str, str], list[float]] = {(c[0], c[1]): [] for c in all_cases}
    for _ in range(args.batches):
        for experiment_id, label, assigner, attributes in all_cases:
            assign = assigner.assign
            started = time.perf_counter_ns()
            for unit in ids:
                assign(unit, attributes)
            timings[(experiment_id, label)].append((time.perf_counter_ns() - started) / len(ids))
    accelerated = all_cases[0][2].accelerated
    print(f"C extension: {accelerated}; load {os.getloadavg()[0]:.1f}")
    print("| spec | targeting | attributes | median ns/call | fastest ns/call |")
    print("|---|---:|---|---:|---:|")
    for experiment_id, label, assigner, _ in all_cases:
        t = timings[(experiment_id, label)]
        print(
            f"| {experiment_id} | {len(assigner.conditions)} | {label} | "
            f"{statistics.median(t):.0f} | {min(t):.0f} |"
        )


if __name__ == "__main__":
    main()
