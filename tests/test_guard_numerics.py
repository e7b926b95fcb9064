"""Issue 9, case 5: numerics that survive any finite input.

Oracle: scipy's Welch t-test on the per-unit values made here (raw numpy
arrays, independent of our SQL and sufficient statistics). The same data
shifted by 1e9 (noise on a 1/1024 grid, so the shifted values are exact
doubles) or scaled by 1e300 / 1e-300 must give the same p-value to 1e-9
relative through the whole path: SQL on DuckDB, PostgreSQL and Spark, then
the statistics. Before: 1e200 ended in OverflowError, 1e160 in a false
``zero_variance``, and the shifted sums cancelled to noise.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pytest
from metrics_support import (
    events_frame,
    exposures_frame,
    load_duckdb,
    load_postgres,
    load_spark,
    resolved,
)
from scipy import stats as scipy_stats

from upsell_ab.errors import InputError, StoreError
from upsell_ab.metrics.compute import compute_experiment_data
from upsell_ab.metrics.sufficient import SampleStats
from upsell_ab.metrics.summary_csv import read_summary
from upsell_ab.spec.models import Aggregate, MetricDefinition, MetricType
from upsell_ab.stats.analysis import analyze
from upsell_ab.stats.frequentist import welch_df
from upsell_ab.stats.lift import relative_lift
from upsell_ab.stats.results import ArmEstimate, Status

REVENUE = MetricDefinition(type=MetricType.mean, event="order")
UNITS = 300


def _values(seed: int = 1) -> np.ndarray:
    """Per-unit noise on a 1/1024 grid (exact after adding 1e9); treatment +154/1024."""
    rng = np.random.default_rng(seed)
    noise = np.round(rng.normal(0.0, 1.0, UNITS) * 1024) / 1024
    return noise + np.where(np.arange(UNITS) % 2 == 1, 154 / 1024, 0.0)


def _tables(values: np.ndarray) -> tuple[Any, Any]:
    exposures = [
        ("exp1", "control" if i % 2 == 0 else "treatment", f"u{i}", "2024-01-01 10:00")
        for i in range(UNITS)
    ]
    events = [
        (f"u{i}", "2024-01-01 11:00", "order", float(v), 0.0, 1.0, f"e{i}")
        for i, v in enumerate(values)
    ]
    return exposures_frame(exposures), events_frame(events)


def _welch(values: np.ndarray) -> tuple[float, float]:
    result = scipy_stats.ttest_ind(values[1::2], values[0::2], equal_var=False)
    return float(result.pvalue), float(values[1::2].mean() - values[0::2].mean())


def _compute(engine: str, handle: Any, spec: Any, frames: tuple[Any, Any], **kw: Any) -> Any:
    """Load both tables into ``engine`` and compute the experiment's statistics there."""
    if engine == "duckdb":
        load_duckdb(handle, *frames)
        return compute_experiment_data(spec, connection=handle, **kw)
    if engine == "postgres":
        import psycopg

        load_postgres(handle, *frames)
        with psycopg.connect(handle) as conn:
            return compute_experiment_data(spec, connection=conn, **kw)
    load_spark(handle, *frames)
    return compute_experiment_data(spec, connection=handle, **kw)


def _analyse(
    engine: str, handle: Any, values: np.ndarray, allowed: tuple[Status, ...] = (Status.ok,)
) -> tuple[float, float, float]:
    spec = resolved({"revenue": REVENUE})
    data = _compute(engine, handle, spec, _tables(values), daily=True)
    (comparison,) = analyze(spec, data).metric("revenue").comparisons
    freq = comparison.frequentist
    assert freq is not None and freq.status in allowed, freq
    assert freq.p_value is not None and freq.absolute_lift is not None
    final = data.metrics["revenue"].daily[-1].by_variant["treatment"]
    return freq.p_value, freq.absolute_lift, final.mean


