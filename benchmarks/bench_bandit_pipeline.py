"""The whole bandit pipeline under A/A and drift (issue 14's proofs), many seeds.

Each run is what a shop does: ``simulate`` the bandit spec period by period (assignment
with the weights in force and a sticky store, ``allocate`` at every period's end;
:mod:`upsell_ab.simulate.adaptive`), then ``analyze`` it. Two scenarios:

* **A/A**: every wording behaves as the control (``Truth(null=True)``). Reported: the mean
  final weight of each arm (no systematic preference: each near 1/3 within Monte-Carlo
  error), the false-positive rate of the analysis (share of treatment-vs-control
  comparisons on the primary metric with p < 0.05; nominal 0.05), the Bayesian side
  (share of comparisons with P(beat control) >= 0.95 and <= 0.05; 0.05 each in a fixed
  design) and how often the decision says "ship".
* **drift**: the default truths (take rates in the ratio 15.4 : 19.3 : 25.7 %) and every
  arm's take rate doubling for customers exposed from day 8 on, while the bandit has
  already moved traffic to the best arm. Reported against the simulator's truth (the
  relative lift p_k / p_0 - 1, which the drift leaves unchanged): the mean pooled lift
  (each arm's units pooled, biased: the favoured arm's units come mostly from the
  drifted days) and the mean period-weighted lift (the analysis), each with its
  Monte-Carlo standard error.

    python benchmarks/bench_bandit_pipeline.py --seeds 200 \\
        --out benchmarks/results/bandit_pipeline.md
"""

from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "experiments" / "cookie_wording_bandit.yaml"
UNITS, DAYS = 1500, 14


def one_run(scenario: str, seed: int) -> dict[str, Any]:
    import json

    import duckdb

    import upsell_ab
    from upsell_ab.simulate.adaptive import simulate_bandit
    from upsell_ab.simulate.truth import Truth
    from upsell_ab.simulate.world import World
    from upsell_ab.spec.load import load_experiment

    resolved = load_experiment(SPEC)
    start = resolved.experiment.start
    assert start is not None
    world = World()
    truth = Truth(null=True) if scenario == "aa" else Truth()
    if scenario == "drift":
        world = World(take_drift=(datetime(start.year, start.month, start.day) + timedelta(7), 2.0))
    with tempfile.TemporaryDirectory() as folder:
        store = Path(folder) / "s.duckdb"
        run = simulate_bandit(
            resolved, store, units=UNITS, days=DAYS, seed=seed, truth=truth, world=world
        )
        result = upsell_ab.load(SPEC).analyze(str(store))
        con = duckdb.connect(str(store), read_only=True)
        try:
            last = con.execute(
                "SELECT weights FROM allocation_history ORDER BY period_start DESC LIMIT 1"
            ).fetchone()
        except duckdb.CatalogException:
            last = None  # the stop rule fired at the first update: nothing recorded
        finally:
            con.close()
    primary = resolved.experiment.metrics.primary
    pooled = result.run.data.metrics[primary].by_variant
    control = resolved.experiment.control.id
    comparisons = {c.variant: c for c in result.comparisons(primary)}
    takes = {v: t.take_rate for v, t in run.summary.truths.items()}
    out: dict[str, Any] = {
        "final_weights": json.loads(last[0]) if last else None,
        "p_values": {v: c.p_value for v, c in comparisons.items()},
        "prob_beat": {v: c.prob_beat_baseline for v, c in comparisons.items()},
        "action": result.decision.action,
        "lift": {v: c.relative_lift for v, c in comparisons.items()},
        "pooled_lift": {
            v: pooled[v].mean / pooled[control].mean - 1.0 for v in comparisons if pooled[v].n
        },
        "true_lift": {v: takes[v] / takes[control] - 1.0 for v in comparisons},
    }
    return out


def _mean_se(values: list[float]) -> tuple[float, float]:
    mean = statistics.fmean(values)
    se = statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else math.nan
    return mean, se


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    lines = [
        "# Bandit pipeline under A/A and drift (benchmarks/bench_bandit_pipeline.py)",
        "",
        f"`cookie_wording_bandit`, {UNITS:,} customers over {DAYS} days per run (about "
        f"{UNITS // DAYS} a day), daily updates after the 3-day burn-in, floor 10 %; "
        f"{args.seeds} seeds per scenario; +- is one Monte-Carlo standard error.",
        "",
    ]
    for scenario in ("aa", "drift"):
        started = time.perf_counter()
        with ProcessPoolExecutor(args.workers) as pool:
            runs = list(pool.map(one_run, [scenario] * args.seeds, range(args.seeds)))
        took = time.perf_counter() - started
        if scenario == "aa":
            arms = sorted(runs[0]["final_weights"])
            lines += ["## A/A (every wording as the control)", ""]
            for arm in arms:
                mean, se = _mean_se([r["final_weights"][arm] for r in runs if r["final_weights"]])
                lines.append(f"- mean final weight of {arm}: {mean:.3f} +- {se:.3f}")
            p_values = [p for r in runs for p in r["p_values"].values() if p is not None]
            rate = sum(p < 0.05 for p in p_values) / len(p_values)
            se = math.sqrt(0.05 * 0.95 / len(p_values))
            lines.append(
                f"- false-positive rate of the analysis (batched-z p-values): {rate:.3f} "
                f"({len(p_values)} comparisons; nominal 0.05 +- {se:.3f})"
            )
            chances = [c for r in runs for c in r["prob_beat"].values() if c is not None]
            high = sum(c >= 0.95 for c in chances) / len(chances)
            low = sum(c <= 0.05 for c in chances) / len(chances)
            ships = sum(r["action"] == "ship" for r in runs)
            lines.append(
                f"- Bayesian P(beat control) >= 0.95: {high:.3f}, <= 0.05: {low:.3f} "
                f"({len(chances)} comparisons; 0.05 each in a fixed design)"
            )
            lines.append(
                f"- decision 'ship' (rule of the spec: both engines): {ships} of {len(runs)}"
            )
        else:
            lines += ["## Drift (every take rate doubles from day 8; truth = default lifts)", ""]
            for arm in sorted(runs[0]["true_lift"]):
                truth = runs[0]["true_lift"][arm]
                pooled, pooled_se = _mean_se([r["pooled_lift"][arm] for r in runs])
                weighted, weighted_se = _mean_se(
                    [r["lift"][arm] for r in runs if r["lift"][arm] is not None]
                )
                lines.append(
                    f"- {arm}: true lift {truth:+.3f}; pooled {pooled:+.3f} +- {pooled_se:.3f} "
                    f"(bias {pooled - truth:+.3f}); period-weighted {weighted:+.3f} +- "
                    f"{weighted_se:.3f} (bias {weighted - truth:+.3f})"
                )
        lines += ["", f"({took:.0f} s for {args.seeds} runs on {args.workers} workers)", ""]
        print("\n".join(lines), flush=True)
    text = "\n".join(lines)
    if args.out:
        args.out.write_text(text, "utf-8")


if __name__ == "__main__":
    main()
