"""Ingest that cannot silently corrupt: identity, conflicts, replace, shifted re-exports.

Each test reproduces a path of issue 9 that used to double the data (a
corrected re-export, a time-zone fix, order ids added) and checks that it is now
a reported conflict with the store unchanged (table checksums), or, with
``replace=True``, a replacement that leaves exactly one copy of each row.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from upsell_ab.errors import InputError
from upsell_ab.events.schema import event_mapping
from upsell_ab.events.store import EventStore

TABLES = ("exposures", "events", "ingests")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[EventStore]:
    with EventStore(tmp_path / "store.duckdb") as s:
        yield s


def checksums(store: EventStore) -> dict[str, str]:
    return {t: store.checksum(t) for t in TABLES}


def orders(with_order_ids: bool = False, hours: int = 10) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "unit_id": ["c1", "c2", "c3", "c1"],
            "timestamp": [f"2026-03-0{d} {hours}:15:00" for d in (1, 1, 2, 3)],
            "event_type": ["order"] * 4,
            "revenue": [1200.0, 800.0, 640.0, 90.0],
        }
    )
    if with_order_ids:
        frame["order_id"] = ["o1", "o2", "o3", "o4"]
    return frame


VALUE = event_mapping(overrides={"value": "revenue"})
NO_VALUE = event_mapping(allow_default=("value",))


def stored(store: EventStore) -> list[tuple[object, ...]]:
    return store.connection.execute(
        'SELECT unit_id, "timestamp", value, order_id FROM events ORDER BY unit_id, "timestamp"'
    ).fetchall()


# ------------------------------------------------------------ did you mean
def test_revenue_column_without_mapping_is_refused_naming_the_flag(store: EventStore) -> None:
    before = checksums(store)
    with pytest.raises(InputError) as excinfo:
        store.ingest_events(orders(), source_name="orders.csv")
    (problem,) = excinfo.value.problems
    assert problem.code == "unmapped_column"
    assert problem.location.field == "revenue"
    assert "did you mean 'revenue'" in problem.message
    assert problem.hint is not None and "--map events.value=revenue" in problem.hint
    assert checksums(store) == before


def test_allowed_default_is_recorded_per_batch(store: EventStore) -> None:
    from upsell_ab.events.store_admin import defaulted_columns, list_batches

    report = store.ingest_events(orders(), NO_VALUE)
    assert report.defaulted_columns == ("value", "discount", "quantity")
    (batch,) = list_batches(store.connection)
    assert batch.defaulted == ("value", "discount", "quantity")
    assert defaulted_columns(store.connection) == {"value": 4, "discount": 4, "quantity": 4}


@pytest.mark.parametrize(
    ("canonical", "present", "expected"),
    [
        ("value", ["unit_id", "net_revenue"], "net_revenue"),
        ("value", ["unit_id", "amount"], "amount"),
        ("quantity", ["qty"], "qty"),
        ("discount", ["coupon_amount"], "coupon_amount"),
        ("order_id", ["order_date", "order_no"], "order_no"),
        ("order_id", ["order_date"], None),
        ("value", ["unit_id", "event_type", "timestamp"], None),
    ],
)
def test_lookalike_names(canonical: str, present: list[str], expected: str | None) -> None:
    from upsell_ab.events.column_hints import lookalike

    assert lookalike(canonical, present) == expected


# ------------------------------------------------------- corrected re-exports
def test_reingest_with_value_mapped_conflicts_instead_of_doubling(store: EventStore) -> None:
    store.ingest_events(orders(), NO_VALUE, source_name="orders.csv")
    before = checksums(store)
    with pytest.raises(InputError) as excinfo:
        store.ingest_events(orders(), VALUE, source_name="orders.csv")
    (problem,) = excinfo.value.problems
    assert problem.code == "conflict"
    assert problem.message.startswith("4 rows conflict with rows already stored (batch 1)")
    assert "row 1 (unit c1, order) differs from batch 1: value 0 -> 1200" in problem.message
    assert problem.hint is not None and "--replace" in problem.hint
    assert checksums(store) == before

    report = store.ingest_events(orders(), VALUE, source_name="orders.csv", replace=True)
    assert (report.rows_added, report.conflicts, report.replaced) == (4, 4, 4)
    assert [row[2] for row in stored(store)] == [1200.0, 90.0, 800.0, 640.0]
    # and the same corrected file again is a no-op
    again = store.ingest_events(orders(), VALUE)
    assert (again.rows_added, again.conflicts, again.duplicates_skipped) == (0, 0, 4)


def test_order_ids_added_in_a_reexport_conflict(store: EventStore) -> None:
    store.ingest_events(orders(), VALUE)
    before = checksums(store)
    with pytest.raises(InputError) as excinfo:
        store.ingest_events(orders(with_order_ids=True), VALUE)
    assert "4 rows conflict" in str(excinfo.value)
    assert "order_id NULL -> o1" in str(excinfo.value)
    assert checksums(store) == before
    store.ingest_events(orders(with_order_ids=True), VALUE, replace=True)
    assert [row[3] for row in stored(store)] == ["o1", "o4", "o2", "o3"]


@pytest.mark.parametrize("with_order_ids", [False, True])
def test_time_zone_fix_is_a_conflict_not_a_second_copy(
    store: EventStore, with_order_ids: bool
) -> None:
    store.ingest_events(orders(with_order_ids), VALUE)  # naive times read as UTC
    before = checksums(store)
    with pytest.raises(InputError) as excinfo:
        store.ingest_events(orders(with_order_ids), VALUE, timezone="Asia/Tokyo")
    message = str(excinfo.value)
    assert "4 rows conflict" in message
    if not with_order_ids:  # found by the shift, not by the id
        assert "moved by -09:00" in message
    assert checksums(store) == before
    report = store.ingest_events(orders(with_order_ids), VALUE, timezone="Asia/Tokyo", replace=True)
    assert (report.rows_added, report.replaced) == (4, 4)
    assert [str(row[1]) for row in stored(store)][:2] == [
        "2026-03-01 01:15:00",
        "2026-03-03 01:15:00",
    ]
    assert store.counts().events == 4


def test_growing_export_appends_only_new_rows(store: EventStore) -> None:
    first = orders().iloc[:2]
    store.ingest_events(first, VALUE)
    report = store.ingest_events(orders(), VALUE)
    assert (report.rows_added, report.duplicates_skipped, report.conflicts) == (2, 2, 0)
    assert store.counts().events == 4


def test_same_time_other_day_is_not_mistaken_for_a_shift(store: EventStore) -> None:
    """A daily export whose rows repeat earlier ones 24 h later is new data."""
    store.ingest_events(orders().iloc[[0]], VALUE)
    later = orders().iloc[[0]].assign(timestamp="2026-03-02 10:15:00")
    assert store.ingest_events(later, VALUE).rows_added == 1


def test_event_id_reused_with_other_content_conflicts_with_store(store: EventStore) -> None:
    frame = orders().assign(event_id=["e1", "e2", "e3", "e4"])
    store.ingest_events(frame, VALUE)
    before = checksums(store)
    changed = frame.assign(revenue=[1200.0, 800.0, 640.0, 91.0])
    with pytest.raises(InputError) as excinfo:
        store.ingest_events(changed, VALUE)
    assert "1 rows conflict" in str(excinfo.value)
    assert "value 90 -> 91" in str(excinfo.value)
    assert checksums(store) == before


def test_two_line_items_of_one_order_are_refused_not_collapsed(store: EventStore) -> None:
    frame = orders(with_order_ids=True)
    frame.loc[1, "order_id"] = "o1"
    with pytest.raises(InputError) as excinfo:
        store.ingest_events(frame, VALUE)
    (problem,) = excinfo.value.problems
    assert problem.code == "conflict_in_source"
    assert "rows 1, 2" in problem.message
    assert store.counts().events == 0


def test_conflicts_across_chunks_of_one_source(tmp_path: Path) -> None:
    frame = pd.concat([orders(True), orders(True).assign(revenue=1.0)], ignore_index=True)
    with EventStore(tmp_path / "s.duckdb", chunk_rows=3) as small:
        with pytest.raises(InputError) as excinfo:
            small.ingest_events(frame, VALUE)
        assert "conflict_in_source" in [p.code for p in excinfo.value.problems]
        assert small.counts().events == 0
