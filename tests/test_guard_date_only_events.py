"""Events exported as dates without times are named, never read as the later arm's win.

Found by trying the Python API on ``offer_timing`` (at checkout, after purchase, e-mail
3 days later) with equal 10 % take rates and the events' times cut to midnight (a daily
export): every purchase of the exposure day fell before its exposure and was dropped, so
the two same-day arms read 0 and the report said "email_3d beat control on upsell take
rate", with only a time-zone warning. Now the experiment is invalid with the cause and
the fix; following the fix (each event at the end of its day) gives take rates equal to
a pandas count.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import upsell_ab

SPEC = Path(__file__).resolve().parent.parent / "experiments" / "offer_timing.yaml"
ARMS = ("at_checkout", "post_purchase", "email_3d")


@pytest.fixture(autouse=True)
def _after_the_windows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UPSELL_AB_TODAY", "2026-06-10")


def _log(seed: int = 4) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    n = 9000
    units = np.array([f"k{i:06d}" for i in range(n)])
    variant = rng.choice(ARMS, n, p=[0.34, 0.33, 0.33])
    ts = pd.Timestamp("2026-04-06", tz="UTC") + pd.to_timedelta(
        rng.uniform(0, 28 * 86400 - 1, n), unit="s"
    )
    exposures = pd.DataFrame(
        {
            "experiment": "offer_timing",
            "variant": variant,
            "unit_id": units,
            "timestamp": ts,
            "channel": "web",
        }
    )
    took = rng.uniform(size=n) < 0.10  # equal take rates
    minutes = {"at_checkout": 1, "post_purchase": 3, "email_3d": 3 * 24 * 60}
    delay = pd.to_timedelta([minutes[v] for v in variant[took]], unit="min")
    events = pd.DataFrame(
        {
            "unit_id": units[took],
            "event_type": "upsell_purchase",
            "timestamp": ts[took] + delay,
            "value": 1980.0,
        }
    )
    return exposures, events


def test_date_only_events_make_a_timing_test_invalid() -> None:
    exposures, events = _log()
    dates = events.assign(timestamp=events["timestamp"].dt.floor("D"))
    result = upsell_ab.load(SPEC).analyze(exposures=exposures, events=dates, daily=False)
    assert result.decision.action == "invalid"
    text = " ".join(result.decision.reasons)
    assert "beat control" not in text
    assert "100% of the metrics' events are at midnight exactly" in text
    exposed_at = dates["unit_id"].map(exposures.set_index("unit_id")["timestamp"])
    gap = exposed_at - dates["timestamp"]
    near = (gap > pd.Timedelta(minutes=30)) & (gap <= pd.Timedelta(hours=14))
    assert f"({int(near.sum()):,} events fell in the 14 hours before" in text
    assert not [w for w in result.decision.warnings if "time-zone" in w]
    quality = json.loads(result.to_json())["experiments"][0]["quality"]
    assert quality["event_rows_at_midnight"] == len(dates)


def test_the_advised_end_of_day_counts_every_purchase() -> None:
    exposures, events = _log()
    dates = events["timestamp"].dt.floor("D")
    fixed = events.assign(timestamp=dates + pd.Timedelta(days=1) - pd.Timedelta(microseconds=1))
    result = upsell_ab.load(SPEC).analyze(exposures=exposures, events=fixed, daily=False)
    assert result.decision.action != "invalid"
    assert json.loads(result.to_json())["experiments"][0]["quality"]["event_rows_at_midnight"] == 0
    arm = exposures.set_index("unit_id")["variant"]
    buyers = fixed["unit_id"].map(arm).value_counts()
    rate = (buyers / exposures["variant"].value_counts()).to_dict()
    by_variant = {v.variant: v.mean for v in result.metric("upsell_take_rate").variants}
    for variant in ARMS:
        assert by_variant[variant] == pytest.approx(rate[variant], rel=1e-12)


def test_dates_for_exposures_and_events_alike_are_not_flagged() -> None:
    # both sides as dates: an event of the exposure day is at the exposure's time, counted
    exposures, events = _log(seed=5)
    exposures = exposures.assign(timestamp=exposures["timestamp"].dt.floor("D"))
    events = events.assign(timestamp=events["timestamp"].dt.floor("D"))
    result = upsell_ab.load(SPEC).analyze(exposures=exposures, events=events, daily=False)
    assert not [r for r in result.decision.reasons if "midnight" in r]


def test_events_with_times_are_not_flagged() -> None:
    exposures, events = _log(seed=6)
    result = upsell_ab.load(SPEC).analyze(exposures=exposures, events=events, daily=False)
    assert not [r for r in result.decision.reasons if "midnight" in r]
    assert json.loads(result.to_json())["experiments"][0]["quality"]["event_rows_at_midnight"] == 0


def test_one_type_stamped_at_midnight_by_a_nightly_batch_is_not_flagged() -> None:
    """Purchases with their times, unsubscribes from the mail system's nightly batch at
    00:00 (some on the exposure day, before the exposure): not an export of dates."""
    exposures, events = _log(seed=7)
    rng = np.random.default_rng(8)
    leaving = exposures.sample(n=1500, random_state=2)
    days = pd.to_timedelta(rng.integers(0, 5, len(leaving)), unit="D")
    batch = pd.DataFrame(
        {
            "unit_id": leaving["unit_id"].to_numpy(),
            "event_type": "unsubscribe",
            "timestamp": (leaving["timestamp"].dt.floor("D") + days).to_numpy(),
            "value": 0.0,
        }
    )
    both = pd.concat([events, batch], ignore_index=True)
    result = upsell_ab.load(SPEC).analyze(exposures=exposures, events=both, daily=False)
    quality = json.loads(result.to_json())["experiments"][0]["quality"]
    assert quality["event_rows_at_midnight"] == len(batch)
    # most of the events are at midnight, and some fell before their unit's exposure
    assert quality["event_rows_at_midnight"] > 0.5 * quality["metric_events"]
    assert quality["events_before_exposure"] > 0.01 * quality["metric_events"]
    assert not [r for r in result.decision.reasons if "midnight" in r]


def test_events_in_another_time_zone_make_a_timing_test_invalid() -> None:
    """Events in JST, exposures in UTC (both without a zone): every purchase minutes after
    its offer lands 9 hours before it; the e-mail arm's, days later, do not. It read
    "email_3d beat control" with only the time-zone warning."""
    exposures, events = _log(seed=9)
    naive = exposures.assign(timestamp=exposures["timestamp"].dt.tz_localize(None))
    hours = pd.Timedelta(hours=9)
    late_events = events.assign(timestamp=events["timestamp"].dt.tz_localize(None) + hours)
    shifted = events.assign(timestamp=events["timestamp"].dt.tz_localize(None) - hours)
    result = upsell_ab.load(SPEC).analyze(exposures=naive, events=shifted, daily=False)
    assert result.decision.action == "invalid"
    text = " ".join(result.decision.reasons)
    assert "beat control" not in text and "different time zones" in text
    assert not [w for w in result.decision.warnings if "time-zone" in w]
    # the other way round (events 9 hours late) loses nothing: not flagged
    late = upsell_ab.load(SPEC).analyze(exposures=naive, events=late_events, daily=False)
    assert not [r for r in late.decision.reasons if "time zones" in r]


def test_events_minutes_before_the_offer_are_not_a_clock_slip() -> None:
    """A third of the purchases logged two minutes before their customer's exposure (the
    exposure written after the order, as a post-purchase page may): not a time zone."""
    exposures, events = _log(seed=10)
    early = events.index[::3]
    moved = events.copy()
    moved.loc[early, "timestamp"] = moved.loc[early, "unit_id"].map(
        exposures.set_index("unit_id")["timestamp"]
    ) - pd.Timedelta(minutes=2)
    result = upsell_ab.load(SPEC).analyze(exposures=exposures, events=moved, daily=False)
    quality = json.loads(result.to_json())["experiments"][0]["quality"]
    assert quality["events_before_exposure"] >= len(early)
    assert not [r for r in result.decision.reasons if "time zones" in r]
