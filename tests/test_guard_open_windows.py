"""A timing experiment is not judged while attribution windows are still open.

Simulation (seeded, plain numpy/pandas): 28 days, 400 customers a day per arm, the
same 20 % take rate in both arms; the control's buyers buy an hour after exposure, the
e-mail arm's 3 days later (its offer is sent then). Analysed the morning after the end
date, only the events before that morning exist. Oracle for the bias: statsmodels'
two-proportion z-test on those rows calls the e-mail arm worse (p = 0.0009) although the
true rates are equal; the product keeps running until every 7-day window has closed,
and on that day (all events in) the same z-test finds no difference.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.proportion import proportions_ztest

import upsell_ab
from tests.test_e2e_support import offer, spec, write_spec
from upsell_ab.decision.horizon import TODAY_VARIABLE

DAYS, PER_DAY, RATE = 28, 400, 0.2
START = pd.Timestamp("2025-03-03")


def _rows(seed: int = 10) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    n = DAYS * PER_DAY
    frames, orders = [], []
    for arm, delay in (("control", pd.Timedelta(hours=1)), ("treatment", pd.Timedelta(days=3))):
        day = np.repeat(np.arange(DAYS), PER_DAY)
        seen = (
            START
            + pd.to_timedelta(day, unit="D")
            + pd.to_timedelta(rng.integers(8, 20, n), unit="h")
        )
        units = np.array([f"{arm[0]}{i}" for i in range(n)])
        frames.append(
            pd.DataFrame(
                {"experiment": "timing", "variant": arm, "unit_id": units, "timestamp": seen}
            )
        )
        buys = rng.random(n) < RATE
        orders.append(
            pd.DataFrame(
                {
                    "unit_id": units[buys],
                    "timestamp": seen[buys] + delay,
                    "event_type": "upsell_purchase",
                    "value": 5.0,
                }
            )
        )
    return pd.concat(frames, ignore_index=True), pd.concat(orders, ignore_index=True)


def _experiment(tmp_path: Path, delayed: bool = True) -> upsell_ab.Experiment:
    email = offer("A cheesecake for your next coffee")
    if delayed:
        email["timing"] = {"moment": "follow_up_email", "delay": "3d"}
    content = spec("timing", treatment=email, guardrails=[])
    content["end"] = (START + pd.Timedelta(days=DAYS - 1)).strftime("%Y-%m-%d")
    return upsell_ab.load(write_spec(tmp_path, content))


def _p_value(exposures: pd.DataFrame, events: pd.DataFrame) -> tuple[float, float]:
    """(z-test p, treatment minus control rate) on the rows, as a statsmodels oracle."""
    buyers = set(events["unit_id"])
    took = exposures["unit_id"].isin(buyers).groupby(exposures["variant"]).agg(["sum", "count"])
    _, p = proportions_ztest(took["sum"].to_numpy(), took["count"].to_numpy())
    rates = took["sum"] / took["count"]
    return float(p), float(rates["treatment"] - rates["control"])


def test_open_windows_hold_a_timing_verdict(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    exposures, orders = _rows()
    morning = START + pd.Timedelta(days=DAYS)  # the morning after the end date
    monkeypatch.setenv(TODAY_VARIABLE, morning.strftime("%Y-%m-%d"))
    so_far = orders[orders["timestamp"] < morning]
    p, diff = _p_value(exposures, so_far)
    assert p < 0.01 and diff < 0  # the bias: the delayed arm looks worse
    decision = _experiment(tmp_path).analyze(exposures=exposures, events=so_far).decision
    assert decision.action == "keep_running", decision.reasons
    assert decision.reasons[0].startswith("Keep running: the arms differ in when the offer comes")
    assert "2025-04-07" in decision.reasons[0]  # end 03-30 + 7-day window + 1
    assert decision.additional_days_needed == 7
    # the same rows with both offers at checkout: no timing test, no wait (and the
    # verdict the wait prevents is the wrong one)
    same = _experiment(tmp_path / "same", delayed=False)
    wrong = same.analyze(exposures=exposures, events=so_far).decision
    assert wrong.action == "keep_control", wrong.reasons


def test_closed_windows_are_judged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    exposures, orders = _rows()
    monkeypatch.setenv(TODAY_VARIABLE, "2025-04-07")
    p, _ = _p_value(exposures, orders)
    assert p > 0.05  # all events in: equal rates
    decision = _experiment(tmp_path).analyze(exposures=exposures, events=orders).decision
    assert not decision.reasons[0].startswith("Keep running: the arms differ"), decision.reasons
    assert decision.action != "ship"
