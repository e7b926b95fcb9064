"""A high-cardinality segment attribute: the human-facing reports show the largest values
of each breakdown and say how many they left out; JSON keeps every value.

The data: 30 values of ``zip`` with distinct sizes (value ``zK`` has 20 + 15K customers),
so the 20 largest are known from the frame itself, not from our code.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from upsell_ab.cli.main import main
from upsell_ab.events.store import EventStore
from upsell_ab.report.segment import SHOWN_PER_BREAKDOWN

VALUES = 30

SPEC = """\
id: seg_exp
name: Segments
status: running
start: 2025-01-06
end: 2025-02-06
variants:
  - {id: control, weight: 0.5, control: true}
  - {id: pairing, weight: 0.5}
metrics:
  primary: conversion
analysis:
  segments: [zip]
data:
  kind: embedded
  store: s.duckdb
  exposure_columns: {attributes: [zip]}
"""


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.Series]:
    root = tmp_path_factory.mktemp("segments")
    rng = np.random.default_rng(5)
    zips = [f"z{k}" for k in range(VALUES) for _ in range(20 + 15 * k)]
    n = len(zips)
    start = pd.Timestamp("2025-01-07")
    exposures = pd.DataFrame(
        {
            "experiment": "seg_exp",
            "variant": np.where(np.arange(n) % 2 == 0, "control", "pairing"),
            "unit_id": [f"c{i}" for i in range(n)],
            "timestamp": [start + pd.Timedelta(minutes=i % 5000) for i in range(n)],
            "zip": zips,
        }
    )
    buyers = exposures[rng.random(n) < 0.2]
    events = pd.DataFrame(
        {
            "unit_id": buyers["unit_id"],
            "timestamp": buyers["timestamp"] + pd.Timedelta(hours=2),
            "event_type": "order",
            "value": 30.0,
            "event_id": [f"o{i}" for i in range(len(buyers))],
        }
    )
    with EventStore(root / "s.duckdb") as store:
        store.ingest_exposures(exposures)
        store.ingest_events(events)
    (root / "metrics.yaml").write_text("metrics:\n  conversion: {type: proportion, event: order}\n")
    (root / "seg_exp.yaml").write_text(SPEC)
    return root, exposures["zip"].value_counts()


def _run(root: Path, capsys: pytest.CaptureFixture[str], fmt: str) -> str:
    spec = str(root / "seg_exp.yaml")
    store = str(root / "s.duckdb")
    assert main(["analyze", spec, "--store", store, "--segments", "--format", fmt]) in (0, 3)
    return capsys.readouterr().out


@pytest.mark.parametrize("fmt", ["text", "markdown", "html"])
def test_the_largest_values_are_shown_and_the_rest_counted(
    folder: tuple[Path, pd.Series], capsys: pytest.CaptureFixture[str], fmt: str
) -> None:
    root, sizes = folder
    out = _run(root, capsys, fmt)
    shown = set(re.findall(r"zip = (z\d+)", out))
    largest = set(sizes.sort_values(ascending=False).index[:SHOWN_PER_BREAKDOWN])
    assert shown == largest
    left_out = VALUES - SHOWN_PER_BREAKDOWN
    biggest_left = int(sizes.sort_values(ascending=False).iloc[SHOWN_PER_BREAKDOWN])
    words = " ".join(out.split())  # the terminal folds long lines
    assert f"conversion, zip: {left_out} more of its {VALUES} values not shown" in words
    assert f"{biggest_left} units or fewer each" in words


def test_json_keeps_every_value(
    folder: tuple[Path, pd.Series], capsys: pytest.CaptureFixture[str]
) -> None:
    root, sizes = folder
    report = json.loads(_run(root, capsys, "json"))
    segments = report.get("segments") or report["experiments"][0]["segments"]
    assert {s["value"] for s in segments} == set(sizes.index)
    units = {s["value"]: sum(v["n"] for v in s["variants"]) for s in segments}
    assert units == {str(k): int(v) for k, v in sizes.items()}
