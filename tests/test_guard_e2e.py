"""Issue 9 end to end: each path that ended in a confident, wrong verdict now ends
invalid, blocked or warned, with its reason in every output format.

Data are CSV files written here, ingested with ``upsell-ab ingest`` into a real
DuckDB store and analysed with ``upsell-ab analyze`` (in-process ``main``) as
text, Markdown, JSON and HTML. Expected verdicts follow from how the rows were
made (e.g. the treatment's units were all exposed after the spec's end).
"""

from __future__ import annotations

import csv
import html
import json
import shutil
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.test_e2e_support import spec, write_spec
from upsell_ab.cli.main import main
from upsell_ab.decision.horizon import TODAY_VARIABLE

REPO = Path(__file__).resolve().parents[1]
FORMATS = ("text", "markdown", "json", "html")


def _write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _ingest(root: Path, exposures: list[list[Any]], events: list[list[Any]], *extra: str) -> Path:
    store = root / "store.duckdb"
    xp = _write_csv(
        root / "exposures.csv", ["experiment", "variant", "unit_id", "timestamp"], exposures
    )
    header = ["unit_id", "timestamp", "event_type", "revenue" if "--raw" in extra else "value",
              "discount", "order_id"]  # fmt: skip
    ev = _write_csv(root / "events.csv", header, events)
    args = [a for a in extra if a != "--raw"]
    code = main(
        ["ingest", "--store", str(store), "--exposures", str(xp), "--events", str(ev), *args]
    )
    assert code == 0
    return store


def _analyze(root: Path, spec_path: Path, store: Path) -> dict[str, str]:
    """Every format's output (HTML unescaped, so sentences compare as text)."""
    out: dict[str, str] = {}
    for fmt in FORMATS:
        target = root / f"report.{fmt}"
        code = main(
            ["analyze", str(spec_path), "--store", str(store), "--format", fmt,
             "--output", str(target), "--no-daily"]
        )  # fmt: skip
        assert code == 0
        text = target.read_text(encoding="utf-8")
        out[fmt] = html.unescape(text) if fmt == "html" else text
    return out


def _decision(reports: dict[str, str]) -> dict[str, Any]:
    (experiment,) = json.loads(reports["json"])["experiments"]
    return experiment


def _everywhere(reports: dict[str, str], phrase: str) -> None:
    for fmt, text in reports.items():
        flat = " ".join(text.split())
        assert phrase in flat, (fmt, phrase)


def _headline(reports: dict[str, str], phrase: str) -> None:
    """In the first lines of the text report and the Markdown headline (before details)."""
    text_head = " ".join(reports["text"].split("\nVariants")[0].split())
    assert phrase in text_head
    markdown_head = " ".join(reports["markdown"].split("<details>")[0].split())
    assert phrase in markdown_head
    html_head = " ".join(reports["html"].split("Variants and offers")[0].split())
    assert phrase in html_head
    assert any(phrase in w for w in _decision(reports)["decision"]["warnings"])


# ------------------------------------------------------- case 1: sparse revenue
def _laptop(root: Path, order_rates: tuple[float, float], seed: int) -> dict[str, str]:
    folder = root / "specs"
    folder.mkdir()
    shutil.copy(REPO / "experiments" / "metrics.yaml", folder / "metrics.yaml")
    spec_path = folder / "laptop_bundle.yaml"
    shutil.copy(REPO / "experiments" / "laptop_bundle.yaml", spec_path)
    rng = np.random.default_rng(seed)
    start = datetime(2026, 5, 12, 9)
    exposures, events = [], []
    for i in range(10_000):
        arm = "laptop_only" if i % 2 == 0 else "bundle"
        t = start + timedelta(minutes=i)
        exposures.append(["laptop_bundle", arm, f"c{i}", t.isoformat()])
        if rng.random() < order_rates[i % 2]:
            value = float(round(rng.lognormal(11.3, 0.4)))
            events.append(
                [f"c{i}", (t + timedelta(hours=2)).isoformat(), "order", value, 0, f"o{i}"]
            )
    store = _ingest(root, exposures, events)
    return _analyze(root, spec_path, store)


