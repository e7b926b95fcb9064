"""Sample size, power and MDE against design.md, statsmodels and closed forms."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from scipy import stats
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportion_effectsize

from upsell_ab.errors import StatsError
from upsell_ab.stats.power import (
    allocate,
    mde_mean,
    mde_proportion,
    plan,
    power_mean,
    power_proportion,
    sample_size_mean,
    sample_size_proportion,
)


def test_design_example_25835() -> None:
    assert sample_size_proportion(0.20625, 0.01) == 25_835


def test_proportion_close_to_cohens_h() -> None:
    """Cohen's h (arcsine) approximation is a different method: within 4 % (the
    gap grows for small baselines, where the arcsine form is more conservative)."""
    for baseline, delta in [(0.20625, 0.01), (0.05, 0.005), (0.3, 0.03)]:
        ours = sample_size_proportion(baseline, delta)
        h = proportion_effectsize(baseline + delta, baseline)
        theirs = NormalIndPower().solve_power(h, alpha=0.05, power=0.8)
        assert ours == pytest.approx(theirs, rel=0.04)


def test_mean_matches_statsmodels_normal_power() -> None:
    for std, delta, alpha, power in [(2.0, 0.1, 0.05, 0.8), (35.0, 2.0, 0.01, 0.9)]:
        theirs = NormalIndPower().solve_power(delta / std, alpha=alpha, power=power)
        assert sample_size_mean(std, delta, alpha=alpha, power=power) == math.ceil(theirs - 1e-6)
        one_sided = NormalIndPower().solve_power(
            delta / std, alpha=alpha, power=power, alternative="larger"
        )
        assert sample_size_mean(
            std, delta, alpha=alpha, power=power, alternative="greater"
        ) == math.ceil(one_sided - 1e-6)


def test_power_and_mde_invert_sample_size() -> None:
    n = sample_size_proportion(0.1, 0.01)
    assert power_proportion(0.1, 0.01, n) == pytest.approx(0.8, abs=1e-3)
    assert mde_proportion(0.1, n) == pytest.approx(0.01, rel=1e-3)
    assert mde_proportion(0.5, 3) is None
    m = sample_size_mean(10.0, 1.0)
    assert power_mean(10.0, 1.0, m) == pytest.approx(0.8, abs=1e-3)
    expected = (stats.norm.isf(0.025) + stats.norm.isf(0.2)) * 10.0 * math.sqrt(2 / 1000)
    assert mde_mean(10.0, 1000) == pytest.approx(expected, rel=1e-12)


def test_plan_multi_arm_bonferroni_and_duration() -> None:
    weights = {"control": 0.5, "a": 0.25, "b": 0.25}
    result = plan(weights=weights, control="control", mde=0.1, baseline=0.2, daily_units=1_000)
    assert result.alpha_per_comparison == pytest.approx(0.025)
    n = sample_size_proportion(0.2, 0.02, alpha=0.025)
    assert result.n_equal_split == n
    # Control share 1/2, treatment 1/4: N (1/(N/2) + 1/(N/4)) = 2 / n  ->  N = 3 n.
    assert result.total_units == pytest.approx(3 * n, abs=1)
    assert result.n_per_variant["a"] >= 0.75 * n
    assert result.days == pytest.approx(result.total_units / 1000)


def test_allocate_equal_weights_is_n_per_arm() -> None:
    total, per = allocate(1000, {"c": 0.5, "t": 0.5}, "c")
    assert total == 2000 and per == {"c": 1000, "t": 1000}


def test_plan_errors() -> None:
    with pytest.raises(StatsError):
        plan(weights={"c": 0.5, "t": 0.5}, control="c", mde=0.1)
    with pytest.raises(StatsError):
        plan(weights={"c": 0.5, "t": 0.5}, control="c", mde=0.9, mde_kind="absolute", baseline=0.5)
    with pytest.raises(StatsError):
        plan(weights={"c": 0.5, "t": 0.5}, control="c", mde=0.1, std=3.0)
    mean_plan = plan(
        weights={"c": 0.5, "t": 0.5}, control="c", mde=1.0, mde_kind="absolute", std=10.0
    )
    assert mean_plan.metric_kind == "mean" and mean_plan.days is None


# ------------------------------------------------------------------ plan command
SPEC = """id: plan_demo
name: Plan demo
variants:
  - {id: control, weight: 0.5, control: true}
  - {id: a, weight: 0.25}
  - {id: b, weight: 0.25}
population: {coverage: 0.5}
metrics:
  primary: take
analysis:
  mde: 0.01
  mde_kind: absolute
  daily_units: 2000
"""
CATALOGUE = """metrics:
  take: {type: proportion, event: upsell_purchase}
  revenue: {type: mean, event: order}
"""


def write_spec(tmp_path: Path, spec: str = SPEC) -> Path:
    (tmp_path / "metrics.yaml").write_text(CATALOGUE, encoding="utf-8")
    path = tmp_path / "plan_demo.yaml"
    path.write_text(spec, encoding="utf-8")
    return path


def test_plan_command_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from upsell_ab.cli.main import main

    code = main(["plan", str(write_spec(tmp_path)), "--baseline", "0.20625", "--format", "json"])
    assert code == 0
    payload = json.loads(capsys.readouterr().out)
    n = sample_size_proportion(0.20625, 0.01, alpha=0.025)
    assert payload["metrics"][0]["n_equal_split"] == n
    assert payload["metrics"][0]["alpha"] == pytest.approx(0.025)
    assert payload["total_units"] == pytest.approx(3 * n, abs=1)
    # 2,000 eligible a day at 50 % coverage: 1,000 units a day enter the experiment.
    assert payload["days"] == pytest.approx(payload["total_units"] / 1000)


def test_plan_command_text_and_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from upsell_ab.cli.main import main

    spec = write_spec(tmp_path)
    assert main(["plan", str(spec), "--baseline", "0.2", "--units", "10000"]) == 0
    out = capsys.readouterr().out
    assert "needs" in out and "days" in out and "with 10,000 per variant it can detect" in out
    assert main(["plan", str(spec)]) == 1
    assert "--baseline" in capsys.readouterr().err
    mean_spec = write_spec(tmp_path, SPEC.replace("primary: take", "primary: revenue"))
    assert main(["plan", str(mean_spec), "--format", "json"]) == 1
    assert main(["plan", str(mean_spec), "--std", "40", "--format", "json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["metrics"][0]["kind"] == "mean"
    assert payload["metrics"][0]["n_equal_split"] == sample_size_mean(40.0, 0.01, alpha=0.025)
