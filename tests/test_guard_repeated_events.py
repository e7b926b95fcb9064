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
from upsell_ab.decision.repeated_events import repeat_gaps
from upsell_ab.metrics import compute
from upsell_ab.metrics.aggregates import RepeatCount, RepeatedEvents

LAPTOP = Path(__file__).resolve().parent.parent / "experiments" / "laptop_bundle.yaml"
CAKE_RESOLVED = upsell_ab.load(CAKE).resolved


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


def _pandas_repeats(
    exposures: pd.DataFrame, events: pd.DataFrame
) -> dict[str, tuple[int, int, int, int]]:
    """Variant -> (events, repeats, customers, customers with a repeat). A repeat has the
    unit, type and value of the unit's previous event of that type, at most 2 s later,
    and not both rows carry an event id."""
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
    rows = rows.assign(repeat=repeat)
    counted = rows.groupby("variant")["repeat"].agg(["size", "sum"])
    units = rows.groupby("variant")["unit_id"].nunique()
    repeating = rows[rows["repeat"]].groupby("variant")["unit_id"].nunique()
    return {
        v: (int(r["size"]), int(r["sum"]), int(units[v]), int(repeating.get(v, 0)))
        for v, r in counted.iterrows()
    }


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
    events_b, repeats_b, units_b, repeating_b = expected["bundle"]
    events_c, _, units_c, _ = expected["laptop_only"]
    assert f"{repeats_b:,} of bundle's {events_b:,}" in reason
    assert f"{repeating_b:,} of its {units_b:,} customers with one" in reason
    assert f"0 of laptop_only's {events_c:,}" in reason
    assert f"0 of its {units_c:,} customers" in reason
    assert "revenue per customer" in reason and "event_id" in reason
    counts = _quality(result)["repeated_events"]
    assert isinstance(counts, dict) and counts["sampled_one_in"] == 1
    assert counts["counts"]["bundle"]["order"] == {
        "events": events_b,
        "repeats": repeats_b,
        "units": units_b,
        "units_with_repeats": repeating_b,
    }


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
    total = sum(c[0] for c in expected.values())
    again = sum(c[1] for c in expected.values())
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


def _arm(rng: np.random.Generator, customers: int, double_fired: float) -> RepeatCount:
    """One arm's counts as the query makes them, drawn directly: customers buy
    1 + Poisson(gamma) lines (bulk buyers cluster); 30 % of them send their lines as
    separate events at one second and price (legitimate repeats: lines - 1 of them);
    ``double_fired`` of the customers also have every event sent twice."""
    lines = 1 + rng.poisson(rng.gamma(0.5, 1.0, customers))
    same_second = rng.random(customers) < 0.3
    copied = rng.random(customers) < double_fired
    events = lines * (1 + copied)
    repeats = np.where(same_second, lines - 1, 0) + np.where(copied, lines, 0)
    return RepeatCount(int(events.sum()), int(repeats.sum()), customers, int((repeats > 0).sum()))


def _flagged(rng: np.random.Generator, customers: int, double_fired: float) -> bool:
    counts = {
        ("generic", "order"): _arm(rng, customers, 0.0),
        ("pairing", "order"): _arm(rng, customers, double_fired),
    }
    return bool(repeat_gaps(CAKE_RESOLVED, RepeatedEvents(counts)))


def test_the_repeat_gate_rarely_fires_on_equal_arms_and_finds_a_double_fire() -> None:
    """A/A (clustered legitimate repeats in both arms, 50 to 20,000 buying customers an
    arm): flagged in at most 0.3 % of 2,000 runs (the test's 1e-4 level on independent
    customers: expected ~0.2 runs). Power: a double fire on a fifth of one arm's buyers,
    with at least 500 buyers an arm, flagged in at least 99 % of 300 runs."""
    rng = np.random.default_rng(20261205)
    sizes = rng.integers(50, 20_000, 2000)
    false_alarms = sum(_flagged(rng, int(n), 0.0) for n in sizes)
    assert false_alarms <= 6
    found = sum(_flagged(rng, int(n), 0.2) for n in rng.integers(500, 20_000, 300))
    assert found >= 297
