"""Issue 9, case 6: small-sample honesty.

Oracles: statsmodels' ``confint_proportions_2indep`` (Newcombe's score interval
for the difference, the Katz log interval for the ratio), scipy's Fisher test,
a brute-force fragility index, and a seeded coverage simulation whose
tolerance is stated from its own Monte-Carlo error.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as scipy_stats
from statsmodels.stats.proportion import confint_proportions_2indep

from tests.test_e2e_support import spec, write_spec
from upsell_ab.cli.main import main
from upsell_ab.metrics.sufficient import SampleStats
from upsell_ab.stats.fragility import fragility_index
from upsell_ab.stats.frequentist import proportion_test
from upsell_ab.stats.results import Status


def _p(n: int, x: int) -> SampleStats:
    return SampleStats.from_proportion(n, x)


def test_one_unit_per_arm_is_too_few_units_like_every_metric() -> None:
    """Was: 'raised the take rate by 100.0 pp (95 % CI -42.1 pp to 108.8 pp)'."""
    result = proportion_test(_p(1, 0), _p(1, 1))
    assert result.status is Status.too_few_units
    assert result.absolute_ci.low is None and result.p_value is None


@pytest.mark.parametrize(
    ("control", "treatment"), [((12, 2), (15, 6)), ((12, 0), (15, 6)), ((3, 0), (2, 2))]
)
def test_small_sample_intervals_are_newcombe_and_log_ratio(
    control: tuple[int, int], treatment: tuple[int, int]
) -> None:
    result = proportion_test(_p(*control), _p(*treatment))
    assert result.method == "fisher exact"
    assert result.interval_method == "Newcombe hybrid score"
    low, high = confint_proportions_2indep(
        treatment[1], treatment[0], control[1], control[0], method="newcomb", compare="diff"
    )
    assert (result.absolute_ci.low, result.absolute_ci.high) == (
        pytest.approx(low, rel=1e-9),
        pytest.approx(high, rel=1e-9),
    )
    ci = result.absolute_ci
    assert ci.low is not None and ci.high is not None
    assert -1.0 <= ci.low <= result.absolute_lift <= ci.high <= 1.0  # centred on what is shown
    if control[1] > 0:
        assert result.relative_interval_method == "log ratio"
        low_r, high_r = confint_proportions_2indep(
            treatment[1], treatment[0], control[1], control[0], method="log", compare="ratio"
        )
        assert result.relative_ci.low == pytest.approx(low_r - 1, rel=1e-9)
        assert result.relative_ci.high == pytest.approx(high_r - 1, rel=1e-9)
        assert result.relative_ci.low > -1.0


def test_two_of_twelve_against_six_of_fifteen_no_longer_reaches_minus_198_percent() -> None:
    """The issue's +140 % [-198 %, +478 %]: now [-41 %, +882 %], by the log ratio."""
    result = proportion_test(_p(12, 2), _p(15, 6))
    assert result.relative_lift == pytest.approx(0.4 / (2 / 12) - 1)
    assert result.relative_ci.low == pytest.approx(0.5866398797235722 - 1, rel=1e-9)


def _brute_fragility(x_c: int, n_c: int, x_t: int, n_t: int, alpha: float) -> int:
    """Walsh et al.: fewest single-outcome changes toward the null (either arm)."""

    def p(a: int, b: int) -> float:
        return float(scipy_stats.fisher_exact([[b, n_t - b], [a, n_c - a]]).pvalue)

    best = None
    for k in range(1, n_c + n_t + 1):
        for moved_t in range(k + 1):
            a, b = x_c + (k - moved_t), x_t - moved_t
            if 0 <= a <= n_c and 0 <= b <= n_t and moved_t in (0, k) and p(a, b) >= alpha:
                best = k
                break
        if best is not None:
            return best
    raise AssertionError("never non-significant")


@pytest.mark.parametrize(("control", "treatment"), [((12, 0), (15, 6)), ((40, 3), (40, 14))])
def test_fragility_index_matches_a_brute_force_count(
    control: tuple[int, int], treatment: tuple[int, int]
) -> None:
    index = fragility_index(_p(*control), _p(*treatment), alpha=0.05, exact=True)
    assert index == _brute_fragility(control[1], control[0], treatment[1], treatment[0], 0.05)
    assert index is not None and index >= 1


