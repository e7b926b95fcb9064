"""`upsell-ab conclude`: immutable, versioned result records (issue 15 part 1).

Oracles: the shipped JSON Schema (validated with ``jsonschema``), unit counts recomputed
with DuckDB from the store's exposures, and the decision ``analyze --format json`` prints
on the same data; files compared byte for byte to prove nothing is ever rewritten.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path

import duckdb
import pytest

ROOT = Path(__file__).resolve().parents[1]
SPEC_NAME = "cake_wording.yaml"


def _run(argv: list[str]) -> tuple[int, str, str]:
    from upsell_ab.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture()
def shop(tmp_path: Path) -> tuple[Path, Path]:
    folder = tmp_path / "experiments"
    folder.mkdir()
    for name in (SPEC_NAME, "metrics.yaml"):
        shutil.copy(ROOT / "experiments" / name, folder / name)
    store = tmp_path / "shop.duckdb"
    code, _, err = _run(
        ["simulate", str(folder / SPEC_NAME), "--store", str(store), "--units", "4000"]
    )
    assert code == 0, err
    return folder, store


def test_conclude_writes_a_valid_record_of_the_analysis(shop: tuple[Path, Path]) -> None:
    import jsonschema

    folder, store = shop
    spec = folder / SPEC_NAME
    code, out, _ = _run(["conclude", str(spec), "--store", str(store), "--by", "analyst"])
    assert code == 0 and "concluded cake_wording as v1" in out
    path = folder / "results" / "cake_wording" / "v1.json"
    record = json.loads(path.read_text("utf-8"))
    schema = json.loads((ROOT / "schema" / "result-record.schema.json").read_text("utf-8"))
    jsonschema.validate(record, schema)
    assert record["concluded_by"] == "analyst" and record["version"] == 1
    con = duckdb.connect(str(store), read_only=True)
    try:
        units = dict(
            con.execute(
                "SELECT variant, count(DISTINCT unit_id) FROM exposures "
                "WHERE experiment = 'cake_wording' GROUP BY 1"
            ).fetchall()
        )
    finally:
        con.close()
    assert record["data"]["units"] == units
    _, analysed, _ = _run(["analyze", str(spec), "--store", str(store), "--format", "json"])
    decision = json.loads(analysed)["experiments"][0]["decision"]
    assert record["decision"]["action"] == decision["action"]
    assert record["decision"]["reasons"] == decision["reasons"]
    assert record["result"]["decision"] == decision
    take = record["data"]["metrics"]["upsell_take_rate"]
    assert {v: int(s["n"]) for v, s in take.items()} == units


SUMS = (
    "variant,metric,n,sum\n"
    "generic,upsell_take_rate,{n},180\npairing,upsell_take_rate,{n},250\n"
    "generic,complaint_rate,{n},10\npairing,complaint_rate,{n},8\n"
)


def test_records_are_immutable_and_versioned(tmp_path: Path) -> None:
    folder = tmp_path / "experiments"
    folder.mkdir()
    for name in (SPEC_NAME, "metrics.yaml"):
        shutil.copy(ROOT / "experiments" / name, folder / name)
    spec = folder / SPEC_NAME
    week1, week2 = tmp_path / "week1.csv", tmp_path / "week2.csv"
    week1.write_text(SUMS.format(n=2000), "utf-8")
    week2.write_text(SUMS.format(n=2400), "utf-8")
    assert _run(["conclude", str(spec), "--summary", str(week1)])[0] == 0
    first = folder / "results" / "cake_wording" / "v1.json"
    frozen = first.read_bytes()
    code, out, _ = _run(["conclude", str(spec), "--summary", str(week1)])
    assert code == 0 and out.startswith("unchanged: cake_wording is already concluded as v1")
    assert first.read_bytes() == frozen
    # other data: a different conclusion is refused without --force
    code, _, err = _run(["conclude", str(spec), "--summary", str(week2)])
    assert code == 1 and "concluded as v1 on another data" in err and "--force" in err
    assert not (folder / "results" / "cake_wording" / "v2.json").exists()
    code, out, _ = _run(["conclude", str(spec), "--summary", str(week2), "--force"])
    assert code == 0 and "as v2" in out
    second = json.loads((folder / "results" / "cake_wording" / "v2.json").read_text("utf-8"))
    assert second["data_sha256"] != json.loads(frozen)["data_sha256"]
    assert second["data"]["units"] == {"generic": 2400, "pairing": 2400}
    assert first.read_bytes() == frozen


def test_validate_checks_a_concluded_spec_against_its_record(shop: tuple[Path, Path]) -> None:
    folder, store = shop
    spec = folder / SPEC_NAME
    text = spec.read_text("utf-8")
    concluded = text.replace("status: running", "status: concluded")
    line = next(i + 1 for i, t in enumerate(concluded.splitlines()) if t.startswith("status:"))
    spec.write_text(concluded, "utf-8")
    code, out, err = _run(["validate", str(folder)])
    assert code == 1 and f"{SPEC_NAME}:{line}:" in out + err
    assert "has no result record" in out + err
    spec.write_text(text, "utf-8")
    assert _run(["conclude", str(spec), "--store", str(store)])[0] == 0
    spec.write_text(concluded, "utf-8")
    assert _run(["validate", str(folder)])[0] == 0  # marking it concluded keeps the hash
    edited = concluded.replace("name: ", "name: Edited ", 1)
    spec.write_text(edited, "utf-8")
    code, out, err = _run(["validate", str(folder)])
    assert code == 1 and "the spec changed after it was concluded" in out + err


def test_a_summary_csv_can_be_concluded_and_no_data_cannot(tmp_path: Path) -> None:
    folder = tmp_path / "experiments"
    folder.mkdir()
    for name in (SPEC_NAME, "metrics.yaml"):
        shutil.copy(ROOT / "experiments" / name, folder / name)
    summary = tmp_path / "sums.csv"
    summary.write_text(
        "variant,metric,n,sum\n"
        "generic,upsell_take_rate,2000,180\npairing,upsell_take_rate,2000,250\n"
        "generic,complaint_rate,2000,10\npairing,complaint_rate,2000,8\n",
        "utf-8",
    )
    code, out, _ = _run(["conclude", str(folder / SPEC_NAME), "--summary", str(summary)])
    assert code == 0, out
    record = json.loads((folder / "results" / "cake_wording" / "v1.json").read_text("utf-8"))
    assert record["decision"]["action"] == "ship" and record["decision"]["winner"] == "pairing"
    assert record["decision"]["offer"]["timing"]["moment"] == "at_checkout"
    from upsell_ab.events.store import EventStore

    empty = tmp_path / "empty.duckdb"
    with EventStore(empty):
        pass  # a store that holds no exposure of the experiment yet
    code, _, err = _run(["conclude", str(folder / SPEC_NAME), "--store", str(empty)])
    assert code == 1 and "nothing to conclude" in err
