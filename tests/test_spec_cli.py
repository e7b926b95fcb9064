"""``upsell-ab validate`` / ``schema``: output format, summary, exit codes, fast imports."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from upsell_ab.cli.main import main
from upsell_ab.spec.load import discover, validate_paths

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENTS = ROOT / "experiments"

SPEC = """id: {id}
name: Demo
population:
  namespace: {{name: checkout, range: [{start}, {end}]}}
variants:
  - id: control
    control: true
    weight: 0.5
  - id: treatment
    weight: 0.5
metrics:
  primary: upsell_take_rate
"""


def _folder(tmp_path: Path, specs: dict[str, str]) -> Path:
    shutil.copy(EXPERIMENTS / "metrics.yaml", tmp_path / "metrics.yaml")
    for name, text in specs.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    return tmp_path


def test_validate_examples_exits_zero(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(EXPERIMENTS)]) == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.strip() == f"{len(discover([EXPERIMENTS]))} specs valid"


def test_validate_reports_problems_and_exits_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _folder(
        tmp_path,
        {
            "a.yaml": SPEC.format(id="a", start=0, end=0.5),
            "b.yaml": SPEC.format(id="b", start=0.5, end=1).replace(
                "weight: 0.5\n", "weight: no\n", 1
            ),
        },
    )
    assert main(["validate", str(folder)]) == 1
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert lines == [
        f"{folder / 'b.yaml'}:8:13: variants[0].weight: YAML 1.1 reads `no` as false "
        "(write true/false for a switch, or quote 'no' for text)"
    ]
    assert captured.err.strip() == "1 problem in 1 of 2 specs"


def test_namespace_overlap_and_duplicate_ids_in_a_folder(tmp_path: Path) -> None:
    folder = _folder(
        tmp_path,
        {
            "a.yaml": SPEC.format(id="a", start=0, end=0.5),
            "b.yaml": SPEC.format(id="b", start=0.4, end=0.8),
            "c.yaml": SPEC.format(id="a", start=0.8, end=1),
        },
    )
    problems = validate_paths([folder])
    located = [
        (Path(p.location.file or "").name, p.location.line, p.location.column, p.location.field)
        for p in problems
    ]
    assert located == [
        ("b.yaml", 4, 31, "population.namespace.range"),
        ("c.yaml", 1, 5, "id"),
    ]
    assert "overlaps [0, 0.5] of a.yaml" in problems[0].message
    assert problems[1].code == "duplicate_id"


def test_disjoint_namespaces_and_other_names_are_fine(tmp_path: Path) -> None:
    folder = _folder(
        tmp_path,
        {
            "a.yaml": SPEC.format(id="a", start=0, end=0.5),
            "b.yaml": SPEC.format(id="b", start=0.5, end=1),
            "c.yaml": SPEC.format(id="c", start=0, end=1).replace("checkout", "email"),
        },
    )
    assert validate_paths([folder]) == []


def test_json_format_and_missing_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = _folder(tmp_path, {"a.yaml": SPEC.format(id="a", start=0, end=0.5)})
    missing = tmp_path / "nope.yaml"
    assert main(["validate", "--format", "json", str(folder), str(missing)]) == 1
    payload = json.loads(capsys.readouterr().out)
    assert payload["valid"] is False
    assert [(p["file"], p["code"]) for p in payload["problems"]] == [(str(missing), "not_found")]
    assert payload["specs"] == [str(folder / "a.yaml")]


def test_broken_catalogue_is_reported_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _folder(
        tmp_path,
        {
            "a.yaml": SPEC.format(id="a", start=0, end=0.5),
            "b.yaml": SPEC.format(id="b", start=0.5, end=1),
        },
    )
    (folder / "metrics.yaml").write_text(
        "metrics:\n  x: {type: proportion, evnt: order}\n", "utf-8"
    )
    assert main(["validate", str(folder)]) == 1
    captured = capsys.readouterr()
    assert captured.out.count("metrics.yaml:2:") == 1
    assert captured.err.strip() == "1 problem in 0 of 2 specs and 1 metric catalogue"


def test_schema_command_prints_the_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["title"] == "upsell_ab experiment spec"
    assert "Status" in schema["$defs"] and schema["$defs"]["Status"]["enum"] == [
        "draft",
        "running",
        "stopped",
        "concluded",
    ]
    assert main(["schema", "--catalogue"]) == 0
    assert "MetricDefinition" in json.loads(capsys.readouterr().out)["$defs"]


def test_validate_imports_no_heavy_library() -> None:
    code = (
        "import sys\n"
        "from upsell_ab.cli.main import main\n"
        f"rc = main(['validate', {str(EXPERIMENTS)!r}])\n"
        "heavy = sorted(m for m in ('scipy', 'statsmodels', 'pandas', 'duckdb', 'numpy',"
        " 'matplotlib', 'pyspark', 'psycopg') if m in sys.modules)\n"
        "print(rc, heavy)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert result.stdout.strip() == "0 []"


def test_folder_without_specs_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copy(EXPERIMENTS / "metrics.yaml", tmp_path / "metrics.yaml")
    assert main(["validate", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert out.strip() == (
        f"{tmp_path}: no spec files (*.yaml, *.yml) in this folder "
        "(check the path; metrics.yaml alone is not a spec)"
    )


def test_report_refuses_every_spec_of_a_duplicate_id_and_an_overlap(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`validate`'s folder checks hold in `report` too: two specs of one id would each be
    analysed on the shared id's data, so both fail (not only the second), and the spec
    whose namespace overlaps another's fails; the clean spec still reports."""
    running = SPEC.replace("name: Demo\n", "name: Demo\nstatus: running\n")
    folder = _folder(
        tmp_path,
        {
            "a.yaml": running.format(id="a", start=0, end=0.5),
            "b.yaml": running.format(id="b", start=0.4, end=0.8),
            "c.yaml": running.format(id="a", start=0.8, end=1),
            "e.yaml": running.format(id="e", start=0, end=1).replace("checkout", "email"),
        },
    )
    store = tmp_path / "store.duckdb"
    assert main(["simulate", str(folder / "e.yaml"), "--store", str(store), "--units", "200"]) == 0
    capsys.readouterr()
    code = main(["report", str(folder), "--store", str(store), "--format", "json"])
    document = json.loads(capsys.readouterr().out)
    assert code == 1
    failed = {Path(f["file"]).name: f["problems"] for f in document["errors"]}
    assert sorted(failed) == ["a.yaml", "b.yaml", "c.yaml"]
    assert "also used by c.yaml" in failed["a.yaml"][0]
    assert failed["a.yaml"][0].startswith(f"{folder / 'a.yaml'}:1:5: id:")
    assert "also used by a.yaml" in failed["c.yaml"][0]
    assert "overlaps [0, 0.5] of a.yaml" in failed["b.yaml"][0]
    assert [e["experiment"] for e in document["experiments"]] == ["e"]
