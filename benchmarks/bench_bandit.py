"""Bandit against a fixed split on a small shop's traffic (issue 14), by simulation.

The cafe case: three wordings of an add-on with true take rates 20 %, 25 % and 35 %,
150 customers a day for 28 days, the ``cookie_wording_bandit`` spec (floor 10 %,
burn-in 3 days and 100 units per arm, daily updates; its stop rule is removed so the
bandit runs to the horizon, as the fixed split does). Every day the customers are
assigned with the weights in force (``Assigner(weights=...)``, the production hash),
their purchases drawn, and at each midnight the production update
(``upsell_ab.allocation.update.plan_update``: the same code ``upsell-ab allocate`` runs
on the statistics the database would return) decides the next weights.

Reported over many seeds, with Monte-Carlo standard errors:
- regret: expected conversions lost against always showing the best wording
  (sum over customers of 35 % - the shown arm's true rate);
- best arm found: at the horizon the arm with the highest posterior mean is the best.

The profit case: the same machinery on ``profit_per_customer`` (a deep discount that
sells most often but earns least must be starved, not fed).

Run: ``python benchmarks/bench_bandit.py --seeds 200`` (results in
``benchmarks/results/bandit.md`` and docs/bandits.md).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from upsell_ab.allocation.history import AllocationRecord
from upsell_ab.allocation.update import UpdateStatus, plan_update
from upsell_ab.assignment.assigner import Assigner
from upsell_ab.metrics.sufficient import SampleStats
from upsell_ab.spec.load import load_experiment

REPO = Path(__file__).resolve().parents[1]
SPEC = REPO / "experiments" / "cookie_wording_bandit.yaml"
RATES = (0.20, 0.25, 0.35)


def _resolved(metric: str | None = None):  # type: ignore[no-untyped-def]
    resolved = load_experiment(SPEC)
    experiment = resolved.experiment
    allocation = experiment.allocation.model_copy(
        update={"stop": None, **({"metric": metric} if metric else {})}
    )
    return dataclasses.replace(
        resolved, experiment=experiment.model_copy(update={"allocation": allocation})
    )


def run_once(
    seed: int,
    *,
    adaptive: bool,
    rates: Sequence[float] = RATES,
    values: Sequence[float] | None = None,
    metric: str = "upsell_take_rate",
    days: int = 28,
    daily: int = 150,
) -> tuple[float, bool, dict[str, float]]:
    """(regret in the metric's units, best arm found, final weights) of one run.
    ``values``: what a sale is worth per arm (None: 1, a take-rate objective)."""
    resolved = _resolved(metric if metric != "upsell_take_rate" else None)
    experiment = resolved.experiment
    arms = [v.id for v in experiment.variants]
    worth = list(values) if values is not None else [1.0] * len(arms)
    expected = [r * w for r, w in zip(rates, worth, strict=True)]
    best = int(np.argmax(expected))
    rng = np.random.default_rng(seed)
    sums = {a: [0, 0.0, 0.0] for a in arms}  # n, sum, sum of squares per arm
    weights = {v.id: v.weight for v in experiment.variants}
    records: list[AllocationRecord] = []
    start = datetime.combine(experiment.start, datetime.min.time(), tzinfo=UTC)
    regret = 0.0
    for day in range(days):
        ids = np.asarray([f"s{seed}-d{day}-{i}" for i in range(daily)], dtype=object)
        shown = Assigner(experiment, weights=weights).assign_many(ids)
        for a_index, arm in enumerate(arms):
            n = int(np.sum(shown == arm))
            took = rng.binomial(1, rates[a_index], n).astype(float) * worth[a_index]
            sums[arm][0] += n
            sums[arm][1] += float(took.sum())
            sums[arm][2] += float((took**2).sum())
            regret += n * (expected[best] - expected[a_index])
        if not adaptive:
            continue
        at = start + timedelta(days=day + 1)
        stats = {a: SampleStats(int(s[0]), s[1], s[2]) for a, s in sums.items()}
        update = plan_update(resolved, records, stats, at)
        if update.status is UpdateStatus.recorded:
            records.append(AllocationRecord(experiment.id, update.period_start, update.weights))
            weights = dict(update.weights)
    means = [sums[a][1] / sums[a][0] if sums[a][0] else -math.inf for a in arms]
    return regret, int(np.argmax(means)) == best, weights


def summary(seeds: int, **kwargs: object) -> dict[str, tuple[float, float]]:
    """Mean and Monte-Carlo standard error of regret and of the best-arm rate, per policy."""
    out: dict[str, tuple[float, float]] = {}
    for policy, adaptive in (("fixed", False), ("bandit", True)):
        runs = [run_once(s, adaptive=adaptive, **kwargs) for s in range(seeds)]  # type: ignore[arg-type]
        regret = np.array([r[0] for r in runs])
        found = np.array([r[1] for r in runs], dtype=float)
        out[f"{policy}_regret"] = (
            float(regret.mean()),
            float(regret.std(ddof=1) / math.sqrt(seeds)),
        )
        out[f"{policy}_best"] = (float(found.mean()), float(found.std(ddof=1) / math.sqrt(seeds)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=200)
    args = parser.parse_args()
    take = summary(args.seeds)
    lines = [
        f"# Bandit vs fixed split ({args.seeds} seeds, 28 days x 150 customers)",
        "",
        "| case | policy | regret (mean +- MC s.e.) | best arm found |",
        "|---|---|---:|---:|",
    ]
    for policy in ("fixed", "bandit"):
        r, b = take[f"{policy}_regret"], take[f"{policy}_best"]
        lines.append(
            f"| take rate 20/25/35 % | {policy} | {r[0]:.1f} +- {r[1]:.1f} conversions | "
            f"{b[0]:.1%} +- {b[1]:.1%} |"
        )
    profit = summary(
        args.seeds, rates=(0.20, 0.25, 0.35), values=(400.0, 300.0, 150.0),
        metric="profit_per_customer",
    )  # fmt: skip
    for policy in ("fixed", "bandit"):
        r, b = profit[f"{policy}_regret"], profit[f"{policy}_best"]
        lines.append(
            f"| profit: 400 / 300 / 150 yen per sale | {policy} | {r[0]:,.0f} +- {r[1]:,.0f} yen "
            f"| {b[0]:.1%} +- {b[1]:.1%} |"
        )
    text = "\n".join(lines) + "\n"
    (REPO / "benchmarks" / "results" / "bandit.md").write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
