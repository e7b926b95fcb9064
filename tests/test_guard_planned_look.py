"""After the planned sample: a running fixed-horizon test is judged at its horizon.

A CI job reads every running experiment every day. Once the planned sample is reached
(the spec's MDE at 80 % power), a rule that ships at any later look with p < alpha
ships an A/A test far more often than alpha (upsell_ab.decision.horizon). The product
holds the verdict to the planned look (no end date) or to the end date.

Simulations (seeded): take rate 15 % in both arms, 300 customers a day per arm, 21
daily cumulative tallies through the public API (a DataFrame with a day column). The
plan for a 20 % relative MDE at 15 % is ~2,400 per arm (statsmodels NormalIndPower
below), so it is reached on day 8 and 14 looks follow it. Oracle for naive peeking:
the pooled two-proportion z-test (closed form, scipy's normal quantile) shipping at
the first look from day 8 with the treatment ahead and p < 0.05: ~7.6 % in a 200,000-run
numpy simulation, against 2.5 % for the one planned look.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportion_effectsize

import upsell_ab
from tests.test_e2e_support import spec, write_spec
from upsell_ab.decision.horizon import TODAY_VARIABLE

SLOW = os.environ.get("UPSELL_AB_SLOW") == "1"
LOOKS, PER_DAY, RATE, MDE = 21, 300, 0.15, 0.2
DAYS = pd.date_range("2025-03-03", periods=LOOKS).strftime("%Y-%m-%d").tolist()
PLAN = NormalIndPower().solve_power(
    proportion_effectsize(RATE * (1 + MDE), RATE), alpha=0.05, power=0.8
)
PLAN_DAY = int(np.ceil(PLAN / PER_DAY))  # 1-based: the first look with the planned sample


def _experiment(tmp_path: Path, rule: str = "frequentist", **extra: Any) -> upsell_ab.Experiment:
    engine = "bayesian" if rule == "bayesian" else "frequentist"
    analysis = {"mde": MDE, "engine": engine, "decision": {"rule": rule}}
    content = spec("planned", guardrails=[], analysis=analysis)
    content.update(extra)
    return upsell_ab.load(write_spec(tmp_path, content))


def _tallies(control: np.ndarray, treatment: np.ndarray, looks: int) -> pd.DataFrame:
    """Each day's new customers and converters per arm, days 1..looks."""
    rows = []
    for k in range(looks):
        rows.append(("control", control[k], DAYS[k]))
        rows.append(("treatment", treatment[k], DAYS[k]))
    frame = pd.DataFrame(rows, columns=["variant", "sum", "day"])
    frame["metric"] = "upsell_take_rate"
    frame["n"] = PER_DAY
    return frame


def _naive_wins(control: np.ndarray, treatment: np.ndarray) -> np.ndarray:
    """Per look: pooled z-test (closed form) one-sided at 2.5 %, treatment ahead."""
    c, t = np.cumsum(control), np.cumsum(treatment)
    n = PER_DAY * np.arange(1, len(control) + 1)
    pooled = (c + t) / (2 * n)
    z = (t - c) / n / np.sqrt(pooled * (1 - pooled) * 2 / n)
    return np.asarray(z > norm.ppf(0.975))


def _simulate(
    experiment: upsell_ab.Experiment, treatment_rate: float, runs: int, seed: int, first: int = 1
) -> tuple[float, float, float]:
    """(share the product ships at some look from day ``first``, share the naive rule
    ships at some look from the plan day, share that win at the plan day alone)."""
    rng = np.random.default_rng(seed)
    shipped = naive = planned = 0
    for _ in range(runs):
        control = rng.binomial(PER_DAY, RATE, LOOKS)
        treatment = rng.binomial(PER_DAY, treatment_rate, LOOKS)
        wins = _naive_wins(control, treatment)
        naive += bool(wins[PLAN_DAY - 1 :].any())
        planned += bool(wins[PLAN_DAY - 1])
        for look in range(first, LOOKS + 1):
            # the daily job runs the morning after the last tallied day
            os.environ[TODAY_VARIABLE] = _next_day(DAYS[look - 1])
            result = experiment.analyze(_tallies(control, treatment, look))
            if result.decision.action == "ship":
                shipped += 1
                break
    return shipped / runs, naive / runs, planned / runs


def _next_day(day: str) -> str:
    return (pd.Timestamp(day) + pd.Timedelta(days=1)).strftime("%Y-%m-%d")


