"""Data that stop early are called out, not read as a finished experiment.

Rows are simulated here with numpy (Poisson arrivals per day, independent of the
product's simulator). An export that stops on day 10 of a 28-day test, analysed after
the end date, used to read as the experiment's final look with no word of the missing
18 days; now the headline says the data stopped. The false-alarm side is measured on
the check itself against its closed form: at the rate's lower bound, ``g`` silent days
have chance ``exp(-r g)`` under Poisson arrivals, so complete data from a shop whose
customers do arrive as Poisson warn in at most 0.1 % of draws (the bound makes it rarer).
"""

from __future__ import annotations

import math
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import upsell_ab
from tests.test_e2e_support import spec, write_spec
from upsell_ab.decision.horizon import TODAY_VARIABLE, pinned_day
from upsell_ab.decision.stale_data import STALE_P, stale_data
from upsell_ab.metrics.aggregates import DailyStats, ExperimentData, MetricData, QualitySummary
from upsell_ab.metrics.sufficient import SampleStats

DAYS = 28
START = date(2025, 3, 3)
END = START + timedelta(days=DAYS - 1)


def _rows(per_day: float, days: int, seed: int = 7) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Exposures of Poisson(per_day) new customers a day for ``days`` days, half per arm,
    and a 20 % take rate in both arms an hour after exposure."""
    rng = np.random.default_rng(seed)
    counts = rng.poisson(per_day, days)
    day = np.repeat(np.arange(days), counts)
    n = int(counts.sum())
    seen = (
        pd.Timestamp(START)
        + pd.to_timedelta(day, unit="D")
        + pd.to_timedelta(rng.integers(8, 20, n), unit="h")
    )
    units = np.array([f"u{i}" for i in range(n)])
    arm = np.where(rng.random(n) < 0.5, "control", "treatment")
    exposures = pd.DataFrame(
        {"experiment": "stale", "variant": arm, "unit_id": units, "timestamp": seen}
    )
    buys = rng.random(n) < 0.2
    events = pd.DataFrame(
        {
            "unit_id": units[buys],
            "timestamp": seen[buys] + pd.Timedelta(hours=1),
            "event_type": "upsell_purchase",
            "value": 5.0,
        }
    )
    return exposures, events


def _experiment(tmp_path: Path) -> upsell_ab.Experiment:
    return upsell_ab.load(write_spec(tmp_path, _spec_with_end()))


def _stale(warnings: tuple[str, ...]) -> list[str]:
    return [w for w in warnings if w.startswith("The data end on")]


def test_an_export_that_stopped_is_called_out_at_the_final_look(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    exposures, events = _rows(per_day=300, days=DAYS)
    monkeypatch.setenv(TODAY_VARIABLE, (END + timedelta(days=2)).isoformat())
    cut = pd.Timestamp(START + timedelta(days=10))  # the export was taken on day 10
    early = _experiment(tmp_path).analyze(
        exposures=exposures[exposures["timestamp"] < cut], events=events[events["timestamp"] < cut]
    )
    (warning,) = _stale(early.decision.warnings)
    last = START + timedelta(days=9)
    assert warning.startswith(f"The data end on {last.isoformat()}, 18 days before the end date")
    assert "final look" in warning
    # the whole export: nothing to say
    whole = _experiment(tmp_path / "whole").analyze(exposures=exposures, events=events)
    assert _stale(whole.decision.warnings) == []


def test_a_running_test_whose_data_stopped_is_called_out_before_its_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before the end date the data should reach yesterday: an export a week old is
    named (the windows would otherwise count as closed by the calendar); one a day late
    is normal and says nothing."""
    exposures, events = _rows(per_day=300, days=14)
    experiment = _experiment(tmp_path)
    monkeypatch.setenv(TODAY_VARIABLE, (START + timedelta(days=21)).isoformat())
    late = experiment.analyze(exposures=exposures, events=events)
    (warning,) = _stale(late.decision.warnings)
    assert "7 days before" in warning and "the day before the analysis" in warning
    monkeypatch.setenv(TODAY_VARIABLE, (START + timedelta(days=15)).isoformat())
    assert _stale(experiment.analyze(exposures=exposures, events=events).decision.warnings) == []


