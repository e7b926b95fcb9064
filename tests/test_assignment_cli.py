"""`upsell-ab assign`: one unit, files in and out, and errors that write nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from upsell_ab.assignment import Assigner
from upsell_ab.cli.assign_command import parse_text
from upsell_ab.cli.main import main
from upsell_ab.spec.load import load_spec

SPEC = """\
id: cli_test
name: CLI test
status: running
population:
  unit: customer_id
  coverage: 0.8
  targeting:
    - {attribute: channel, op: in, values: [web, app]}
    - {attribute: past_orders, op: gte, value: 1}
variants:
  - {id: control, weight: 0.5, control: true}
  - {id: pairing, weight: 0.5}
metrics:
  primary: take_rate
"""
CATALOGUE = """\
metrics:
  take_rate: {type: proportion, event: upsell_purchase}
"""


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    (tmp_path / "metrics.yaml").write_text(CATALOGUE, encoding="utf-8")
    path = tmp_path / "cli_test.yaml"
    path.write_text(SPEC, encoding="utf-8")
    return path


def test_one_unit_text_and_json(spec: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assigner = Assigner(load_spec(spec))
    unit = next(
        u
        for u in (f"c{i}" for i in range(100))
        if assigner.assign(u, {"channel": "web", "past_orders": 2}).in_experiment
    )
    expected = assigner.assign(unit, {"channel": "web", "past_orders": 2}).variant
    assert (
        main(
            [
                "assign",
                str(spec),
                "--unit",
                unit,
                "--attr",
                "channel=web",
                "--attr",
                "past_orders=2",
            ]
        )
        == 0
    )
    assert capsys.readouterr().out.strip() == expected
    code = main(
        [
            "assign",
            str(spec),
            "--unit",
            unit,
            "--attr",
            "channel=web",
            "--attr",
            "past_orders=0",
            "--format",
            "json",
        ]
    )
    assert code == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload == {
        "in_experiment": False,
        "variant": None,
        "reason": "targeting",
        "detail": "past_orders gte 1 (got 0)",
    }
    assert main(["assign", str(spec), "--unit", unit]) == 0
    assert capsys.readouterr().out.startswith("not in experiment: targeting")


def test_parse_text_is_type_directed() -> None:
    assert parse_text("3", frozenset({"number"})) == 3
    assert parse_text("2.5", frozenset({"number"})) == 2.5
    assert parse_text("007", frozenset({"number"})) == "007"
    assert parse_text("3", frozenset()) == "3"
    assert parse_text("true", frozenset({"bool"})) is True
    assert parse_text("", frozenset({"number"})) is None


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_file_round_trip(spec: Path, tmp_path: Path, suffix: str) -> None:
    frame = pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(300)],
            "channel": ["web", "app", "store"] * 100,
            "past_orders": [0, 1, 2, 3, 4] * 60,
            "note": ["ケーキ"] * 300,
        }
    )
    source = tmp_path / f"in{suffix}"
    target = tmp_path / f"out{suffix}"
    if suffix == ".csv":
        frame.to_csv(source, index=False)
    else:
        frame.to_parquet(source, index=False)
    assert main(["assign", str(spec), "--input", str(source), "--output", str(target)]) == 0
    out = pd.read_csv(target, dtype=str) if suffix == ".csv" else pd.read_parquet(target)
    assigner = Assigner(load_spec(spec))
    expected = [
        assigner.assign(r.customer_id, {"channel": r.channel, "past_orders": r.past_orders}).variant
        for r in frame.itertuples()
    ]
    got = [None if pd.isna(v) or v == "" else v for v in out["variant"]]
    assert got == expected
    assert list(out.columns) == [*frame.columns, "variant"]
    assert out["note"].tolist() == frame["note"].tolist()
    assert {"control", "pairing", None} == set(got)


def test_missing_column_writes_nothing(
    spec: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "in.csv"
    source.write_text("id,channel\n1,web\n", encoding="utf-8")
    target = tmp_path / "out.csv"
    assert main(["assign", str(spec), "--input", str(source), "--output", str(target)]) == 1
    err = capsys.readouterr().err
    assert "customer_id" in err and "past_orders" in err and str(source) in err
    assert not target.exists()
    assert list(tmp_path.glob(".out.csv*")) == []


@pytest.mark.parametrize(
    ("name", "content", "out", "needle"),
    [
        ("in.txt", "a\n", "out.csv", "unknown input file type"),
        ("in.csv", None, "out.csv", "cannot read"),
        ("in.parquet", "not parquet", "out.csv", "cannot read"),
        ("in.csv", "customer_id\n1\n", "out.json", "unknown output file type"),
    ],
)
def test_bad_files_write_nothing(
    spec: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    name: str,
    content: str | None,
    out: str,
    needle: str,
) -> None:
    source = tmp_path / name
    if content is not None:
        source.write_text(content, encoding="utf-8")
    target = tmp_path / out
    assert main(["assign", str(spec), "--input", str(source), "--output", str(target)]) == 1
    assert needle in capsys.readouterr().err
    assert not target.exists()


def test_stdout_output(spec: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "in.csv"
    source.write_text("customer_id,channel,past_orders\nc1,web,2\n,web,2\n", encoding="utf-8")
    assert main(["assign", str(spec), "--input", str(source), "--output", "-"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "customer_id,channel,past_orders,variant"
    assert lines[2] == ",web,2,"  # missing unit: empty variant


def test_argument_errors(spec: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["assign", str(spec)]) == 1
    assert main(["assign", str(spec), "--unit", "a", "--attr", "novalue"]) == 1
    assert main(["assign", str(spec), "--input", "x.csv"]) == 1
    assert "--output" in capsys.readouterr().err
