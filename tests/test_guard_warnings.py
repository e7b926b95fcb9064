"""Issue 9 gates not covered elsewhere: orphan and duplicate shares in the headline,
and a decision metric constant in every arm blocking the verdict.

Data are frames made here and analysed through ``Experiment.analyze`` (the same
metric query and decision as the CLI). Expected shares are counted from the rows
written; the de-duplicated analysis must equal the analysis of the rows without
their duplicates (the oracle for "dropped by event id").
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

import upsell_ab

REPO = Path(__file__).resolve().parents[1]
LAPTOP = upsell_ab.load(REPO / "experiments" / "laptop_bundle.yaml")


def _exposures(n: int = 1000) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "experiment": "laptop_bundle",
            "variant": ["laptop_only", "bundle"] * (n // 2),
            "unit_id": [f"u{i}" for i in range(n)],
            "timestamp": pd.Timestamp("2026-05-12 10:00")
            + pd.to_timedelta(np.arange(n), unit="min"),
        }
    )


def _orders(units: list[str], seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "unit_id": units,
            "timestamp": pd.Timestamp("2026-05-14 12:00"),
            "event_type": "order",
            "value": rng.uniform(50_000, 150_000, len(units)).round(0),
            "event_id": [f"e-{u}" for u in units],
        }
    )


def _warnings(result: upsell_ab.Result) -> list[str]:
    return list(result.to_dict()["experiments"][0]["decision"]["warnings"])


def test_orphan_events_above_the_threshold_are_a_headline_warning() -> None:
    exposed = _orders([f"u{i}" for i in range(0, 1000, 10)], 1)  # 100 events
    strangers = _orders([f"x{i}" for i in range(150)], 2)  # 150 events of unknown units
    result = LAPTOP.analyze(exposures=_exposures(), events=pd.concat([exposed, strangers]))
    (warning,) = [w for w in _warnings(result) if "never exposed" in w]
    assert warning.startswith("60% of the metrics' events belong to units never exposed")
    assert "60% of the metrics' events" in result.to_text().split("Variants")[0]
    below = LAPTOP.analyze(exposures=_exposures(), events=pd.concat([exposed, strangers[:20]]))
    assert not [w for w in _warnings(below) if "never exposed" in w]  # 17 % < 20 %


def test_duplicate_rows_are_dropped_counted_and_warned() -> None:
    orders = _orders([f"u{i}" for i in range(0, 1000, 5)], 3)  # 200 events
    doubled = pd.concat([orders, orders.iloc[:100]])  # 100 duplicates of 300 rows = 33 %
    result = LAPTOP.analyze(exposures=_exposures(), events=doubled)
    (warning,) = [w for w in _warnings(result) if "duplicates" in w]
    assert warning.startswith("33% of the event rows were duplicates")
    clean = LAPTOP.analyze(exposures=_exposures(), events=orders)
    assert result.metric("revenue_per_customer").variants == (
        clean.metric("revenue_per_customer").variants
    )


def test_a_decision_metric_constant_in_every_arm_blocks_the_verdict() -> None:
    everyone = _orders([f"u{i}" for i in range(1000)], 4).assign(value=5000.0)
    result = LAPTOP.analyze(exposures=_exposures(), events=everyone)
    assert result.decision.action == "invalid"
    assert any("is 5000 for every unit in every arm" in r for r in result.decision.reasons)