def test_a_stopped_experiment_is_not_stale(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``status: stopped`` says the data end by intent."""
    exposures, events = _rows(per_day=300, days=10)
    content = {**_spec_with_end(), "status": "stopped"}
    experiment = upsell_ab.load(write_spec(tmp_path, content))
    monkeypatch.setenv(TODAY_VARIABLE, (END + timedelta(days=2)).isoformat())
    assert _stale(experiment.analyze(exposures=exposures, events=events).decision.warnings) == []


def _data(counts: list[int]) -> ExperimentData:
    """Statistics of a shop whose new customers per day are ``counts`` (cumulative
    daily series of the decision metric, as the metric query gives it)."""
    daily, total = [], 0
    for offset, count in enumerate(counts):
        total += count
        day = START + timedelta(days=offset)
        daily.append(DailyStats(day, {"control": SampleStats(n=total, sum=0.0, sum_squares=0.0)}))
    active = [START + timedelta(days=i) for i, c in enumerate(counts) if c]
    series = MetricData(
        "upsell_take_rate", {"control": daily[-1].by_variant["control"]}, daily=daily
    )
    return ExperimentData(
        "stale",
        {"upsell_take_rate": series},
        QualitySummary({"control": total}, {"control": 1.0}),
        first_exposure=active[0] if active else None,
        last_exposure=active[-1] if active else None,
    )


@pytest.mark.parametrize("per_day", [0.5, 2.0, 8.0])
def test_complete_data_from_a_small_shop_rarely_warn(tmp_path: Path, per_day: float) -> None:
    """Complete Poisson traffic, read the morning after the end date: the share of
    draws that warn stays below 0.1 % plus three binomial standard errors (2,000 draws
    per rate; the lower bound on the rate makes it far rarer)."""
    resolved = _experiment(tmp_path).resolved
    rng = np.random.default_rng(int(per_day * 100))
    draws = 2000
    warned = 0
    with pinned_day(END + timedelta(days=1)):
        for _ in range(draws):
            counts = rng.poisson(per_day, DAYS).tolist()
            if sum(counts) and stale_data(resolved, _data(counts)) is not None:
                warned += 1
    limit = STALE_P + 3 * math.sqrt(STALE_P * (1 - STALE_P) / draws)
    assert warned / draws <= limit, (per_day, warned)


def test_the_silence_is_judged_at_the_rates_lower_bound(tmp_path: Path) -> None:
    """Closed form: with k arrivals in d days, the exact 95 % lower bound is
    chi2.ppf(0.025, 2k) / (2 d) (Garwood 1936); the check fires exactly when
    exp(-bound * g) < 0.001."""
    counts = [3] * 14 + [0] * 14  # 3 a day for two weeks, then nothing
    data = _data(counts)
    bound = stats.chi2.ppf(0.025, 2 * 21) / 2 / 7  # the last week: 21 arrivals
    resolved = upsell_ab.load(write_spec(tmp_path, _spec_with_end())).resolved
    for today_offset in range(15, 40):
        today = START + timedelta(days=today_offset)
        silent = min((today - timedelta(days=1)), END) - (START + timedelta(days=13))
        expected = silent.days >= 2 and math.exp(-bound * silent.days) < STALE_P
        with pinned_day(today):
            found = stale_data(resolved, data)
        assert (found is not None) == expected, (today, silent.days)
        if found is not None:
            assert found.rate_low == pytest.approx(bound, rel=1e-9)
            assert found.p_value == pytest.approx(math.exp(-bound * silent.days), rel=1e-9)


def _spec_with_end() -> dict[str, Any]:
    content = spec("stale", guardrails=[])
    content["end"] = END.isoformat()
    return content


def test_a_timing_test_on_a_stale_export_waits_instead_of_judging(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The open-windows simulation of tests/test_guard_open_windows.py (equal 20 % take
    rates, the e-mail arm's buyers 3 days later), exported on day 20 of 28 and analysed
    two weeks after the end date. By the calendar every window has closed, but no event
    after day 20 was loaded: statsmodels' z-test on those rows calls the e-mail arm worse
    although the rates are equal. The windows are read as of the morning after the data
    stop, so the verdict waits."""
    from tests.test_guard_open_windows import DAYS as TIMING_DAYS
    from tests.test_guard_open_windows import START as TIMING_START
    from tests.test_guard_open_windows import _experiment as timing_experiment
    from tests.test_guard_open_windows import _p_value, _rows

    exposures, orders = _rows()
    cut = TIMING_START + pd.Timedelta(days=20)
    exported = exposures[exposures["timestamp"] < cut]
    so_far = orders[orders["timestamp"] < cut]
    p, diff = _p_value(exported, so_far)
    assert p < 0.01 and diff < 0  # the bias a calendar reading would judge on
    later = TIMING_START + pd.Timedelta(days=TIMING_DAYS + 14)
    monkeypatch.setenv(TODAY_VARIABLE, later.strftime("%Y-%m-%d"))
    decision = timing_experiment(tmp_path).analyze(exposures=exported, events=so_far).decision
    assert decision.action == "keep_running", decision.reasons
    assert "the morning after the data stop" in decision.reasons[0]
    assert "Load the data up to" in decision.reasons[0]
    assert _stale(decision.warnings), decision.warnings