@pytest.fixture(autouse=True)
def _today(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every analysis here runs the day after the last tallied day (end-date horizons
    compare with the analysis day: upsell_ab.decision.horizon.analysis_day)."""
    monkeypatch.setenv(TODAY_VARIABLE, _next_day(DAYS[-1]))


def test_the_plan_is_reached_on_day_8() -> None:
    """The harness' premise: ~2,400 per arm, reached on day 8 of 21."""
    assert 2300 < PLAN < 2500 and PLAN_DAY == 8


@pytest.mark.parametrize(
    ("rule", "with_end_date"),
    [("frequentist", False), ("frequentist", True), ("bayesian", False)],
    ids=["planned-look", "end-date", "bayesian"],
)
def test_daily_looks_after_the_plan_rarely_ship_an_a_a_test(
    tmp_path: Path, rule: str, with_end_date: bool
) -> None:
    """Looks from day 6 (two before the plan) to day 21: the product ships at most at
    the one-sided 2.5 % of one look (4 Monte Carlo SE of slack); the naive rule on the
    same runs ships more. With an end date on day 21 the end is the horizon; without,
    the planned look on day 8 is. The Bayesian rule (P(better) >= 95 %, about a
    one-sided 5 % at one look under flat priors) is held to the same horizon: without
    it, 22 % of 300 A/A runs shipped over 21 looks (measured before the change)."""
    runs = 1500 if SLOW else 300
    extra = {"end": DAYS[-1]} if with_end_date else {}
    experiment = _experiment(tmp_path, rule, **extra)
    shipped, naive, planned = _simulate(experiment, RATE, runs, seed=11, first=6)
    level = 0.05 if rule == "bayesian" else 0.025
    se = (level * (1 - level) / runs) ** 0.5
    assert shipped <= level + 4 * se, (shipped, naive, planned)
    if rule == "frequentist":
        assert naive > shipped, (shipped, naive)
    if SLOW and rule == "frequentist":
        assert naive > level + 4 * se, naive  # the harness can tell peeking from a look


def test_an_effect_of_the_mde_ships_as_often_as_one_planned_look(tmp_path: Path) -> None:
    """+20 % (the MDE): the single planned look wins with ~80 % power; holding the verdict
    to it costs no power (shipping then stands at later looks)."""
    runs = 300 if SLOW else 100
    shipped, _, planned = _simulate(_experiment(tmp_path), RATE * (1 + MDE), runs, seed=5, first=8)
    se = (0.8 * 0.2 / runs) ** 0.5
    assert planned > 0.8 - 4 * se, planned
    assert shipped >= planned - 2 * se, (shipped, planned)


def _frame(days: list[tuple[str, int, int, int]]) -> pd.DataFrame:
    """(day, n per arm, control converters, treatment converters) -> tallies."""
    rows = []
    for day, n, c, t in days:
        rows += [(day, "control", n, c), (day, "treatment", n, t)]
    frame = pd.DataFrame(rows, columns=["day", "variant", "n", "sum"])
    frame["metric"] = "upsell_take_rate"
    return frame


# Day 1-8: 2,400 per arm, 15.0 % vs 15.5 % (z ~ 0.5: no win at the plan). Days 9-21: the
# treatment pulls ahead, so all 21 days (6,300 per arm) give p ~ 0.003.
EVEN = [(DAYS[k], 300, 45, 46 + (k % 2)) for k in range(8)]
AHEAD = [(DAYS[k], 300, 44, 52) for k in range(8, LOOKS)]


def _p_two_sided(days: list[tuple[str, int, int, int]]) -> float:
    n = sum(d[1] for d in days)
    c, t = sum(d[2] for d in days), sum(d[3] for d in days)
    pooled = (c + t) / (2 * n)
    z = (t - c) / n / np.sqrt(pooled * (1 - pooled) * 2 / n)
    return float(2 * norm.sf(abs(z)))


def test_a_late_lead_after_a_lost_planned_look_keeps_control(tmp_path: Path) -> None:
    assert _p_two_sided(EVEN) > 0.3 and 0.001 < _p_two_sided(EVEN + AHEAD) < 0.01
    decision = _experiment(tmp_path).analyze(_frame(EVEN + AHEAD)).decision
    assert decision.action == "keep_control", decision.reasons
    assert decision.reasons[0].startswith("Keep control: the planned sample for the MDE")
    day = re.search(r"reached on (\d{4}-\d\d-\d\d)", decision.reasons[0])
    assert day is not None and day.group(1) in DAYS[7:10], decision.reasons[0]
    assert decision.planned_look is not None
    assert decision.planned_look.isoformat() == day.group(1)
    document = _experiment(tmp_path).analyze(_frame(EVEN + AHEAD)).to_dict()
    assert document["experiments"][0]["decision"]["planned_look"] == day.group(1)
    # the same data read as the final look (status stopped) ships: one look, all data
    concluded = _experiment(tmp_path / "stopped", status="stopped")
    assert concluded.analyze(_frame(EVEN + AHEAD)).decision.action == "ship"


def test_a_win_at_the_planned_look_stands_later(tmp_path: Path) -> None:
    """Ahead from day 1: wins at the planned look and now; the reason says so."""
    days = [(DAYS[k], 300, 44, 54) for k in range(LOOKS)]
    decision = _experiment(tmp_path).analyze(_frame(days)).decision
    assert decision.action == "ship", decision.reasons
    assert any("planned look" in r for r in decision.reasons)


def test_an_end_date_ahead_keeps_it_running_to_the_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With an end date the planned sample is not the horizon: p ~ 0.003 on day 21 of a
    spec ending 7 days later keeps running (7 more days); on the end date it ships."""
    later = (pd.Timestamp(DAYS[-1]) + pd.Timedelta(days=7)).strftime("%Y-%m-%d")
    decision = _experiment(tmp_path, end=later).analyze(_frame(EVEN + AHEAD)).decision
    assert decision.action == "keep_running", decision.reasons
    assert decision.additional_days_needed == 7
    assert "end date" in decision.reasons[0]
    # the end date passed with no traffic in its last week (a closed shop): final look
    monkeypatch.setenv(TODAY_VARIABLE, _next_day(later))
    passed = _experiment(tmp_path / "passed", end=later).analyze(_frame(EVEN + AHEAD)).decision
    assert passed.action == "ship", passed.reasons
    at_end = _experiment(tmp_path / "end", end=DAYS[-1]).analyze(_frame(EVEN + AHEAD)).decision
    assert at_end.action == "ship", at_end.reasons


def test_totals_without_days_say_the_planned_look_is_unchecked(tmp_path: Path) -> None:
    totals = _frame(EVEN + AHEAD).groupby(["variant", "metric"], as_index=False)[["n", "sum"]].sum()
    decision = _experiment(tmp_path).analyze(totals).decision
    assert decision.action == "ship"
    assert any(r.startswith("Read without a daily series") for r in decision.reasons)


def test_daily_tallies_become_the_cumulative_series(tmp_path: Path) -> None:
    """The summary's day column builds running sums per arm (oracle: pandas cumsum),
    in date order whatever the row order, from the first day every arm has a row."""
    from upsell_ab.metrics.summary_csv import parse_summary

    frame = _frame(EVEN[:5]).sample(frac=1.0, random_state=3)
    frame = frame[~((frame["day"] == DAYS[0]) & (frame["variant"] == "treatment"))]
    resolved = _experiment(tmp_path).resolved
    data = parse_summary(frame.to_csv(index=False), resolved, "tallies.csv")
    series = data.metrics["upsell_take_rate"].daily
    expected = frame.sort_values("day").groupby("variant")[["n", "sum"]].cumsum()
    expected[["day", "variant"]] = frame.sort_values("day")[["day", "variant"]]
    assert [d.day.isoformat() for d in series] == DAYS[1:5]
    for day in series:
        for variant, stats in day.by_variant.items():
            row = expected[
                (expected["day"] == day.day.isoformat()) & (expected["variant"] == variant)
            ]
            assert (stats.n, stats.sum) == (row["n"].item(), row["sum"].item())


def test_raw_rows_hold_the_verdict_to_the_planned_look(tmp_path: Path) -> None:
    """The same days as customers and orders (the data layer's cumulative daily series,
    not a summary): the late lead keeps control; without the daily series the verdict
    is the all-data one and says the planned look was not checked."""
    exposures: list[tuple[str, str, str, pd.Timestamp]] = []
    orders: list[tuple[str, pd.Timestamp, str]] = []
    for day, n, c, t in EVEN + AHEAD:
        seen = pd.Timestamp(day) + pd.Timedelta(hours=10)
        for variant, buyers in (("control", c), ("treatment", t)):
            for i in range(n):
                unit = f"{variant[0]}-{day}-{i}"
                exposures.append(("planned", variant, unit, seen))
                if i < buyers:
                    orders.append((unit, seen + pd.Timedelta(hours=1), f"o-{unit}"))
    columns = ["experiment", "variant", "unit_id", "timestamp"]
    seen_frame = pd.DataFrame(exposures, columns=columns)
    order_frame = pd.DataFrame(orders, columns=["unit_id", "timestamp", "event_id"]).assign(
        event_type="upsell_purchase", value=5.0
    )
    experiment = _experiment(tmp_path)
    held = experiment.analyze(exposures=seen_frame, events=order_frame).decision
    assert held.action == "keep_control", held.reasons
    assert held.reasons[0].startswith("Keep control: the planned sample for the MDE")
    unchecked = experiment.analyze(exposures=seen_frame, events=order_frame, daily=False).decision
    assert unchecked.action == "ship", unchecked.reasons
    assert any(r.startswith("Read without a daily series") for r in unchecked.reasons)
