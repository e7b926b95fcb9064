"""`upsell-ab plan`: every deciding or blocking metric, feasibility against the window,
scale mistakes, "what can I detect", and baselines from history."""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import power_proportions_2indep

from upsell_ab.cli.main import main

CATALOGUE = """metrics:
  take: {type: proportion, event: upsell_purchase, window: {end: 7d}}
  complaints: {type: proportion, event: complaint, window: {end: 7d}, direction: lower_is_better}
  revenue: {type: mean, event: order, window: {end: 7d}}
"""
SPEC = """id: cafe
name: Cafe
start: 2026-03-02
end: {end}
variants:
  - {{id: generic, control: true}}
  - {{id: pairing}}
metrics:
  primary: take
{guardrails}analysis:
  mde: 0.15
  daily_units: 400
"""


def _spec(tmp_path: Path, end: str = "2026-03-30", guardrails: str = "") -> Path:
    (tmp_path / "metrics.yaml").write_text(CATALOGUE, encoding="utf-8")
    path = tmp_path / "cafe.yaml"
    path.write_text(SPEC.format(end=end, guardrails=guardrails), encoding="utf-8")
    return path


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _evan_miller(p: float, delta: float, alpha: float = 0.05, power: float = 0.8) -> int:
    """Closed form, written out independently of upsell_ab.stats.power."""
    za, zb = stats.norm.isf(alpha / 2), stats.norm.isf(1 - power)
    q1, q2 = p * (1 - p), (p + delta) * (1 - p - delta)
    return math.ceil((za * math.sqrt(2 * q1) + zb * math.sqrt(q1 + q2)) ** 2 / delta**2)


@pytest.mark.parametrize("window", [14, 15])
def test_infeasible_exactly_when_the_duration_exceeds_the_window(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], window: int
) -> None:
    n = _evan_miller(0.2, 0.03)  # 2,836 per arm: 5,672 / 400 a day = 14.18 days
    days = 2 * n / 400
    assert 14 < days < 15
    end = (datetime(2026, 3, 2) + timedelta(days=window)).date().isoformat()
    code, out, _ = _run(["plan", str(_spec(tmp_path, end)), "--baseline", "0.2"], capsys)
    assert code == 0
    assert f"needs {2 * n:,} units (generic {n:,}, pairing {n:,}), 15 days" in out
    assert ("NOT FEASIBLE" in out) == (days > window)
    assert ("fits the window" in out) == (days <= window)
    code, out, _ = _run(
        ["plan", str(_spec(tmp_path, end)), "--baseline", "0.2", "--format", "json"], capsys
    )
    assert json.loads(out)["feasible"] is (days <= window)


def test_guardrail_non_inferiority_can_drive_the_duration(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rails = "  guardrails:\n    - {metric: complaints, margin: 0.5}\n"
    spec = _spec(tmp_path, "2026-03-29", rails)
    argv = ["plan", str(spec), "--baseline", "0.2", "--baseline", "complaints=0.004"]
    _code, out, _ = _run([*argv, "--format", "json"], capsys)
    payload = json.loads(out)
    rail = next(m for m in payload["metrics"] if m["name"] == "complaints")
    # one-sided NI at margin 0.002 (50 % of 0.004), no true change: statsmodels' normal power
    sigma = math.sqrt(0.004 * 0.996)
    theirs = NormalIndPower().solve_power(
        0.002 / sigma, alpha=0.05, power=0.8, alternative="larger"
    )
    assert rail["n_equal_split"] == math.ceil(theirs - 1e-6)
    assert payload["driver"] == "complaints"
    assert payload["feasible"] is False
    _, out, _ = _run(argv, capsys)
    assert "complaints drives the duration" in out
    assert "NOT FEASIBLE: it needs 62 days, but the window 2026-03-02 .. 2026-03-29 gives 27" in out
    assert "margin_kind: absolute" in out  # the absolute-margin alternative
    assert "the Bayesian rule" in out and "still needs its own sample" in out


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("20%", "--baseline take: '20%' is a percentage (write 0.2 for 20 %)"),
        ("20", "--baseline take: a rate of 20 is not a share (write 0.2 for 20 %)"),
        ("take=1", "--baseline take: a rate of 1 is not a share (write 0.01 for 1 %)"),
        ("tak=0.2", "--baseline: 'tak' is not a metric this plan uses (did you mean 'take'?)"),
    ],
)
def test_scale_mistakes_on_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str, message: str
) -> None:
    code, _, err = _run(["plan", str(_spec(tmp_path)), "--baseline", value], capsys)
    assert code == 1
    assert err.strip() == f"upsell-ab plan: {message}"


def test_relative_mde_above_one_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _run(["plan", str(_spec(tmp_path)), "--baseline", "0.2", "--mde", "15"], capsys)
    assert code == 1
    assert "a relative MDE of 15 means a lift of 1,500 % (write 0.15 for 15 %" in err


