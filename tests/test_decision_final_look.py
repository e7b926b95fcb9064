"""At the final look "keep running" is no answer.

A stopped or concluded spec, or one whose end date has passed, gets no more data, so a
verdict that asks for more units cannot be acted on (`conclude` recorded "keep running"
with "about 8,503 more units per variant are needed"). There the decision keeps control
and says why: no winner on an underpowered test is not proof of no effect; a winner
whose guardrails were never shown within their margins cannot ship.
Oracle for "significant": statsmodels' two-proportion z-test on the same counts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from statsmodels.stats.proportion import proportions_ztest

import upsell_ab
from tests.test_e2e_support import spec, write_spec
from upsell_ab.decision.horizon import TODAY_VARIABLE


@pytest.fixture(autouse=True)
def _today(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TODAY_VARIABLE, "2025-03-20")  # inside the specs' dates below


def _experiment(tmp_path: Path, status: str, **extra: Any) -> upsell_ab.Experiment:
    content = spec("final", analysis={"mde": 0.1, "engine": "frequentist"}, **extra)
    content["status"] = status
    content["end"] = "2025-03-30"
    return upsell_ab.load(write_spec(tmp_path / status, content))


def _rows(counts: dict[str, tuple[int, int]]) -> pd.DataFrame:
    return pd.DataFrame(
        [(v, m, n, s) for (v, m), (n, s) in counts.items()],
        columns=["variant", "metric", "n", "sum"],
    )


UNDERPOWERED = {
    ("control", "upsell_take_rate"): (500, 75),
    ("treatment", "upsell_take_rate"): (500, 80),
    ("control", "refund_rate"): (500, 5),
    ("treatment", "refund_rate"): (500, 5),
}


def test_no_winner_at_the_final_look_keeps_control(tmp_path: Path) -> None:
    assert proportions_ztest([80, 75], [500, 500])[1] > 0.05
    running = _experiment(tmp_path, "running").analyze(_rows(UNDERPOWERED)).decision
    assert running.action == "keep_running" and (running.additional_units_needed or 0) > 0
    final = _experiment(tmp_path, "stopped").analyze(_rows(UNDERPOWERED)).decision
    assert final.action == "keep_control", final.reasons
    assert final.reasons[0].startswith("Keep control: this is the final look (status stopped)")
    assert "underpowered" in final.reasons[0]


def test_an_unproven_guardrail_at_the_final_look_keeps_control(tmp_path: Path) -> None:
    """+40 % take rate (p < 0.001); refunds 1 % vs 1 % on 1,000 per arm cannot show the
    10 % relative margin (the non-inferiority test needs far more)."""
    counts = {
        ("control", "upsell_take_rate"): (1000, 150),
        ("treatment", "upsell_take_rate"): (1000, 210),
        ("control", "refund_rate"): (1000, 10),
        ("treatment", "refund_rate"): (1000, 10),
    }
    assert proportions_ztest([210, 150], [1000, 1000])[1] < 0.001
    guard = {"guardrails": [{"metric": "refund_rate", "margin": 0.1}]}
    running = _experiment(tmp_path, "running", **guard).analyze(_rows(counts)).decision
    assert running.action == "keep_running", running.reasons
    assert running.reasons[0].startswith("Keep running: a variant leads, but its guardrails")
    final = _experiment(tmp_path, "stopped", **guard).analyze(_rows(counts)).decision
    assert final.action == "keep_control", final.reasons
    assert final.reasons[0].startswith("Keep control: treatment (refund_rate) beat control")
    assert "at the final look (status stopped)" in final.reasons[0]
