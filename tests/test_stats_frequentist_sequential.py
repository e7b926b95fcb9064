"""Confidence-sequence adapter: wiring, anytime-valid p-value, missing engine.

The sequential engine is another module; these tests plug in a stand-in
implementing GrowthBook's published asymptotic confidence sequence (gbstats
``sequential_interval_halfwidth``, Waudby-Smith et al. 2021) so the adapter is
tested on its own, and check the p-value by its definition: the sequence at
alpha = p has 0 exactly on its boundary.
"""

from __future__ import annotations

import math
import types

import pytest
from scipy import stats

from upsell_ab.metrics.sufficient import SampleStats
from upsell_ab.stats import frequentist_sequential as fs
from upsell_ab.stats.frequentist import proportion_estimate, proportion_test
from upsell_ab.stats.results import Interval


def gb_halfwidth(variance: float, n: float, alpha: float, tuning: float) -> float:
    rho = math.sqrt((-2 * math.log(alpha) + math.log(-2 * math.log(alpha) + 1)) / tuning)
    s2 = variance * n  # per-unit variance of the difference estimate
    return math.sqrt(s2) * math.sqrt(
        (2 * (n * rho**2 + 1)) / (n**2 * rho**2) * math.log(math.sqrt(n * rho**2 + 1) / alpha)
    )


def gb_interval(
    estimate: float, variance: float, n: float, alpha: float, tuning: float
) -> Interval:
    h = gb_halfwidth(variance, n, alpha, tuning)
    return Interval(estimate - h, estimate + h, 1 - alpha)


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = types.ModuleType("fake_sequential")
    fake.sequential_interval = gb_interval  # type: ignore[attr-defined]
    monkeypatch.setattr(fs, "sequential_module", lambda: fake)


def arms() -> dict[str, SampleStats]:
    return {
        "c": SampleStats.from_proportion(3000, 1396),
        "t": SampleStats.from_proportion(3461, 2422),
    }


def test_replaces_intervals_and_p_value(engine: None) -> None:
    stats_ = arms()
    fixed = {"t": proportion_test(stats_["c"], stats_["t"])}
    estimates = {k: proportion_estimate(v) for k, v in stats_.items()}
    notes: list[str] = []
    result = fs.sequential_comparisons(
        fixed, estimates, "c", alpha=0.05, tuning_n=5000, notes=notes
    )["t"]
    assert result.sequential and "confidence sequence" in result.method and not notes
    c, t = estimates["c"], estimates["t"]
    variance = c.variance + t.variance
    h = gb_halfwidth(variance, 6461, 0.05, 5000)
    assert result.absolute_ci.low == pytest.approx(t.mean - c.mean - h, rel=1e-12)
    # Wider than the fixed-horizon interval: the price of peeking.
    assert (result.absolute_ci.high or 0) - (result.absolute_ci.low or 0) > (
        (fixed["t"].absolute_ci.high or 0) - (fixed["t"].absolute_ci.low or 0)
    )
    assert result.relative_lift == pytest.approx(0.50386, abs=5e-5)


@pytest.mark.parametrize("diff", [0.004, 0.01, 0.02])
def test_anytime_p_value_puts_zero_on_the_boundary(diff: float) -> None:
    variance, n = 2.5e-5, 20_000.0
    p = fs.anytime_p_value(gb_interval, diff, variance, n, 5000.0)
    assert 0 < p <= 1
    if p < 1:
        assert gb_halfwidth(variance, n, p, 5000.0) == pytest.approx(diff, rel=1e-8)
    # Larger than the fixed-horizon p-value (peeking costs evidence).
    assert p >= 2 * stats.norm.sf(diff / math.sqrt(variance))


def test_fixed_horizon_interval_gives_the_z_test_p_value() -> None:
    """With a plain z interval as the 'sequence', the p-value is the two-sided z p-value."""

    def z_interval(
        estimate: float, variance: float, n: float, alpha: float, tuning: float
    ) -> Interval:
        h = stats.norm.isf(alpha / 2) * math.sqrt(variance)
        return Interval(estimate - h, estimate + h, 1 - alpha)

    p = fs.anytime_p_value(z_interval, 0.01, 2.5e-5, 1000.0, 1.0)
    assert p == pytest.approx(2 * stats.norm.sf(0.01 / 0.005), rel=1e-7)
    assert fs.anytime_p_value(z_interval, 0.0, 2.5e-5, 1000.0, 1.0) == 1.0


def test_missing_engine_leaves_fixed_horizon_with_a_note(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fs, "sequential_module", lambda: None)
    stats_ = arms()
    fixed = {"t": proportion_test(stats_["c"], stats_["t"])}
    notes: list[str] = []
    out = fs.sequential_comparisons(
        fixed,
        {k: proportion_estimate(v) for k, v in stats_.items()},
        "c",
        alpha=0.05,
        tuning_n=5000,
        notes=notes,
    )
    assert out == fixed and "fixed-horizon" in notes[0]


