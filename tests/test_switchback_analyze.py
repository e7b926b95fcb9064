"""``analyze`` / ``report`` on a switchback spec (issue 14): the slot analysis end to end.

Oracles: statsmodels OLS with ``cov_type='cluster'`` over slots on the customers (for the
estimate and, via the CR1 option, the standard error), the closed-form CR2 (checked
against the matrix definition in tests/test_stats_switchback.py), and A/A simulation
through the real DuckDB query and ``analyze`` (false-positive rate at alpha within
Monte-Carlo error; the per-customer analysis of the same data far above it).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pytest
from cli_support import run_cli

from upsell_ab.assignment import Assigner
from upsell_ab.metrics.compute import compute_experiment_data
from upsell_ab.spec.load import load_experiment
from upsell_ab.spec.randomization_models import Randomization
from upsell_ab.spec.resolve import ResolvedExperiment
from upsell_ab.stats.analysis import analyze
from upsell_ab.workflow import run_on_data

SLOW = os.environ.get("UPSELL_AB_SLOW") == "1"
CATALOGUE = Path(__file__).resolve().parents[1] / "experiments" / "metrics.yaml"
SPEC = """id: cafe_hours
name: Cafe wording by the hour
status: running
variants:
  - {id: generic, control: true}
  - {id: pairing}
metrics:
  primary: upsell_take_rate
  secondary: [upsell_revenue_per_customer]
randomization:
  unit: time_slot
  slot: hour
  timezone: Asia/Tokyo
  burn_in_minutes: 10
analysis:
  engine: both
