"""The examples run as a user runs them: the two scripts in a fresh process, the
notebook executed by a real Jupyter kernel (nbclient + ipykernel).

Oracles: the stated truths of their data (the pairing wording lifts the take
rate, so it ships), statsmodels' two-proportion z-test on the tallies' totals,
and the notebook's inline report being the HTML report of the result.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pandas as pd
import pytest
import yaml

import upsell_ab

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def _run(script: str, *args: str, cwd: Path) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}
    out = subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def _module(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_parquet_export_example_ships_the_stated_winner(tmp_path: Path) -> None:
    out = _run("events_export_parquet.py", str(tmp_path / "export"), cwd=tmp_path)
    assert "decision: ship pairing" in out
    assert (tmp_path / "export" / "report.html").stat().st_size > 10_000
    # independent count: share of customers with an order, per arm, from the files
    exposures = pd.read_parquet(tmp_path / "export" / "exposures.parquet")
    orders = pd.read_parquet(tmp_path / "export" / "orders.parquet")
    took = exposures["customer"].isin(orders["customer"])
    rates = took.groupby(exposures["arm"]).mean()
    assert rates["pairing"] == pytest.approx(0.13, abs=0.015)  # the stated truth, 3 SE
    assert rates["generic"] == pytest.approx(0.10, abs=0.015)


def test_the_daily_tallies_example_matches_statsmodels(tmp_path: Path) -> None:
    from statsmodels.stats.proportion import proportions_ztest

    out = _run("daily_tallies.py", str(EXAMPLES / "data" / "daily_tallies.csv"), str(tmp_path),
               cwd=tmp_path)  # fmt: skip
    assert "decision: ship pairing" in out
    tallies = pd.read_csv(EXAMPLES / "data" / "daily_tallies.csv")
    totals = tallies.groupby("variant")[["offered", "took"]].sum()
    z, p = proportions_ztest(
        [totals.loc["pairing", "took"], totals.loc["plain", "took"]],
        [totals.loc["pairing", "offered"], totals.loc["plain", "offered"]],
    )
    example = _module("daily_tallies")
    summary = example.summary_from_tallies(tallies)
    spec = yaml.safe_load((tmp_path / "dessert_wording.yaml").read_text(encoding="utf-8"))
    experiment = upsell_ab.define(spec, catalogue=example.CATALOGUE)
    (comparison,) = experiment.analyze(summary).comparisons()
    assert comparison.statistic == pytest.approx(z, rel=1e-9)
    assert comparison.p_value == pytest.approx(p, rel=1e-9)
    assert (tmp_path / "dessert_wording.md").read_text(encoding="utf-8").startswith("#")


def test_the_notebook_runs_and_shows_the_report_inline(monkeypatch: pytest.MonkeyPatch) -> None:
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(EXAMPLES / "analysis.ipynb", as_version=4)
    if "PYTHONPATH" not in os.environ:  # the kernel must import this checkout
        monkeypatch.setenv("PYTHONPATH", str(ROOT))
    client = NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}
    )
    client.execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    html = [o["data"]["text/html"] for o in outputs if "text/html" in o.get("data", {})]
    report = next(h for h in html if 'class="upsell-ab"' in h)
    assert "Ship pairing" in report and "<svg" in report
    assert any("image/png" in o.get("data", {}) for o in outputs), "the plots were not shown"
