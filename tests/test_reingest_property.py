"""Property (issue 9): re-ingesting any part of an export never changes the analysis
unless the user asked to replace.

Hypothesis draws small event logs (with and without order ids and event ids) and a
re-ingest of a random subset of their rows, in a random order, under a mapping that
renames the source columns. Re-ingesting the same content adds nothing; a corrected
export (different values on some rows) is refused and leaves the store and every
sufficient statistic as they were; with ``replace=True`` the result equals a fresh
store holding the corrected rows (the oracle: an independent ingest of the merged
export into an empty store).
"""

from __future__ import annotations

import dataclasses
import math
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from upsell_ab.errors import InputError
from upsell_ab.events.schema import event_mapping
from upsell_ab.events.store import EventStore
from upsell_ab.metrics.compute import compute_experiment_data
from upsell_ab.spec.load import load_experiment

REPO = Path(__file__).resolve().parents[1]
RESOLVED = load_experiment(REPO / "experiments" / "laptop_bundle.yaml")
TABLES = ("exposures", "events")


@st.composite
def exports(draw: st.DrawFn) -> tuple[pd.DataFrame, pd.DataFrame]:
    units = draw(st.integers(4, 24))
    variants = draw(st.lists(st.sampled_from(["laptop_only", "bundle"]), min_size=units,
                             max_size=units))  # fmt: skip
    exposures = pd.DataFrame(
        {
            "experiment": "laptop_bundle",
            "variant": variants,
            "unit_id": [f"c{i}" for i in range(units)],
            "timestamp": [f"2026-05-{12 + i % 9:02d} 09:{i % 60:02d}:00" for i in range(units)],
        }
    )
    rows = []
    for i in range(units):
        for k in range(draw(st.integers(0, 3))):
            rows.append(
                {
                    "unit_id": f"c{i}",
                    "timestamp": f"2026-05-{12 + i % 9 + k:02d} 18:{(7 * i + k) % 60:02d}:00",
                    "event_type": draw(st.sampled_from(["order", "order", "refund"])),
                    "amount": draw(st.integers(0, 400_000)) / 100,
                    "qty": draw(st.integers(1, 3)),
                    "order_no": f"o{i}-{k}",
                    "eid": f"e{i}-{k}",
                }
            )
    events = pd.DataFrame(rows, columns=["unit_id", "timestamp", "event_type", "amount", "qty",
                                         "order_no", "eid"])  # fmt: skip
    keep = draw(st.sampled_from([(), ("order_no",), ("eid",), ("order_no", "eid")]))
    return exposures, events.drop(columns=[c for c in ("order_no", "eid") if c not in keep])


def _mapping(events: pd.DataFrame, renamed: bool) -> Any:
    names = {"value": "amount", "quantity": "qty", "discount": None}
    overrides = {k: (f"{v}_x" if renamed else v) for k, v in names.items() if v}
    if "order_no" in events:
        overrides["order_id"] = "order_no_x" if renamed else "order_no"
    if "eid" in events:
        overrides["event_id"] = "eid_x" if renamed else "eid"
    return event_mapping(overrides=overrides, allow_default=("discount",))


def _fresh(exposures: pd.DataFrame, events: pd.DataFrame, folder: Path, name: str) -> Path:
    path = folder / f"{name}.duckdb"
    with EventStore(path) as store:
        store.ingest_exposures(exposures)
        if len(events):
            store.ingest_events(events, _mapping(events, False))
    return path


def _numbers(value: Any) -> Any:
    """Every statistic as nested plain values (floats compared with a tolerance)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _numbers(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _numbers(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_numbers(v) for v in value]
    return value


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-9) or (math.isnan(a) and math.isnan(b))
    return bool(a == b)


def _analysis(path: Path) -> Any:
    data = compute_experiment_data(RESOLVED, store=path)
    return _numbers({"metrics": data.metrics, "quality": data.quality, "caps": data.caps})


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    export=exports(),
    pick=st.lists(st.booleans(), min_size=80, max_size=80),
    seed=st.integers(0, 2**16),
    renamed=st.booleans(),
    correct=st.booleans(),
)
def test_reingest_changes_nothing_unless_replaced(
    export: tuple[pd.DataFrame, pd.DataFrame],
    pick: list[bool],
    seed: int,
    renamed: bool,
    correct: bool,
) -> None:
    exposures, events = export
    with tempfile.TemporaryDirectory() as folder_name:
        folder = Path(folder_name)
        path = _fresh(exposures, events, folder, "store")
        before = _analysis(path)
        subset = events[[pick[i % len(pick)] for i in range(len(events))]]
        again = subset.sample(frac=1, random_state=seed)
        if correct and len(again):
            again = again.assign(amount=again["amount"] + 1.0)  # a corrected export
        mapping = _mapping(events, renamed)
        source = again.rename(columns=lambda c: f"{c}_x" if renamed and c != "unit_id"
                              and c not in ("timestamp", "event_type") else c)  # fmt: skip
        with EventStore(path) as store:
            sums = {t: store.checksum(t) for t in TABLES}
            changed = correct and len(again) > 0
            if changed:
                with pytest.raises(InputError) as refused:
                    store.ingest_events(source, mapping)
                assert any(p.code == "conflict" for p in refused.value.problems)
            elif len(again):
                report = store.ingest_events(source, mapping)
                assert report.rows_added == 0 and report.conflicts == 0
            exposures_again = exposures.sample(frac=1, random_state=seed)
            assert store.ingest_exposures(exposures_again).rows_added == 0
            assert {t: store.checksum(t) for t in TABLES} == sums  # nothing written
        assert _same(_analysis(path), before)
        if not changed:
            return
        with EventStore(path) as store:
            report = store.ingest_events(source, mapping, replace=True)
            assert report.replaced == len(again)
        merged = pd.concat([events.drop(index=again.index), again]).sort_index()
        oracle = _fresh(exposures, merged, folder, "oracle")
        assert _same(_analysis(path), _analysis(oracle))
