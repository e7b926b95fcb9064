"""Every data form ``Experiment.analyze`` takes gives the CLI's numbers (to 1e-12 relative).

One simulated data set (the cake wording experiment, stated effect) is written as
a DuckDB store (through the real ``ingest`` path), Parquet and CSV files. The
oracle is ``upsell-ab analyze SPEC --store S --format json`` run in-process: the
API on a DataFrame pair, Arrow tables, files, DuckDB connections and relations,
PostgreSQL and Spark must produce the same JSON document up to float summation
order. Independent checks: units per variant counted with pandas from the raw
frames; the summary form against statsmodels' z-test.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml

import upsell_ab
from upsell_ab.cli.main import main
from upsell_ab.errors import InputError, StoreError

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "experiments" / "cake_wording.yaml"
TOLERANCE = 1e-12
ABS_FLOOR = 1e-15
"""Numbers this close to zero (tail probabilities such as P(best) = 1e-150, computed from
sums whose last bits depend on summation order) are compared absolutely."""


def differences(a: Any, b: Any, path: str = "", tol: float = TOLERANCE) -> list[str]:
    """Paths where two JSON documents differ (floats compared to ``tol`` relative)."""
    out: list[str] = []
    if isinstance(a, dict) and isinstance(b, dict):
        if set(a) != set(b):
            out.append(f"{path}: keys {sorted(set(a) ^ set(b))}")
        for key in set(a) & set(b):
            out += differences(a[key], b[key], f"{path}.{key}", tol)
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            out.append(f"{path}: {len(a)} vs {len(b)} items")
        for i, (x, y) in enumerate(zip(a, b, strict=False)):
            out += differences(x, y, f"{path}[{i}]", tol)
    elif isinstance(a, float) and isinstance(b, float):
        if not math.isclose(a, b, rel_tol=tol, abs_tol=ABS_FLOOR):
            out.append(f"{path}: {a!r} vs {b!r}")
    elif a != b:
        out.append(f"{path}: {a!r} vs {b!r}")
    return out


def cli_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    capsys.readouterr()
    assert main(["analyze", *args, "--format", "json"]) == 0
    document: dict[str, Any] = json.loads(capsys.readouterr().out)
    return document


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from upsell_ab.events.store import EventStore
    from upsell_ab.simulate import simulate

    root = tmp_path_factory.mktemp("api_inputs")
    shutil.copy(SPEC, root / "cake_wording.yaml")
    shutil.copy(SPEC.parent / "metrics.yaml", root / "metrics.yaml")
    experiment = upsell_ab.load(root / "cake_wording.yaml")
    exposures, events = simulate([experiment.resolved], units=12000, days=14, seed=11)
    exposures["timestamp"] = exposures["timestamp"].astype("datetime64[us]")
    store = root / "store.duckdb"
    with EventStore(store) as target:
        target.ingest_exposures(exposures)
        target.ingest_events(events)
    exposures.to_parquet(root / "exposures.parquet")
    events.to_parquet(root / "events.parquet")
    exposures.to_csv(root / "exposures.csv", index=False)
    events.to_csv(root / "events.csv", index=False)
    return {
        "root": root,
        "experiment": experiment,
        "exposures": exposures,
        "events": events,
        "store": store,
    }


@pytest.fixture(scope="module")
def oracle(shop: dict[str, Any]) -> dict[str, Any]:
    """The CLI's JSON on the store (module scope: capsys is per test, so capture by file)."""
    out = shop["root"] / "cli.json"
    spec = str(shop["root"] / "cake_wording.yaml")
    store = str(shop["store"])
    code = main(["analyze", spec, "--store", store, "--format", "json", "-o", str(out)])
    assert code == 0
    document: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return document


