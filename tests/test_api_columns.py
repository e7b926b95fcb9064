"""Column mappings in the shape shops have their data: constants and missing optional columns.

An orders export has no event-type column (every row is an add-on purchase), no
discount and no quantity; an exposures export of one experiment has no
experiment column. Oracle: the same rows in the canonical shape (columns added
by hand with pandas) analysed without any mapping must give identical numbers,
through the DataFrame path, files read in place, and ``ingest`` into a store.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import upsell_ab
from upsell_ab.errors import SpecError

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "experiments" / "cake_wording.yaml"
CATALOGUE = ROOT / "experiments" / "metrics.yaml"


@pytest.fixture(scope="module")
def exports() -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(3)
    experiment = upsell_ab.load(SPEC)
    n = 6000
    ids = np.array([f"c{i}" for i in range(n)], dtype=object)
    variants = experiment.assign_many(ids, pd.DataFrame({"channel": ["app"] * n}))
    seen = np.datetime64("2026-03-03T09:00:00", "us") + rng.integers(0, 20 * 86400, n).astype(
        "timedelta64[s]"
    )
    took = rng.random(n) < np.where(variants == "pairing", 0.14, 0.10)
    buyers = np.flatnonzero(took)
    shop_exposures = pd.DataFrame(
        {"customer": ids, "arm": variants, "seen_at": seen, "channel": "app"}
    )
    orders = pd.DataFrame(
        {
            "customer": ids[buyers],
            "ordered_at": seen[buyers] + np.timedelta64(600, "s"),
            "amount": rng.choice([480.0, 520.0, 560.0], len(buyers)),
        }
    )
    canonical_exposures = pd.DataFrame(
        {
            "experiment": "cake_wording",
            "variant": variants,
            "unit_id": ids,
            "timestamp": seen,
            "channel": "app",
        }
    )
    canonical_events = pd.DataFrame(
        {
            "unit_id": orders["customer"],
            "timestamp": orders["ordered_at"],
            "event_type": "upsell_purchase",
            "value": orders["amount"],
            "discount": 0.0,
            "quantity": 1.0,
            "event_id": [f"o{i}" for i in range(len(orders))],
        }
    )
    return {
        "exposures": shop_exposures,
        "orders": orders,
        "canonical_exposures": canonical_exposures,
        "canonical_events": canonical_events,
    }


MAPPING = {
    "exposure_columns": {
        "experiment": {"value": "cake_wording"},
        "variant": "arm",
        "unit_id": "customer",
        "timestamp": "seen_at",
        "attributes": ["channel"],
    },
    "event_columns": {
        "unit_id": "customer",
        "timestamp": "ordered_at",
        "type": {"value": "upsell_purchase"},
        "value": "amount",
        "discount": None,
        "quantity": {"value": 1},
        "order_id": None,
        "event_id": None,
    },
}


def _shop_experiment(data: dict[str, Any] | None = None) -> upsell_ab.Experiment:
    spec = upsell_ab.load(SPEC).to_dict()
    spec["data"] = {**MAPPING, **(data or {})}
    return upsell_ab.define(spec, catalogue=CATALOGUE)


def _canonical(exports: dict[str, pd.DataFrame]) -> dict[str, Any]:
    result = upsell_ab.load(SPEC).analyze(
        exposures=exports["canonical_exposures"], events=exports["canonical_events"]
    )
    document: dict[str, Any] = result.to_dict()
    return document


def test_constants_and_missing_optional_columns_read_a_dataframe_export(
    exports: dict[str, pd.DataFrame],
) -> None:
    expected = _canonical(exports)
    got = _shop_experiment().analyze(exposures=exports["exposures"], events=exports["orders"])
    assert got.to_dict() == expected
    primary = got.to_pandas().query("metric == 'upsell_take_rate'").set_index("variant")
    buyers = exports["orders"]["customer"].nunique()
    assert int((primary["mean"] * primary["n"]).round().sum()) == buyers


def test_constants_work_on_files_read_in_place(
    exports: dict[str, pd.DataFrame], tmp_path: Path
) -> None:
    exports["exposures"].to_parquet(tmp_path / "exposures.parquet")
    exports["orders"].to_csv(tmp_path / "orders.csv", index=False)
    experiment = _shop_experiment(
        {
            "kind": "files",
            "exposures": {"path": str(tmp_path / "exposures.parquet")},
            "events": {"path": str(tmp_path / "orders.csv")},
        }
    )
    assert experiment.analyze().to_dict() == _canonical(exports)


def test_ingest_honours_the_constants(exports: dict[str, pd.DataFrame], tmp_path: Path) -> None:
    from upsell_ab.cli.main import main

    folder = tmp_path / "specs"
    folder.mkdir()
    shutil.copy(CATALOGUE, folder / "metrics.yaml")
    spec = folder / "cake_wording.yaml"
    _shop_experiment().to_yaml(spec)
    exports["exposures"].to_parquet(tmp_path / "exposures.parquet")
    exports["orders"].to_parquet(tmp_path / "orders.parquet")
    store = tmp_path / "store.duckdb"
    code = main(
        ["ingest", "--store", str(store), "--spec", str(spec),
         "--exposures", str(tmp_path / "exposures.parquet"),
         "--events", str(tmp_path / "orders.parquet")]
    )  # fmt: skip
    assert code == 0
    expected = _canonical(exports)
    got = upsell_ab.load(SPEC).analyze(store).to_dict()
    assert got == expected


def test_a_constant_of_the_wrong_kind_is_a_located_error() -> None:
    spec = upsell_ab.load(SPEC).to_dict()
    spec["data"] = {"event_columns": {"type": {"value": 3}, "discount": {"value": "none"}}}
    with pytest.raises(SpecError) as caught:
        upsell_ab.define(spec, catalogue=CATALOGUE)
    fields = {p.location.field for p in caught.value.problems}
    assert {"data.event_columns.type.value", "data.event_columns.discount.value"} <= fields
