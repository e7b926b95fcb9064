"""A table source (embedded store, PostgreSQL) whose tables lack what the spec maps:
a located error (file, line, column, field) with a did-you-mean, not the engine's words.

The stores here are real: one written by ``upsell-ab ingest`` (canonical columns) and a
DuckDB file of the shop's own; the PostgreSQL server is the session's real one.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest
from metrics_support import load_postgres

from upsell_ab.cli.main import main
from upsell_ab.events.store import EventStore

METRICS = """\
metrics:
  conversion:
    type: proportion
    event: order
  revenue:
    type: mean
    event: order
"""

SPEC = """\
id: st_exp
name: Table source
status: running
start: 2025-01-06
end: 2025-02-06
variants:
  - {{id: control, weight: 0.5, control: true}}
  - {{id: pairing, weight: 0.5}}
metrics:
  primary: conversion
  secondary: [revenue]
data:
{data}
"""


def _frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    start = pd.Timestamp("2025-01-07")
    exposures = pd.DataFrame(
        {
            "experiment": "st_exp",
            "variant": ["control", "pairing"] * 50,
            "unit_id": [f"c{i}" for i in range(100)],
            "timestamp": [start + pd.Timedelta(minutes=i) for i in range(100)],
        }
    )
    events = pd.DataFrame(
        {
            "unit_id": [f"c{i}" for i in range(0, 100, 3)],
            "timestamp": start + pd.Timedelta(days=1),
            "event_type": "order",
            "value": 25.0,
            "event_id": [f"o{i}" for i in range(0, 100, 3)],
        }
    )
    return exposures, events


def _write(root: Path, data: str) -> Path:
    (root / "metrics.yaml").write_text(METRICS)
    spec = root / "st_exp.yaml"
    spec.write_text(SPEC.format(data=data))
    return spec


def _metric(report: dict[str, Any], name: str) -> dict[str, Any]:
    (experiment,) = report.get("experiments", [report])
    return next(m for m in experiment["metrics"] if m["name"] == name)


def _line_of(spec: Path, text: str) -> int:
    return next(i for i, line in enumerate(spec.read_text().splitlines(), 1) if text in line)


def test_an_ingested_store_with_the_files_mapping_left_in_the_spec(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    exposures, events = _frames()
    with EventStore(tmp_path / "s.duckdb") as store:
        store.ingest_exposures(exposures)
        store.ingest_events(events)
    spec = _write(
        tmp_path,
        "  kind: embedded\n  store: s.duckdb\n  exposure_columns: {unit_id: customer_id}\n",
    )
    code = main(["analyze", str(spec), "--store", str(tmp_path / "s.duckdb")])
    err = capsys.readouterr().err
    assert code == 1
    line = _line_of(spec, "customer_id")
    assert f"st_exp.yaml:{line}:" in err and "data.exposure_columns.unit_id" in err
    assert "has no column 'customer_id'" in err and "keeps the canonical name 'unit_id'" in err
    assert "Binder Error" not in err.split("(")[0]


def test_a_duckdb_file_of_the_shops_own(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    exposures, events = _frames()
    connection = duckdb.connect(str(tmp_path / "shop.duckdb"))
    shop_exposures = exposures.rename(columns={"unit_id": "customer_id"})  # noqa: F841
    shop_orders = events.rename(columns={"value": "amount", "unit_id": "customer_id"})  # noqa: F841
    connection.execute("CREATE TABLE shop_exposures AS SELECT * FROM shop_exposures")
    connection.execute("CREATE TABLE shop_orders AS SELECT * FROM shop_orders")
    connection.close()
    monkeypatch.chdir(tmp_path)
    data = (
        "  kind: embedded\n  store: shop.duckdb\n"
        "  exposures: shop_exposures\n  events: shop_orders\n"
        "  exposure_columns: {unit_id: customer_id}\n"
        "  event_columns: {unit_id: customer_id}\n"
    )
    spec = _write(tmp_path, data)
    # the value column is left at its default 'value': the shop calls it 'amount'
    assert main(["analyze", str(spec)]) == 1
    err = capsys.readouterr().err
    assert re.search(r"st_exp\.yaml:\d+:\d+: data\.event_columns", err), err
    assert "the events table 'shop_orders' of the store shop.duckdb has no column 'value'" in err
    assert "did you mean 'amount'? map it: value: amount" in err
    # no discount or quantity column: read as absent (0 and 1), as from files
    assert "discount" not in err and "quantity" not in err
    # the fix it names works
    mapped = "event_columns: {unit_id: customer_id, value: amount}"
    spec.write_text(SPEC.format(data=data.replace("event_columns: {unit_id: customer_id}", mapped)))
    assert main(["analyze", str(spec), "--format", "json"]) in (0, 3)
    report = json.loads(capsys.readouterr().out)
    revenue = {v["variant"]: v for v in _metric(report, "revenue")["variants"]}
    # every third customer ordered once for 25.0 (no discount): the mean of each arm
    for arm, first in (("control", 0), ("pairing", 1)):
        buyers = len([i for i in range(first, 100, 2) if i % 3 == 0])
        assert revenue[arm]["mean"] == pytest.approx(25.0 * buyers / 50, rel=1e-12)
    # a table the file does not have
    spec.write_text(SPEC.format(data=data.replace("events: shop_orders", "events: orders")))
    assert main(["analyze", str(spec)]) == 1
    err = capsys.readouterr().err
    line = _line_of(spec, "events: orders")
    assert f"st_exp.yaml:{line}:" in err and "data.events.table" in err
    assert "cannot read the events table 'orders'" in err


PG_DATA = "  kind: postgres\n  dsn_env: ST_DSN\n  exposures: st_exposures\n  events: st_orders\n"


def _shop_postgres(dsn: str) -> None:
    """The shop's tables on the real server: its order amount is called ``revenue``."""
    exposures, events = _frames()
    load_postgres(
        dsn,
        exposures,
        events.rename(columns={"value": "revenue"}),
        exposures_table="st_exposures",
        events_table="st_orders",
    )