def _forms(shop: dict[str, Any]) -> dict[str, Any]:
    import duckdb
    import pyarrow as pa

    root, ex, ev = shop["root"], shop["exposures"], shop["events"]
    con = duckdb.connect()
    return {
        "store path": {"data": shop["store"]},
        "store path as text": {"data": str(shop["store"])},
        "DataFrames by keyword": {"exposures": ex, "events": ev},
        "DataFrame pair": {"data": (ex, ev)},
        "DataFrame dict": {"data": {"exposures": ex, "events": ev}},
        "Arrow tables": {
            "exposures": pa.Table.from_pandas(ex),
            "events": pa.Table.from_pandas(ev),
        },
        "Parquet paths": {
            "exposures": root / "exposures.parquet",
            "events": str(root / "events.parquet"),
        },
        "CSV paths": {"exposures": root / "exposures.csv", "events": root / "events.csv"},
        "DataFrame + Parquet": {"exposures": ex, "events": root / "events.parquet"},
        "DuckDB connection": {"data": duckdb.connect(str(shop["store"]), read_only=True)},
        "DuckDB relations": {
            "data": (con.from_df(ex), con.read_parquet(str(root / "events.parquet")))
        },
    }


FORMS = (
    "store path",
    "store path as text",
    "DataFrames by keyword",
    "DataFrame pair",
    "DataFrame dict",
    "Arrow tables",
    "Parquet paths",
    "CSV paths",
    "DataFrame + Parquet",
    "DuckDB connection",
    "DuckDB relations",
)


@pytest.mark.parametrize("form", FORMS)
def test_every_input_form_gives_the_cli_numbers(
    shop: dict[str, Any], oracle: dict[str, Any], form: str
) -> None:
    kwargs = _forms(shop)[form]
    result = shop["experiment"].analyze(**kwargs)
    assert differences(result.to_dict(), oracle) == []
    # the decision is the stated effect's (pairing lifts the take rate ~ +30 %)
    assert result.decision.action == "ship" and result.decision.winner == "pairing"


def test_relations_leave_no_view_behind(shop: dict[str, Any]) -> None:
    import duckdb

    con = duckdb.connect()
    before = con.sql("SELECT count(*) FROM duckdb_views() WHERE NOT internal").fetchall()
    shop["experiment"].analyze((con.from_df(shop["exposures"]), con.from_df(shop["events"])))
    after = con.sql("SELECT count(*) FROM duckdb_views() WHERE NOT internal").fetchall()
    assert before == after == [(0,)]


def test_units_per_variant_match_a_pandas_count(shop: dict[str, Any]) -> None:
    """Independent oracle: distinct units exposed to exactly one variant of the experiment."""
    ex = shop["exposures"]
    ex = ex[ex["experiment"] == "cake_wording"]
    variants_per_unit = ex.groupby("unit_id")["variant"].nunique()
    single = variants_per_unit[variants_per_unit == 1].index
    expected = ex[ex["unit_id"].isin(single)].groupby("variant")["unit_id"].nunique().to_dict()
    result = shop["experiment"].analyze(exposures=shop["exposures"], events=shop["events"])
    frame = result.to_pandas()
    primary = frame[frame["metric"] == "upsell_take_rate"].set_index("variant")
    assert primary["n"].to_dict() == expected


def test_a_files_spec_and_the_api_agree_with_the_cli(
    shop: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    root = shop["root"]
    content = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
    content["id"] = "cake_wording"
    content["data"] = {
        "kind": "files",
        "exposures": {"path": str(root / "exposures.parquet")},
        "events": {"path": str(root / "events.parquet")},
        "exposure_columns": {"attributes": ["channel"]},
    }
    folder = root / "files_spec"
    folder.mkdir(exist_ok=True)
    shutil.copy(SPEC.parent / "metrics.yaml", folder / "metrics.yaml")
    path = folder / "cake_wording.yaml"
    path.write_text(yaml.safe_dump(content, allow_unicode=True), encoding="utf-8")
    document = cli_json(capsys, str(path))
    assert differences(upsell_ab.load(path).analyze().to_dict(), document) == []


SUMMARY_ROWS = [
    {"variant": "generic", "metric": "upsell_take_rate", "n": 2400, "sum": 216},
    {"variant": "pairing", "metric": "upsell_take_rate", "n": 2400, "sum": 300},
    {"variant": "generic", "metric": "complaint_rate", "n": 2400, "sum": 10},
    {"variant": "pairing", "metric": "complaint_rate", "n": 2400, "sum": 9},
    {
        "variant": "generic",
        "metric": "revenue_per_customer",
        "n": 2400,
        "sum": 1296000.0,
        "sum_squares": 1.1e9,
    },
    {
        "variant": "pairing",
        "metric": "revenue_per_customer",
        "n": 2400,
        "sum": 1353600.0,
        "sum_squares": 1.2e9,
    },
]


@pytest.mark.parametrize("form", ["DataFrame", "list of dicts", "CSV path"])
def test_an_aggregate_summary_gives_the_cli_numbers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], form: str
) -> None:
    import pandas as pd
    from statsmodels.stats.proportion import proportions_ztest

    frame = pd.DataFrame(SUMMARY_ROWS)
    csv = tmp_path / "summary.csv"
    frame.to_csv(csv, index=False)
    document = cli_json(capsys, str(SPEC), "--summary", str(csv))
    data: Any = {"DataFrame": frame, "list of dicts": SUMMARY_ROWS, "CSV path": csv}[form]
    result = upsell_ab.load(SPEC).analyze(data)
    assert result.to_json() == json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    comparison = result.comparisons()[0]
    z, p = proportions_ztest([300, 216], [2400, 2400])
    assert comparison.statistic == pytest.approx(z, rel=1e-9)
    assert comparison.p_value == pytest.approx(p, rel=1e-9)


