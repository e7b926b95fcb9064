"""A metric whose event type the source never holds: misspelt, or not collected.

``upsell_purchse`` in metrics.yaml read 0 in every arm and the decision said "keep
running" forever; a guardrail on complaints that are not collected "held" (0 % in
every arm), so a winner shipped with its guardrail unchecked. The query counts each
event type's rows; a type with none makes the decision metric invalid when the source
holds a look-alike type, a warning otherwise, and a guardrail on it cannot pass.
Expected facts are the rows these tests write (no number comes from our own code).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

import upsell_ab

ROOT = Path(__file__).resolve().parents[1]


def _spec(tmp_path: Path, take_rate_event: str = "upsell_purchase") -> Path:
    """cake_wording beside a copy of the catalogue whose take rate counts ``take_rate_event``."""
    catalogue = yaml.safe_load((ROOT / "experiments" / "metrics.yaml").read_text("utf-8"))
    catalogue["metrics"]["upsell_take_rate"]["event"] = take_rate_event
    (tmp_path / "metrics.yaml").write_text(yaml.safe_dump(catalogue), "utf-8")
    spec = tmp_path / "cake_wording.yaml"
    spec.write_text((ROOT / "experiments" / "cake_wording.yaml").read_text("utf-8"), "utf-8")
    return spec


def _frames(complaints: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
    """6,000 customers; pairing takes the cake 30 % of the time against 20 %: a clear win."""
    rng = np.random.default_rng(11)
    n = 6000
    variant = np.where(np.arange(n) % 2 == 0, "generic", "pairing")
    seen = pd.Timestamp("2026-03-03 08:00") + pd.to_timedelta(rng.integers(0, 86400 * 20, n), "s")
    exposures = pd.DataFrame(
        {"experiment": "cake_wording", "variant": variant, "unit_id": [f"c{i}" for i in range(n)],
         "timestamp": seen, "channel": "app"}
    )  # fmt: skip
    took = rng.random(n) < np.where(variant == "pairing", 0.30, 0.20)
    rows = {
        "unit_id": exposures.unit_id[took],
        "timestamp": seen[took] + pd.Timedelta(minutes=3),
        "event_type": "upsell_purchase",
        "value": 480.0,
    }
    events = pd.DataFrame(rows)
    orders = events.assign(event_type="order", value=1500.0)  # the coffee they came for
    events = pd.concat([events, orders], ignore_index=True)
    if complaints:
        few = exposures.iloc[::500]
        extra = pd.DataFrame(
            {"unit_id": few.unit_id, "timestamp": few.timestamp + pd.Timedelta(hours=2),
             "event_type": "complaint", "value": 0.0}
        )  # fmt: skip
        events = pd.concat([events, extra], ignore_index=True)
    events["discount"], events["quantity"] = 0.0, 1.0
    events["event_id"] = [f"e{i}" for i in range(len(events))]
    return exposures, events


def test_a_misspelt_decision_metric_event_is_invalid_with_a_did_you_mean(tmp_path: Path) -> None:
    exposures, events = _frames(complaints=True)
    result = upsell_ab.load(_spec(tmp_path, "upsell_purchse")).analyze(
        exposures=exposures, events=events, daily=False
    )
    assert result.decision.action == "invalid"
    text = " ".join(result.decision.reasons)
    assert "'upsell_purchse', but the source holds no such event at all" in text, text
    bought = int((events.event_type == "upsell_purchase").sum())  # as many as the orders
    assert f"did you mean 'upsell_purchase' for 'upsell_purchse'? {bought:,} rows" in text


def test_a_guardrail_whose_events_are_not_collected_cannot_pass(tmp_path: Path) -> None:
    """The same clear win ships when complaints are collected, and does not when the
    source holds none: the guardrail is unchecked, not 'held'."""
    spec = _spec(tmp_path)
    exposures, events = _frames(complaints=True)
    collected = upsell_ab.load(spec).analyze(exposures=exposures, events=events, daily=False)
    assert collected.decision.action == "ship", collected.decision.reasons
    exposures, events = _frames(complaints=False)
    missing = upsell_ab.load(spec).analyze(exposures=exposures, events=events, daily=False)
    assert missing.decision.action != "ship"
    text = " ".join([*missing.decision.reasons, *missing.decision.warnings])
    assert "the source holds no 'complaint' event at all, so it cannot be shown to hold" in text
    assert "complaint rate counts events of type 'complaint'" in text
    # Every report says the same: not "all hold" (the z-test on two all-zero arms
    # "passes" trivially; it was shown as held in the overview and the JSON).
    held = json.loads(collected.to_json())["experiments"][0]
    unheld = json.loads(missing.to_json())["experiments"][0]
    for document, expected in ((held, True), (unheld, None)):
        (guardrail,) = [m for m in document["metrics"] if m["role"] == "guardrail"]
        assert [c["non_inferiority"]["passed"] for c in guardrail["comparisons"]] == [expected]
    assert "all hold (1)" in collected.to_markdown()
    markdown = missing.to_markdown()
    assert "all hold" not in markdown and "1 of 1 not yet shown" in markdown
    assert "guardrail pairing: not computable" in missing.to_text()


def test_present_types_give_no_such_warning(tmp_path: Path) -> None:
    exposures, events = _frames(complaints=True)
    result = upsell_ab.load(_spec(tmp_path)).analyze(
        exposures=exposures, events=events, daily=False
    )
    assert not any("no such event" in w for w in result.decision.warnings)