"""
TOKYO = timedelta(hours=9)  # no daylight saving in Tokyo


def cafe_spec(tmp_path: Path, text: str = SPEC) -> ResolvedExperiment:
    path = tmp_path / "cafe_hours.yaml"
    path.write_text(text, encoding="utf-8")
    return load_experiment(path, CATALOGUE)


def fill_store(
    con: duckdb.DuckDBPyConnection,
    resolved: ResolvedExperiment,
    rng: np.random.Generator,
    *,
    days: int = 4,
    effect: float = 0.0,
    shock_sd: float = 0.08,
    per_slot: float = 25.0,
    base: float = 0.3,
    orders: bool = False,
) -> dict[str, list[object]]:
    """Walk-in customers, 12 opening hours a day (08-20 Tokyo), Poisson(per_slot) an
    hour, each exposed to its hour's arm; a slot shock N(0, shock_sd) shared by the
    hour's customers moves their take probability; ``effect`` is added for 'pairing'.
    Returns the truth per customer for the oracles (slot key, arm, took, burn-in)."""
    from upsell_ab.events.schema import create_schema

    create_schema(con)
    experiment = resolved.experiment
    clock = experiment.randomization.clock()
    assigner = Assigner(experiment)
    rows_x: list[tuple[object, ...]] = []
    rows_e: list[tuple[object, ...]] = []
    truth: dict[str, list[object]] = {
        "slot": [], "arm": [], "took": [], "burn_in": [], "orders": [], "order_value": []
    }  # fmt: skip
    start = datetime(2026, 12, 1)
    i = 0
    for day in range(days):
        for hour in range(8, 20):
            local = start + timedelta(days=day, hours=hour)
            key = clock.key(local)
            arm = assigner.assign(key).variant
            assert arm is not None
            shock = rng.normal(0.0, shock_sd)
            p = min(max(base + shock + (effect if arm == "pairing" else 0.0), 0.0), 1.0)
            n = int(rng.poisson(per_slot))
            minutes = np.sort(rng.uniform(0, 60, n))
            takes = rng.random(n) < p
            for minute, took in zip(minutes, takes, strict=True):
                at = local + timedelta(minutes=float(minute)) - TOKYO  # stored as UTC
                unit = f"r{i}"
                rows_x.append((experiment.id, arm, unit, at, f"x{i}", 1))
                if took:
                    rows_e.append((unit, at + timedelta(minutes=2), "upsell_purchase", 520.0,
                                   0.0, 1.0, None, f"e{i}", 1))  # fmt: skip
                values = []
                if orders:  # 1-2 orders at the till, and one 10 days before (CUPED's pre-period)
                    values = [float(v) for v in rng.uniform(300, 1500, 1 + (rng.random() < 0.3))]
                    for k, value in enumerate(values):
                        rows_e.append((unit, at + timedelta(minutes=1 + k), "order", value, 0.0,
                                       1.0, f"o{i}-{k}", f"o{i}-{k}", 1))  # fmt: skip
                    rows_e.append((unit, at - timedelta(days=10), "order", 800.0, 0.0, 1.0,
                                   f"h{i}", f"h{i}", 1))  # fmt: skip
                truth["orders"].append(len(values))
                truth["order_value"].append(sum(values))
                truth["slot"].append(key)
                truth["arm"].append(arm)
                truth["took"].append(bool(took))
                truth["burn_in"].append(minute < clock.burn_in_minutes)
                i += 1
    import pandas as pd

    for table, rows, width in (("exposures", rows_x, 6), ("events", rows_e, 9)):
        if rows:
            con.register("frame", pd.DataFrame(rows, columns=[f"c{k}" for k in range(width)]))
            con.execute(f"INSERT INTO {table} SELECT * FROM frame")
            con.unregister("frame")
    return truth


def customer_view(resolved: ResolvedExperiment) -> ResolvedExperiment:
    """The same spec as if customers had been randomised: the naive per-customer analysis."""
    experiment = resolved.experiment.model_copy(update={"randomization": Randomization()})
    return dataclasses.replace(resolved, experiment=experiment)


# --- the estimate and its standard error against statsmodels --------------------------


def test_analyze_matches_statsmodels_cluster_robust_on_the_customers(tmp_path: Path) -> None:
    import statsmodels.api as sm

    from upsell_ab.stats.switchback import SlotTotals, compare_slots

    resolved = cafe_spec(tmp_path)
    con = duckdb.connect()
    truth = fill_store(con, resolved, np.random.default_rng(5), effect=0.05)
    data = compute_experiment_data(resolved, connection=con)
    analysis = analyze(resolved, data)
    result = analysis.metric("upsell_take_rate")
    comparison = result.comparisons[0].frequentist
    assert comparison is not None and comparison.method.startswith("switchback")

    keep = ~np.array(truth["burn_in"])
    slots = np.array(truth["slot"])[keep]
    y = np.array(truth["took"], dtype=float)[keep]
    treated = (np.array(truth["arm"]) == "pairing")[keep].astype(float)
    fit = sm.OLS(y, sm.add_constant(treated)).fit(
        cov_type="cluster", cov_kwds={"groups": np.unique(slots, return_inverse=True)[1]}
    )
    assert comparison.absolute_lift == pytest.approx(fit.params[1], rel=1e-9)
    means = {v.variant: v.mean for v in result.variants}
    assert means["generic"] == pytest.approx(y[treated == 0].mean(), rel=1e-12)
    assert means["pairing"] == pytest.approx(y[treated == 1].mean(), rel=1e-12)
    counts = {v.variant: v.n for v in result.variants}
    assert counts == {"generic": int((treated == 0).sum()), "pairing": int((treated == 1).sum())}

    # the CR1 standard error on the same slot totals equals statsmodels' up to its
    # documented extra factor (N - 1) / (N - 2); CR2 is larger (a small-sample correction)
    rows = [
        SlotTotals(str(s), "pairing" if t else "generic", float(n), float(k))
        for s, t, n, k in (
            (s, treated[slots == s][0], (slots == s).sum(), y[slots == s].sum())
            for s in np.unique(slots)
        )
    ]
    cr1 = compare_slots(rows, "generic", "pairing", correction="cr1")
    big_n = len(y)
    assert cr1.std_error**2 * (big_n - 1) / (big_n - 2) == pytest.approx(fit.bse[1] ** 2, rel=1e-9)
    assert comparison.statistic is not None and comparison.absolute_lift is not None
    cr2_se = comparison.absolute_lift / comparison.statistic
    assert cr2_se == pytest.approx(compare_slots(rows, "generic", "pairing").std_error)
    assert cr2_se > cr1.std_error

    # slots as the unit: SRM counts slots; the arms' slots add up to the observed hours
    assert sum(analysis.srm.observed.values()) == len(np.unique(slots))
    assert any("switchback design" in note for note in analysis.notes)


# --- A/A through the real query and analyze ---------------------------------------------


def aa_rates(tmp_path: Path, reps: int, seed: int) -> tuple[float, float, int]:
    """False-positive rates at alpha 0.05 of the slot analysis and of the per-customer
    analysis of the same simulated stores (4 days x 12 hours, slot shock sd 8 points)."""
    resolved = cafe_spec(tmp_path)
    naive = customer_view(resolved)
    rng = np.random.default_rng(seed)
    slot_hits = naive_hits = used = 0
    for _ in range(reps):
        con = duckdb.connect()
        fill_store(con, resolved, rng)
        data = compute_experiment_data(resolved, connection=con)
        con.close()
        comparison = analyze(resolved, data).metric("upsell_take_rate").comparisons[0]
        if comparison.frequentist is None or comparison.frequentist.p_value is None:
            continue  # fewer than 2 slots in an arm: no test (not a rejection either way)
        used += 1
        slot_hits += comparison.frequentist.p_value < 0.05
        per_customer = analyze(naive, data).metric("upsell_take_rate").comparisons[0]
        assert per_customer.frequentist is not None and per_customer.frequentist.p_value
        naive_hits += per_customer.frequentist.p_value < 0.05
    return slot_hits / used, naive_hits / used, used


def test_aa_false_positive_rate_through_analyze(tmp_path: Path) -> None:
    slot_rate, naive_rate, used = aa_rates(tmp_path, reps=200, seed=140)
    mc = math.sqrt(0.05 * 0.95 / used)  # 0.015
    assert abs(slot_rate - 0.05) < 3 * mc, (slot_rate, naive_rate)
    assert naive_rate > 0.05 + 5 * mc, (slot_rate, naive_rate)


@pytest.mark.slow
@pytest.mark.skipif(not SLOW, reason="set UPSELL_AB_SLOW=1")
def test_aa_false_positive_rate_through_analyze_slow(tmp_path: Path) -> None:
    slot_rate, naive_rate, used = aa_rates(tmp_path, reps=2000, seed=1400)
    mc = math.sqrt(0.05 * 0.95 / used)  # 0.0049
    assert abs(slot_rate - 0.05) < 3 * mc, (slot_rate, naive_rate)
    assert naive_rate > 0.05 + 15 * mc, (slot_rate, naive_rate)


@pytest.mark.slow
@pytest.mark.skipif(not SLOW, reason="set UPSELL_AB_SLOW=1")
def test_interval_coverage_through_analyze_slow(tmp_path: Path) -> None:
    """95 % intervals of a true +5 point effect cover it at 0.95 within Monte-Carlo error
    (0.949 over 1,000 stores at this seed)."""
    resolved = cafe_spec(tmp_path)
    rng = np.random.default_rng(2024)
    covered = used = 0
    for _ in range(1000):
        con = duckdb.connect()
        fill_store(con, resolved, rng, effect=0.05)
        data = compute_experiment_data(resolved, connection=con)
        con.close()
        result = analyze(resolved, data).metric("upsell_take_rate").comparisons[0]
        ci = result.frequentist.absolute_ci if result.frequentist is not None else None
        if ci is None or ci.low is None or ci.high is None:
            continue
        used += 1
        covered += ci.low <= 0.05 <= ci.high
    mc = math.sqrt(0.95 * 0.05 / used)  # 0.0069
    assert abs(covered / used - 0.95) < 3 * mc, covered / used


# --- decision and every report format ---------------------------------------------------


def test_cli_analyze_and_report_render_the_slot_analysis(tmp_path: Path) -> None:
    resolved = cafe_spec(tmp_path)
    store = tmp_path / "cafe.duckdb"
    con = duckdb.connect(str(store))
    fill_store(con, resolved, np.random.default_rng(8), days=6, effect=0.15)
    con.close()
    spec = str(resolved.source_file)
    done = run_cli("analyze", spec, "--store", str(store), "--format", "json")
    assert done.returncode in (0, 3), done.stderr
    report = json.loads(done.stdout)
    text = json.dumps(report)
    assert "switchback design" in text and "burn-in" in text
    assert "switchback: slot totals, CR2" in text
    for fmt, marker in (("text", "slots"), ("markdown", "slots"), ("html", "slots")):
        out = run_cli("analyze", spec, "--store", str(store), "--format", fmt)
        assert out.returncode in (0, 3), out.stderr
        assert "switchback design" in out.stdout and marker in out.stdout
        assert "customers dropped" in out.stdout
    rendered = run_cli("report", spec, "--store", str(store), "--format", "markdown")
    assert rendered.returncode in (0, 3), rendered.stderr
    assert "switchback design" in rendered.stdout


def test_decision_uses_the_slot_analysis_not_the_per_customer_one(tmp_path: Path) -> None:
    resolved = cafe_spec(tmp_path)
    con = duckdb.connect()
    fill_store(con, resolved, np.random.default_rng(9), days=8, effect=0.2)
    data = compute_experiment_data(resolved, connection=con)
    run = run_on_data(resolved, data)
    assert run.outcome.action.value == "ship", run.outcome.reasons
    assert run.outcome.variant == "pairing"
    assert not run.daily_lifts  # the per-customer daily chart is left out


def test_summary_input_of_a_switchback_spec_is_invalid_not_confident(tmp_path: Path) -> None:
    resolved = cafe_spec(tmp_path)
    summary = tmp_path / "summary.csv"
    summary.write_text(
        "variant,metric,n,sum\ngeneric,upsell_take_rate,600,150\npairing,upsell_take_rate,600,240\n",
        encoding="utf-8",
    )
    done = run_cli(
        "analyze", str(resolved.source_file), "--summary", str(summary), "--format", "json"
    )
    report = json.loads(done.stdout)
    assert report["experiments"][0]["decision"]["action"] == "invalid"
    assert "no statistics per slot" in done.stdout


def test_sequential_monitoring_is_refused_for_a_switchback_with_its_location(
    tmp_path: Path,
) -> None:
    from upsell_ab.errors import SpecError

    text = SPEC.replace("  engine: both\n", "  engine: both\n  sequential: {enabled: true}\n")
    with pytest.raises(SpecError) as caught:
        cafe_spec(tmp_path, text)
    problems = caught.value.problems
    assert [p.location.field for p in problems] == ["analysis.sequential"]
    assert "fixed-horizon" in str(problems[0]) and problems[0].location.line == 17


def test_ratio_cuped_and_quantile_metrics_on_a_switchback(tmp_path: Path) -> None:
    """A ratio is a ratio of slot sums (its denominator in place of the customers); a
    CUPED metric is analysed without its covariate and says so; a quantile gets no result
    (with the reason), never a per-customer one."""
    text = SPEC.replace(
        "  secondary: [upsell_revenue_per_customer]",
        "  secondary: [revenue_per_order, revenue_per_customer, median_order_value]",
    )
    resolved = cafe_spec(tmp_path, text)
    con = duckdb.connect()
    truth = fill_store(con, resolved, np.random.default_rng(12), orders=True)
    analysis = analyze(resolved, compute_experiment_data(resolved, connection=con))

    keep = ~np.array(truth["burn_in"])
    arm = np.array(truth["arm"])[keep]
    count = np.array(truth["orders"], dtype=float)[keep]
    value = np.array(truth["order_value"])[keep]
    ratio = analysis.metric("revenue_per_order")
    means = {v.variant: v.mean for v in ratio.variants}
    for variant in ("generic", "pairing"):
        mine = arm == variant
        assert means[variant] == pytest.approx(value[mine].sum() / count[mine].sum(), rel=1e-12)
    frequentist = ratio.comparisons[0].frequentist
    assert frequentist is not None and frequentist.method.startswith("switchback")
    assert frequentist.absolute_lift == pytest.approx(means["pairing"] - means["generic"])

    cuped = analysis.metric("revenue_per_customer").comparisons[0].frequentist
    assert cuped is not None and cuped.method.startswith("switchback")
    assert cuped.variance_reduction is None
    assert any("CUPED is not applied" in note for note in analysis.notes)

    quantile = analysis.metric("median_order_value")
    assert all(c.frequentist is None and c.bayesian is None for c in quantile.comparisons)
    assert "cannot be reduced to slot totals" in quantile.notes[0]


def test_keep_running_counts_the_slots_design_effect(tmp_path: Path) -> None:
    """The extra sample of a switchback uses the slot analysis' variance: with a slot
    shock (design effect about 1 + 25 x 0.12^2 / 0.21 = 2.7) it asks for clearly more
    customers than independent customers would need (statsmodels' power for two
    proportions), and says how many slots that is."""
    from statsmodels.stats.power import NormalIndPower
    from statsmodels.stats.proportion import proportion_effectsize

    text = SPEC.replace("  engine: both\n", "  engine: frequentist\n  mde: 0.15\n")
    resolved = cafe_spec(tmp_path, text)
    con = duckdb.connect()
    fill_store(con, resolved, np.random.default_rng(21), days=3, shock_sd=0.12)
    run = run_on_data(resolved, compute_experiment_data(resolved, connection=con))
    assert run.outcome.action.value == "keep_running", run.outcome.reasons
    extra = run.outcome.additional_units_needed
    assert extra is not None
    result = run.analysis.metric("upsell_take_rate")
    control = next(v for v in result.variants if v.variant == "generic")
    assert control.mean is not None
    independent = NormalIndPower().solve_power(
        proportion_effectsize(control.mean * 1.15, control.mean), alpha=0.05, power=0.8
    )
    assert extra + control.n > 1.5 * independent, (extra, control.n, independent)
    reason = next(r for r in run.outcome.reasons if "more units per variant" in r)
    split = compute_experiment_data(resolved, connection=con).slots
    assert split is not None
    per_slot = sum(split.units.values()) / len(split.units)
    assert f"about {math.ceil(extra / per_slot):,} more hour slots per variant" in reason