def test_ship_on_a_small_sample_carries_its_fragility(tmp_path: Path) -> None:
    """0/12 against 6/15: 'Ship' (Fisher p = 0.020, correct), now with how fragile it is,
    in the headline of every format."""
    rows = ["experiment,variant,unit_id,timestamp"]
    events = ["unit_id,timestamp,event_type,value,discount,order_id"]
    for i in range(12):
        rows.append(f"small,control,c{i},2025-03-03T10:00:00")
    for i in range(15):
        rows.append(f"small,treatment,t{i},2025-03-03T10:00:00")
        if i < 6:
            events.append(f"t{i},2025-03-03T11:00:00,upsell_purchase,480,0,o{i}")
    (tmp_path / "x.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    (tmp_path / "e.csv").write_text("\n".join(events) + "\n", encoding="utf-8")
    store = str(tmp_path / "s.duckdb")
    assert main(["ingest", "--store", store, "--exposures", str(tmp_path / "x.csv"),
                 "--events", str(tmp_path / "e.csv")]) == 0  # fmt: skip
    content = spec("small", guardrails=[], analysis={"correction": "none"})
    path = write_spec(tmp_path / "specs", content)
    index = _brute_fragility(0, 12, 6, 15, 0.05)
    for fmt in ("text", "markdown", "json", "html"):
        out = tmp_path / f"r.{fmt}"
        code = main(["analyze", str(path), "--store", store, "--format", fmt, "--output",
                     str(out), "--no-daily"])  # fmt: skip
        assert code == 0
        text = " ".join(out.read_text(encoding="utf-8").split())
        assert f"the outcome of {index} unit" in text, fmt
        assert "Walsh et al. 2014" in text
        if fmt == "text":
            assert "Ship" in text and "Fisher's exact test" in text
            assert "Newcombe hybrid score" in text


def test_minimum_units_per_arm_blocks_ship(tmp_path: Path) -> None:
    rows = ["experiment,variant,unit_id,timestamp"]
    events = ["unit_id,timestamp,event_type,value,discount,order_id"]
    for i in range(12):
        rows.append(f"tiny,control,c{i},2025-03-03T10:00:00")
        rows.append(f"tiny,treatment,t{i},2025-03-03T10:00:00")
        if i < 8:
            events.append(f"t{i},2025-03-03T11:00:00,upsell_purchase,480,0,o{i}")
    (tmp_path / "x.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    (tmp_path / "e.csv").write_text("\n".join(events) + "\n", encoding="utf-8")
    store = str(tmp_path / "s.duckdb")
    assert main(["ingest", "--store", store, "--exposures", str(tmp_path / "x.csv"),
                 "--events", str(tmp_path / "e.csv")]) == 0  # fmt: skip
    content = spec("tiny", guardrails=[], analysis={"min_units_per_arm": 50})
    out = tmp_path / "r.json"
    assert main(["analyze", str(write_spec(tmp_path / "specs", content)), "--store", store,
                 "--format", "json", "--output", str(out), "--no-daily"]) == 0  # fmt: skip
    import json

    (experiment,) = json.loads(out.read_text(encoding="utf-8"))["experiments"]
    decision = experiment["decision"]
    assert decision["action"] == "keep_running"
    assert decision["additional_units_needed"] == 38
    assert "min_units_per_arm" in decision["reasons"][0]


def test_relative_interval_coverage_for_small_proportion_samples() -> None:
    """Seeded simulation, p_C = 0.3, p_T = 0.45, n = 10..200 per arm, 1,500 runs each:
    the 95 % relative interval covers the true lift (+50 %) within 4 Monte-Carlo
    standard errors of 95 % (or above: exact-style intervals may be conservative), and
    never reaches below -100 %. Runs without an interval (too few events) count as not
    covering only when a relative lift exists."""
    rng = np.random.default_rng(2024)
    truth = 0.45 / 0.3 - 1
    runs = 1500
    for n in (10, 20, 50, 100, 200):
        covered = counted = 0
        for x_c, x_t in zip(rng.binomial(n, 0.3, runs), rng.binomial(n, 0.45, runs), strict=True):
            result = proportion_test(_p(n, int(x_c)), _p(n, int(x_t)))
            ci = result.relative_ci
            if ci.low is None or ci.high is None:
                continue
            counted += 1
            assert ci.low > -1.0
            covered += ci.low <= truth <= ci.high
        rate = covered / counted
        error = math.sqrt(0.95 * 0.05 / counted)
        assert rate >= 0.95 - 4 * error, (n, rate)
        assert counted >= 0.9 * runs
