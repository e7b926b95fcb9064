"""How often the whole pipeline ships a variant when nothing works (A/A).

Slow (set UPSELL_AB_SLOW=1): 60 independent A/A data sets of 6,000 customers
each through simulate -> DuckDB -> analyze -> decide. The frequentist rule
ships only on a significant *improvement*, so the false-ship rate should be
about alpha / 2 = 2.5 %; we require it below alpha = 5 % plus three binomial
standard errors, and the SRM false-alarm rate below 0.001 + 3 SE."""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest

from tests.test_e2e_support import load, simulate_into, spec, write_spec
from upsell_ab.decision.model import Action
from upsell_ab.simulate import Truth
from upsell_ab.workflow import run_experiment

RUNS = 60


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("UPSELL_AB_SLOW") != "1", reason="set UPSELL_AB_SLOW=1")
def test_aa_false_ship_rate_is_at_most_alpha(tmp_path: Path) -> None:
    resolved = load(write_spec(tmp_path / "specs", spec("aa_rate", guardrails=[])))
    shipped = srm = 0
    for seed in range(RUNS):
        store = tmp_path / f"aa{seed}.duckdb"
        simulate_into(store, [resolved], units=6000, seed=seed, truth=Truth(null=True))
        run = run_experiment(resolved, store=store, daily=False)
        shipped += run.outcome.action is Action.ship
        srm += run.analysis.srm.flagged
    se = math.sqrt(0.05 * 0.95 / RUNS)
    assert shipped / RUNS <= 0.05 + 3 * se, shipped
    assert srm / RUNS <= 0.001 + 3 * math.sqrt(0.001 * 0.999 / RUNS), srm
