"""`upsell-ab store list | dry-run | remove` and the new ingest flags, through the CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from upsell_ab.cli.main import main
from upsell_ab.events.store import EventStore

TABLES = ("exposures", "events", "ingests")


def checksums(path: Path) -> dict[str, str]:
    with EventStore(path) as s:
        return {t: s.checksum(t) for t in TABLES}


def write(path: Path, frame: pd.DataFrame) -> str:
    frame.to_csv(path, index=False)
    return str(path)


def orders_csv(tmp_path: Path, name: str = "orders.csv", **columns: list[Any]) -> str:
    frame = pd.DataFrame(
        {
            "unit_id": ["c1", "c2", "c3"],
            "timestamp": ["2026-03-01 10:00", "2026-03-01 11:00", "2026-03-02 09:30"],
            "event_type": ["order", "order", "order"],
            "revenue": [1200, 800, 640],
        }
    )
    for key, values in columns.items():
        frame[key] = values
    return write(tmp_path / name, frame)


def test_ingest_refuses_unmapped_revenue_then_dry_run_then_replace(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "s.duckdb"
    path = orders_csv(tmp_path)
    assert main(["ingest", "--store", str(db), "--events", path]) == 1
    err = capsys.readouterr().err
    assert "did you mean 'revenue'?" in err and "--map events.value=revenue" in err
    assert not db.exists()

    assert main(["ingest", "--store", str(db), "--events", path, "--allow-default", "value"]) == 0
    out = capsys.readouterr().out
    assert "[batch 1]" in out and "defaults used (value 0, discount 0, quantity 1)" in out

    before = checksums(db)
    fixed = ["--map", "events.value=revenue"]
    assert main(["store", "dry-run", "--store", str(db), "--events", path, *fixed]) == 0
    out = capsys.readouterr().out
    assert "would add 0" in out and "conflicts 3" in out
    assert "a real ingest would be refused" in out and "dry run: nothing written" in out
    assert checksums(db) == before

    assert main(["ingest", "--store", str(db), "--events", path, *fixed]) == 1
    err = capsys.readouterr().err
    assert "3 rows conflict with rows already stored (batch 1)" in err
    assert checksums(db) == before

    assert main(["ingest", "--store", str(db), "--events", path, *fixed, "--replace"]) == 0
    assert "replaced 3 stored rows" in capsys.readouterr().out
    with EventStore(db) as s:
        assert s.connection.execute("SELECT sum(value), count(*) FROM events").fetchall() == [
            (2640.0, 3)
        ]

    assert main(["store", "list", "--store", str(db), "--format", "json"]) == 0
    batches = json.loads(capsys.readouterr().out)["batches"]
    assert [(b["ingest_id"], b["rows_added"], b["rows_now"], b["defaulted"]) for b in batches] == [
        (1, 3, 0, ["value", "discount", "quantity"]),
        (2, 3, 3, ["discount", "quantity"]),
    ]
    assert batches[1]["conflicts"] == 3 and batches[1]["replaced"] == 3


def test_store_remove_is_exactly_the_store_without_that_batch(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = orders_csv(tmp_path, "a.csv")
    second = orders_csv(tmp_path, "b.csv", unit_id=["c7", "c8", "c9"])
    both, only = tmp_path / "both.duckdb", tmp_path / "only.duckdb"
    fixed = ["--map", "events.value=revenue"]
    assert main(["ingest", "--store", str(both), "--events", first, *fixed]) == 0
    assert main(["ingest", "--store", str(both), "--events", second, *fixed]) == 0
    assert main(["ingest", "--store", str(only), "--events", first, *fixed]) == 0
    capsys.readouterr()
    assert main(["store", "remove", "--store", str(both), "2"]) == 0
    assert "removed batch 2: 3 events rows" in capsys.readouterr().out
    assert checksums(both)["events"] == checksums(only)["events"]
    assert main(["store", "remove", "--store", str(both), "2"]) == 1
    assert "already removed" in capsys.readouterr().err
    assert main(["store", "remove", "--store", str(both), "9"]) == 1
    assert "no ingest batch 9" in capsys.readouterr().err
    assert main(["store", "list", "--store", str(both)]) == 0
    out = capsys.readouterr().out
    assert "[removed " in out and "a.csv" in out


def test_store_list_on_missing_store_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["store", "list", "--store", str(tmp_path / "none.duckdb")]) == 1
    assert "no store file" in capsys.readouterr().err


def test_implausible_values_warn_with_rows_or_refuse(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "s.duckdb"
    path = orders_csv(tmp_path, revenue=[1200, 1e200, 640])
    fixed = ["--map", "events.value=revenue"]
    refuse = ["--implausible", "refuse"]
    assert main(["ingest", "--store", str(db), "--events", path, *fixed, *refuse]) == 1
    err = capsys.readouterr().err
    assert f"{path}:3: row 2, revenue: value outside the plausible range [0, 1e+12]" in err
    assert main(["ingest", "--store", str(db), "--events", path, *fixed, "--format", "json"]) == 0
    (report,) = json.loads(capsys.readouterr().out)["ingests"]
    assert report["rows_added"] == 3 and report["implausible"] == 1
    assert [(w["row"], w["code"]) for w in report["warnings"]] == [(2, "implausible_value")]
    # a per-type bound: orders above 1,000 are implausible in this shop
    other = orders_csv(tmp_path, "b.csv", unit_id=["d1", "d2", "d3"])
    bound = ["--bound", "order.value=0:1000"]
    assert main(["ingest", "--store", str(db), "--events", other, *fixed, *bound]) == 0
    out = capsys.readouterr().out
    assert "row 1, revenue: value outside the plausible range [0, 1000] for 'order' events" in out
    assert main(["ingest", "--store", str(db), "--events", other, "--bound", "order.price=1"]) == 1
    assert "bounds apply to value, discount, quantity" in capsys.readouterr().err


def test_unused_event_types_are_reported_with_spec(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "metrics.yaml").write_text(
        "metrics:\n"
        "  take_rate: {type: proportion, event: upsell_purchase}\n"
        "  revenue: {type: mean, event: order, value: value}\n",
        encoding="utf-8",
    )
    spec = tmp_path / "exp.yaml"
    spec.write_text(
        "id: exp\nname: Exp\nvariants:\n"
        "  - {id: control, weight: 0.5, control: true}\n"
        "  - {id: treatment, weight: 0.5}\n"
        "metrics: {primary: take_rate, secondary: [revenue]}\n"
        f"data:\n  store: {tmp_path / 'spec.duckdb'}\n",
        encoding="utf-8",
    )
    path = orders_csv(tmp_path, event_type=["order", "Order", "purchase"])
    code = main(["ingest", "--spec", str(spec), "--events", path, "--map", "events.value=revenue"])
    assert code == 0
    out = capsys.readouterr().out
    assert "event type 'Order' (1 rows) is used by no metric of exp; did you mean 'order'?" in out
    assert "event type 'purchase' (1 rows) is used by no metric of exp" in out
    assert "event type 'order'" not in out
