"""Benchmark: Bayesian engines and sequential monitoring, per call and per report.

Prints the median time per call (CPU time of this process, which is stable on
a shared machine, and wall time) after imports and a warm-up, and the
Bayesian + sequential share of one report: 5 variants x 10 metrics (4
conversion metrics on Beta-Binomial, 6 Gaussian), 4 comparisons per metric,
P(best) per metric, 2 confidence sequences per comparison. Run:

    python benchmarks/bench_stats_bayes_seq.py [--repeats 200]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from upsell_ab.metrics.sufficient import SampleStats
from upsell_ab.spec.models import BetaPrior, LiftPrior
from upsell_ab.stats.bayesian import (
    beta_binomial,
    expected_loss_beta,
    gaussian,
    prob_best_beta,
    prob_best_gaussian,
)
from upsell_ab.stats.group_sequential import design
from upsell_ab.stats.results import ArmEstimate
from upsell_ab.stats.sequential import sequential_interval

VARIANTS = ["control", "v1", "v2", "v3", "v4"]


def measure(function: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Median CPU and wall milliseconds per call."""
    function()
    cpu: list[float] = []
    wall: list[float] = []
    for _ in range(repeats):
        c0, w0 = time.process_time(), time.perf_counter()
        function()
        cpu.append((time.process_time() - c0) * 1000)
        wall.append((time.perf_counter() - w0) * 1000)
    return statistics.median(cpu), statistics.median(wall)


def report_workload() -> None:
    prior, lift = BetaPrior(), LiftPrior(proper=True)
    for m in range(4):
        arms = {
            v: SampleStats.from_proportion(2000 + 100 * m, 400 + 9 * i)
            for i, v in enumerate(VARIANTS)
        }
        for v in VARIANTS[1:]:
            beta_binomial(arms["control"], arms[v], prior)
        prob_best_beta(arms, prior)
    for m in range(6):
        estimates = {
            v: ArmEstimate(2000, 30.0 + m + 0.3 * i, 0.4 + 0.01 * i) for i, v in enumerate(VARIANTS)
        }
        for v in VARIANTS[1:]:
            gaussian(estimates["control"], estimates[v], lift)
        prob_best_gaussian(estimates)
    for _ in range(40):
        sequential_interval(0.03, 0.0004, 4000, 0.05, 5000)
        sequential_interval(0.15, 0.004, 4000, 0.05, 5000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()
    small = (SampleStats.from_proportion(2000, 400), SampleStats.from_proportion(2000, 431))
    exact = (SampleStats.from_proportion(1000, 100), SampleStats.from_proportion(1000, 121))
    large = (
        SampleStats.from_proportion(100_000, 20_000),
        SampleStats.from_proportion(100_000, 20_350),
    )
    arms = {v: SampleStats.from_proportion(2000, 400 + 9 * i) for i, v in enumerate(VARIANTS)}
    estimates = {v: ArmEstimate(2000, 30.0 + 0.3 * i, 0.4) for i, v in enumerate(VARIANTS)}
    cases: list[tuple[str, Callable[[], object]]] = [
        ("beta_binomial n=1000, exact Miller sums", lambda: beta_binomial(*exact, BetaPrior())),
        ("beta_binomial n=2000, quadrature", lambda: beta_binomial(*small, BetaPrior())),
        ("beta_binomial n=100000, quadrature", lambda: beta_binomial(*large, BetaPrior())),
        ("prob_best_beta 5 arms", lambda: prob_best_beta(arms, BetaPrior())),
        ("expected_loss_beta 5 arms", lambda: expected_loss_beta(arms, BetaPrior())),
        (
            "gaussian (normal prior)",
            lambda: gaussian(estimates["control"], estimates["v1"], LiftPrior(proper=True)),
        ),
        ("prob_best_gaussian 5 arms", lambda: prob_best_gaussian(estimates)),
        ("sequential_interval", lambda: sequential_interval(0.03, 0.0004, 4000, 0.05, 5000)),
        ("group-sequential design K=5 (once per report)", lambda: design("obrien_fleming", 5)),
        ("report: 5 variants x 10 metrics, Bayesian + sequential", report_workload),
    ]
    print(f"{'call':58s} {'CPU ms':>8s} {'wall ms':>8s}")
    for name, function in cases:
        repeats = (
            max(args.repeats // 20, 5) if "report" in name or "design" in name else args.repeats
        )
        cpu, wall = measure(function, repeats)
        print(f"{name:58s} {cpu:8.3f} {wall:8.3f}")


if __name__ == "__main__":
    main()
