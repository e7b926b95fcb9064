"""Issue 15's last proof: a simulated year of concluded experiments with STATED true lever
effects, archived by ``upsell-ab conclude`` and pooled by ``upsell-ab learn``, recovers
each effect within its interval.

Truth (written down here, nowhere else): moving a cross-sell from checkout to after the
purchase multiplies the take rate by ``1 + TIMING`` (+20 %); specific wording instead of
generic multiplies it by ``1 + WORDING`` (+10 %). A year = twelve monthly experiments, six
per lever, each in a different shop (control take rate drawn from U(0.06, 0.16)), 3000
customers per arm; each variant's takers are Binomial(n, p). Every experiment changes
exactly one lever, so ``learn`` pools six comparisons per lever (DerSimonian-Laird).

A second pair of tests runs the year through the real pipeline: ``upsell-ab simulate``
(events into DuckDB; the simulator's documented truth: post_purchase vs at_checkout take
rate x1.5/1.1 = +36.4 %, specific vs generic wording x1.25 = +25 %) then
``conclude --store`` per experiment, then ``learn``.

The fast tests check one fixed year; the slow one (UPSELL_AB_SLOW=1) repeats the year over
many seeds and checks the 95 % intervals' coverage of the stated truth lies within three
Monte-Carlo standard errors of 0.95 (the delta-method ratio bias, about
(1 - p) / (n p) < 0.6 % of the lift, is far below one pooled standard error).
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
TIMING, WORDING = 0.20, 0.10
N_PER_ARM = 3000
SPEC = """id: {id}
name: Month {month} ({lever})
status: running
population: {{unit: customer_id}}
variants:
  - id: control
    control: true
    weight: 0.5
    offer:
      tactic: cross_sell
      timing: at_checkout
      wording: {control_text}
      wording_style: generic
      items: [{{sku: case, price: 1980}}]
  - id: treatment
    weight: 0.5
    offer:
      tactic: cross_sell
      timing: {timing}
      wording: {treatment_text}
      wording_style: {style}
      items: [{{sku: case, price: 1980}}]
metrics:
  primary: upsell_take_rate
"""


def _run(argv: list[str]) -> tuple[int, str, str]:
    from upsell_ab.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def simulate_year(folder: Path, seed: int) -> Path:
    """Write and conclude twelve monthly experiments; return the results archive."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    shutil.copy(ROOT / "experiments" / "metrics.yaml", folder / "metrics.yaml")
    for month in range(1, 13):
        timing_test = month % 2 == 1
        lift = TIMING if timing_test else WORDING
        spec = SPEC.format(
            id=f"month_{month:02d}",
            month=month,
            lever="timing" if timing_test else "wording",
            control_text="Anything else?",
            treatment_text="Anything else?" if timing_test else f"A case made for phone {month}",
            timing="post_purchase" if timing_test else "at_checkout",
            style="generic" if timing_test else "specific",
        )
        path = folder / f"month_{month:02d}.yaml"
        path.write_text(spec, "utf-8")
        base = rng.uniform(0.06, 0.16)
        control = rng.binomial(N_PER_ARM, base)
        treated = rng.binomial(N_PER_ARM, base * (1.0 + lift))
        sums = folder / f"month_{month:02d}.csv"
        sums.write_text(
            f"variant,metric,n,sum\ncontrol,upsell_take_rate,{N_PER_ARM},{control}\n"
            f"treatment,upsell_take_rate,{N_PER_ARM},{treated}\n",
            "utf-8",
        )
        code, _, err = _run(["conclude", str(path), "--summary", str(sums)])
        assert code == 0, err
    return folder / "results"


def learned(archive: Path, by: str) -> dict[str, object]:
    argv = ["learn", str(archive), "--metric", "upsell_take_rate", "--by", by]
    code, out, err = _run([*argv, "--method", "dl", "--format", "json"])
    assert code == 0, err
    (group,) = json.loads(out)["groups"]
    assert group["k"] == 6
    return dict(group)


def _covers(group: dict[str, object], truth: float) -> bool:
    interval = group["ci"]
    assert isinstance(interval, list)
    return float(interval[0]) <= truth <= float(interval[1])


