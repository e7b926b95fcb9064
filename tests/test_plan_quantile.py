"""``plan`` for a quantile metric (issue 11): the per-unit standard deviation from history
and the power of the quantile test at the planned sample size.

Oracles: the asymptotic variance of a sample median, Var = 1 / (4 n f(m)^2) (Serfling
1980, sec. 2.3.3), in closed form for a lognormal: sigma_eq = 1 / (2 f(m)) with
f(m) = 1 / (m s sqrt(2 pi)), m = e^mu; and a seeded simulation of the observed power
(tolerance: 3 Monte-Carlo standard errors).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from upsell_ab.metrics.quantile import QuantileStats
from upsell_ab.stats.planning import MetricInput, history_moments, plan_experiment
from upsell_ab.stats.quantile import quantile_test

MU, S = math.log(12_000.0), 0.6
MEDIAN = math.exp(MU)
SIGMA_EQ = MEDIAN * S * math.sqrt(2 * math.pi) / 2


def test_history_gives_the_closed_form_per_unit_deviation_of_a_median() -> None:
    rng = np.random.default_rng(11)
    values = rng.lognormal(MU, S, 200_000)
    baseline, std, _ = history_moments(QuantileStats.from_values(values, 0.5)) or (0, 0, 0)
    assert baseline == pytest.approx(MEDIAN, rel=0.01)
    assert std == pytest.approx(SIGMA_EQ, rel=0.04)
    # orders of half the exposed customers: per exposed unit, the deviation is sqrt(2) larger
    half = QuantileStats.from_values(values, 0.5, units=400_000)
    _, per_unit, _ = history_moments(half) or (0, 0, 0)
    assert per_unit == pytest.approx(std * math.sqrt(2), rel=1e-12)


def test_observed_power_at_the_planned_n_is_the_target() -> None:
    metric = MetricInput(
        name="median_order_value", role="primary", kind="mean", test="superiority",
        effect=0.05, baseline=MEDIAN, std=SIGMA_EQ,
    )  # fmt: skip
    plan = plan_experiment([metric], weights={"a": 0.5, "b": 0.5}, control="a")
    n = plan.metrics[0].n_per_variant["a"]
    assert 1_000 < n < 20_000
    rng = np.random.default_rng(12)
    runs, hits = 600, 0
    shift = 0.05 * MEDIAN  # a location shift: both arms have the same density at the median
    for _ in range(runs):
        control = QuantileStats.from_values(rng.lognormal(MU, S, n), 0.5)
        treatment = QuantileStats.from_values(rng.lognormal(MU, S, n) + shift, 0.5)
        result = quantile_test(control, treatment)
        assert result is not None
        hits += result.p_value is not None and result.p_value < 0.05
    observed = hits / runs
    print(f"planned n {n} per arm: observed power {observed:.3f}")
    assert abs(observed - 0.8) < 3 * math.sqrt(0.8 * 0.2 / runs), observed


def test_plan_names_a_quantile_primary_as_planned_like_a_mean(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The printed kind must not call a median a "mean": it says how it is planned."""
    from upsell_ab.cli.main import main

    root = Path(__file__).resolve().parents[1] / "experiments"
    (tmp_path / "metrics.yaml").write_text((root / "metrics.yaml").read_text("utf-8"), "utf-8")
    spec = (root / "cake_wording.yaml").read_text("utf-8")
    spec = spec.replace("primary: upsell_take_rate", "primary: median_order_value")
    (tmp_path / "cake_median.yaml").write_text(spec, "utf-8")
    code = main(
        [
            "plan",
            str(tmp_path / "cake_median.yaml"),
            "--baseline",
            "median_order_value=1200",
            "--std",
            "median_order_value=400",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    line = next(x for x in out.splitlines() if "median_order_value (" in x)
    assert "(quantile, planned as a mean," in line
    assert "(mean," not in line
