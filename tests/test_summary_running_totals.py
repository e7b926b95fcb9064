"""Daily tallies that are running totals (to date) must not be added into a verdict.

A marketer's sheet often holds "shown so far / took so far" per day. Added up as daily
tallies, 14 days of running totals count each customer about 7 times, so the interval
shrinks by about sqrt(7) and a small true lift "wins". Now such a summary is invalid,
with the reason; real daily tallies (and a ramp-up that levels off) are not affected.

Oracles: the running totals are numpy cumulative sums of simulated daily tallies; the
false-alarm rate of the rule on iid daily traffic is bounded by 1/7! per series, and the
simulation below checks it at 0 in 2,000 two-arm sheets.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import upsell_ab
from upsell_ab.metrics.summary_csv import running_totals

SPEC = Path(__file__).resolve().parents[1] / "experiments" / "cake_wording.yaml"


def _sheet(days: int, seed: int, *, cumulative: bool, traffic: list[float] | None = None) -> str:
    """date,variant,metric,n,sum rows: Poisson traffic (300 a day, or ``traffic``) per arm,
    10 % / 12 % take rate; ``cumulative`` writes running totals instead."""
    rng = np.random.default_rng(seed)
    lines = ["date,variant,metric,n,sum"]
    for arm, rate in (("generic", 0.10), ("pairing", 0.12)):
        mean = np.asarray(traffic if traffic is not None else [300.0] * days)
        n = rng.poisson(mean)
        took = rng.binomial(n, rate)
        if cumulative:
            n, took = np.cumsum(n), np.cumsum(took)
        for day in range(days):
            lines.append(
                f"2026-03-{day + 2:02d},{arm},upsell_take_rate,{int(n[day])},{int(took[day])}"
            )
    return "\n".join(lines) + "\n"


def _analyze(text: str) -> upsell_ab.Result:
    frame = pd.read_csv(io.StringIO(text))
    return upsell_ab.load(SPEC).analyze(frame)


def test_running_totals_make_the_summary_invalid() -> None:
    result = _analyze(_sheet(14, seed=3, cumulative=True))
    assert result.decision.action == "invalid", result.decision.reasons
    (reason,) = [r for r in result.decision.reasons if "running totals" in r]
    assert "over 14 days" in reason and "last day's row" in reason


def test_daily_tallies_of_the_same_traffic_are_not_affected() -> None:
    result = _analyze(_sheet(14, seed=3, cumulative=False))
    assert result.decision.action != "invalid", result.decision.reasons
    assert not any("running totals" in r for r in result.decision.reasons)


def test_a_ramp_up_that_levels_off_is_not_taken_for_running_totals() -> None:
    ramp = [30.0, 75.0, 150.0, 300.0] + [300.0] * 10
    for seed in range(20):
        text = _sheet(14, seed=seed, cumulative=False, traffic=ramp)
        assert running_totals(_series(text)) is None, seed


def test_iid_daily_traffic_never_reads_as_running_totals() -> None:
    """2,000 sheets of 7 days (the fewest the rule looks at): a false alarm needs both
    arms strictly increasing, probability (1/7!)^2 = 4e-8 per sheet."""
    alarms = sum(running_totals(_series(_sheet(7, seed, cumulative=False))) is not None
                 for seed in range(2000))  # fmt: skip
    assert alarms == 0


@pytest.mark.parametrize(("days", "flagged"), [(6, False), (7, True), (30, True)])
def test_the_rule_needs_a_week(days: int, flagged: bool) -> None:
    text = _sheet(days, seed=1, cumulative=True)
    assert (running_totals(_series(text)) is not None) is flagged


def _series(text: str) -> dict[tuple[str, str], list[tuple[str, int, float]]]:
    series: dict[tuple[str, str], list[tuple[str, int, float]]] = {}
    for line in text.strip().splitlines()[1:]:
        day, variant, metric, n, took = line.split(",")
        series.setdefault((variant, metric), []).append((day, int(n), float(took)))
    return series