def test_what_can_i_detect_by_the_end_date(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = _spec(tmp_path, "2026-03-09")  # 7 days: 2,800 units, 1,400 per arm
    _, out, _ = _run(["plan", str(spec), "--baseline", "0.2", "--format", "json"], capsys)
    payload = json.loads(out)
    assert payload["reachable_n"] == 1400
    take = payload["reachable"][0]
    # at the reachable lift, statsmodels' two-proportion power is the target (80 %)
    power = power_proportions_2indep(
        take["absolute"], 0.2, 1400, alpha=0.05, alternative="two-sided"
    ).power
    # statsmodels takes the null variance at the pooled rate, Evan Miller's form (ours) at
    # the baseline: 2 points of power apart at a 21 % lift, closer for smaller lifts
    assert power == pytest.approx(0.8, abs=0.025)
    assert take["relative"] == pytest.approx(take["absolute"] / 0.2)
    _code, out, _ = _run(["plan", str(spec), "--baseline", "0.2", "--days", "7"], capsys)
    assert "by the end of the next 7 days (1,400 per variant) it can detect:" in out
    assert (
        f"take: a lift of {take['relative']:.1%} relative ({take['absolute']:.4g} absolute)" in out
    )
    assert "a bolder change" in out
    _, out, _ = _run(["plan", str(spec), "--baseline", "0.2", "--units", "600"], capsys)
    assert "with these units" not in out and "600 per variant" in out


def _history_store(tmp_path: Path, rng: np.random.Generator) -> tuple[Path, np.ndarray, np.ndarray]:
    """600 customers: a pre-period order (covariate), a visit that opens the history
    window, an upsell purchase for 150 of them, and a correlated order 2 days later."""
    from upsell_ab.events.store import EventStore

    n = 600
    units = [f"c{i}" for i in range(n)]
    start = datetime(2026, 3, 2)
    visit = start - timedelta(days=10)  # in the entry window [start - 35d, start - 7d)
    pre = rng.gamma(4.0, 500.0, n)
    post = 0.8 * pre + rng.gamma(2.0, 300.0, n)
    rows = []
    for i, unit in enumerate(units):
        # before the entry window, inside the 28-day CUPED lookback before the visit
        rows.append((unit, visit - timedelta(days=27), "order", float(pre[i]), f"pre{i}"))
        rows.append((unit, visit + timedelta(minutes=i), "visit", 0.0, f"v{i}"))
        rows.append((unit, visit + timedelta(days=2), "order", float(post[i]), f"post{i}"))
        if i < 150:
            rows.append((unit, visit + timedelta(days=1), "upsell_purchase", 500.0, f"u{i}"))
    # the history runs up to the start (a late visitor, outside the entry window)
    rows.append(("late", start - timedelta(minutes=1), "visit", 0.0, "late"))
    frame = pd.DataFrame(rows, columns=["unit_id", "timestamp", "event_type", "value", "event_id"])
    path = tmp_path / "history.duckdb"
    with EventStore(path) as store:
        store.ingest_events(frame)
    return path, pre, post


def test_baselines_std_traffic_and_cuped_from_history(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store, pre, post = _history_store(tmp_path, np.random.default_rng(7))
    spec = _spec(tmp_path)
    spec.write_text(spec.read_text("utf-8").replace("  daily_units: 400\n", ""), encoding="utf-8")
    code, out, _ = _run(["plan", str(spec), "--store", str(store), "--format", "json"], capsys)
    assert code == 0
    payload = json.loads(out)
    take = payload["metrics"][0]
    assert take["baseline"] == pytest.approx(150 / 600)
    assert take["source"] == "history"
    assert payload["daily_units"] == pytest.approx(600 / 28)  # 600 customers in 28 days
    # the decision metric on revenue: std and CUPED variance reduction = corr(pre, post)^2
    (tmp_path / "cafe.yaml").write_text(
        spec.read_text("utf-8").replace("primary: take", "primary: revenue"), encoding="utf-8"
    )
    code, out, _ = _run(["plan", str(spec), "--store", str(store), "--format", "json"], capsys)
    revenue = json.loads(out)["metrics"][0]
    assert revenue["baseline"] == pytest.approx(post.mean())
    assert revenue["std"] == pytest.approx(post.std(ddof=1))
    rho = np.corrcoef(pre, post)[0, 1]
    assert revenue["variance_reduction"] == pytest.approx(rho**2, rel=1e-6)


def test_history_without_the_metric_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store, _, _ = _history_store(tmp_path, np.random.default_rng(1))
    spec = _spec(tmp_path)
    spec.write_text(spec.read_text("utf-8").replace("take", "complaints"), encoding="utf-8")
    code, _, err = _run(["plan", str(spec), "--store", str(store)], capsys)
    assert code == 1
    assert "complaints: the history (600 customers) gives no estimate" in err