def test_a_year_of_archived_experiments_recovers_the_stated_lever_effects(
    tmp_path: Path,
) -> None:
    archive = simulate_year(tmp_path / "experiments", seed=2026)
    timing = learned(archive, "timing")
    wording = learned(archive, "wording")
    assert timing["value"] == "post_purchase vs at_checkout"
    assert wording["value"] == "specific vs generic"
    assert _covers(timing, TIMING) and _covers(wording, WORDING)
    # +20 % over six experiments of 3000 per arm is ~6 pooled standard errors from zero
    assert not _covers(timing, 0.0)


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("UPSELL_AB_SLOW"), reason="slow: UPSELL_AB_SLOW=1")
def test_learn_intervals_cover_the_stated_effects_over_many_years(tmp_path: Path) -> None:
    seeds = 200
    hits = {"timing": 0, "wording": 0}
    for seed in range(seeds):
        archive = simulate_year(tmp_path / f"year_{seed}", seed=seed)
        hits["timing"] += _covers(learned(archive, "timing"), TIMING)
        hits["wording"] += _covers(learned(archive, "wording"), WORDING)
    mc = 3.0 * math.sqrt(0.95 * 0.05 / seeds)
    for lever, count in hits.items():
        assert abs(count / seeds - 0.95) <= mc + 1.0 / seeds, (lever, count)


def simulator_year(folder: Path, seed: int) -> Path:
    """The same year through the real pipeline: ``simulate`` (events in a DuckDB store,
    take rates from the simulator's documented offer truth), ``conclude --store``."""
    folder.mkdir(parents=True)
    shutil.copy(ROOT / "experiments" / "metrics.yaml", folder / "metrics.yaml")
    for month in range(1, 13):
        timing_test = month % 2 == 1
        spec = SPEC.format(
            id=f"month_{month:02d}",
            month=month,
            lever="timing" if timing_test else "wording",
            control_text="Anything else?",
            treatment_text="Anything else?" if timing_test else "Often bought with this phone",
            timing="post_purchase" if timing_test else "at_checkout",
            style="generic" if timing_test else "specific",
        )
        (folder / f"month_{month:02d}.yaml").write_text(spec, "utf-8")
    store = str(folder / "year.duckdb")
    argv = ["simulate", str(folder), "--store", store, "--units", "6000", "--seed", str(seed)]
    code, _, err = _run(argv)
    assert code == 0, err
    for month in range(1, 13):
        code, _, err = _run(["conclude", str(folder / f"month_{month:02d}.yaml"), "--store", store])
        assert code == 0, err
    return folder / "results"


def _simulator_truths() -> tuple[float, float]:
    """The simulator's stated take-rate effects (upsell_ab/simulate/truth.py, documented
    in docs/workflow.md): the moment factor ratio and the specific-wording factor."""
    from upsell_ab.simulate.truth import MOMENT_FACTOR, SPECIFIC_WORDING_FACTOR
    from upsell_ab.spec.models import Moment

    timing = MOMENT_FACTOR[Moment.post_purchase] / MOMENT_FACTOR[Moment.at_checkout] - 1.0
    return timing, SPECIFIC_WORDING_FACTOR - 1.0


def test_a_simulated_year_through_simulate_and_conclude_recovers_the_truth(
    tmp_path: Path,
) -> None:
    timing_truth, wording_truth = _simulator_truths()
    # one year's 95 % interval misses 5 % of the time (seed 7's timing interval does, by
    # 2.1 standard errors); the slow test below checks the coverage over seeds
    archive = simulator_year(tmp_path / "experiments", seed=1)
    timing = learned(archive, "timing")
    wording = learned(archive, "wording")
    assert _covers(timing, timing_truth) and _covers(wording, wording_truth)
    assert not _covers(timing, 0.0) and not _covers(wording, 0.0)
    # the two levers' effects are told apart (+36 % vs +25 %)
    assert float(timing["estimate"]) > float(wording["estimate"])  # type: ignore[arg-type]


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("UPSELL_AB_SLOW"), reason="slow: UPSELL_AB_SLOW=1")
def test_simulator_years_coverage_over_seeds(tmp_path: Path) -> None:
    timing_truth, wording_truth = _simulator_truths()
    seeds = 40
    hits = {"timing": 0, "wording": 0}
    for seed in range(seeds):
        archive = simulator_year(tmp_path / f"year_{seed}", seed=seed)
        hits["timing"] += _covers(learned(archive, "timing"), timing_truth)
        hits["wording"] += _covers(learned(archive, "wording"), wording_truth)
    mc = 3.0 * math.sqrt(0.95 * 0.05 / seeds)
    for lever, count in hits.items():
        assert abs(count / seeds - 0.95) <= mc + 1.0 / seeds, (lever, count)
