"""Parquet ingest inside DuckDB (issue 17) against the chunked Python path.

The oracle is the chunked path (:func:`upsell_ab.events.ingest.validated_chunks`
through :class:`~upsell_ab.events.batch_write.BatchWriter`), which has its own
tests: the same files, ingested into two stores by the two paths, must give the
same tables row for row (store order included), the same reports, the same
refusals with the same located problems, and re-ingests that change nothing.
Every comparison also checks that the SQL path really ran (a spy on
:func:`write_parquet`), so a silent fallback cannot pass for agreement.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from upsell_ab.errors import InputError
from upsell_ab.events import parquet_ingest
from upsell_ab.events.batch_write import BatchWriter
from upsell_ab.events.ingest import validated_chunks
from upsell_ab.events.parquet_ingest import ParquetSource
from upsell_ab.events.plausibility import ValueBounds
from upsell_ab.events.schema import ColumnMapping, Kind, event_mapping, exposure_mapping
from upsell_ab.events.store import EventStore, IngestReport
from upsell_ab.spec.data_models import Constant, EventColumns

TABLES = ("exposures", "events", "ingests")


def write(path: Path, columns: dict[str, pa.Array], row_group_size: int = 3) -> Path:
    """A Parquet file with small row groups (rows of one id spread over several)."""
    pq.write_table(pa.table(columns), path, row_group_size=row_group_size)
    return path


def ts(*values: str | None) -> pa.Array:
    return pa.array(
        [None if v is None else datetime.fromisoformat(v) for v in values], pa.timestamp("us")
    )


def exposures_file(path: Path, units: list[str], channels: list[str] | None = None) -> Path:
    n = len(units)
    return write(
        path,
        {
            "experiment": pa.array(["exp"] * n),
            "variant": pa.array(["a" if i % 2 else "b" for i in range(n)]),
            "unit_id": pa.array(units),
            "timestamp": ts(*[f"2024-05-01T10:{units.index(u):02d}:00.123456" for u in units]),
            "channel": pa.array(channels or ["web"] * n),
        },
    )


def events_file(path: Path, rows: list[tuple[Any, ...]], *, ids: bool = True) -> Path:
    """rows: (event_id, unit, type, value, discount, quantity, order_id, iso time)."""
    columns: dict[str, pa.Array] = {
        "unit_id": pa.array([r[1] for r in rows]),
        "event_type": pa.array([r[2] for r in rows]),
        "value": pa.array([r[3] for r in rows], pa.float64()),
        "discount": pa.array([r[4] for r in rows], pa.float64()),
        "quantity": pa.array([r[5] for r in rows], pa.int32()),
        "order_id": pa.array([r[6] for r in rows], pa.string()),
        "timestamp": pa.array(
            [datetime.fromisoformat(r[7]).replace(tzinfo=UTC) for r in rows],
            pa.timestamp("us", tz="UTC"),
        ),
    }
    if ids:
        columns["event_id"] = pa.array([r[0] for r in rows], pa.string())
    return write(path, columns)


EVENTS = [
    ("e1", "u1", "order", 100.0, 0.0, 1, "o1", "2024-05-02T10:00:00"),
    ("e2", " u2\u3000", "order", 25.5, None, 2, None, "2024-05-02T11:00:00"),
    ("e1", "u1", "order", 100.0, 0.0, 1, "o1", "2024-05-02T10:00:00"),  # repeat: skipped
    ("e3", "u3", "refund", None, math.nan, None, "o3", "2024-05-03T09:30:00"),
    ("", "u4", "order", 5.0, 1.0, 3, "o4", "2024-05-03T09:31:00"),  # empty id -> derived
    ("e5", "u5", "order", 0.0, 0.0, 0, " ", "2024-05-04T00:00:00"),
    ("e1", "u1", "order", 100.0, 0.0, 1, "o1", "2024-05-02T10:00:00"),
]


class Paths:
    """Two stores in one folder; ``ingest`` writes a source to both, one per path."""

    def __init__(self, folder: Path) -> None:
        self.old = EventStore(folder / "old.duckdb")
        self.new = EventStore(folder / "new.duckdb")
        self.native: list[bool] = []

    def ingest(self, path: Path, kind: Kind, mapping: ColumnMapping) -> list[IngestReport]:
        """Both paths; returns [old report, new report] (or raises the old path's
        InputError after checking that the new path raised an equal one)."""
        outcomes: list[Any] = []
        for store, native in ((self.old, False), (self.new, True)):
            source = ParquetSource(path, kind, mapping)
            stream: Any = source if native else validated_chunks(path, kind, mapping)
            try:
                outcomes.append(store.write_streams([stream])[0])
            except InputError as error:
                outcomes.append(error)
        old, new = outcomes
        if isinstance(old, InputError):
            assert isinstance(new, InputError), new
            assert new.problems == old.problems
            raise old
        return [old, new]

    def tables_equal(self, *, in_store_order: bool = False) -> None:
        """Equal tables; rows in the same store order too when ``in_store_order`` (the
        SQL path keeps the file's order only where it matters, see
        ``test_first_ingest_inserts_in_parallel_with_the_same_rows_and_analysis``)."""
        for table in TABLES:
            ordered = in_store_order or table == "ingests"
            assert rows(self.old, table, ordered) == rows(self.new, table, ordered), table
        assert self.old.attribute_columns() == self.new.attribute_columns()

    def close(self) -> None:
        self.old.close()
        self.new.close()


def rows(store: EventStore, table: str, ordered: bool = True) -> list[tuple[Any, ...]]:
    """Every row in store order, or sorted (``ingested_at`` left out: a wall-clock time)."""
    exclude = " EXCLUDE (ingested_at)" if table == "ingests" else ""
    order = "rowid" if ordered else "ALL"
    return store.connection.execute(f"SELECT *{exclude} FROM {table} ORDER BY {order}").fetchall()


@pytest.fixture
def paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Paths]:
    both = Paths(tmp_path)
    original = parquet_ingest.write_parquet

    def spy(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        both.native.append(result is not None)
        return result

    monkeypatch.setattr("upsell_ab.events.store.write_parquet", spy)
    yield both
    both.close()


def test_same_tables_and_reports_as_the_chunked_path(paths: Paths, tmp_path: Path) -> None:
    units = ["u1", "u2", "u3", "u2", "u4", " u5 ", "u6", "u2"]
    # row 4 repeats row 2's identity with another channel: the first row's channel is kept
    channels = ["web", "app", "web", "store", "web", "app", "web", "app"]
    exposures = exposures_file(tmp_path / "x.parquet", units, channels)
    mapping = exposure_mapping()
    old, new = paths.ingest(exposures, "exposures", mapping)
    assert new == old
    assert (new.rows_read, new.rows_added, new.duplicates_in_source) == (8, 6, 2)
    events = events_file(tmp_path / "e.parquet", EVENTS)
    old, new = paths.ingest(events, "events", event_mapping())
    assert new == old
    assert (new.rows_added, new.duplicates_in_source) == (5, 2)
    assert paths.native == [True, True]
    paths.tables_equal()
    stored = dict(paths.new.connection.execute("SELECT unit_id, channel FROM exposures").fetchall())
    assert stored["u2"] == "app"  # row 2's channel, not row 4's "store"


def test_overlap_with_the_store_and_reingest(paths: Paths, tmp_path: Path) -> None:
    first = events_file(tmp_path / "e1.parquet", EVENTS[:4])
    paths.ingest(first, "events", event_mapping())
    overlap = [
        *EVENTS[2:],  # e1 (stored) three times, e3 stored, the rest new
        ("e9", "u9", "order", 7.0, 0.0, 1, None, "2024-05-05T00:00:00"),
        ("e9", "u9", "order", 7.0, 0.0, 1, None, "2024-05-05T00:00:00"),
    ]
    second = events_file(tmp_path / "e2.parquet", overlap)
    old, new = paths.ingest(second, "events", event_mapping())
    assert new == old
    assert (new.rows_read, new.rows_added, new.duplicates_skipped) == (7, 3, 4)
    paths.tables_equal()
    before = rows(paths.new, "events")
    for path in (first, second):
        old, new = paths.ingest(path, "events", event_mapping())
        assert new == old
        assert new.rows_added == 0
    assert rows(paths.new, "events") == before  # re-ingest: no change
    paths.tables_equal()
    assert all(paths.native)


def test_derived_ids_integer_ids_nanoseconds_and_constants(paths: Paths, tmp_path: Path) -> None:
    path = write(
        tmp_path / "orders.parquet",
        {
            "customer": pa.array([7, 8, 7, 9], pa.int64()),
            "at": pa.array(
                [-1, 1_714_550_400_000_000_001, -1, 1_714_550_400_999_999_999],
                pa.timestamp("ns"),
            ),
            "amount": pa.array([1.5, 2.0, 1.5, None], pa.float32()),
            "order_no": pa.array([None, "A-1", None, None]),
        },
    )
    spec = EventColumns(
        unit_id="customer",
        timestamp="at",
        type=Constant(value="order"),
        value="amount",
        discount=Constant(value=0.0),
        quantity=None,
        order_id="order_no",
        event_id=None,
    )
    mapping = event_mapping(spec)
    old, new = paths.ingest(path, "events", mapping)
    assert new == old
    assert new.rows_added == 3
    for _ in range(2):
        old, new = paths.ingest(path, "events", mapping)
        assert new == old and new.rows_added == 0
    paths.tables_equal()
    assert all(paths.native)


@pytest.mark.parametrize(
    ("row", "field"),
    [
        (("e1", "  ", "order", 1.0, 0.0, 1, None, "2024-05-02T10:00:00"), "unit_id"),
        (("e1", "u1", "order", -1.0, 0.0, 1, None, "2024-05-02T10:00:00"), "value"),
        (("e1", "u1", "order", math.inf, 0.0, 1, None, "2024-05-02T10:00:00"), "value"),
        (("e1", "u1", "order", 1.0, 0.0, 1, None, "1850-05-02T10:00:00"), "timestamp"),
        (("e1", "u1", None, 1.0, 0.0, 1, None, "2024-05-02T10:00:00"), "event_type"),
    ],
)
def test_bad_rows_are_refused_and_located_as_before(
    paths: Paths, tmp_path: Path, row: tuple[Any, ...], field: str
) -> None:
    paths.ingest(events_file(tmp_path / "ok.parquet", EVENTS[:2]), "events", event_mapping())
    before = {t: paths.new.checksum(t) for t in TABLES}
    bad = events_file(tmp_path / "bad.parquet", [*EVENTS[3:], row])
    with pytest.raises(InputError) as excinfo:
        paths.ingest(bad, "events", event_mapping())
    located = [(p.location.row, p.location.field) for p in excinfo.value.problems]
    assert (len(EVENTS) - 3 + 1, field) in located
    assert {t: paths.new.checksum(t) for t in TABLES} == before
    paths.tables_equal()


def test_conflicts_are_refused_as_before(paths: Paths, tmp_path: Path) -> None:
    paths.ingest(events_file(tmp_path / "a.parquet", EVENTS), "events", event_mapping())
    before = {t: paths.new.checksum(t) for t in TABLES}
    corrected = [(*EVENTS[0][:3], 120.0, *EVENTS[0][4:]), *EVENTS[1:]]
    in_source = [*EVENTS, (*EVENTS[0][:3], 1.0, *EVENTS[0][4:])]
    for name, rows_ in (("corrected", corrected), ("in_source", in_source)):
        path = events_file(tmp_path / f"{name}.parquet", rows_)
        with pytest.raises(InputError) as excinfo:
            paths.ingest(path, "events", event_mapping())
        assert excinfo.value.problems[0].code in ("conflict", "conflict_in_source")
        assert {t: paths.new.checksum(t) for t in TABLES} == before
    # a re-export that added order ids to events stored without (derived ids)
    plain = [(None, "u7", "order", 3.0, 0.0, 1, None, "2024-05-06T00:00:00")]
    paths.ingest(events_file(tmp_path / "p.parquet", plain, ids=False), "events", event_mapping())
    before = {t: paths.new.checksum(t) for t in TABLES}
    with_order = [(None, "u7", "order", 3.0, 0.0, 1, "o7", "2024-05-06T00:00:00")]
    with pytest.raises(InputError):
        paths.ingest(
            events_file(tmp_path / "q.parquet", with_order, ids=False), "events", event_mapping()
        )
    assert {t: paths.new.checksum(t) for t in TABLES} == before
    paths.tables_equal()


def test_implausible_values_warn_with_rows_as_before(paths: Paths, tmp_path: Path) -> None:
    rows_ = [*EVENTS[:2], ("e8", "u8", "order", 5e12, 0.0, 1, None, "2024-05-02T10:00:00")]
    mapping = event_mapping(bounds=ValueBounds().with_flags(["order.quantity=0:1"]))
    old, new = paths.ingest(events_file(tmp_path / "w.parquet", rows_), "events", mapping)
    assert new == old
    assert new.implausible == 2 and new.rows_added == 3  # value 5e12, quantity 2 of 'order'
    paths.tables_equal()
    assert all(paths.native)


def test_failure_mid_ingest_leaves_the_store_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with EventStore(tmp_path / "s.duckdb") as store:
        store.ingest_exposures(exposures_file(tmp_path / "a.parquet", ["u1", "u2"]))
        before = {t: store.checksum(t) for t in TABLES}
        original = BatchWriter.finish
        seen: list[int] = []

        def finish_then_fail(self: BatchWriter) -> None:
            original(self)
            seen.append(
                self.connection.execute(
                    "SELECT count(*) FROM exposures WHERE ingest_id = ?", [self.ingest_id]
                ).fetchall()[0][0]
            )
            raise OSError("disk full (injected)")

        monkeypatch.setattr(BatchWriter, "finish", finish_then_fail)
        bigger = tmp_path / "b.parquet"
        write(
            bigger,
            {
                "experiment": pa.array(["exp"] * 4),
                "variant": pa.array(["a"] * 4),
                "unit_id": pa.array(["u1", "u3", "u4", "u5"]),
                "timestamp": ts(*["2024-05-01T10:00:00"] * 4),
                "segment": pa.array(["x"] * 4),
            },
        )
        with pytest.raises(OSError, match="injected"):
            store.ingest_exposures(bigger)
        assert seen == [4]  # the rows really were inserted inside the transaction
        monkeypatch.undo()
        assert {t: store.checksum(t) for t in TABLES} == before
        assert store.attribute_columns() == ("channel",)  # 'segment' rolled back too
        assert store.ingest_exposures(bigger).rows_added == 4


def test_a_clean_file_never_reaches_the_python_row_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Plan shape: no chunk is decoded into pandas and no per-chunk writer runs; the
    only frame validated is the schema's (zero rows)."""
    from upsell_ab.events import batch_write
    from upsell_ab.events import ingest as ingest_module

    def forbidden(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the chunked row path ran")

    framed: list[int] = []
    to_canonical = ingest_module.to_canonical

    def counting(table: Any, *args: Any, **kwargs: Any) -> Any:
        framed.append(len(table.frame))
        return to_canonical(table, *args, **kwargs)

    monkeypatch.setattr(parquet_ingest, "validated_chunks", forbidden)
    monkeypatch.setattr(batch_write.BatchWriter, "write", forbidden)
    monkeypatch.setattr(parquet_ingest, "to_canonical", counting)
    with EventStore(tmp_path / "s.duckdb") as store:
        for _ in range(2):
            report = store.ingest_events(events_file(tmp_path / "e.parquet", EVENTS))
        assert (report.rows_read, report.rows_added, report.duplicates_skipped) == (7, 0, 7)
    assert framed == [0, 0]


def test_types_the_sql_does_not_handle_go_through_the_chunked_path(
    paths: Paths, tmp_path: Path
) -> None:
    path = write(
        tmp_path / "text_times.parquet",
        {
            "experiment": pa.array(["exp", "exp"]),
            "variant": pa.array(["a", "b"]),
            "unit_id": pa.array(["u1", "u2"]),
            "timestamp": pa.array(["2024-05-01T10:00:00+09:00", "1714550400"]),
        },
    )
    old, new = paths.ingest(path, "exposures", exposure_mapping())
    assert new == old and new.rows_added == 2
    assert paths.native == [False]
    paths.tables_equal()


def test_store_order_is_the_file_order_when_rows_are_skipped(paths: Paths, tmp_path: Path) -> None:
    """The insert skips repeats and stored ids with hash joins; the store is larger than
    the file (a join would rather build on the file) and the file has many row groups:
    the rows of a batch written into a table that holds rows still land in the file's
    order, as after the chunked path (the first batch, into an empty table, need not)."""
    big = [(f"e{i}", f"u{i % 997}", "order", float(i % 13), 0.0, 1, None, "2024-05-02T10:00:00")
           for i in range(30_000)]  # fmt: skip
    paths.ingest(events_file(tmp_path / "big.parquet", big), "events", event_mapping())
    mixed = [big[(7919 * k) % 30_000] if k % 3 == 0 else
             (f"n{k % 4_000}", f"u{k % 4_000}", "order", 1.0, 0.0, 1, None, "2024-05-03T10:00:00")
             for k in range(6_000)]  # fmt: skip
    path = tmp_path / "mixed.parquet"
    pq.write_table(pq.read_table(events_file(tmp_path / "m.parquet", mixed)), path,
                   row_group_size=500)  # fmt: skip
    old, new = paths.ingest(path, "events", event_mapping())
    assert new == old
    already = new.duplicates_skipped - new.duplicates_in_source
    assert min(new.rows_added, new.duplicates_in_source, already) > 500  # all three kinds
    paths.tables_equal()
    second = "SELECT * FROM events WHERE ingest_id = 2 ORDER BY rowid"  # into a filled table
    assert paths.old.connection.execute(second).fetchall() == (
        paths.new.connection.execute(second).fetchall()
    )
    assert all(paths.native)


REPO = Path(__file__).resolve().parents[1]


def ordered_inserts(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Records, per insert, whether it was pinned to the file's order (one thread)."""
    seen: list[bool] = []
    original = parquet_ingest._in_file_order.__init__

    def spy(self: Any, connection: Any, *, joined: bool) -> None:
        seen.append(joined)
        original(self, connection, joined=joined)

    monkeypatch.setattr(parquet_ingest._in_file_order, "__init__", spy)
    return seen


def laptop_files(folder: Path, value: float = 0.0) -> tuple[Path, Path]:
    """Exposures and orders of experiments/laptop_bundle.yaml, with repeated rows in both
    files (so the insert skips rows) and 40 row groups (so DuckDB's threads interleave)."""
    units = 3_000
    exposures = folder / "x.parquet"
    pq.write_table(
        pa.table(
            {
                "experiment": ["laptop_bundle"] * (units + 300),
                "variant": [["laptop_only", "bundle"][(i % units) % 2] for i in range(units + 300)],
                "unit_id": [f"c{i % units}" for i in range(units + 300)],
                "timestamp": [
                    datetime(2026, 5, 12, 9, (i % units) % 60, (i % units) % 59)
                    for i in range(units + 300)
                ],
                "channel": ["web"] * (units + 300),
            }
        ),
        exposures,
        row_group_size=100,
    )
    n = 8_000
    order = [7919 * k % n for k in range(n)] + [k * 37 % n for k in range(200)]  # 200 repeats
    orders = folder / "o.parquet"
    pq.write_table(
        pa.table(
            {
                "event_id": [f"e{k}" for k in order],
                "unit_id": [f"c{k % units}" for k in order],
                "event_type": ["refund" if k % 11 == 0 else "order" for k in order],
                # full-precision values: a floating-point sum would depend on the order
                "value": [value or (k * 0.7310585786300049) % 977.0 + 0.1 for k in order],
                "discount": [(k % 7) * 0.1 for k in order],
                "quantity": [1 + k % 3 for k in order],
                "timestamp": [
                    datetime(2026, 5, 13 + k % 18, k % 24, k % 60, 0, k % 999_983, tzinfo=UTC)
                    for k in order
                ],
            }
        ),
        orders,
        row_group_size=200,
    )
    return exposures, orders


def test_first_ingest_inserts_in_parallel_with_the_same_rows_and_analysis(
    paths: Paths, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Into empty tables, with event values inside the exact sums' range, the insert that
    skips repeats runs on every thread (file order not kept): the store holds the same
    rows as after the chunked path, and the analysis of the two stores is identical to
    the last bit (exact sums do not depend on the order)."""
    from upsell_ab.metrics.compute import compute_experiment_data
    from upsell_ab.spec.load import load_experiment

    seen = ordered_inserts(monkeypatch)
    exposures, orders = laptop_files(tmp_path)
    for path, kind, mapping in (
        (exposures, "exposures", exposure_mapping()),
        (orders, "events", event_mapping()),
    ):
        old, new = paths.ingest(path, kind, mapping)  # type: ignore[arg-type]
        assert new == old
        assert new.duplicates_in_source == (300 if kind == "exposures" else 200)
    assert paths.native == [True, True]
    assert seen == [False, False]  # both inserts skipped rows, neither was pinned
    paths.tables_equal()
    paths.close()
    resolved = load_experiment(REPO / "experiments" / "laptop_bundle.yaml")
    analyses = [
        repr(compute_experiment_data(resolved, store=store.path).metrics)
        for store in (paths.old, paths.new)
    ]
    assert "revenue" in analyses[0] and analyses[0] == analyses[1]


@pytest.mark.parametrize("value", [1e-9, 2.0**41])
def test_values_outside_the_exact_range_keep_the_file_order(
    paths: Paths, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: float
) -> None:
    """An analysis may add such values in floating point in stored order: the insert
    keeps the file's order even into an empty table."""
    seen = ordered_inserts(monkeypatch)
    _, orders = laptop_files(tmp_path, value)
    old, new = paths.ingest(orders, "events", event_mapping())
    assert new == old and new.duplicates_in_source == 200
    assert seen == [True]
    paths.tables_equal(in_store_order=True)


@st.composite
def event_logs(draw: st.DrawFn) -> list[tuple[Any, ...]]:
    """Small event logs with repeats (same and different content), padded and empty ids,
    ids that start with ``~`` or are not ASCII (the raw-text check's false alarms and
    edges), missing and NaN amounts, with and without order ids."""
    ids = st.sampled_from(["e1", "e2", " e3", "e4\u3000", "", None, "~e5", "顧客6", "e7\t"])
    units = st.sampled_from(["u1", "u2", " u3 ", "u4", "~u5", "顧客"])
    amounts = st.sampled_from([0.0, 1.5, 100.0, None, math.nan])
    times = st.sampled_from(["2024-05-02T10:00:00", "2024-05-02T10:00:00.5", "2024-05-03T00:00"])
    row = st.tuples(
        ids,
        units,
        st.sampled_from(["order", "refund"]),
        amounts,
        amounts,
        st.sampled_from([1, 2, None]),
        st.sampled_from(["o1", "o2", None, " "]),
        times,
    )
    return draw(st.lists(row, min_size=1, max_size=12))


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(first=event_logs(), second=event_logs(), with_ids=st.booleans())
def test_property_sql_path_agrees_with_the_chunked_path(
    tmp_path_factory: pytest.TempPathFactory,
    first: list[tuple[Any, ...]],
    second: list[tuple[Any, ...]],
    with_ids: bool,
) -> None:
    """Any two files, ingested one after the other (and the first again): both paths give
    the same reports or the same refusals, and the same tables after every step."""
    folder = tmp_path_factory.mktemp("prop")
    both = Paths(folder)
    original = parquet_ingest.write_parquet

    def spy(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        both.native.append(result is not None)
        return result

    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr("upsell_ab.events.store.write_parquet", spy)
            for index, rows_ in enumerate((first, second, first)):
                path = events_file(folder / f"f{index}.parquet", rows_, ids=with_ids)
                try:
                    old, new = both.ingest(path, "events", event_mapping())
                    assert new == old
                    assert both.native[-1]  # an accepted file went through the SQL path
                except InputError:
                    pass  # both refused with equal problems (checked inside ingest)
                both.tables_equal()
    finally:
        both.close()


def test_empty_file_is_one_logged_batch_of_nothing(paths: Paths, tmp_path: Path) -> None:
    path = events_file(tmp_path / "e.parquet", EVENTS[:1])
    empty = tmp_path / "empty.parquet"
    pq.write_table(pq.read_table(path).slice(0, 0), empty)
    old, new = paths.ingest(empty, "events", event_mapping())
    assert new == old and (new.rows_read, new.rows_added) == (0, 0)
    paths.tables_equal()
    assert paths.native == [True]
