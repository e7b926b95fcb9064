"""The whole bandit pipeline under drift and A/A (issue 14's proofs), through the simulator.

Each run is ``benchmarks/bench_bandit_pipeline.one_run``: ``simulate_bandit`` runs the
``cookie_wording_bandit`` spec period by period as production would (assignment with the
weights in force and a sticky store, the production ``allocate`` at every period's end),
then ``analyze`` reads the store. The published figures (60 seeds) are in
``benchmarks/results/bandit_pipeline.md``; these tests run fewer seeds (each test is about
a minute on a loaded 2-core machine), so the tolerances are Monte-Carlo ones, stated per
claim. The oracle is the simulator's truth (the relative lift p_k / p_0 - 1 of the take
rates it draws from), never our own analysis.
"""

from __future__ import annotations

import math
import os
import statistics
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from bench_bandit_pipeline import one_run

pytestmark = pytest.mark.skipif(
    not os.environ.get("UPSELL_AB_SLOW"), reason="set UPSELL_AB_SLOW=1 (minutes of simulation)"
)

DRIFT_SEEDS = 6
AA_SEEDS = 8
FAVOURED = "pairing_deal"
"""The best wording under the default truths: the bandit moves traffic to it, so most of
its units arrive after the drift (day 8 on)."""


def _mean_se(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), statistics.stdev(values) / math.sqrt(len(values))


@pytest.mark.slow
def test_drift_biases_the_pooled_estimate_and_not_the_period_weighted_one() -> None:
    """Every arm's take rate doubles from day 8 while the weights move to the best arm.

    Pooled per arm, the favoured arm's units come mostly from the doubled days, so its
    lift over the control (whose units come mostly from the burn-in) is inflated: the
    pooled mean lies more than 3 Monte-Carlo SE above the truth, by at least 0.2 (the
    60-seed benchmark: about +0.4). The period-weighted estimate (the analysis) lies
    within 3 SE of the truth, and in every seed below the pooled one.
    """
    runs = [one_run("drift", seed) for seed in range(DRIFT_SEEDS)]
    truth = runs[0]["true_lift"][FAVOURED]
    pooled, pooled_se = _mean_se([r["pooled_lift"][FAVOURED] for r in runs])
    weighted, weighted_se = _mean_se([r["lift"][FAVOURED] for r in runs])
    assert pooled - truth > max(3 * pooled_se, 0.2), (pooled, pooled_se, truth)
    assert abs(weighted - truth) < 3 * weighted_se, (weighted, weighted_se, truth)
    assert all(r["lift"][FAVOURED] < r["pooled_lift"][FAVOURED] for r in runs)
    # the weights did move: the bandit ended on the best arm in most runs
    finals = [r["final_weights"] for r in runs if r["final_weights"]]
    assert sum(max(f, key=f.get) == FAVOURED for f in finals) >= len(runs) // 2


@pytest.mark.slow
def test_identical_arms_get_no_systematic_weight_and_false_positives_stay_at_alpha() -> None:
    """A/A (every wording behaves as the control).

    Mean final weight per arm within 3 Monte-Carlo SE of 1/3 (the SE over seeds is large:
    a bandit under A/A wanders, which is expected; a systematic preference for one arm,
    e.g. the control or the first-listed, would show). False positives: with
    2 x AA_SEEDS comparisons at alpha = 0.05 the count must stay within the binomial
    3-SE bound (the 60-seed benchmark gives the rate with a tighter error).
    """
    runs = [one_run("aa", seed) for seed in range(AA_SEEDS)]
    finals = [r["final_weights"] for r in runs if r["final_weights"]]
    assert len(finals) >= AA_SEEDS - 1  # the stop rule should rarely fire under A/A
    for arm in ("generic", "pairing", "pairing_deal"):
        mean, se = _mean_se([f[arm] for f in finals])
        assert abs(mean - 1 / 3) < 3 * se, (arm, mean, se)
    p_values = [p for r in runs for p in r["p_values"].values() if p is not None]
    assert len(p_values) == 2 * AA_SEEDS
    bound = len(p_values) * 0.05 + 3 * math.sqrt(len(p_values) * 0.05 * 0.95)
    assert sum(p < 0.05 for p in p_values) <= bound
    # and the p-values are not pinned near 1 either (a test that never rejects is no proof)
    assert statistics.fmean(p_values) < 0.8
    # The Bayesian side (engine 'both'): adaptively collected means are biased DOWN for
    # starved arms (Nie et al. 2018), so a confident "beats control" must not be more
    # frequent than in a fixed design (0.05 per comparison; same binomial 3-SE bound;
    # 200 seeds in benchmarks/results/bandit_pipeline.md: 0.0175), and no A/A run ships
    # more often than that bound allows.
    chances = [c for r in runs for c in r["prob_beat"].values() if c is not None]
    assert len(chances) == 2 * AA_SEEDS
    assert sum(c >= 0.95 for c in chances) <= bound
    assert sum(r["action"] == "ship" for r in runs) <= 1 + 3 * math.sqrt(AA_SEEDS * 0.05)
