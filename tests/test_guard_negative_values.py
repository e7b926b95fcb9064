"""Negative amounts in a source read in place are counted and said, never summed silently.

``upsell-ab ingest`` refuses a negative amount, but frames, files read in place and
warehouse tables are analysed as they are. An accounting export often writes refunds
as negative orders: they lower revenue (perhaps what the user wants) and count as orders
in a conversion metric (never what they want). The report now counts them per event type
and column and warns; the statistics are unchanged (checked against pandas).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cake_support import SPEC, cake_exposures

import upsell_ab


@pytest.fixture(autouse=True)
def _after_the_end(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UPSELL_AB_TODAY", "2026-04-05")


def _log(refunds: int, seed: int = 5) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    n = 3000
    exposures = cake_exposures(rng, n)
    units, ts = exposures["unit_id"].to_numpy(), exposures["timestamp"]
    buyers = rng.choice(n, 900, replace=False)
    amounts = rng.choice([450.0, 900.0, 1350.0], 900)
    amounts[:refunds] *= -1  # refunds exported as negative orders
    events = pd.DataFrame(
        {
            "unit_id": units[buyers],
            "event_type": "order",
            "timestamp": ts[buyers] + pd.Timedelta(hours=1),
            "value": amounts,
        }
    )
    return exposures, events


def _quality(result: upsell_ab.Result) -> dict[str, object]:
    quality: dict[str, object] = json.loads(result.to_json())["experiments"][0]["quality"]
    return quality


def test_negative_orders_in_frames_are_counted_and_warned() -> None:
    exposures, events = _log(refunds=37)
    result = upsell_ab.load(SPEC).analyze(exposures=exposures, events=events, daily=False)
    expected = int((events["value"] < 0).sum())
    assert expected == 37
    (said,) = [w for w in result.decision.warnings if "negative value" in w]
    assert said.startswith(f"{expected:,} 'order' events have a negative value")
    assert "refund" in said
    assert _quality(result)["negative_values"] == {"order.value": expected}
    # counted as they are: revenue per customer per arm equals pandas' net sum
    joined = exposures.merge(events, on="unit_id", how="left")
    net = joined.groupby("variant")["value"].sum() / exposures.groupby("variant").size()
    by_variant = {v.variant: v.mean for v in result.metric("revenue_per_customer").variants}
    for variant, mean in net.items():
        assert by_variant[variant] == pytest.approx(mean, rel=1e-12)


def test_no_negative_values_no_warning() -> None:
    exposures, events = _log(refunds=0)
    result = upsell_ab.load(SPEC).analyze(exposures=exposures, events=events, daily=False)
    assert not [w for w in result.decision.warnings if "negative" in w]
    assert _quality(result)["negative_values"] == {}


def test_negative_orders_in_a_csv_read_in_place_are_warned(tmp_path: Path) -> None:
    exposures, events = _log(refunds=12, seed=8)
    exposures.to_csv(tmp_path / "exposures.csv", index=False)
    events.to_csv(tmp_path / "events.csv", index=False)
    result = upsell_ab.load(SPEC).analyze(
        exposures=tmp_path / "exposures.csv", events=tmp_path / "events.csv", daily=False
    )
    assert _quality(result)["negative_values"] == {"order.value": 12}
    warnings = result.decision.warnings
    assert any(w.startswith("12 'order' events have a negative value") for w in warnings)