def test_sparse_revenue_is_not_capped_to_zero(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """laptop_bundle: 10,000 customers, 0.6 % vs 0.9 % order rates. The 99th percentile
    of all customers is 0 (was: mean 0 in both arms, zero_variance, 'raised ... by 0 JPY').
    Read on 2026-05-20, a week into the test (its end date 2026-06-08 ahead)."""
    monkeypatch.setenv(TODAY_VARIABLE, "2026-05-20")
    reports = _laptop(tmp_path, (0.006, 0.009), seed=11)
    experiment = _decision(reports)
    revenue = next(m for m in experiment["metrics"] if m["name"] == "revenue_per_customer")
    means = [v["mean"] for v in revenue["variants"]]
    assert all(m > 100 for m in means), means  # ~0.6 % x ~85,000 JPY
    assert revenue["comparisons"][0]["status"] != "zero_variance"
    assert "by 0 JPY" not in reports["text"]
    assert experiment["decision"]["action"] == "keep_running"
    assert experiment["decision"]["reasons"]


def test_very_sparse_revenue_warns_about_its_cap(tmp_path: Path) -> None:
    reports = _laptop(tmp_path, (0.001, 0.001), seed=5)
    _headline(reports, "cap rests on only")
    experiment = _decision(reports)
    revenue = next(m for m in experiment["metrics"] if m["name"] == "revenue_per_customer")
    assert all(v["mean"] > 0 for v in revenue["variants"])


# ----------------------------------------------- case 2: exposures outside dates
def _dated_spec(root: Path, **analysis: Any) -> Path:
    content = spec("dated", analysis=analysis)
    content.update({"start": "2026-03-01", "end": "2026-03-30"})
    return write_spec(root / "specs", content)


def _late_treatment() -> tuple[list[list[Any]], list[list[Any]]]:
    exposures, events = [], []
    for i in range(400):
        control = i % 2 == 0
        day = "2026-03-05" if control else "2026-05-05"
        exposures.append(
            ["dated", "control" if control else "treatment", f"u{i}", f"{day}T10:00:00"]
        )
        if i % 5 == 0 or (not control and i % 3 == 0):
            events.append([f"u{i}", f"{day}T11:00:00", "upsell_purchase", 480, 0, f"o{i}"])
    return exposures, events


def test_exposures_after_the_end_make_the_experiment_invalid(tmp_path: Path) -> None:
    """Control exposed 2026-03-05, every treatment unit 2026-05-05, end 2026-03-30
    (was: 'Ship treatment', SRM ok, no warning)."""
    store = _ingest(tmp_path, *_late_treatment())
    reports = _analyze(tmp_path, _dated_spec(tmp_path), store)
    experiment = _decision(reports)
    assert experiment["decision"]["action"] == "invalid"
    assert experiment["quality"]["units_exposed_outside_dates"] == 200
    _everywhere(reports, "200 units were exposed outside the experiment")
    _everywhere(reports, "2026-03-01 to 2026-03-30")


def test_arms_that_do_not_overlap_in_time_are_invalid(tmp_path: Path) -> None:
    store = _ingest(tmp_path, *_late_treatment())
    reports = _analyze(tmp_path, _dated_spec(tmp_path, outside_dates="keep"), store)
    experiment = _decision(reports)
    assert experiment["decision"]["action"] == "invalid"
    _everywhere(reports, "The arms were not exposed at the same time")
    _everywhere(reports, "control from 2026-03-05, treatment from 2026-05-05")


# ------------------------------------------- case 3: unmapped value column decides
def test_unmapped_value_column_cannot_decide_on_profit(tmp_path: Path) -> None:
    """Orders exported with a ``revenue`` column, ingested without --map: every order is
    worth 0, profit = -discount, and 'keep control' used to follow (p < 0.0001)."""
    rng = np.random.default_rng(3)
    exposures, events = [], []
    for i in range(4000):
        treatment = i % 2 == 1
        t = datetime(2025, 3, 3, 9) + timedelta(minutes=i)
        exposures.append(
            ["profit", "treatment" if treatment else "control", f"u{i}", t.isoformat()]
        )
        if rng.random() < 0.2:
            value = float(round(rng.lognormal(8, 0.5)))
            discount = round(0.1 * value) if treatment else 0
            events.append(
                [f"u{i}", (t + timedelta(hours=1)).isoformat(), "order", value, discount, f"o{i}"]
            )
    # ingest itself refuses the unmapped look-alike column (tests/test_store_cli.py); the
    # user forcing it through with --allow-default must still not get a verdict
    store = _ingest(tmp_path, exposures, events, "--raw", "--allow-default", "value")
    content = spec("profit", analysis={"decision": {"metric": "profit_per_customer"}})
    reports = _analyze(tmp_path, write_spec(tmp_path / "specs", content), store)
    experiment = _decision(reports)
    assert experiment["decision"]["action"] == "invalid"
    _everywhere(reports, "the value of its 820 order events")
    _everywhere(reports, "was very likely not mapped at ingest")
    _everywhere(reports, "--map events.value=revenue")


# --------------------------------------- case 7: quality problems in the headline
def test_events_before_exposure_are_a_headline_warning(tmp_path: Path) -> None:
    """72 % of events before exposure (a time-zone slip) used to show only 'SRM ok'."""
    exposures, events = [], []
    for i in range(1000):
        t = datetime(2025, 3, 3, 9) + timedelta(minutes=i)
        exposures.append(["tz", "control" if i % 2 == 0 else "treatment", f"u{i}", t.isoformat()])
        if i % 4 == 0:
            shift = timedelta(hours=-9) if (i // 4) % 25 < 18 else timedelta(hours=1)
            events.append([f"u{i}", (t + shift).isoformat(), "upsell_purchase", 480, 0, f"o{i}"])
    store = _ingest(tmp_path, exposures, events)
    reports = _analyze(tmp_path, write_spec(tmp_path / "specs", spec("tz")), store)
    _headline(
        reports, "72% of the metrics' events happened in the 14 hours before the unit's first"
    )


def test_orders_long_before_exposure_are_history_not_a_clock_mistake(tmp_path: Path) -> None:
    """Returning customers ordered weeks before their first offer: that is history (it
    feeds CUPED), not a time-zone slip, so no warning, even at 72 % of the events; the
    same share 9 hours early is one (the test above)."""
    exposures, events = [], []
    for i in range(1000):
        t = datetime(2025, 3, 3, 9) + timedelta(minutes=i)
        exposures.append(["tz", "control" if i % 2 == 0 else "treatment", f"u{i}", t.isoformat()])
        if i % 4 == 0:
            shift = timedelta(days=-20) if (i // 4) % 25 < 18 else timedelta(hours=1)
            events.append([f"u{i}", (t + shift).isoformat(), "upsell_purchase", 480, 0, f"o{i}"])
    store = _ingest(tmp_path, exposures, events)
    reports = _analyze(tmp_path, write_spec(tmp_path / "specs", spec("tz")), store)
    assert "time-zone" not in reports["text"]
    assert "time-zone" not in reports["markdown"]


def test_no_difference_reads_as_no_difference_and_zero_baseline_has_a_reason(
    tmp_path: Path,
) -> None:
    """Nobody converted in control, one conversion in treatment... and an exact tie:
    'raised the take rate by 0.0 pp' and a reasonless 'keep running' are gone."""
    exposures = [
        [
            "zero",
            "control" if i % 2 == 0 else "treatment",
            f"u{i}",
            f"2025-03-03T{10 + i % 8:02d}:00:00",
        ]
        for i in range(200)
    ]
    store = _ingest(tmp_path, exposures, [])
    content = spec("zero", secondary=["revenue_per_customer"])
    reports = _analyze(tmp_path, write_spec(tmp_path / "specs", content), store)
    experiment = _decision(reports)
    assert experiment["decision"]["action"] == "keep_running"
    assert "by 0.0 pp" not in reports["text"]
    reasons = " ".join(experiment["decision"]["reasons"])
    assert "is 0 so far" in reasons and "mde_kind: absolute" in reasons
