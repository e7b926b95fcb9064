"""Summary CSVs as spreadsheets keep them (issue 9, case 8): ``analyze --summary --map``.

A daily tally ``date,variant,shown,took`` is mapped onto the summary columns; the
result must equal statsmodels' two-proportion z-test on the summed counts, and every
message must speak of the CSV's own column names and rows.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CAKE = REPO / "experiments" / "cake_wording.yaml"
LAPTOP = REPO / "experiments" / "laptop_bundle.yaml"
DAILY = (
    "date,variant,shown,took\n"
    "2026-03-01,generic,400,36\n2026-03-01,pairing,410,52\n"
    "2026-03-02,generic,380,30\n2026-03-02,pairing,390,49\n"
)


def _analyze(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "upsell_ab.cli.main", "analyze", *args],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_a_mapped_daily_spreadsheet_equals_statsmodels_on_the_summed_counts(
    tmp_path: Path,
) -> None:
    from statsmodels.stats.proportion import proportions_ztest

    csv = tmp_path / "daily.csv"
    csv.write_text(DAILY, encoding="utf-8")
    done = _analyze(str(CAKE), "--summary", str(csv), "--map", "n=shown", "--map", "sum=took",
                    "--format", "json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)["experiments"][0]
    take = next(m for m in report["metrics"] if m["name"] == "upsell_take_rate")
    assert {v["variant"]: v["n"] for v in take["variants"]} == {"generic": 780, "pairing": 800}
    (comparison,) = take["comparisons"]
    _, p_value = proportions_ztest([52 + 49, 36 + 30], [800, 780])
    assert comparison["p_value"] == pytest.approx(p_value, rel=1e-9)
    assert any("no metric column: every row was read as upsell_take_rate" in note
               for note in report["notes"])  # fmt: skip


def test_unmapped_spreadsheet_columns_name_the_csv_columns_and_the_flag(tmp_path: Path) -> None:
    csv = tmp_path / "daily.csv"
    csv.write_text(DAILY, encoding="utf-8")
    done = _analyze(str(CAKE), "--summary", str(csv))
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "row 1, shown: unknown column 'shown'" in done.stderr
    assert "--map" in done.stderr and "unknown column 'date'" not in done.stderr  # allowed


def test_map_mistakes_are_located(tmp_path: Path) -> None:
    csv = tmp_path / "daily.csv"
    csv.write_text(DAILY, encoding="utf-8")
    typo = _analyze(str(CAKE), "--summary", str(csv), "--map", "n=show", "--map", "sum=took")
    assert typo.returncode == 1
    assert "--map n=show: the CSV has no column 'show' (did you mean 'shown'?)" in typo.stderr
    key = _analyze(str(CAKE), "--summary", str(csv), "--map", "count=shown", "--map", "sum=took")
    assert key.returncode == 1 and "'count' is not a summary column" in key.stderr
    alone = _analyze(str(CAKE), "--map", "n=shown")
    assert alone.returncode == 1 and "--summary" in alone.stderr
    assert len(alone.stderr.strip().splitlines()) == 1
    bad = csv.read_text().replace("380,30", "380,abc")
    csv.write_text(bad, encoding="utf-8")
    cell = _analyze(str(CAKE), "--summary", str(csv), "--map", "n=shown", "--map", "sum=took")
    assert cell.returncode == 1
    assert "row 4, took: 'abc' is not a number" in cell.stderr  # the CSV's line and name


def test_revenue_without_sum_squares_says_why_and_how(tmp_path: Path) -> None:
    csv = tmp_path / "revenue.csv"
    csv.write_text(
        "variant,metric,n,sum\nlaptop_only,revenue_per_customer,100,500000\n"
        "bundle,revenue_per_customer,100,600000\n",
        encoding="utf-8",
    )
    done = _analyze(str(LAPTOP), "--summary", str(csv))
    assert done.returncode == 1
    assert "row 2, sum_squares: 'sum_squares' is required here" in done.stderr
    assert "SUMSQ" in done.stderr and "variant,metric,value" in done.stderr


def test_an_impossible_sum_of_squares_is_explained(tmp_path: Path) -> None:
    csv = tmp_path / "revenue.csv"
    # sum_squares 2,500,000 < sum^2 / n = 500,000^2 / 100: a variance, not a sum of squares
    csv.write_text(
        "variant,metric,n,sum,sum_squares\n"
        "laptop_only,revenue_per_customer,100,500000,2500000\n"
        "bundle,revenue_per_customer,100,600000,4000000000\n",
        encoding="utf-8",
    )
    done = _analyze(str(LAPTOP), "--summary", str(csv))
    assert done.returncode == 1
    assert "row 2, sum_squares" in done.stderr and "variance would be negative" in done.stderr
    assert "not the square of the sum" in done.stderr and "row 3" not in done.stderr
