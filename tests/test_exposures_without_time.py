"""Exposure rows with no timestamp are counted and said, not dropped silently.

A NULL time (an empty cell, NaT from a failed parse) matches no date, so such rows fed
no unit and appeared in no count. Oracle: pandas over the frames written here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

import upsell_ab

SPEC = Path(__file__).resolve().parents[1] / "experiments" / "cake_wording.yaml"


def _frames(untimed: int, outside: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(5)
    n = 2000
    seen = pd.Series(
        pd.Timestamp("2026-03-05") + pd.to_timedelta(rng.integers(0, 86400 * 10, n), unit="s")
    )
    seen[:untimed] = pd.NaT
    seen[untimed : untimed + outside] = pd.Timestamp("2026-02-01 10:00")  # before the start
    exposures = pd.DataFrame(
        {
            "unit_id": [f"c{i}" for i in range(n)],
            "experiment": "cake_wording",
            "variant": rng.choice(["generic", "pairing"], n),
            "timestamp": seen,
            "channel": "app",
        }
    )
    events = pd.DataFrame(
        {
            "unit_id": ["c1999"],
            "event_type": "upsell_purchase",
            "timestamp": [pd.Timestamp("2026-03-20")],
            "value": 520.0,
        }
    )
    return exposures, events


def test_rows_without_a_time_are_counted_and_said() -> None:
    exposures, events = _frames(untimed=150, outside=40)
    result = upsell_ab.load(SPEC).analyze(exposures=exposures, events=events, daily=False)
    quality = result.to_dict()["experiments"][0]["quality"]
    start = pd.Timestamp("2026-03-02")
    dated = exposures["timestamp"].notna() & (exposures["timestamp"] >= start)
    assert quality["total_units"] == int(dated.sum()) == 1810
    # units outside the dates: those with a time before the start only (not the untimed)
    outside = exposures["timestamp"].notna() & (exposures["timestamp"] < start)
    assert quality["units_exposed_outside_dates"] == int(outside.sum()) == 40
    (said,) = [w for w in result.decision.warnings if "no timestamp" in w]
    assert said.startswith("150 exposure rows of this experiment have no timestamp")
    assert quality["exposure_rows_without_time"] == int(exposures["timestamp"].isna().sum())


def test_timed_exposures_say_nothing_of_it() -> None:
    exposures, events = _frames(untimed=0, outside=40)
    result = upsell_ab.load(SPEC).analyze(exposures=exposures, events=events, daily=False)
    assert not any("no timestamp" in w for w in result.decision.warnings)
    quality = result.to_dict()["experiments"][0]["quality"]
    assert quality["units_exposed_outside_dates"] == 40
    assert quality["exposure_rows_without_time"] == 0
