"""The quantile metric end to end (issue 11, part 3): catalogue -> SQL -> engines -> report.

``laptop_bundle`` carries ``median_order_value`` (the shipped catalogue's median of
order values per event, a customer's orders clustered). Oracles: numpy's
``inverted_cdf`` percentile of the order values written here (the SQL's
``quantile_disc``), and the Woodruff order-statistic variance recomputed with numpy
from the same sorted values, with the clustering factor (the delta-method variance of
the share of orders at or below the median over customers) recomputed with numpy.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import upsell_ab

REPO = Path(__file__).resolve().parents[1]
LAPTOP = upsell_ab.load(REPO / "experiments" / "laptop_bundle.yaml")
Z = 1.959963984540054


def _data(seed: int, one_order_each: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    n = 3000
    exposures = pd.DataFrame(
        {
            "experiment": "laptop_bundle",
            "variant": ["laptop_only", "bundle"] * (n // 2),
            "unit_id": [f"u{i}" for i in range(n)],
            "timestamp": pd.Timestamp("2026-05-12 10:00"),
        }
    )
    buyers = [i for i in range(n) if rng.random() < 0.4]
    rows = []
    for i in buyers:
        for k in range(1 if one_order_each else int(rng.integers(1, 4))):
            lift = 1.15 if i % 2 else 1.0
            rows.append((f"u{i}", pd.Timestamp("2026-05-13 10:00") + pd.Timedelta(minutes=k),
                         "order", float(round(rng.lognormal(11, 0.5) * lift))))  # fmt: skip
    events = pd.DataFrame(rows, columns=["unit_id", "timestamp", "event_type", "value"])
    return exposures, events


def _arm_values(exposures: pd.DataFrame, events: pd.DataFrame, arm: str) -> np.ndarray:
    units = set(exposures.loc[exposures["variant"] == arm, "unit_id"])
    return np.sort(events.loc[events["unit_id"].isin(units), "value"].to_numpy())


@pytest.mark.parametrize("one_order_each", [True, False])
def test_medians_match_numpy_and_every_format_renders(one_order_each: bool) -> None:
    exposures, events = _data(5, one_order_each)
    result = LAPTOP.analyze(exposures=exposures, events=events)
    report = result.metric("median_order_value")
    medians = {v.variant: v.mean for v in report.variants}
    for arm in ("laptop_only", "bundle"):
        values = _arm_values(exposures, events, arm)
        assert medians[arm] == np.percentile(values, 50, method="inverted_cdf")
    # the "Units" column counts exposed customers, as for every metric, not orders
    units_shown = {v.variant: v.n for v in report.variants}
    primary = {v.variant: v.n for v in result.metric(LAPTOP.primary_metric).variants}
    assert units_shown == primary
    (comparison,) = result.comparisons("median_order_value")
    assert comparison.method == "quantile (order statistics)"
    variance = 0.0
    for arm in ("laptop_only", "bundle"):
        values = _arm_values(exposures, events, arm)
        n = len(values)
        spread = Z * math.sqrt(0.25 / n)
        low = values[min(n, max(1, math.ceil((0.5 - spread) * n - 1e-12))) - 1]
        high = values[min(n, max(1, math.ceil((0.5 + spread) * n - 1e-12))) - 1]
        iid = ((high - low) / (2 * Z)) ** 2
        # a customer's orders are one cluster: the share of orders at or below the median
        # is a ratio of per-customer sums (delta method), replacing nu (1 - nu) / n
        units = set(exposures.loc[exposures["variant"] == arm, "unit_id"])
        mine = events[events["unit_id"].isin(units)]
        per = mine.assign(b=mine["value"] <= medians[arm]).groupby("unit_id")
        b, c = per["b"].sum().to_numpy(float), per["value"].size().to_numpy(float)
        k, r = len(b), b.mean() / c.mean()
        cov = np.cov(np.vstack([b, c]), ddof=1)
        share = (cov[0, 0] - 2 * r * cov[0, 1] + r * r * cov[1, 1]) / (k * c.mean() ** 2)
        variance += iid * share / (0.25 / n)
    difference = medians["bundle"] - medians["laptop_only"]
    low, high = comparison.ci_low, comparison.ci_high
    assert low is not None and high is not None
    assert (high - low) / 2 == pytest.approx(Z * math.sqrt(variance), rel=1e-9)
    assert (high + low) / 2 == pytest.approx(difference, rel=1e-9)
    assert comparison.prob_beat_baseline is not None  # the Bayesian engine ran too
    for fmt in ("text", "markdown", "html"):
        assert "median" in result.render(fmt).lower()
    document = json.loads(result.to_json())
    assert any(m["name"] == "median_order_value" for m in document["experiments"][0]["metrics"])


def test_segments_and_the_daily_series_survive_a_quantile_metric() -> None:
    exposures, events = _data(6, False)
    exposures = exposures.assign(channel=["web", "app", "store"] * 1000, segment="consumer")
    result = LAPTOP.analyze(exposures=exposures, events=events, segments=True, daily=True)
    assert result.metric("median_order_value").variants[0].n > 0
    assert result.to_dict()["experiments"][0]["segments"]
