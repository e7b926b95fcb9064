"""Same data -> byte-identical JSON and Markdown, so a CI diff of two reports shows
only real changes. Two separate processes (different hash seeds) run ``report``
on the same DuckDB store, with the per-day series (the most sums). The
rounding helper is checked against Python's own 12-significant-digit format."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.ci_support import Workspace, demo_workspace, failing_workspace
from upsell_ab.report.json_format import round_floats


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    return demo_workspace(tmp_path_factory)


def _run(ws: Workspace, fmt: str, out: Path, seed: str) -> bytes:
    env = {**os.environ, "PYTHONHASHSEED": seed}
    subprocess.run(
        [sys.executable, "-m", "upsell_ab.cli.main", "report", str(ws.specs), "--store",
         str(ws.store), "--format", fmt, "--output", str(out)],
        env=env, check=False, capture_output=True, timeout=300,
    )  # fmt: skip
    return out.read_bytes()


@pytest.mark.parametrize("fmt", ["json", "markdown"])
def test_two_report_runs_are_byte_identical(demo: Workspace, tmp_path: Path, fmt: str) -> None:
    first = _run(demo, fmt, tmp_path / "a", "1")
    second = _run(demo, fmt, tmp_path / "b", "2")
    assert len(first) > 1000
    assert first == second


def test_failing_store_json_is_byte_identical_too(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    ws = failing_workspace(tmp_path_factory)
    first = _run(ws, "json", tmp_path / "a", "3")
    second = _run(ws, "json", tmp_path / "b", "4")
    assert json.loads(first)["errors"], "the broken spec is listed"
    assert first == second


def test_round_floats_keeps_12_significant_digits_everywhere() -> None:
    value = {"a": 12.708929118255867, "b": [0.0038393409432282005, 1, True, None, "x"]}
    rounded = round_floats(value)
    assert rounded == {"a": 12.7089291183, "b": [0.00383934094323, 1, True, None, "x"]}
    assert round_floats(12.708929118255881) == round_floats(12.708929118255867)
    assert isinstance(rounded["b"][1], int) and rounded["b"][2] is True
    assert round_floats(-0.0) == 0.0 and round_floats(1e-300) == 1e-300
