"""Benchmark: the statistics step for 5 variants x 10 metrics, both engines, sequential on.

Times ``upsell_ab.stats.analysis.analyze`` after imports and one warm-up call
(target: < 50 ms). Metrics mix every kind the engines handle: proportions,
means, ratios, CUPED means and CUPED ratios. Run:

    python benchmarks/bench_stats.py [--repeats 30] [--engine both|frequentist|bayesian]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from upsell_ab.metrics.aggregates import ExperimentData, MetricData, QualitySummary
from upsell_ab.metrics.sufficient import (
    CupedRatioStats,
    CupedStats,
    MetricStats,
    RatioStats,
    SampleStats,
)
from upsell_ab.spec.models import (
    Aggregate,
    Analysis,
    Cuped,
    Experiment,
    Guardrail,
    MetricDefinition,
    MetricRoles,
    Sequential,
    Variant,
)
from upsell_ab.spec.resolve import ResolvedExperiment
from upsell_ab.stats import estimates
from upsell_ab.stats.analysis import analyze

VARIANTS = ["control", "v1", "v2", "v3", "v4"]
KINDS = ["proportion", "mean", "ratio", "cuped", "cuped_ratio"] * 2


def definition(kind: str) -> MetricDefinition:
    ratio = {
        "numerator": Aggregate(event="order"),
        "denominator": Aggregate(event="order", value="count"),
    }
    if kind == "proportion":
        return MetricDefinition(type="proportion", event="upsell_purchase")
    if kind == "mean":
        return MetricDefinition(type="mean", event="order")
    if kind == "cuped":
        return MetricDefinition(type="mean", event="order", cuped=Cuped())
    if kind == "ratio":
        return MetricDefinition(type="ratio", **ratio)
    return MetricDefinition(type="ratio", cuped=Cuped(), **ratio)


def stats_for(kind: str, rng: np.random.Generator, n: int) -> MetricStats:
    orders = rng.poisson(1.2, n) + 1.0
    y = orders * rng.gamma(2.0, 15.0, n)
    x = y * 0.5 + rng.gamma(2.0, 5.0, n)
    w = orders + rng.integers(0, 2, n)
    if kind == "proportion":
        return SampleStats.from_proportion(n, int(rng.binomial(n, 0.2)))
    if kind == "mean":
        return SampleStats(n, y.sum(), (y**2).sum())
    if kind == "cuped":
        return CupedStats(n, y.sum(), (y**2).sum(), x.sum(), (x**2).sum(), (x * y).sum())
    if kind == "ratio":
        return RatioStats(
            n, y.sum(), (y**2).sum(), orders.sum(), (orders**2).sum(), (y * orders).sum()
        )
    return CupedRatioStats(
        n, y.sum(), (y**2).sum(), orders.sum(), (orders**2).sum(), x.sum(), (x**2).sum(),
        w.sum(), (w**2).sum(), (y * orders).sum(), (y * x).sum(), (y * w).sum(),
        (orders * x).sum(), (orders * w).sum(), (x * w).sum(),
    )  # fmt: skip


def build(engine: str = "both") -> tuple[ResolvedExperiment, ExperimentData]:
    rng = np.random.default_rng(1)
    names = [f"m{i}_{kind}" for i, kind in enumerate(KINDS)]
    experiment = Experiment(
        id="bench",
        name="Benchmark",
        variants=[Variant(id=v, weight=0.2, control=v == "control") for v in VARIANTS],
        metrics=MetricRoles(
            primary=names[0],
            secondary=names[1:8],
            guardrails=[Guardrail(metric=m, margin=0.05) for m in names[8:]],
        ),
        analysis=Analysis(engine=engine, sequential=Sequential(enabled=True)),
    )
    roles = {
        n: "primary" if i == 0 else "guardrail" if i >= 8 else "secondary"
        for i, n in enumerate(names)
    }
    metrics = {n: definition(k) for n, k in zip(names, KINDS, strict=True)}
    resolved = ResolvedExperiment(experiment=experiment, metrics=metrics, roles=roles)
    data = ExperimentData(
        experiment_id="bench",
        metrics={
            n: MetricData(metric=n, by_variant={v: stats_for(k, rng, 2000) for v in VARIANTS})
            for n, k in zip(names, KINDS, strict=True)
        },
        quality=QualitySummary(
            exposures_by_variant=dict.fromkeys(VARIANTS, 2000),
            configured_weights=dict.fromkeys(VARIANTS, 0.2),
        ),
    )
    return resolved, data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--engine", choices=("both", "frequentist", "bayesian"), default="both")
    args = parser.parse_args()
    resolved, data = build(args.engine)
    analyze(resolved, data)  # warm-up: lazy imports of scipy and the engines
    timings = []
    for _ in range(args.repeats):
        estimates._arm_estimate.cache_clear()  # every run starts cold: no memoised arms
        start = time.perf_counter()
        result = analyze(resolved, data)
        timings.append((time.perf_counter() - start) * 1000)
    comparisons = sum(len(m.comparisons) for m in result.metrics)
    print(
        f"analyze: 5 variants x 10 metrics ({comparisons} comparisons, engine {args.engine}, "
        f"sequential on): median {statistics.median(timings):.1f} ms, "
        f"min {min(timings):.1f} ms, max {max(timings):.1f} ms over {args.repeats} runs"
    )


if __name__ == "__main__":
    main()
