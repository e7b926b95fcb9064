"""The analysis of a bandit experiment whose weights changed (issue 14): period-weighted
estimates and SRM against each period's weights, through the real store and ``analyze``.

Three identical wordings. Period 1 (spec weights 1/3 each): 300 units per arm, 30 take
the add-on (10 %). The bandit then records 10/10/80 %, and period 2, a busy week in
which every wording sells at 30 %, brings 100/100/800 units (30/30/240 take it).
Closed forms: pooling gives 15 %, 15 % and 24.5 % (a large "win" for the third wording
that is only Simpson's paradox, and an SRM against the spec's equal weights); the
period-weighted estimate of every arm is w_1 x 10 % + w_2 x 30 % with w_t = N_t / N =
900/1900 and 1000/1900, the same for all arms, so every lift is exactly 0; and the units
match the periods' weights exactly, so the SRM over periods sees nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

import upsell_ab
from upsell_ab.allocation.history import AllocationRecord, record_update
from upsell_ab.events.store import EventStore
from upsell_ab.events.store_open import open_store

REPO = Path(__file__).resolve().parents[1]
SPEC = REPO / "experiments" / "cookie_wording_bandit.yaml"
ARMS = ("generic", "pairing", "pairing_deal")


def _period(start: datetime, counts: dict[str, tuple[int, int]], tag: str) -> tuple[list, list]:
    exposures, events = [], []
    for arm, (units, takers) in counts.items():
        for i in range(units):
            unit = f"{tag}-{arm}-{i}"
            t = start + timedelta(minutes=i)
            exposures.append(("cookie_wording_bandit", arm, unit, t))
            if i < takers:
                events.append((unit, t + timedelta(minutes=5), "upsell_purchase", 150.0))
    return exposures, events


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("adaptive") / "s.duckdb"
    x1, e1 = _period(datetime(2026, 4, 7, 9), {a: (300, 30) for a in ARMS}, "p1")
    x2, e2 = _period(
        datetime(2026, 4, 11, 9),
        {"generic": (100, 30), "pairing": (100, 30), "pairing_deal": (800, 240)},
        "p2",
    )
    exposures = pd.DataFrame(x1 + x2, columns=["experiment", "variant", "unit_id", "timestamp"])
    events = pd.DataFrame(e1 + e2, columns=["unit_id", "timestamp", "event_type", "value"])
    events["event_id"] = [f"e{i}" for i in range(len(events))]
    with EventStore(path) as s:
        s.ingest_exposures(exposures)
        s.ingest_events(events.assign(discount=0.0, quantity=1.0))
    connection = open_store(path, read_only=False)
    try:
        record = AllocationRecord(
            "cookie_wording_bandit",
            datetime(2026, 4, 10, tzinfo=UTC),
            {"generic": 0.1, "pairing": 0.1, "pairing_deal": 0.8},
        )
        assert record_update(connection, record)
    finally:
        connection.close()
    return path


def test_period_weighting_removes_simpsons_paradox(store: Path) -> None:
    bandit = upsell_ab.load(SPEC)
    result = bandit.analyze(str(store))
    take = result.metric("upsell_take_rate")
    expected = (900 * 0.10 + 1000 * 0.30) / 1900
    for variant in take.variants:
        assert variant.mean == pytest.approx(expected, rel=1e-12)
    for comparison in result.comparisons("upsell_take_rate"):
        assert comparison.absolute_lift == pytest.approx(0.0, abs=1e-12)
    analysis = result.to_dict()["experiments"][0]
    assert not analysis["quality"]["srm_flagged"]
    assert analysis["quality"]["srm_p_value"] == pytest.approx(1.0)
    notes = " ".join(analysis["notes"])
    assert "allocation was adaptive (2 allocation periods)" in notes
    assert "pairing_deal 80%" in notes and "pairing_deal 33%" in notes
    assert result.decision.action != "ship"


def test_pooling_the_same_units_is_what_the_fixed_analysis_would_say(store: Path) -> None:
    """The contrast: the same store analysed as a fixed split pools the periods."""
    fixed = upsell_ab.load(SPEC)
    spec = fixed.to_dict()
    spec["allocation"] = {"kind": "fixed"}
    pooled = upsell_ab.define(spec, catalogue=REPO / "experiments" / "metrics.yaml")
    result = pooled.analyze(str(store))
    means = {v.variant: v.mean for v in result.metric("upsell_take_rate").variants}
    assert means == pytest.approx({"generic": 0.15, "pairing": 0.15, "pairing_deal": 270 / 1100})
    assert result.to_dict()["experiments"][0]["quality"]["srm_flagged"]


def test_gain_against_an_equal_split_closed_form() -> None:
    import numpy as np

    from upsell_ab.metrics.sufficient import SampleStats
    from upsell_ab.stats.adaptive import equal_split_gain

    a = np.array([1.0] * 10 + [0.0] * 90)
    b = np.array([1.0] * 60 + [0.0] * 240)
    stats = {
        "a": SampleStats(len(a), float(a.sum()), float((a**2).sum())),
        "b": SampleStats(len(b), float(b.sum()), float((b**2).sum())),
    }
    gain, se = equal_split_gain({"a": 100, "b": 300}, stats, ["a", "b"]) or (0.0, 0.0)
    # 100 units moved from a (10 %) to b (20 %): 10 more conversions
    assert gain == pytest.approx(-100 * 0.1 + 100 * 0.2, rel=1e-12)
    expected_se = np.sqrt(100**2 * a.var(ddof=1) / 100 + 100**2 * b.var(ddof=1) / 300)
    assert se == pytest.approx(expected_se, rel=1e-12)


def test_the_report_states_the_gain(store: Path) -> None:
    result = upsell_ab.load(SPEC).analyze(str(store))
    notes = " ".join(result.to_dict()["experiments"][0]["notes"])
    phrase = "estimated gain on upsell_take_rate against an equal split of the same 1,900 units"
    assert phrase in notes
    # and in every other format (text may wrap: compare with whitespace collapsed)
    for rendered in (result.to_markdown(), result.to_text(), result.to_html()):
        # (Markdown escapes the metric's underscores, so the check starts after it)
        assert phrase.split("upsell_take_rate ")[1] in " ".join(rendered.split())


def test_the_report_shows_the_weights_over_time_in_every_format(store: Path) -> None:
    """The recorded weights and the units first exposed per period (counted from the
    fixture's rows: 300 per arm, then 100/100/800) in JSON, Markdown, text and HTML
    (an SVG bar per period, one segment per arm, the weight as its tooltip)."""
    result = upsell_ab.load(SPEC).analyze(str(store))
    (experiment,) = result.to_dict()["experiments"]
    allocation = experiment["allocation"]
    assert [p["start"] for p in allocation] == [None, "2026-04-10T00:00:00"]
    assert allocation[1]["weights"] == {"generic": 0.1, "pairing": 0.1, "pairing_deal": 0.8}
    assert [p["units"] for p in allocation] == [
        {"generic": 300, "pairing": 300, "pairing_deal": 300},
        {"generic": 100, "pairing": 100, "pairing_deal": 800},
    ]
    markdown = result.to_markdown()
    assert "**Allocation by period**" in markdown
    assert "| 2026-04-10 00:00 | 10% (100) | 10% (100) | 80% (800) | 1,000 |" in markdown
    text = result.to_text()
    assert "Allocation by period" in text and "80% (800)" in text
    html = result.to_html()
    assert "Allocation weights by period (adaptive)" in html
    svg = html[html.index("Allocation weights by period") :]
    svg = svg[: svg.index("</svg>")]
    assert svg.count("<rect") == 2 * 3 + 3  # two periods x three arms, plus the legend
    assert "<title>Pairing line with 30 yen off (pairing_deal): 80.0%</title>" in svg
    assert "<title>Generic question (generic): 33.3%</title>" in svg


def test_a_fixed_split_has_no_allocation_section() -> None:
    result = upsell_ab.load(REPO / "experiments" / "cake_wording.yaml").analyze(
        [
            {"variant": "generic", "metric": "upsell_take_rate", "n": 2000, "sum": 180},
            {"variant": "pairing", "metric": "upsell_take_rate", "n": 2000, "sum": 250},
        ]
    )
    assert result.to_dict()["experiments"][0]["allocation"] is None
    assert "Allocation by period" not in result.to_markdown() + result.to_html()
