"""Issue 9, case 8: summary CSVs as people keep them.

Oracles: statsmodels' z-test on the totals of daily tallies, scipy's Welch
test on the per-customer values, counted here from the rows written.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as scipy_stats
from statsmodels.stats.proportion import proportions_ztest

from tests.test_e2e_support import spec, write_spec
from upsell_ab.cli.main import main


def _analyze(tmp_path: Path, csv_text: str, **spec_args: object) -> dict:
    path = write_spec(tmp_path / "specs", spec("tally", **spec_args))  # type: ignore[arg-type]
    summary = tmp_path / "summary.csv"
    summary.write_text(csv_text, encoding="utf-8")
    out = tmp_path / "r.json"
    code = main(["analyze", str(path), "--summary", str(summary), "--format", "json",
                 "--output", str(out)])  # fmt: skip
    assert code == 0
    (experiment,) = json.loads(out.read_text(encoding="utf-8"))["experiments"]
    return experiment


def test_daily_tallies_are_added(tmp_path: Path) -> None:
    """Was: 'a second row' error. Three days of tallies per arm add up."""
    days = {
        "control": [(400, 60), (380, 55), (420, 66)],
        "treatment": [(410, 80), (390, 77), (400, 85)],
    }
    lines = ["variant,metric,n,sum"]
    for arm, rows in days.items():
        lines += [f"{arm},upsell_take_rate,{n},{x}" for n, x in rows]
    experiment = _analyze(tmp_path, "\n".join(lines) + "\n", guardrails=[])
    take = next(m for m in experiment["metrics"] if m["name"] == "upsell_take_rate")
    assert [v["n"] for v in take["variants"]] == [1200, 1200]
    counts = [sum(x for _, x in days["treatment"]), sum(x for _, x in days["control"])]
    _, p = proportions_ztest(counts, [1200, 1200])
    assert take["comparisons"][0]["p_value"] == pytest.approx(p, rel=1e-9)


def test_one_row_per_customer_when_sums_of_squares_are_unknown(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    values = {"control": rng.gamma(2.0, 300.0, 150), "treatment": rng.gamma(2.0, 360.0, 150)}
    lines = ["variant,metric,value"]
    for arm, ys in values.items():
        lines += [f"{arm},revenue_per_customer,{float(y)!r}" for y in ys]
    experiment = _analyze(
        tmp_path, "\n".join(lines) + "\n", guardrails=[], secondary=["revenue_per_customer"]
    )
    revenue = next(m for m in experiment["metrics"] if m["name"] == "revenue_per_customer")
    expected = scipy_stats.ttest_ind(values["treatment"], values["control"], equal_var=False)
    assert revenue["comparisons"][0]["p_value"] == pytest.approx(expected.pvalue, rel=1e-9)
    assert revenue["variants"][0]["mean"] == pytest.approx(values["control"].mean(), rel=1e-12)


def test_a_metric_missing_from_the_csv_is_named_as_such(tmp_path: Path) -> None:
    """Was: 'check the exposures and the metric's event type' (a CSV user has neither)."""
    text = "variant,metric,n,sum\ncontrol,refund_rate,100,2\ntreatment,refund_rate,100,3\n"
    experiment = _analyze(tmp_path, text)
    reason = experiment["decision"]["reasons"][0]
    assert experiment["decision"]["action"] == "invalid"
    assert "summary CSV" in reason and "has no rows for it" in reason
    assert "exposures" not in reason


def _refused(tmp_path: Path, csv_text: str, capsys: pytest.CaptureFixture[str]) -> str:
    path = write_spec(tmp_path / "specs", spec("tally", guardrails=[]))
    summary = tmp_path / "summary.csv"
    summary.write_text(csv_text, encoding="utf-8")
    code = main(["analyze", str(path), "--summary", str(summary), "--format", "json"])
    assert code == 1
    return capsys.readouterr().err


def test_a_day_given_twice_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Tallies add up, so a pasted-twice day doubled its customers without a word (one
    arm 2x: an SRM blamed on the assignment). Both rows are named."""
    text = (
        "day,variant,metric,n,sum\n"
        "2026-03-02,control,upsell_take_rate,400,60\n"
        "2026-03-02,treatment,upsell_take_rate,410,80\n"
        "2026-03-03,control,upsell_take_rate,380,55\n"
        "2026-03-02,control,upsell_take_rate,400,60\n"
    )
    err = _refused(tmp_path, text, capsys)
    assert "row 5" in err and "on 2026-03-02 was already given (row 2)" in err, err


def test_a_customer_twice_or_in_two_variants_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (
        "unit_id,variant,metric,value\n"
        "c1,control,upsell_take_rate,1\n"
        "c2,treatment,upsell_take_rate,0\n"
        "c1,treatment,upsell_take_rate,1\n"
        "c2,treatment,upsell_take_rate,0\n"
    )
    err = _refused(tmp_path, text, capsys)
    assert "customer 'c1' has a value for upsell_take_rate in variant 'control' (row 2)" in err
    assert "customer 'c2' already has a value for upsell_take_rate (row 3)" in err


def test_days_without_a_day_column_still_add_up(tmp_path: Path) -> None:
    """Identical rows without a day column may be two sessions with the same counts:
    they are added, as documented (the refusal needs a day or a unit id to be sure)."""
    text = "variant,metric,n,sum\n" + "control,upsell_take_rate,50,5\n" * 2
    text += "treatment,upsell_take_rate,100,12\n"
    experiment = _analyze(tmp_path, text, guardrails=[])
    take = next(m for m in experiment["metrics"] if m["name"] == "upsell_take_rate")
    assert [v["n"] for v in take["variants"]] == [100, 100]


def test_a_rate_or_percentage_typed_for_the_count_gets_the_count(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """'sum' is converted units; a spreadsheet's rate (0.15) or percentage (14.5) there is
    refused with the count it likely meant (rate x n, computed here)."""
    text = (
        "variant,metric,n,sum\n"
        "control,upsell_take_rate,400,0.15\n"
        "treatment,upsell_take_rate,420,14.5\n"
    )
    err = _refused(tmp_path, text, capsys)
    assert f"0.15 x 400 = {0.15 * 400:.0f}" in err, err
    assert f"14.5 % of 420 = {14.5 * 420 / 100:.0f}" in err, err