@pytest.mark.postgres
def test_postgresql_says_where_too(
    postgres_dsn: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _shop_postgres(postgres_dsn)
    monkeypatch.setenv("ST_DSN", postgres_dsn)
    spec = _write(tmp_path, PG_DATA)
    assert main(["analyze", str(spec)]) == 1
    err = capsys.readouterr().err
    assert "data.event_columns" in err or "data.events" in err, err
    assert "the events table 'st_orders' has no column 'value'" in err
    assert "did you mean 'revenue'? map it: value: revenue" in err
    assert "does not exist" not in err.split("(")[0]


@pytest.mark.spark
def test_spark_says_where_too(
    spark_session: object, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    exposures, events = _frames()
    session: Any = spark_session
    session.createDataFrame(exposures).createOrReplaceTempView("st_exposures")
    orders = events.rename(columns={"value": "revenue"})
    orders["discount"], orders["quantity"] = 0.0, 1.0
    session.createDataFrame(orders).createOrReplaceTempView("st_orders")
    spec = _write(tmp_path, "  kind: spark\n  exposures: st_exposures\n  events: st_orders\n")
    assert main(["analyze", str(spec)]) == 1
    err = capsys.readouterr().err
    assert "data.event_columns.value" in err, err
    assert "the events table 'st_orders' has no column 'value'" in err
    assert "did you mean 'revenue'? map it: value: revenue" in err


@pytest.mark.postgres
def test_a_callers_postgresql_transaction_keeps_the_engines_own_words(
    postgres_dsn: str, tmp_path: Path
) -> None:
    """A connection handed in (not autocommit): the failed query aborted its transaction,
    so nothing more can be read; the error stays PostgreSQL's own, not 'cannot read'."""
    import psycopg

    from upsell_ab.errors import UpsellAbError
    from upsell_ab.metrics.compute import compute_experiment_data
    from upsell_ab.spec.load import load_experiment

    _shop_postgres(postgres_dsn)
    spec = _write(tmp_path, PG_DATA)
    resolved = load_experiment(spec)
    with psycopg.connect(postgres_dsn) as connection, pytest.raises(UpsellAbError) as caught:
        compute_experiment_data(resolved, connection=connection)
    message = str(caught.value)
    assert "column e.value does not exist" in message or '"value" does not exist' in message
    assert "cannot read" not in message and "transaction is aborted" not in message


def test_a_text_time_column_is_named_with_its_type(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    exposures, events = _frames()
    exposures["timestamp"] = exposures["timestamp"].dt.strftime("%d/%m/%Y %H:%M")  # as text
    events["value"] = events["value"].map(lambda v: f"¥{v:,.0f}")  # a formatted amount
    connection = duckdb.connect(str(tmp_path / "shop.duckdb"))
    for name, frame in (("exposures", exposures), ("events", events)):
        connection.register("frame", frame)
        connection.execute(f"CREATE TABLE {name} AS SELECT * FROM frame")
        connection.unregister("frame")
    connection.close()
    spec = _write(tmp_path, f"  kind: embedded\n  store: {tmp_path / 'shop.duckdb'}\n")
    assert main(["analyze", str(spec)]) == 1
    err = capsys.readouterr().err
    assert re.search(r"st_exp\.yaml:\d+:\d+: data\.exposure_columns\.timestamp: column", err)
    assert "column 'timestamp' of the exposures table 'exposures'" in err
    assert "is VARCHAR, the analysis needs a timestamp" in err
    assert "Cannot compare" not in err


@pytest.mark.postgres
def test_postgresql_text_time_is_named_too(
    postgres_dsn: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    exposures, events = _frames()
    exposures["timestamp"] = exposures["timestamp"].dt.strftime("%Y-%m-%d %H:%M:%S")
    load_postgres(
        postgres_dsn, exposures, events, exposures_table="st_exposures", events_table="st_orders"
    )
    monkeypatch.setenv("ST_DSN", postgres_dsn)
    spec = _write(tmp_path, PG_DATA)
    assert main(["analyze", str(spec)]) == 1
    err = capsys.readouterr().err
    assert "data.exposure_columns.timestamp" in err, err
    assert "column 'timestamp' of the exposures table 'st_exposures' is text" in err
    assert "the analysis needs a timestamp" in err
