"""A CUPED covariate that differs between the arms is dropped, not trusted.

CUPED's adjusted difference is unbiased only for a covariate independent of the
assignment (Deng et al. 2013). A column that includes the experiment period carries
the treatment effect: a copy of the outcome as "covariate" turned a +6.7 % lift with
p ~ 1e-20 into "keep control" (+0.02 %, p = 0.78). Oracles: scipy's Welch t-test on the
per-unit values, statsmodels' unequal-variance z-test for the balance p, and a
simulation of the false-alarm rate under randomisation.
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats as scipy_stats
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

import upsell_ab
from upsell_ab.metrics.sufficient import CupedRatioStats, SampleStats
from upsell_ab.stats.cuped import IMBALANCE_P, covariate_balance_p, covariate_imbalances

ROOT = Path(__file__).resolve().parents[1]


def _experiment() -> upsell_ab.Experiment:
    """cake_wording decided on revenue per customer, uncapped (so a plain Welch test on
    the per-unit values is the oracle)."""
    spec = upsell_ab.load(ROOT / "experiments" / "cake_wording.yaml").to_dict()
    spec["metrics"] = {"primary": "revenue_per_customer"}
    spec["analysis"]["mde"] = 0.05
    catalogue = yaml.safe_load((ROOT / "experiments" / "metrics.yaml").read_text("utf-8"))
    del catalogue["metrics"]["revenue_per_customer"]["capping"]
    return upsell_ab.define(spec, catalogue=catalogue)


def _frames(experiment: upsell_ab.Experiment, n: int = 20_000) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(7)
    ids = np.arange(1, n + 1).astype(str)
    variants = np.array([experiment.assign(i, {"channel": "app"}).variant for i in ids])
    seconds = rng.integers(0, 86400 * 10, n)
    shown = pd.Timestamp("2026-03-05 10:00") + pd.to_timedelta(seconds, unit="s")
    before = rng.gamma(2.0, 1500.0, n)
    lift = np.where(variants == "pairing", 1.15, 1.0)
    after = 0.5 * before + rng.gamma(2.0, 750.0, n) * lift
    exposures = pd.DataFrame(
        {
            "unit_id": ids,
            "experiment": "cake_wording",
            "variant": variants,
            "timestamp": shown,
            "pre_revenue": before,
            "total_revenue": before + after,  # includes the experiment period
            "revenue_copy": after,
        }
    )
    events = pd.DataFrame(
        {
            "unit_id": ids,
            "event_type": "order",
            "timestamp": shown + pd.Timedelta("1h"),
            "value": after,
        }
    )
    return exposures, events


@pytest.mark.parametrize("column", ["revenue_copy", "total_revenue"])
def test_a_covariate_that_includes_the_experiment_is_dropped(column: str) -> None:
    experiment = _experiment()
    exposures, events = _frames(experiment)
    result = experiment.analyze(
        exposures=exposures, events=events, covariates={"revenue_per_customer": column}
    )
    treated = exposures.variant == "pairing"
    welch = scipy_stats.ttest_ind(
        events.value[treated.to_numpy()], events.value[~treated.to_numpy()], equal_var=False
    )
    row = result.to_pandas().query("variant == 'pairing'").iloc[0]
    expected_lift = events.value[treated].mean() / events.value[~treated].mean() - 1
    assert row.relative_lift == pytest.approx(expected_lift, rel=1e-9)
    assert row.p_value == pytest.approx(welch.pvalue, rel=1e-3)
    assert pd.isna(row.variance_reduction)  # reported without CUPED
    assert result.decision.action == "ship" and result.decision.winner == "pairing"
    document = json.loads(result.to_json())
    jsonschema.validate(document, json.loads((ROOT / "docs" / "report.schema.json").read_text()))
    (dropped,) = document["experiments"][0]["quality"]["covariates_dropped"]
    assert (dropped["metric"], dropped["variant"]) == ("revenue_per_customer", "pairing")
    control = exposures.variant != "pairing"
    assert dropped["control_mean"] == pytest.approx(exposures[column][control].mean())
    assert dropped["variant_mean"] == pytest.approx(exposures[column][~control].mean())
    assert dropped["p_value"] < 0.001
    warning = next(w for w in result.decision.warnings if w.startswith("CUPED was not applied"))
    assert "in pairing against" in warning
    assert "(p < 0.0001)" in warning or "(p = 0.000" in warning, warning  # below 0.001


def test_a_true_pre_exposure_covariate_keeps_cuped() -> None:
    experiment = _experiment()
    exposures, events = _frames(experiment)
    result = experiment.analyze(
        exposures=exposures, events=events, covariates={"revenue_per_customer": "pre_revenue"}
    )
    row = result.to_pandas().query("variant == 'pairing'").iloc[0]
    assert row.variance_reduction > 0.2  # corr(before, after) is ~0.7 here
    assert json.loads(result.to_json())["experiments"][0]["quality"]["covariates_dropped"] == []
    assert not any("CUPED" in w for w in result.decision.warnings)


def _sample(values: np.ndarray) -> SampleStats:
    return SampleStats(len(values), float(values.sum()), float((values**2).sum()))


def test_balance_p_is_the_unequal_variance_z_test() -> None:
    rng = np.random.default_rng(3)
    control, treatment = rng.gamma(2.0, 10.0, 400), rng.gamma(2.2, 10.0, 300)
    _, expected = CompareMeans(DescrStatsW(treatment), DescrStatsW(control)).ztest_ind(
        usevar="unequal"
    )
    assert covariate_balance_p(_sample(control), _sample(treatment)) == pytest.approx(
        expected, rel=1e-9
    )
    constant = np.full(50, 3.0)
    assert covariate_balance_p(_sample(constant), _sample(constant)) is None
    assert covariate_balance_p(_sample(constant), _sample(constant + 1)) == 0.0
    assert covariate_balance_p(_sample(constant[:1]), _sample(constant)) is None


def test_false_alarms_under_randomisation_are_rare() -> None:
    """4,000 simulated randomisations of a skewed pre-period covariate: the share
    flagged is IMBALANCE_P = 0.1 % (binomial sd 0.05 %); 0.4 % is six sd above."""
    rng = np.random.default_rng(11)
    alarms = 0
    draws = 4_000
    for _ in range(draws):
        values = rng.lognormal(5.0, 1.0, 1_000)
        treated = rng.random(1_000) < 0.5
        p = covariate_balance_p(_sample(values[~treated]), _sample(values[treated]))
        alarms += p is not None and p < IMBALANCE_P
    assert alarms / draws < 0.004


def test_a_ratio_metric_is_flagged_on_either_covariate() -> None:
    rng = np.random.default_rng(5)

    def ratio(x: np.ndarray, w: np.ndarray) -> CupedRatioStats:
        y, d = x + 1.0, w + 1.0
        return CupedRatioStats(
            len(x), y.sum(), (y**2).sum(), d.sum(), (d**2).sum(),
            x.sum(), (x**2).sum(), w.sum(), (w**2).sum(),
            (y * d).sum(), (y * x).sum(), (y * w).sum(), (d * x).sum(), (d * w).sum(),
            (x * w).sum(),
        )  # fmt: skip

    x, w = rng.gamma(2.0, 5.0, 2_000), rng.poisson(3.0, 2_000).astype(float)
    balanced = {"c": ratio(x[:1000], w[:1000]), "t": ratio(x[1000:], w[1000:])}
    assert covariate_imbalances("m", balanced, "c") == []
    shifted = {"c": ratio(x[:1000], w[:1000]), "t": ratio(x[1000:], w[1000:] + 1.0)}
    (found,) = covariate_imbalances("m", shifted, "c")
    assert (found.metric, found.variant) == ("m", "t") and found.p_value < 1e-6
    assert found.variant_mean - found.control_mean == pytest.approx(
        w[1000:].mean() + 1.0 - w[:1000].mean()
    )
