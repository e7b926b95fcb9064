"""Exposures and events that name their units differently: no verdict made of zeros.

A careless set-up: the app logs exposures under the customer number (``8``) and the shop
exports orders under its own key (``C000008``). Not one event then belongs to an exposed
unit, every metric reads 0 in every arm, and the analysis said "same take rate (no
difference)" with only an orphan warning. Now, when the id kinds differ, the experiment
is invalid (a CI gate fails) and the message shows ids from both sides; when the kinds
agree (perhaps early days) the warning stands, with the ids shown. Ids of two types
(numbers against text) failed with DuckDB's conversion error; now said in those words.
The expected ids below are the smallest of each side, by construction of the frames.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from metrics_support import (
    EVENT_COLUMNS,
    exposures_frame,
    load_duckdb,
    load_postgres,
    resolved,
)

import upsell_ab
from upsell_ab.decision.unit_ids import id_kind, kinds_differ
from upsell_ab.metrics.aggregates import UnitIdSamples
from upsell_ab.metrics.compute import compute_experiment_data
from upsell_ab.spec.models import MetricDefinition, MetricType

REPO = Path(__file__).resolve().parents[1]
CAKE = REPO / "experiments" / "cake_wording.yaml"


def _stopped_cake() -> upsell_ab.Experiment:
    spec = yaml.safe_load(CAKE.read_text(encoding="utf-8"))
    spec["status"] = "stopped"
    return upsell_ab.define(spec, catalogue=REPO / "experiments" / "metrics.yaml")


def _frames(unit_ids: list[Any], event_ids: list[Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Exposures of ``unit_ids`` (two arms, in-store), one upsell purchase per id of
    ``event_ids``; equal-sized arms, purchases 10 minutes after the exposures."""
    n = len(unit_ids)
    seen = pd.Timestamp("2026-03-05 09:00") + pd.to_timedelta(np.arange(n) % 600, unit="min")
    exposures = pd.DataFrame(
        {
            "experiment": "cake_wording",
            "variant": ["generic", "pairing"] * (n // 2),
            "unit_id": unit_ids,
            "timestamp": seen,
            "channel": "in_store",
        }
    )
    events = pd.DataFrame(
        {
            "unit_id": event_ids,
            "timestamp": seen[: len(event_ids)] + pd.Timedelta(minutes=10),
            "event_type": "upsell_purchase",
            "value": 520.0,
        }
    )
    return exposures, events


@pytest.mark.parametrize(
    ("unit_id", "kind"),
    [
        ("8", "number"),
        ("000123", "number"),
        ("C000008", "prefix:c"),
        ("cust_12", "prefix:cust_"),
        ("Alice@example.com", "email"),
        ("550e8400-e29b-41d4-a716-446655440000", "uuid"),
        ("guest", "word"),
    ],
)
def test_id_kinds(unit_id: str, kind: str) -> None:
    assert id_kind(unit_id) == kind


def test_kinds_differ_only_when_no_kind_is_shared() -> None:
    assert kinds_differ(UnitIdSamples(("1", "2"), ("C1", "C2")))
    assert not kinds_differ(UnitIdSamples(("1", "C2"), ("C1", "C3")))
    assert not kinds_differ(UnitIdSamples(("1", "2"), ()))  # nothing to compare
    # two samples of one uuid scheme share a kind whatever their letters and digits
    assert not kinds_differ(
        UnitIdSamples(
            ("0b9e5c3a-1f2d-4e6a-9c7b-2d3e4f5a6b7c",), ("f47ac10b-58cc-4372-a567-0e02b2c3d479",)
        )
    )


def test_ids_of_another_kind_make_the_experiment_invalid() -> None:
    exposures, events = _frames([str(i) for i in range(400)], [f"C{i:06d}" for i in range(60)])
    result = _stopped_cake().analyze(exposures=exposures, events=events, daily=False)
    assert result.decision.action == "invalid", result.decision.reasons
    (reason,) = [r for r in result.decision.reasons if "not the same kind" in r]
    assert "Not one of the 60 events" in reason
    # the smallest ids of each side, as text ('10' sorts before '100' and '2')
    assert "units like '0', '1', '10'; the events like 'C000000', 'C000001', 'C000002'" in reason


def test_ids_of_the_same_kind_only_warn_with_the_ids_shown() -> None:
    """Numbers on both sides but none shared (early days, or another numbering): the
    warning names the ids; the verdict is not blocked by this gate."""
    exposures, events = _frames([str(i) for i in range(400)], [str(i) for i in range(5000, 5060)])
    result = _stopped_cake().analyze(exposures=exposures, events=events, daily=False)
    assert result.decision.action != "invalid", result.decision.reasons
    (warning,) = [w for w in result.decision.warnings if "same unit id" in w]
    assert "units like '0', '1', '10'; the events like '5000', '5001', '5002'" in warning


def test_matching_ids_run_no_sample_query() -> None:
    exposures, events = _frames([f"c{i}" for i in range(400)], [f"c{i}" for i in range(60)])
    con = duckdb_with(exposures, events)
    data = compute_experiment_data(_take_spec(), connection=con)
    assert data.quality.orphan_events == 0 and data.unit_id_samples is None


def test_numbers_against_text_ids_are_said_plainly() -> None:
    exposures, events = _frames(list(range(400)), [f"C{i:06d}" for i in range(60)])
    with pytest.raises(upsell_ab.StoreError) as caught:
        _stopped_cake().analyze(exposures=exposures, events=events, daily=False)
    message = str(caught.value)
    assert "unit ids are of different types" in message
    assert "'C000000'" in message and "astype(str)" in message
    assert "Conversion Error" not in message


def test_the_cli_gate_fails_on_files_with_ids_of_another_kind(tmp_path: Path) -> None:
    """Text ids on both sides (a CSV column of digits would be read as numbers, the case
    above), of two schemes: ``u12`` from the app, ``C000012`` from the shop."""
    exposures, events = _frames([f"u{i}" for i in range(400)], [f"C{i:06d}" for i in range(60)])
    exposures.to_csv(tmp_path / "exposures.csv", index=False)
    _canonical_events(events).to_csv(tmp_path / "events.csv", index=False)
    spec = yaml.safe_load(CAKE.read_text(encoding="utf-8"))
    spec["status"] = "stopped"
    spec["data"] = {
        "kind": "files",
        "exposures": {"path": "exposures.csv"},
        "events": {"path": "events.csv"},
    }
    (tmp_path / "cake.yaml").write_text(yaml.safe_dump(spec, allow_unicode=True), "utf-8")
    (tmp_path / "metrics.yaml").write_text(
        (REPO / "experiments" / "metrics.yaml").read_text("utf-8"), "utf-8"
    )
    command = ["analyze", "cake.yaml", "--fail-on", "quality"]
    run = subprocess.run(
        [sys.executable, "-m", "upsell_ab.cli.main", *command],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode != 0, run.stdout
    assert "not the same kind" in run.stdout + run.stderr
    assert "'u0', 'u1', 'u10'" in run.stdout + run.stderr


TAKE = MetricDefinition(type=MetricType.proportion, event="upsell_purchase")


def _take_spec() -> Any:
    return resolved({"take": TAKE}, variants=("generic", "pairing"), experiment_id="cake_wording")


def duckdb_with(exposures: pd.DataFrame, events: pd.DataFrame) -> Any:
    import duckdb

    con = duckdb.connect()
    load_duckdb(con, _canonical_exposures(exposures), _canonical_events(events))
    return con


def _canonical_exposures(exposures: pd.DataFrame) -> pd.DataFrame:
    rows = [
        (e, v, u, t.isoformat(sep=" "))
        for e, v, u, t in exposures[["experiment", "variant", "unit_id", "timestamp"]].itertuples(
            index=False
        )
    ]
    return exposures_frame(rows)


def _canonical_events(events: pd.DataFrame) -> pd.DataFrame:
    frame = events.assign(discount=0.0, quantity=1.0, order_id=None)
    frame["event_id"] = [f"o{i}" for i in range(len(frame))]
    return frame[EVENT_COLUMNS]


@pytest.mark.postgres
def test_the_samples_come_from_postgresql_too(postgres_dsn: str) -> None:
    import psycopg

    exposures, events = _frames([str(i) for i in range(40)], [f"C{i:06d}" for i in range(12)])
    load_postgres(postgres_dsn, _canonical_exposures(exposures), _canonical_events(events))
    with psycopg.connect(postgres_dsn) as conn:
        data = compute_experiment_data(_take_spec(), connection=conn)
    assert data.unit_id_samples == UnitIdSamples(
        exposures=("0", "1", "10", "11", "12"),
        events=("C000000", "C000001", "C000002", "C000003", "C000004"),
    )