def _check(engine: str, handle: Any) -> None:
    base = _values()
    p_base, lift_base = _welch(base)
    # shifted by 1e9: the same p-value and lift (cancellation would wreck both)
    p, lift, _ = _analyse(engine, handle, base + 1e9)
    assert p == pytest.approx(p_base, rel=1e-9)
    assert lift == pytest.approx(lift_base, rel=1e-9)
    p0, lift0, mean0 = _analyse(engine, handle, base)
    assert p0 == pytest.approx(p_base, rel=1e-9)
    assert lift0 == pytest.approx(lift_base, rel=1e-9)
    assert mean0 == pytest.approx(base[1::2].mean(), rel=1e-9)
    # scaled to 1e300 and 1e-300 (positive values, as revenue): same p, lift scaled
    positive = base + 5.0
    p_pos, lift_pos = _welch(positive)
    for factor in (1e300, 1e-300):
        p, lift, mean = _analyse(engine, handle, positive * factor)
        assert p == pytest.approx(p_pos, rel=1e-9), factor
        assert lift == pytest.approx(lift_pos * factor, rel=1e-9), factor
        assert mean == pytest.approx(positive[1::2].mean() * factor, rel=1e-9)


def test_shifted_and_extreme_values_duckdb() -> None:
    _check("duckdb", duckdb.connect())


@pytest.mark.postgres
def test_shifted_and_extreme_values_postgres(postgres_dsn: str) -> None:
    _check("postgres", postgres_dsn)


@pytest.mark.spark
def test_shifted_and_extreme_values_spark(spark_session: Any) -> None:
    _check("spark", spark_session)


def _refuses_not_finite(engine: str, handle: Any) -> None:
    """An inf and a -inf amount: the analysis refuses, counting the two, on every engine
    (a percentile cap used to turn them into the cap silently). NaN is left to the CLI
    test on CSV: a pandas frame cannot tell NaN from a missing amount."""
    values = list(np.abs(_values(seed=5)) * 100)
    values[3], values[4] = np.inf, -np.inf
    exposures, events = _tables(np.zeros(UNITS))
    events["value"] = values
    capped = MetricDefinition.model_validate(
        {"type": "mean", "event": "order", "capping": {"kind": "percentile", "value": 0.99}}
    )
    spec = resolved({"revenue": capped})
    with pytest.raises(StoreError) as error:
        _compute(engine, handle, spec, (exposures, events))
    message = str(error.value)
    assert "not a finite number" in message and "2 in column 'value'" in message, message


def test_non_finite_amounts_are_refused_duckdb() -> None:
    _refuses_not_finite("duckdb", duckdb.connect())


@pytest.mark.postgres
def test_non_finite_amounts_are_refused_postgres(postgres_dsn: str) -> None:
    _refuses_not_finite("postgres", postgres_dsn)


@pytest.mark.spark
def test_non_finite_amounts_are_refused_spark(spark_session: Any) -> None:
    _refuses_not_finite("spark", spark_session)


def test_one_huge_order_does_not_crash_and_is_not_zero_variance() -> None:
    """One order of 1e200 among ordinary ones (was: OverflowError); 1e160 (was: a false
    zero_variance). Expected p: scipy on the same per-unit values."""
    for huge in (1e200, 1e160, 1e300):
        values = np.abs(_values(seed=4)) * 1000
        values[7] = huge
        con = duckdb.connect()
        # a relative lift of ~1e197 % is not representable: "no relative lift" is said
        # (status zero_baseline), the test itself runs
        p, _, _ = _analyse("duckdb", con, values, (Status.ok, Status.zero_baseline))
        expected, _ = _welch(values / huge)  # t is scale-free; scipy overflows on raw
        assert p == pytest.approx(expected, rel=1e-9)