def test_analyze_uses_sequences_when_enabled(engine: None) -> None:
    from test_stats_analysis import data, resolved

    from upsell_ab.spec.models import Sequential
    from upsell_ab.stats.analysis import analyze

    fixed = analyze(resolved(), data())
    peeking = analyze(resolved(sequential=Sequential(enabled=True, tuning_n=5000)), data())
    for before, after in zip(fixed.metrics, peeking.metrics, strict=True):
        for c0, c1 in zip(before.comparisons, after.comparisons, strict=True):
            assert c0.frequentist is not None and c1.frequentist is not None
            assert c1.frequentist.sequential and not c0.frequentist.sequential
            assert (c1.frequentist.p_value or 0) >= (c0.frequentist.p_value or 0)
            if c0.p_value_adjusted is not None:
                assert (c1.p_value_adjusted or 0) >= c0.p_value_adjusted


# ------------------------------------------------------------ with the real engine
def test_growthbook_sequential_vector_through_the_adapter() -> None:
    """GrowthBook: 1396/3000 vs 2422/3461, N* = 5000 -> lift 0.50386, CI (0.40098, 0.60675)."""
    if fs.interval_function() is None:
        pytest.skip("stats.sequential not available")
    stats_ = arms()
    fixed = {"t": proportion_test(stats_["c"], stats_["t"])}
    estimates = {k: proportion_estimate(v) for k, v in stats_.items()}
    out = fs.sequential_comparisons(fixed, estimates, "c", alpha=0.05, tuning_n=5000, notes=[])
    result = out["t"]
    assert round(result.relative_lift or 0, 5) == 0.50386
    assert round(result.relative_ci.low or 0, 5) == 0.40098
    assert round(result.relative_ci.high or 0, 5) == 0.60675
    assert result.p_value is not None and result.p_value < 1e-50


def test_analyze_reports_when_monitoring_may_stop() -> None:
    if fs.interval_function() is None:
        pytest.skip("stats.sequential not available")
    from test_stats_analysis import data, resolved

    from upsell_ab.metrics.aggregates import ExperimentData
    from upsell_ab.metrics.sufficient import MetricStats
    from upsell_ab.spec.models import Sequential
    from upsell_ab.stats.analysis import analyze

    spec = resolved(sequential=Sequential(enabled=True, tuning_n=5000))
    clear: dict[str, MetricStats] = {
        "control": SampleStats.from_proportion(2000, 400),
        "a": SampleStats.from_proportion(1000, 330),
        "b": SampleStats.from_proportion(1000, 120),
    }
    status = analyze(spec, data(take_rate=clear)).sequential
    assert status is not None and status.may_stop and "take_rate" in status.reason
    close: dict[str, MetricStats] = {
        "control": SampleStats.from_proportion(2000, 400),
        "a": SampleStats.from_proportion(1000, 205),
        "b": SampleStats.from_proportion(1000, 195),
    }
    base: ExperimentData = data(take_rate=close)
    waiting = analyze(spec, base).sequential
    assert waiting is not None and not waiting.may_stop and "keep running" in waiting.reason
    # Each CS excludes 0 exactly when its anytime p-value is below alpha.
    for metric in analyze(spec, data(take_rate=clear)).metrics:
        for comparison in metric.comparisons:
            f = comparison.frequentist
            assert f is not None and f.sequential
            if (
                f.p_value is not None
                and f.absolute_ci.low is not None
                and f.absolute_ci.high is not None
            ):
                excludes = f.absolute_ci.low > 0 or f.absolute_ci.high < 0
                assert excludes is (f.p_value < 0.05)


def test_group_sequential_methods_monitor_the_primary_and_keep_the_rest_fixed_horizon() -> None:
    """obrien_fleming/pocock: the primary metric gets repeated intervals at the current
    look and a stopping status (details in test_stats_analysis_group_sequential.py);
    secondary metrics and guardrails stay fixed-horizon, and nothing is a confidence
    sequence."""
    from test_stats_analysis import data, resolved

    from upsell_ab.spec.models import Sequential
    from upsell_ab.stats.analysis import analyze

    spec = resolved(sequential=Sequential(enabled=True, method="obrien_fleming", looks=5))
    analysis = analyze(spec, data())
    assert analysis.sequential is not None and analysis.sequential.method == "obrien_fleming"
    assert "of 5" in analysis.sequential.reason
    assert not any("group-sequential" in note for note in analysis.notes)
    for m in analysis.metrics:
        for c in m.comparisons:
            assert c.frequentist is not None and not c.frequentist.sequential
            repeated = "repeated CI" in c.frequentist.method
            assert repeated is (m.metric == "take_rate"), (m.metric, c.frequentist.method)
