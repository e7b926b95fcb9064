"""The switchback pipeline under A/A (issue 14's proof for shops without customer ids).

Each run is what a cafe does with ``experiments/cafe_addon_switchback.yaml``: the
simulator assigns every walk-in customer the arm of the hour they arrive in and gives
every hour one shock on the take rate (``World.slot_take_sd``), every wording behaving as
the control (``Truth(null=True)``); then the real experiment query on DuckDB and
``analyze``. Reported over seeds, for the primary metric (two treatment-vs-control
comparisons per run): the false-positive rate of the switchback analysis (slot totals,
CR2, Bell-McCaffrey t) and of the per-customer analysis of the same data (the same spec
without ``randomization``), the Bayesian side (P(beat control) >= 0.95), and the query's
time with and without the slot branch at a larger size.

    python benchmarks/bench_switchback.py --seeds 200 --out benchmarks/results/switchback.md
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "experiments" / "cafe_addon_switchback.yaml"
UNITS, DAYS = 10_000, 14


def _store(resolved: Any, units: int, seed: int) -> Any:
    import duckdb

    from upsell_ab.simulate.generate import simulate_detailed
    from upsell_ab.simulate.truth import Truth

    exposures, events, _ = simulate_detailed(
        [resolved], units=units, days=DAYS, seed=seed, truth=Truth(null=True)
    )
    con = duckdb.connect()
    for name, frame in (("exposures", exposures), ("events", events)):
        con.register("frame", frame)
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM frame")
        con.unregister("frame")
    return con


def _customer_view(resolved: Any) -> Any:
    from upsell_ab.spec.randomization_models import Randomization

    experiment = resolved.experiment.model_copy(update={"randomization": Randomization()})
    return dataclasses.replace(resolved, experiment=experiment)


def one_run(seed: int) -> dict[str, Any]:
    from upsell_ab.metrics.compute import compute_experiment_data
    from upsell_ab.spec.load import load_experiment
    from upsell_ab.stats.analysis import analyze

    resolved = load_experiment(SPEC)
    # a fresh randomisation of the hours per run, too (the hash seed), not one fixed plan
    population = resolved.experiment.population.model_copy(update={"seed": f"bench-{seed}"})
    experiment = resolved.experiment.model_copy(update={"population": population})
    resolved = dataclasses.replace(resolved, experiment=experiment)
    con = _store(resolved, UNITS, seed)
    data = compute_experiment_data(resolved, connection=con)
    con.close()
    metric = resolved.experiment.metrics.primary
    out: dict[str, Any] = {"slot": [], "naive": [], "bayes": [], "slots": 0}
    for comparison in analyze(resolved, data).metric(metric).comparisons:
        f, b = comparison.frequentist, comparison.bayesian
        if f is not None and f.p_value is not None:
            out["slot"].append(f.p_value < 0.05)
        if b is not None and b.prob_beat_baseline is not None:
            out["bayes"].append(b.prob_beat_baseline >= 0.95)
    for comparison in analyze(_customer_view(resolved), data).metric(metric).comparisons:
        f = comparison.frequentist
        if f is not None and f.p_value is not None:
            out["naive"].append(f.p_value < 0.05)
    assert data.slots is not None
    out["slots"] = len(data.slots.arms)
    out["customers"] = sum(data.slots.units.values())
    return out


def query_times(units: int) -> tuple[float, float]:
    """Seconds of the experiment query (best of 3) with and without the slot branch."""
    from upsell_ab.metrics.compute import compute_experiment_data
    from upsell_ab.spec.load import load_experiment

    resolved = load_experiment(SPEC)
    con = _store(resolved, units, 1)
    times = []
    for view in (resolved, _customer_view(resolved)):
        best = math.inf
        for _ in range(3):
            began = time.perf_counter()
            compute_experiment_data(view, connection=con)
            best = min(best, time.perf_counter() - began)
        times.append(best)
    return times[0], times[1]


def rate(hits: list[bool]) -> str:
    n = len(hits)
    p = sum(hits) / n
    return f"{p:.3f} +- {math.sqrt(0.05 * 0.95 / n):.3f} ({sum(hits)} of {n} comparisons)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--big", type=int, default=300_000, help="customers for the timing")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    began = time.perf_counter()
    with ProcessPoolExecutor(args.workers) as pool:
        runs = list(pool.map(one_run, range(args.seeds)))
    elapsed = time.perf_counter() - began
    slot = [h for r in runs for h in r["slot"]]
    naive = [h for r in runs for h in r["naive"]]
    bayes = [h for r in runs for h in r["bayes"]]
    slots = sum(r["slots"] for r in runs) / len(runs)
    customers = sum(r["customers"] for r in runs) / len(runs)
    with_slots, without = query_times(args.big)
    lines = [
        "# Switchback pipeline under A/A (benchmarks/bench_switchback.py)",
        "",
        f"`cafe_addon_switchback` (three wordings, hourly slots in Tokyo, 10-minute burn-in), "
        f"{UNITS:,} customers over {DAYS} days per run, every wording as the control, a "
        "take-rate shock N(0, 0.06) per hour (`World.slot_take_sd`), the hours re-randomised "
        "per run (hash seed `bench-<seed>`); on average "
        f"{slots:.0f} hourly slots and {customers:,.0f} customers after the burn-in "
        f"({customers / slots:.1f} a slot); {args.seeds} seeds; nominal 0.05, +- is one "
        "Monte-Carlo standard error at 0.05.",
        "",
        f"- switchback analysis (slot totals, CR2, Bell-McCaffrey t): {rate(slot)}",
        f"- per-customer analysis of the same data (pooled z-test): {rate(naive)}",
        f"- Bayesian P(beat control) >= 0.95 on the slot estimates: {rate(bayes)}",
        "",
        f"({elapsed:.0f} s for {args.seeds} runs on {args.workers} workers)",
        "",
        f"Experiment query on DuckDB (in memory, best of 3), {args.big:,} simulated "
        f"customers: {with_slots:.2f} s with the slot branch, {without:.2f} s for the same "
        "spec without `randomization` (the branch is one more GROUP BY over the per-customer "
        "table).",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out is not None:
        args.out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