def test_ratio_beyond_double_precision_is_out_of_range_with_a_reason() -> None:
    """Ratio sums are not framed: squares of 1e200 overflow in the database. The
    analysis says so (status out_of_range, a note) instead of raising."""
    aov = MetricDefinition(
        type=MetricType.ratio,
        numerator=Aggregate(event="order", value="value"),
        denominator=Aggregate(event="order", value="count"),
    )
    spec = resolved({"aov": aov})
    con = duckdb.connect()
    load_duckdb(con, *_tables(np.abs(_values()) * 1e200))
    data = compute_experiment_data(spec, connection=con)
    result = analyze(spec, data).metric("aov")
    (comparison,) = result.comparisons
    assert comparison.frequentist is not None
    assert comparison.frequentist.status is Status.out_of_range
    assert any("beyond double precision" in note for note in result.notes)


def test_lift_and_welch_df_never_overflow() -> None:
    control = ArmEstimate(n=10, mean=1e-200, variance=1e300)
    treatment = ArmEstimate(n=10, mean=1e200, variance=1e300)
    assert relative_lift(control, treatment) is None  # not representable: no lift, no raise
    df = welch_df(ArmEstimate(10, 1.0, 1e300), ArmEstimate(20, 1.0, 1e300))
    # (v + v)^2 / (v^2/9 + v^2/19) = 4 / (1/9 + 1/19) whatever v is
    assert df == pytest.approx(4 / (1 / 9 + 1 / 19), rel=1e-12)
    tiny = welch_df(ArmEstimate(10, 1.0, 1e-300), ArmEstimate(20, 1.0, 1e-300))
    assert tiny == pytest.approx(4 / (1 / 9 + 1 / 19), rel=1e-12)


def test_summary_with_impossible_huge_sums_is_refused(tmp_path: Path) -> None:
    """sum 1e200 over 1000 units needs sum_squares >= 1e397; 1e300 is impossible (was:
    accepted, then zero_variance)."""
    spec = resolved({"revenue": REVENUE})
    path = tmp_path / "summary.csv"
    path.write_text(
        "variant,metric,n,sum,sum_squares\n"
        "control,revenue,1000,1e200,1e300\n"
        "treatment,revenue,1000,2e3,5e3\n",
        encoding="utf-8",
    )
    with pytest.raises(InputError) as error:
        read_summary(path, spec)
    message = str(error.value)
    assert "line 2" in message or "row 2" in message
    assert "sum_squares" in message and "impossible" in message


def test_summary_with_large_but_possible_sums_is_analysed(tmp_path: Path) -> None:
    """Values near 1e150 (squares near 1e300): the engines run in the data's own units."""
    rng = np.random.default_rng(9)
    arms = {"control": rng.normal(3.0, 1.0, 400), "treatment": rng.normal(3.3, 1.0, 400)}
    lines = ["variant,metric,n,sum,sum_squares"]
    for arm, x in arms.items():
        y = x * 1e150
        lines.append(f"{arm},revenue,{len(y)},{float(y.sum())!r},{float((y * y).sum())!r}")
    path = tmp_path / "summary.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    spec = resolved({"revenue": REVENUE})
    result = analyze(spec, read_summary(path, spec)).metric("revenue")
    freq = result.comparisons[0].frequentist
    assert freq is not None and freq.status is Status.ok
    expected = scipy_stats.ttest_ind(arms["treatment"], arms["control"], equal_var=False).pvalue
    assert freq.p_value == pytest.approx(expected, rel=1e-6)


def test_sample_stats_frames_add_and_compare() -> None:
    """Sums in a frame (shift, scale) equal the raw sums after the change of frame."""
    y = np.array([3.0, 5.0, 11.0, 2.0])
    raw = SampleStats(4, float(y.sum()), float((y * y).sum()))
    z = (y - 4.0) / 2.0
    framed = SampleStats(4, float(z.sum()), float((z * z).sum()), shift=4.0, scale=2.0)
    assert framed == raw
    assert framed.mean == pytest.approx(y.mean())
    assert framed.variance == pytest.approx(y.var(ddof=1))
    both = framed + raw
    assert both.n == 8 and both.mean == pytest.approx(y.mean())
    assert both.variance == pytest.approx(np.concatenate([y, y]).var(ddof=1))
