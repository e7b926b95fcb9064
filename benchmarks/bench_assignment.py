"""Assignment speed: one call vs GrowthBook's SDK, and bulk ids per second.

Run: ``python benchmarks/bench_assignment.py [--quick]`` (``--quick`` skips 10M).
Prints a Markdown table; numbers go to docs/assignment.md. Single calls are
timed in batches of 100 (timer overhead amortised); the median over batches
is reported, so a busy neighbour on a shared machine moves it less.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable

from growthbook import Experiment as GbExperiment
from growthbook import GrowthBook

from upsell_ab.assignment import Assigner
from upsell_ab.assignment.hashing_bulk import CodeUnits, hash_v2_buckets
from upsell_ab.spec.models import Experiment

BATCH = 100


def experiment() -> Experiment:
    return Experiment.model_validate(
        {
            "id": "cake-wording",
            "name": "bench",
            "status": "running",
            "population": {"coverage": 0.9},
            "variants": [
                {"id": "control", "weight": 0.5, "control": True},
                {"id": "pairing", "weight": 0.5},
            ],
            "metrics": {"primary": "take_rate"},
        }
    )


def median_ns(batches: list[Callable[[], object]]) -> float:
    """Median per-call time in ns over batches of BATCH calls."""
    times = []
    for batch in batches:
        start = time.perf_counter_ns()
        batch()
        times.append((time.perf_counter_ns() - start) / BATCH)
    return statistics.median(times)


def single_call(rounds: int) -> dict[str, float]:
    assigner = Assigner(experiment())
    assign = assigner.assign
    ids = [f"cust-{i:08d}" for i in range(rounds * BATCH)]
    chunks = [ids[i : i + BATCH] for i in range(0, len(ids), BATCH)]

    def ours(chunk: list[str]) -> Callable[[], object]:
        return lambda: [assign(u) for u in chunk]

    def ours_same() -> object:
        return [assign("cust-00000042") for _ in range(BATCH)]

    client = GrowthBook(attributes={"id": "cust-00000042"})
    gb_exp = GbExperiment(
        key="cake-wording", variations=[0, 1], weights=[0.5, 0.5], coverage=0.9, hashVersion=2
    )

    def growthbook() -> object:
        return [client.run(gb_exp) for _ in range(BATCH)]

    return {
        "ours_distinct": median_ns([ours(c) for c in chunks]),
        "ours_same": median_ns([ours_same] * rounds),
        "growthbook": median_ns([growthbook] * rounds),
    }


def bulk(count: int) -> dict[str, float]:
    ids = [f"cust-{i:08d}" for i in range(count)]
    assigner = Assigner(experiment())
    start = time.perf_counter()
    assigner.assign_many(ids)
    total = time.perf_counter() - start
    start = time.perf_counter()
    units = CodeUnits.from_strings(ids)
    encode = time.perf_counter() - start
    start = time.perf_counter()
    hash_v2_buckets("cake-wording", units)
    hashing = time.perf_counter() - start
    return {"total": total, "encode": encode, "hash": hashing}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="skip the 10M-id run")
    parser.add_argument("--rounds", type=int, default=300, help="batches of 100 single calls")
    args = parser.parse_args()
    single = single_call(args.rounds)
    print(
        f"machine: {platform.processor() or platform.machine()}, Python {platform.python_version()}"
    )
    print()
    print("| single call | median ns/call |")
    print("|---|---:|")
    print(f"| `Assigner.assign`, distinct ids | {single['ours_distinct']:.0f} |")
    print(f"| `Assigner.assign`, same id | {single['ours_same']:.0f} |")
    print(f"| GrowthBook SDK `run()` | {single['growthbook']:.0f} |")
    ratio = single["growthbook"] / single["ours_distinct"]
    print(f"| ratio GrowthBook / ours (distinct ids) | {ratio:.2f}x |")
    print()
    print("| bulk ids | total s | ids/s | of which: encode s | hash s |")
    print("|---:|---:|---:|---:|---:|")
    for count in [1_000_000] + ([] if args.quick else [10_000_000]):
        r = bulk(count)
        print(
            f"| {count:,} | {r['total']:.2f} | {count / r['total']:,.0f} | "
            f"{r['encode']:.2f} | {r['hash']:.2f} |"
        )


if __name__ == "__main__":
    main()
