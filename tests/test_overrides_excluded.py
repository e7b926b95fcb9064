"""QA overrides are not part of the experiment's sample.

A spec's ``overrides`` force chosen unit ids into a variant (QA testers, a demo
account). Their variant was chosen, not randomised, and their orders are test orders,
so the analysis leaves their exposures out (GrowthBook's SDKs do not track forced
variations either). Oracle: the same counts computed with pandas on the rows minus the
forced ids; a numeric unit column with text override ids stays a valid query.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

import upsell_ab
from tests.test_e2e_support import spec, write_spec


def _rows(unit_ids: list[object]) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(4)
    n = len(unit_ids)
    variants = np.where(np.arange(n) % 2 == 0, "control", "treatment")
    seen = pd.Timestamp("2025-03-04 10:00") + pd.to_timedelta(np.arange(n) % 7, unit="D")
    exposures = pd.DataFrame(
        {"experiment": "qa", "variant": variants, "unit_id": unit_ids, "timestamp": seen}
    )
    buys = rng.random(n) < 0.2
    events = pd.DataFrame(
        {
            "unit_id": [u for u, b in zip(unit_ids, buys, strict=True) if b],
            "timestamp": seen[buys] + pd.Timedelta(hours=1),
            "event_type": "upsell_purchase",
            "value": 5.0,
        }
    )
    return exposures, events


def _units(result: upsell_ab.Result) -> dict[str, int]:
    metric = next(m for m in result.metrics if m.name == "upsell_take_rate")
    return {v.variant: v.n for v in metric.variants}


def test_forced_units_are_left_out(tmp_path: Path) -> None:
    ids: list[object] = [f"c{i}" for i in range(400)] + ["qa-tester-1", "qa-tester-2"]
    exposures, events = _rows(ids)
    # the QA testers ordered on every visit, in the treatment
    exposures.loc[exposures["unit_id"].str.startswith("qa-"), "variant"] = "treatment"
    content = spec("qa", guardrails=[])
    content["overrides"] = {"qa-tester-1": "treatment", "qa-tester-2": "treatment"}
    experiment = upsell_ab.load(write_spec(tmp_path, content))
    result = experiment.analyze(exposures=exposures, events=events)
    kept = exposures[~exposures["unit_id"].isin(content["overrides"])]
    assert _units(result) == kept.groupby("variant").size().to_dict()
    notes = result.to_dict()["experiments"][0]["notes"]
    assert any("QA override unit(s) (qa-tester-1, qa-tester-2)" in n for n in notes), notes
    plain = upsell_ab.load(write_spec(tmp_path / "plain", spec("qa", guardrails=[])))
    counted = _units(plain.analyze(exposures=exposures, events=events))
    assert counted == exposures.groupby("variant").size().to_dict()


def test_numeric_unit_ids_with_text_overrides(tmp_path: Path) -> None:
    exposures, events = _rows(list(range(1, 301)))
    content = spec("qa", guardrails=[])
    content["overrides"] = {"qa-tester-1": "treatment", "7": "control"}
    experiment = upsell_ab.load(write_spec(tmp_path, content))
    result = experiment.analyze(exposures=exposures, events=events)
    kept = exposures[exposures["unit_id"] != 7]
    assert _units(result) == kept.groupby("variant").size().to_dict()
