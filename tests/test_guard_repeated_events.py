"""A tracker that sends one arm's purchases twice never yields a verdict.

A variant's page often ships with new tracking code; a purchase event bound twice
reaches the log twice, milliseconds apart, with the same amount. Without event ids
nothing drops the copy: ``laptop_bundle`` (decides on revenue per customer) with equal
revenue in both arms and the bundle's orders sent twice read "ship bundle". The expected
counts are made in pandas from the rows themselves.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cake_support import SPEC as CAKE
from cake_support import cake_exposures

import upsell_ab
from upsell_ab.metrics import compute

LAPTOP = Path(__file__).resolve().parent.parent / "experiments" / "laptop_bundle.yaml"


@pytest.fixture(autouse=True)
def _after_the_end(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UPSELL_AB_TODAY", "2026-07-01")


def _laptop(n: int = 4000, seed: int = 11) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Exposures over three weeks; 30 % of each arm orders once, 1 hour after its first
    exposure, at the same price distribution (no effect)."""
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2026-05-11", tz="UTC")
    exposures = pd.DataFrame(
        {
            "experiment": "laptop_bundle",
            "variant": rng.choice(["laptop_only", "bundle"], n),
            "unit_id": [f"u{i}" for i in range(n)],
            "timestamp": start + pd.to_timedelta(rng.uniform(0, 21 * 86400, n), unit="s"),
        }
    )
    buyers = rng.random(n) < 0.3
    events = pd.DataFrame(
        {
            "unit_id": exposures["unit_id"][buyers].to_numpy(),
            "event_type": "order",
            "timestamp": (exposures["timestamp"][buyers] + pd.Timedelta(hours=1)).to_numpy(),
            "value": rng.choice([98_000.0, 128_000.0, 158_000.0], int(buyers.sum())),
        }
    )
    return exposures, events


def _sent_twice(
    exposures: pd.DataFrame, events: pd.DataFrame, variant: str, share: float = 1.0
) -> pd.DataFrame:
    """The events with a copy, 300 ms later, of ``share`` of ``variant``'s events."""
    arm = events["unit_id"].map(exposures.set_index("unit_id")["variant"]) == variant
    chosen = events[arm]
    chosen = chosen.iloc[: round(len(chosen) * share)].copy()
    chosen["timestamp"] = chosen["timestamp"] + pd.Timedelta(milliseconds=300)
    return pd.concat([events, chosen], ignore_index=True)


def _pandas_repeats(exposures: pd.DataFrame, events: pd.DataFrame) -> dict[str, tuple[int, int]]:
    """Variant -> (events, repeats): same unit, type and value as the unit's previous event
    of that type, at most 2 s later, not both with an event id."""
    arm = exposures.groupby("unit_id")["variant"].min()
    rows = events.assign(variant=events["unit_id"].map(arm)).dropna(subset=["variant"])
    rows = rows.sort_values(["unit_id", "event_type", "timestamp"], kind="stable")
    previous = rows.groupby(["unit_id", "event_type"]).shift()
    ids = rows.get("event_id", pd.Series(np.nan, index=rows.index))
    previous_ids = previous.get("event_id", ids)
    repeat = (
        (rows["timestamp"] - previous["timestamp"] <= pd.Timedelta(seconds=2))
        & (rows["value"] == previous["value"])
        & (ids.isna() | previous_ids.isna())
    )
    counted = rows.assign(repeat=repeat).groupby("variant")["repeat"].agg(["size", "sum"])
    return {v: (int(r["size"]), int(r["sum"])) for v, r in counted.iterrows()}


def _quality(result: upsell_ab.Result) -> dict[str, object]:
    quality: dict[str, object] = json.loads(result.to_json())["experiments"][0]["quality"]
    return quality


def test_one_arm_sent_twice_makes_a_revenue_test_invalid() -> None:
    exposures, events = _laptop()
    doubled = _sent_twice(exposures, events, "bundle")
    result = upsell_ab.load(LAPTOP).analyze(exposures=exposures, events=doubled, daily=False)
    expected = _pandas_repeats(exposures, doubled)
    assert expected["laptop_only"][1] == 0 and expected["bundle"][1] > 500
    # what the mistake does: the bundle's revenue doubles (pandas' sums)
    revenue = {v.variant: v.mean for v in result.metric("revenue_per_customer").variants}
    assert revenue["bundle"] > 1.8 * revenue["laptop_only"]
    assert result.decision.action == "invalid"
    (reason,) = [r for r in result.decision.reasons if "repeat the customer's previous" in r]
    events_b, repeats_b = expected["bundle"]
    events_c, _ = expected["laptop_only"]
    assert f"{repeats_b:,} of bundle's {events_b:,}" in reason
    assert f"0 of laptop_only's {events_c:,}" in reason
    assert "revenue per customer" in reason and "event_id" in reason
    counts = _quality(result)["repeated_events"]
    assert isinstance(counts, dict) and counts["sampled_one_in"] == 1
    assert counts["counts"]["bundle"]["order"] == {"events": events_b, "repeats": repeats_b}


