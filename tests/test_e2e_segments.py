"""``upsell-ab analyze --segments`` end to end: simulate, aggregate in DuckDB, JSON out.

Oracles: a direct DuckDB count of distinct exposed units per (channel, variant)
in the same store, and the overall result (segments are extra, never a change)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.test_e2e_support import REPO, load, simulate_into
from upsell_ab.cli.main import main


def same(left: Any, right: Any) -> bool:
    """Equal up to floating-point summation order (the store sums in another order
    when it also groups by segment)."""
    if isinstance(left, dict):
        return left.keys() == right.keys() and all(same(left[k], right[k]) for k in left)
    if isinstance(left, list):
        return len(left) == len(right) and all(same(a, b) for a, b in zip(left, right, strict=True))
    if isinstance(left, float) and isinstance(right, float):
        return left == pytest.approx(right, rel=1e-9, abs=1e-12)
    return bool(left == right)


def test_analyze_with_segments_breaks_the_primary_metric_down_by_channel(tmp_path: Path) -> None:
    import duckdb

    for name in ("cake_wording.yaml", "metrics.yaml"):
        shutil.copy(REPO / "experiments" / name, tmp_path / name)
    spec = tmp_path / "cake_wording.yaml"
    store = tmp_path / "store.duckdb"
    simulate_into(store, [load(spec)], units=8000, seed=11)
    out_with, out_without = tmp_path / "with.json", tmp_path / "without.json"
    common = ["analyze", str(spec), "--store", str(store), "--format", "json"]
    assert main([*common, "--segments", "--output", str(out_with)]) == 0
    assert main([*common, "--output", str(out_without)]) == 0
    with_segments = json.loads(out_with.read_text(encoding="utf-8"))["experiments"][0]
    without = json.loads(out_without.read_text(encoding="utf-8"))["experiments"][0]
    assert without["segments"] is None
    assert same(with_segments["metrics"], without["metrics"])
    assert with_segments["decision"] == without["decision"]

    with duckdb.connect(str(store), read_only=True) as con:
        rows = con.execute(
            "SELECT channel, variant, count(DISTINCT unit_id) FROM exposures "
            "WHERE experiment = 'cake_wording' GROUP BY ALL"
        ).fetchall()
    expected = {(channel, variant): n for channel, variant, n in rows}
    segments = with_segments["segments"]
    assert {s["metric"] for s in segments} == {"upsell_take_rate"}
    assert {s["value"] for s in segments} == {channel for channel, _ in expected}
    for segment in segments:
        assert segment["attribute"] == "channel"
        for v in segment["variants"]:
            assert v["n"] == expected[segment["value"], v["variant"]]
        (comparison,) = segment["comparisons"]
        assert comparison["variant"] == "pairing" and comparison["p_value_adjusted"] is not None
        assert comparison["prob_beat_baseline"] is not None
