"""``validate`` checks a ``files`` source's column mapping against the real files (issue 9).

Oracle: the analysis itself. A spec ``validate`` passes must analyse without a
column error, and each mapping ``validate`` refuses is one the analysis cannot
run (DuckDB's binder error), checked on the same files.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "upsell_ab.cli.main"]


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, cwd=cwd, timeout=120, check=False
    )


def _spec(folder: Path, data: str, segments: str = "[]") -> Path:
    shutil.copy(REPO / "experiments" / "metrics.yaml", folder / "metrics.yaml")
    text = (REPO / "experiments" / "cake_wording.yaml").read_text(encoding="utf-8")
    text = re.sub(r"data:\n(  .*\n)+", data, text)
    text = re.sub(r"  segments: \[.*\]\n", f"  segments: {segments}\n", text)
    path = folder / "files.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _exports(folder: Path, *, parquet: bool = False, text_times: bool = False) -> None:
    units = [f"u{i}" for i in range(300)]
    when = "2026-03-05 10:00:00" if text_times or not parquet else pd.Timestamp("2026-03-05 10:00")
    exposures = pd.DataFrame(
        {
            "experiment": "cake_wording",
            "variant": ["generic", "pairing"] * 150,
            "unit_id": units,
            "timestamp": when,
            "channel": ["app", "web", "store"] * 100,
        }
    )
    events = pd.DataFrame(
        {
            "unit_id": units[::3],
            "timestamp": when,
            "event_type": "upsell_purchase",
            "revenue": 500.0,
        }
    )
    if parquet:
        exposures.to_parquet(folder / "exp.parquet")
        events.to_parquet(folder / "ev.parquet")
    else:
        exposures.to_csv(folder / "exp.csv", index=False)
        events.to_csv(folder / "ev.csv", index=False)


FILES = "data:\n  kind: files\n  exposures: {{path: exp.{ext}}}\n  events: {{path: ev.{ext}}}\n"


def _problems(done: subprocess.CompletedProcess[str]) -> dict[str, dict[str, object]]:
    return {p["field"]: p for p in json.loads(done.stdout)["problems"]}


@pytest.mark.parametrize("ext", ["csv", "parquet"])
def test_an_unmapped_revenue_column_is_located_with_did_you_mean(tmp_path: Path, ext: str) -> None:
    _exports(tmp_path, parquet=ext == "parquet")
    spec = _spec(tmp_path, FILES.format(ext=ext))
    done = _run("validate", "--format", "json", spec.name, cwd=tmp_path)
    assert done.returncode == 1
    problems = _problems(done)
    value = problems["data.event_columns.value"]
    assert value["code"] == "unknown_column" and value["file"] == "files.yaml"
    assert "has no column 'value'" in str(value["message"])
    assert "did you mean 'revenue'? map it: value: revenue" in str(value["hint"])
    data_line = spec.read_text().splitlines().index("data:") + 1
    assert value["line"] in (data_line, data_line + 1)  # the data mapping (the key is absent)
    # optional columns left at their default names are read as absent (as the API does)
    for optional in ("discount", "quantity", "event_id", "order_id"):
        assert f"data.event_columns.{optional}" not in problems
    # the oracle: the analysis cannot run this spec either, and says so in validate's words
    # (it used to pass on DuckDB's "Referenced column ... not found")
    analysed = _run("analyze", spec.name, cwd=tmp_path)
    assert analysed.returncode == 1 and "Binder Error" not in analysed.stderr
    assert "data.event_columns.value: the events file" in analysed.stderr, analysed.stderr
    assert "has no column 'value'" in analysed.stderr


@pytest.mark.parametrize("ext", ["csv", "parquet"])
def test_the_fixed_mapping_validates_and_analyses(tmp_path: Path, ext: str) -> None:
    _exports(tmp_path, parquet=ext == "parquet")
    data = FILES.format(ext=ext) + (
        "  exposure_columns: {attributes: [channel]}\n"
        "  event_columns: {value: revenue, discount: null, quantity: null, event_id: null}\n"
    )
    spec = _spec(tmp_path, data, segments="[channel]")
    done = _run("validate", spec.name, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert _run("validate", "--explain", spec.name, cwd=tmp_path).returncode == 0
    analysed = _run("analyze", spec.name, "--format", "json", cwd=tmp_path)
    assert analysed.returncode in (0, 3), analysed.stderr
    report = json.loads(analysed.stdout)["experiments"][0]
    take = next(m for m in report["metrics"] if m["name"] == "upsell_take_rate")
    assert sum(v["n"] for v in take["variants"]) == 300


def test_attributes_segments_and_covariates_are_checked_too(tmp_path: Path) -> None:
    _exports(tmp_path)
    data = FILES.format(ext="csv") + (
        "  exposure_columns: {attributes: [chanel]}\n"
        "  event_columns: {value: revenu, discount: null, quantity: null, event_id: null}\n"
        "  covariates: {revenue_per_customer: pre_revenue}\n"
    )
    spec = _spec(tmp_path, data, segments="[chanel]")
    problems = _problems(_run("validate", "--format", "json", spec.name, cwd=tmp_path))
    attribute = problems["data.exposure_columns.attributes[0]"]
    assert "did you mean 'channel'?" in str(attribute["hint"])
    lines = spec.read_text().splitlines()
    assert attribute["line"] == next(
        i for i, t in enumerate(lines, 1) if "[chanel]" in t and "attributes" in t
    )
    assert "did you mean 'revenue'?" in str(problems["data.event_columns.value"]["hint"])
    assert "data.covariates.revenue_per_customer" in problems
    assert set(problems) == {
        "data.exposure_columns.attributes[0]",
        "data.event_columns.value",
        "data.covariates.revenue_per_customer",
    }  # the segment is the declared attribute: reported once, at its declaration


def test_a_glob_of_exports_and_files_not_present_yet(tmp_path: Path) -> None:
    _exports(tmp_path)
    (tmp_path / "parts").mkdir()
    for part in range(3):
        shutil.copy(tmp_path / "ev.csv", tmp_path / "parts" / f"ev-{part}.csv")
    data = (
        "data:\n  kind: files\n  exposures: {path: exp.csv}\n  events: {path: 'parts/*.csv'}\n"
        "  event_columns: {discount: null, quantity: null, event_id: null}\n"
    )
    spec = _spec(tmp_path, data)
    problems = _problems(_run("validate", "--format", "json", spec.name, cwd=tmp_path))
    assert set(problems) == {"data.event_columns.value"}
    absent = _spec(
        tmp_path,
        FILES.format(ext="csv")
        .replace("exp.csv", "later/exp.csv")
        .replace("ev.csv", "later/ev.csv"),
    )
    assert _run("validate", absent.name, cwd=tmp_path).returncode == 0  # data not here: skipped


def test_a_damaged_parquet_file_is_located_not_a_traceback(tmp_path: Path) -> None:
    _exports(tmp_path, parquet=True)
    (tmp_path / "ev.parquet").write_bytes(b"PAR1 this is not parquet at all")
    spec = _spec(tmp_path, FILES.format(ext="parquet"))
    done = _run("validate", "--format", "json", spec.name, cwd=tmp_path)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    problem = _problems(done)["data.events.path"]
    assert problem["code"] == "unreadable" and "ev.parquet" in str(problem["message"])


def test_text_timestamps_in_parquet_and_currency_text_in_csv_are_type_problems(
    tmp_path: Path,
) -> None:
    mapping = "  event_columns: {value: revenue, discount: null, quantity: null, event_id: null}\n"
    _exports(tmp_path, parquet=True, text_times=True)
    spec = _spec(tmp_path, FILES.format(ext="parquet") + mapping)
    problems = _problems(_run("validate", "--format", "json", spec.name, cwd=tmp_path))
    assert set(problems) == {"data.exposure_columns.timestamp", "data.event_columns.timestamp"}
    assert all(p["code"] == "column_type" for p in problems.values())
    assert "is VARCHAR, the analysis needs a timestamp" in str(
        problems["data.event_columns.timestamp"]["message"]
    )
    assert _run("analyze", spec.name, cwd=tmp_path).returncode == 1  # the oracle agrees

    csv_folder = tmp_path / "csv"
    csv_folder.mkdir()
    _exports(csv_folder)
    events = pd.read_csv(csv_folder / "ev.csv")
    events["revenue"] = "¥1,200"
    events.to_csv(csv_folder / "ev.csv", index=False)
    spec = _spec(csv_folder, FILES.format(ext="csv") + mapping)
    problems = _problems(_run("validate", "--format", "json", spec.name, cwd=csv_folder))
    assert set(problems) == {"data.event_columns.value"}
    assert "no currency signs" in str(problems["data.event_columns.value"]["hint"])
    assert _run("analyze", spec.name, cwd=csv_folder).returncode == 1


@pytest.mark.parametrize("ext", ["csv", "parquet"])
def test_optional_columns_a_first_export_lacks_are_read_as_absent(tmp_path: Path, ext: str) -> None:
    """No discount, quantity or event id column, and the one-line form of the paths: the
    spec validates and analyses (the take rate per arm as pandas counts it), while a
    column the spec names explicitly must still exist."""
    _exports(tmp_path, parquet=ext == "parquet")
    data = (
        f"data:\n  kind: files\n  exposures: exp.{ext}\n  events: ev.{ext}\n"
        "  event_columns: {value: revenue}\n"
    )
    spec = _spec(tmp_path, data)
    assert _run("validate", spec.name, cwd=tmp_path).returncode == 0
    done = _run("analyze", spec.name, "--format", "json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    (experiment,) = json.loads(done.stdout)["experiments"]
    (take,) = [m for m in experiment["metrics"] if m["name"] == "upsell_take_rate"]
    exposures = pd.DataFrame({"unit_id": [f"u{i}" for i in range(300)]})
    exposures["variant"] = ["generic", "pairing"] * 150
    exposures["bought"] = exposures.index % 3 == 0
    expected = exposures.groupby("variant")["bought"].agg(["size", "mean"])
    for row in take["variants"]:
        assert row["n"] == expected.loc[row["variant"], "size"]
        assert row["mean"] == pytest.approx(expected.loc[row["variant"], "mean"])
    named = _spec(tmp_path, data.replace("{value: revenue}", "{value: revenue, discount: disc}"))
    problems = _problems(_run("validate", "--format", "json", named.name, cwd=tmp_path))
    assert "has no column 'disc'" in str(problems["data.event_columns.discount"]["message"])
