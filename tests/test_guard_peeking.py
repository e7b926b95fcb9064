"""Peeking: a fixed-horizon test read every day must not ship an A/A test often.

A CI job analyses every running experiment daily. With a fixed-horizon test and
"ship at the first p < alpha", an A/A experiment wins far more often than alpha
(Armitage, McPherson & Rowe 1969; Johari et al. 2017). The decision therefore ships
before the planned sample (the spec's MDE at 80 % power) only on overwhelming
evidence, p < 0.001 (Haybittle-Peto); sequential monitoring is the way to read early.

Simulation (seeded; daily cumulative binomial tallies through the real API and
decision layer): take rate 15 % in both arms, 300 customers a day per arm, 20 daily
looks (6,000 per arm at the end; the plan for a 10 % relative MDE needs ~9,400, so it
is never reached). Oracle for "naive peeking": statsmodels' two-proportion z-test on
the same tallies, shipping at the first look with the treatment ahead and p < 0.05.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.proportion import proportions_ztest

import upsell_ab
from tests.test_e2e_support import spec, write_spec
from upsell_ab.decision.horizon import TODAY_VARIABLE

SLOW = os.environ.get("UPSELL_AB_SLOW") == "1"
SIMULATIONS = 2000 if SLOW else 400
LOOKS, PER_DAY, RATE = 20, 300, 0.15


def _experiment(tmp_path: Path) -> upsell_ab.Experiment:
    analysis = {"mde": 0.1, "engine": "frequentist", "decision": {"rule": "frequentist"}}
    return upsell_ab.load(write_spec(tmp_path, spec("peek", guardrails=[], analysis=analysis)))


def _runs(
    experiment: upsell_ab.Experiment, treatment_rate: float, seed: int
) -> tuple[float, float]:
    """(share of runs the product ships at some look, share the naive rule would)."""
    rng = np.random.default_rng(seed)
    shipped = naive = 0
    for _ in range(SIMULATIONS):
        c = np.cumsum(rng.binomial(PER_DAY, RATE, LOOKS))
        t = np.cumsum(rng.binomial(PER_DAY, treatment_rate, LOOKS))
        n = PER_DAY * np.arange(1, LOOKS + 1)
        ships = naive_ships = False
        for k in range(LOOKS):
            if not naive_ships and t[k] > c[k]:
                naive_ships = proportions_ztest([t[k], c[k]], [n[k], n[k]])[1] < 0.05
            if not ships:
                summary = pd.DataFrame(
                    {"variant": ["control", "treatment"], "metric": "upsell_take_rate",
                     "n": [n[k], n[k]], "sum": [c[k], t[k]]}
                )  # fmt: skip
                ships = experiment.analyze(summary).decision.action == "ship"
        shipped += ships
        naive += naive_ships
    return shipped / SIMULATIONS, naive / SIMULATIONS


def test_daily_looks_at_an_a_a_test_rarely_ship(tmp_path: Path) -> None:
    shipped, naive = _runs(_experiment(tmp_path), RATE, seed=2026)
    se = (0.025 * 0.975 / SIMULATIONS) ** 0.5
    # naive peeking: far above the one-sided 2.5 % a single look would give
    assert naive > 0.025 + 4 * se, naive
    # the product: at most the one-sided level (4 Monte Carlo SE of slack)
    assert shipped <= 0.025 + 4 * se, (shipped, naive)


def test_a_large_effect_still_ships_early(tmp_path: Path) -> None:
    """+30 % (15 % -> 19.5 %): overwhelming within the 20 looks, so the gate costs no
    power here (the early-stop bound p < 0.001 is reached)."""
    shipped, _ = _runs(_experiment(tmp_path), RATE * 1.3, seed=7)
    assert shipped >= 0.95, shipped


def test_sequential_monitoring_is_not_gated(tmp_path: Path) -> None:
    """With analysis.sequential on, results are valid at every look: a significant
    early result ships without the planned sample (the gate is for fixed horizons)."""
    analysis = {"mde": 0.1, "engine": "frequentist", "decision": {"rule": "frequentist"},
                "sequential": {"enabled": True}}  # fmt: skip
    experiment = upsell_ab.load(write_spec(tmp_path, spec("seq", guardrails=[], analysis=analysis)))
    summary = pd.DataFrame(
        {"variant": ["control", "treatment"], "metric": "upsell_take_rate",
         "n": [3000, 3000], "sum": [450, 600]}
    )  # fmt: skip
    assert experiment.analyze(summary).decision.action == "ship"


def test_the_final_look_is_not_gated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """15 % vs 20 % of 1,000 per arm (p ~ 0.003, not below 0.001; the 10 % MDE plans
    ~9,400 per arm): daily tallies up to the spec's end date are its final look and
    ship; the same tallies ending a week earlier keep running (read the next morning,
    before the end date); a stopped spec ships."""
    monkeypatch.setenv(TODAY_VARIABLE, "2025-03-24")
    content = spec("tally", guardrails=[], analysis={"mde": 0.1, "engine": "frequentist",
                   "decision": {"rule": "frequentist"}})  # fmt: skip
    content["end"] = "2025-03-30"
    experiment = upsell_ab.load(write_spec(tmp_path, content))

    def tallies(last_day: str) -> pd.DataFrame:
        return pd.DataFrame(
            {"day": ["2025-03-03", last_day] * 2, "variant": ["control"] * 2 + ["treatment"] * 2,
             "metric": "upsell_take_rate", "n": [500, 500, 500, 500], "sum": [75, 75, 100, 100]}
        )  # fmt: skip

    assert experiment.analyze(tallies("2025-03-30")).decision.action == "ship"
    early = experiment.analyze(tallies("2025-03-23")).decision
    assert early.action == "keep_running" and early.additional_units_needed
    content["status"] = "stopped"
    stopped = upsell_ab.load(write_spec(tmp_path / "stopped", content))
    shipped = stopped.analyze(tallies("2025-03-23")).decision
    assert shipped.action == "ship"
    # ... saying that it stopped before its plan, which an early stop after a peek inflates
    assert any(r.startswith("Stopped before its planned sample") for r in shipped.reasons)
    assert not any(
        r.startswith("Stopped before")
        for r in stopped.analyze(tallies("2025-03-30")).decision.reasons
    )