SLOW = pytest.mark.skipif(
    os.environ.get("UPSELL_AB_SLOW") != "1", reason="set UPSELL_AB_SLOW=1 (30-60 s each)"
)


@SLOW
@pytest.mark.postgres
def test_a_postgres_connection_and_the_specs_postgres_source_agree(
    shop: dict[str, Any],
    oracle: dict[str, Any],
    postgres_dsn: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import psycopg

    from tests.metrics_support import load_postgres

    load_postgres(postgres_dsn, shop["exposures"], shop["events"])
    with psycopg.connect(postgres_dsn) as conn:
        via_connection = shop["experiment"].analyze(conn)
    assert differences(via_connection.to_dict(), oracle, tol=1e-9) == []
    monkeypatch.setenv("UPSELL_AB_TEST_DSN", postgres_dsn)
    spec = shop["experiment"].to_dict()
    spec["data"] = {
        "kind": "postgres",
        "dsn_env": "UPSELL_AB_TEST_DSN",
        "exposure_columns": {"attributes": ["channel"]},
    }
    via_spec = upsell_ab.define(spec, catalogue=SPEC.parent / "metrics.yaml").analyze()
    assert differences(via_spec.to_dict(), oracle, tol=1e-9) == []


@SLOW
@pytest.mark.spark
def test_a_spark_session_gives_the_cli_numbers(
    shop: dict[str, Any], oracle: dict[str, Any], spark_session: Any
) -> None:
    from tests.metrics_support import load_spark

    load_spark(spark_session, shop["exposures"], shop["events"])
    result = shop["experiment"].analyze(spark_session)
    assert differences(result.to_dict(), oracle, tol=1e-9) == []


def test_bad_inputs_are_one_clear_error(shop: dict[str, Any], tmp_path: Path) -> None:
    experiment = shop["experiment"]
    with pytest.raises(InputError, match=r"events.*missing"):
        experiment.analyze(exposures=shop["exposures"])
    with pytest.raises(InputError, match="exposures and events"):
        experiment.analyze(tmp_path / "events.parquet")
    with pytest.raises(InputError, match="cannot analyse data of type int"):
        experiment.analyze(42)
    with pytest.raises(InputError, match="variant, metric, n, sum"):
        experiment.analyze(shop["events"])
    with pytest.raises(InputError, match="no such file"):
        experiment.analyze(exposures=tmp_path / "nope.parquet", events=shop["events"])
    with pytest.raises(InputError, match="cannot read the summary"):
        experiment.analyze(tmp_path / "missing.csv")


def test_bad_cells_in_dataframes_are_named_in_the_callers_words(shop: dict[str, Any]) -> None:
    """A currency sign in one amount: DuckDB names the value and column only; the error
    names the DataFrame, the row and its index label. An inf amount: refused, naming
    "the events DataFrame" (not the table name registered for the query)."""
    import numpy as np

    experiment, events = shop["experiment"], shop["events"].copy()
    labelled = events.set_axis([f"r{i}" for i in range(len(events))])
    labelled["value"] = labelled["value"].astype(object)
    labelled.iloc[5, labelled.columns.get_loc("value")] = "¥1,200"
    with pytest.raises(InputError) as error:
        experiment.analyze(exposures=shop["exposures"], events=labelled)
    message = str(error.value)
    assert "the events DataFrame, row 5 (index 'r5'), column 'value'" in message, message
    assert "'¥1,200' is not a number" in message
    # a whole column of text (pandas' str dtype, not object): the first row is named
    priced = events.assign(value=events["value"].map(lambda v: f"¥{v:,.0f}"))
    with pytest.raises(InputError, match=r"the events DataFrame, row 0 \(index 0\), column "):
        experiment.analyze(exposures=shop["exposures"], events=priced)
    infinite = events.copy()
    infinite.iloc[7, infinite.columns.get_loc("value")] = np.inf
    with pytest.raises(StoreError) as refused:
        experiment.analyze(exposures=shop["exposures"], events=infinite)
    text = str(refused.value)
    assert "not a finite number" in text and "in the events DataFrame: 1 in column" in text
    assert "upsell_ab_events_" not in text


def test_a_summary_file_is_recognised_by_content_not_extension(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--summary counts.txt`` (any name) is a summary; a DuckDB file is a store."""
    text = tmp_path / "counts.txt"
    text.write_text(
        "variant,metric,n,sum\ngeneric,upsell_take_rate,500,40\npairing,upsell_take_rate,500,61\n",
        encoding="utf-8",
    )
    document = cli_json(capsys, str(SPEC), "--summary", str(text))
    result = upsell_ab.load(SPEC).analyze(text)
    assert result.to_dict() == document
    assert result.metric("upsell_take_rate").variants[1].mean == 61 / 500


MILLION = 1_000_000


def test_a_million_row_dataframe_is_analysed_in_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """1M exposure rows + their events, analysed from pandas without a store: the
    numbers equal the CLI's on the same rows written to Parquet, and no file appears
    in the temporary folder or the working folder."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(7)
    experiment = upsell_ab.load(SPEC)
    ids = np.char.add("c", np.arange(MILLION).astype(str)).astype(object)
    variants = experiment.assign_many(ids, pd.DataFrame({"channel": ["app"] * MILLION}))
    start = np.datetime64("2026-03-02T00:00:00", "us")
    seconds = rng.integers(0, 14 * 86400, MILLION).astype("timedelta64[s]")
    exposures = pd.DataFrame(
        {
            "experiment": "cake_wording",
            "variant": variants,
            "unit_id": ids,
            "timestamp": start + seconds,
            "channel": "app",
        }
    )
    take = rng.random(MILLION) < np.where(variants == "pairing", 0.12, 0.10)
    buyers = np.flatnonzero(take)
    events = pd.DataFrame(
        {
            "unit_id": ids[buyers],
            "timestamp": exposures["timestamp"].to_numpy()[buyers] + np.timedelta64(3600, "s"),
            "event_type": "upsell_purchase",
            "value": rng.gamma(2.0, 260.0, len(buyers)),
            "discount": 0.0,
            "quantity": 1.0,
            "event_id": np.char.add("e", buyers.astype(str)).astype(object),
        }
    )
    files = tmp_path / "files"
    files.mkdir()
    exposures.to_parquet(files / "exposures.parquet")
    events.to_parquet(files / "events.parquet")
    content = experiment.to_dict()
    content["data"] = {
        "kind": "files",
        "exposures": {"path": str(files / "exposures.parquet")},
        "events": {"path": str(files / "events.parquet")},
    }
    spec = files / "cake_wording.yaml"
    spec.write_text(yaml.safe_dump(content, allow_unicode=True), encoding="utf-8")
    shutil.copy(SPEC.parent / "metrics.yaml", files / "metrics.yaml")
    document = cli_json(capsys, str(spec), "--no-daily")

    scratch, work = tmp_path / "tmp", tmp_path / "cwd"
    scratch.mkdir()
    work.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    monkeypatch.setattr(tempfile, "tempdir", None)
    monkeypatch.chdir(work)
    result = experiment.analyze(exposures=exposures, events=events, daily=False)
    assert os.listdir(scratch) == [] and os.listdir(work) == []
    assert tempfile.gettempdir() == str(scratch)
    assert differences(result.to_dict(), document) == []
    n = result.to_pandas().query("metric == 'upsell_take_rate'").set_index("variant")["n"]
    assert n.sum() == MILLION
