"""Metric events with no timestamp are counted and said; many of them block the verdict.

An order with an empty time cell (or NaT from a failed parse) is in no attribution window,
so it counted in no metric and appeared in no count: an export that lost half its order
times still got a verdict on the other half. Oracle: pandas over the frames written here.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import upsell_ab
from upsell_ab.cli.main import main
from upsell_ab.decision.gates import UNTIMED_EVENT_SHARE

SPEC = Path(__file__).resolve().parents[1] / "experiments" / "cake_wording.yaml"


def _frames(untimed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(8)
    n = 4000
    seen = pd.Series(
        pd.Timestamp("2026-03-05") + pd.to_timedelta(rng.integers(0, 86400 * 10, n), unit="s")
    )
    exposures = pd.DataFrame(
        {
            "unit_id": [f"c{i}" for i in range(n)],
            "experiment": "cake_wording",
            "variant": np.where(np.arange(n) % 2 == 0, "generic", "pairing"),
            "timestamp": seen,
            "channel": "app",
        }
    )
    take = rng.random(n) < np.where(exposures["variant"] == "pairing", 0.16, 0.12)
    buyers = exposures[take].reset_index(drop=True)
    times = buyers["timestamp"] + pd.Timedelta(minutes=5)
    times[:untimed] = pd.NaT  # the first buyers' times were lost
    events = pd.DataFrame(
        {
            "unit_id": buyers["unit_id"],
            "event_type": "upsell_purchase",
            "timestamp": times,
            "value": 520.0,
            "event_id": [f"u{i}" for i in range(len(buyers))],
        }
    )
    return exposures, events


def test_a_few_untimed_events_are_counted_and_said() -> None:
    exposures, events = _frames(untimed=3)
    result = upsell_ab.load(SPEC).analyze(exposures=exposures, events=events, daily=False)
    document = result.to_dict()["experiments"][0]
    quality = document["quality"]
    assert quality["event_rows_without_time"] == int(events["timestamp"].isna().sum()) == 3
    assert 3 / quality["metric_events"] <= UNTIMED_EVENT_SHARE
    (said,) = [w for w in result.decision.warnings if "have no timestamp" in w]
    assert said.startswith(f"3 of the metrics' {quality['metric_events']:,} events")
    assert result.decision.action != "invalid"
    # the take rate counts the timed purchases only (pandas)
    timed = events[events["timestamp"].notna()]
    arm = exposures.set_index("unit_id")["variant"]
    takers = timed.groupby(timed["unit_id"].map(arm))["unit_id"].nunique()
    (take,) = [m for m in document["metrics"] if m["name"] == "upsell_take_rate"]
    for variant in take["variants"]:
        expected = takers.get(variant["variant"], 0) / 2000
        assert variant["mean"] == pytest.approx(expected, rel=1e-12)


def test_many_untimed_events_block_the_verdict_from_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    exposures, events = _frames(untimed=200)
    exposures.to_csv(tmp_path / "exposures.csv", index=False)
    events.to_csv(tmp_path / "events.csv", index=False)  # NaT -> an empty cell
    spec = tmp_path / "cake_wording.yaml"
    text = SPEC.read_text(encoding="utf-8")
    data = (
        f"data:\n  kind: files\n  exposures: {tmp_path / 'exposures.csv'}\n"
        f"  events: {tmp_path / 'events.csv'}\n"
        "  exposure_columns: {attributes: [channel]}\n"
    )
    spec.write_text(text[: text.index("data:")] + data, encoding="utf-8")
    (tmp_path / "metrics.yaml").write_text(
        (SPEC.parent / "metrics.yaml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    code = main(["analyze", str(spec), "--format", "json", "--fail-on", "quality"])
    document = json.loads(capsys.readouterr().out)
    document = document.get("experiments", [document])[0]
    assert code == 2  # a blocking data gate in CI
    quality = document["quality"]
    assert quality["event_rows_without_time"] == 200 == int(events["timestamp"].isna().sum())
    assert document["decision"]["action"] == "invalid"
    share = 200 / quality["metric_events"]
    assert share > UNTIMED_EVENT_SHARE
    assert any(f"({share:.0%}) have no timestamp" in r for r in document["decision"]["reasons"])