def test_no_copies_no_reason_and_no_warning() -> None:
    exposures, events = _laptop()
    result = upsell_ab.load(LAPTOP).analyze(exposures=exposures, events=events, daily=False)
    assert result.decision.action != "invalid"
    said = [*result.decision.reasons, *result.decision.warnings]
    assert not [line for line in said if "within 2 seconds" in line]
    counts = _quality(result)["repeated_events"]
    assert isinstance(counts, dict)
    assert all(c["order"]["repeats"] == 0 for c in counts["counts"].values())


def test_copies_with_their_order_ids_are_dropped_not_flagged() -> None:
    exposures, events = _laptop()
    events["event_id"] = [f"o{i}" for i in range(len(events))]
    doubled = _sent_twice(exposures, events, "bundle")  # the copy keeps its order id
    result = upsell_ab.load(LAPTOP).analyze(exposures=exposures, events=doubled, daily=False)
    assert result.decision.action != "invalid"
    revenue = {v.variant: v.mean for v in result.metric("revenue_per_customer").variants}
    joined = exposures.merge(events, on="unit_id", how="left")  # pandas, without copies
    expected = joined.groupby("variant")["value"].sum() / exposures.groupby("variant").size()
    for variant, mean in expected.items():
        assert revenue[variant] == pytest.approx(mean, rel=1e-12)


def test_lines_with_their_own_ids_are_not_repeats() -> None:
    exposures, events = _laptop()
    doubled = _sent_twice(exposures, events, "bundle")
    doubled["event_id"] = [f"line{i}" for i in range(len(doubled))]  # distinct lines
    result = upsell_ab.load(LAPTOP).analyze(exposures=exposures, events=doubled, daily=False)
    counts = _quality(result)["repeated_events"]
    assert isinstance(counts, dict)
    assert counts["counts"]["bundle"]["order"]["repeats"] == 0
    assert not [r for r in result.decision.reasons if "within 2 seconds" in r]


def test_every_arm_alike_is_a_warning_not_a_block() -> None:
    exposures, events = _laptop()
    # a shop that logs two lines of an order as two events at one price, in both arms
    doubled = _sent_twice(
        exposures, _sent_twice(exposures, events, "bundle", 0.4), "laptop_only", 0.4
    )
    result = upsell_ab.load(LAPTOP).analyze(exposures=exposures, events=doubled, daily=False)
    expected = _pandas_repeats(exposures, doubled)
    assert result.decision.action != "invalid"
    (said,) = [w for w in result.decision.warnings if "every arm alike" in w]
    total = sum(n for n, _ in expected.values())
    again = sum(r for _, r in expected.values())
    assert said.startswith(f"{again:,} of the {total:,} 'order' events")


def test_a_take_rate_test_warns_about_the_revenue_metrics_only() -> None:
    rng = np.random.default_rng(4)
    exposures = cake_exposures(rng, 4000)
    buyers = rng.random(4000) < 0.3
    events = pd.DataFrame(
        {
            "unit_id": exposures["unit_id"][buyers].to_numpy(),
            "event_type": "order",
            "timestamp": (exposures["timestamp"][buyers] + pd.Timedelta(minutes=3)).to_numpy(),
            "value": rng.choice([450.0, 900.0], int(buyers.sum())),
        }
    )
    doubled = _sent_twice(exposures, events, "pairing")
    result = upsell_ab.load(CAKE).analyze(exposures=exposures, events=doubled, daily=False)
    assert not [r for r in result.decision.reasons if "within 2 seconds" in r]
    (said,) = [w for w in result.decision.warnings if "within 2 seconds" in w]
    assert "revenue per customer" in said and "do not trust its comparison" in said


def test_large_sources_are_checked_on_a_hash_sample(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compute, "REPEAT_SAMPLE_EVENTS", 400)  # ~1,900 events: 1 in 5
    exposures, events = _laptop()
    doubled = _sent_twice(exposures, events, "bundle")
    result = upsell_ab.load(LAPTOP).analyze(exposures=exposures, events=doubled, daily=False)
    counts = _quality(result)["repeated_events"]
    assert isinstance(counts, dict)
    assert counts["sampled_one_in"] == -(-len(doubled) // 400)
    full = _pandas_repeats(exposures, doubled)
    sampled = counts["counts"]["bundle"]["order"]
    # a fifth of the customers: the events within 5 binomial s.d. of a fifth of the whole
    share = 1 / counts["sampled_one_in"]
    sd = (full["bundle"][0] * share * (1 - share)) ** 0.5
    assert abs(sampled["events"] - full["bundle"][0] * share) < 5 * sd
    assert sampled["repeats"] * 2 == sampled["events"]  # every event of a buyer is copied
    assert result.decision.action == "invalid"
    assert any("1 in 5 customers" in r for r in result.decision.reasons)
