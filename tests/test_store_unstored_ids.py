"""Store format 3 keeps derived ids unstored (``event_id`` NULL) (issue 17).

Rows without a given id are matched against stored ones by their identity fields;
these tests check that nothing which matched by id before is missed: a given id that
equals an unstored derived id (someone re-ingesting ids computed as docs/events.md
documents them), on both ingest paths (a pandas frame through the chunked path, a
Parquet file through the SQL path). Oracles: the ids are computed here with hashlib
from the documented key, and the store's checksum before and after a refusal.
"""

from __future__ import annotations

import calendar
import hashlib
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from upsell_ab.errors import InputError
from upsell_ab.events.store import EventStore


def _exposures(n: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "experiment": ["exp"] * n,
            "variant": ["a" if i % 2 else "b" for i in range(n)],
            "unit_id": [f"u{i}" for i in range(n)],
            "timestamp": [f"2024-05-01T10:{i:02d}:00Z" for i in range(n)],
        }
    )


def _documented_id(row: pd.Series) -> str:
    """``"md5:" + md5(experiment, variant, unit, epoch microseconds joined by U+001F)``."""
    stamp = pd.Timestamp(row["timestamp"])
    us = calendar.timegm(stamp.utctimetuple()) * 1_000_000
    key = "\x1f".join([row["experiment"], row["variant"], row["unit_id"], str(us)])
    return "md5:" + hashlib.md5(key.encode()).hexdigest()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[EventStore]:
    with EventStore(tmp_path / "store.duckdb") as s:
        s.ingest_exposures(_exposures(6))
        assert s.connection.execute("SELECT count(event_id) FROM exposures").fetchall() == [(0,)]
        yield s


def _as(kind: str, frame: pd.DataFrame, tmp_path: Path) -> pd.DataFrame | Path:
    if kind == "frame":
        return frame
    path = tmp_path / "given.parquet"
    frame.assign(timestamp=pd.to_datetime(frame["timestamp"], utc=True)).to_parquet(path)
    return path


@pytest.mark.parametrize("kind", ["frame", "parquet"])
def test_given_ids_equal_to_unstored_derived_ids_are_already_stored(
    store: EventStore, tmp_path: Path, kind: str
) -> None:
    given = _exposures(8)
    given["event_id"] = given.apply(_documented_id, axis=1)
    before = store.checksum("exposures")
    report = store.ingest_exposures(_as(kind, given.iloc[:6], tmp_path))
    assert (report.rows_added, report.duplicates_skipped) == (0, 6)
    assert store.checksum("exposures") == before
    # two new rows: stored with their given text; the six stay unstored
    report = store.ingest_exposures(_as(kind, given, tmp_path))
    assert (report.rows_added, report.duplicates_skipped) == (2, 6)
    stored = store.connection.execute(
        "SELECT unit_id, event_id FROM exposures WHERE event_id IS NOT NULL ORDER BY 1"
    ).fetchall()
    assert stored == [(u, given.loc[i, "event_id"]) for i, u in ((6, "u6"), (7, "u7"))]


@pytest.mark.parametrize("kind", ["frame", "parquet"])
def test_a_given_id_equal_to_another_rows_derived_id_is_a_conflict(
    store: EventStore, tmp_path: Path, kind: str
) -> None:
    """Same id, different content (another unit): refused, the store unchanged."""
    other = _exposures(6).iloc[[2]].assign(unit_id="u99")
    other["event_id"] = [_documented_id(_exposures(6).iloc[2])]
    before = store.checksum("exposures")
    with pytest.raises(InputError) as excinfo:
        store.ingest_exposures(_as(kind, other.reset_index(drop=True), tmp_path))
    assert any(p.code == "conflict" for p in excinfo.value.problems)
    assert "u2" in str(excinfo.value) and "u99" in str(excinfo.value)
    assert store.checksum("exposures") == before


@pytest.mark.parametrize("kind", ["frame", "parquet"])
def test_rows_without_ids_match_unstored_rows_by_identity(
    store: EventStore, tmp_path: Path, kind: str
) -> None:
    """The same six rows again (no ids): nothing added; one with a moved time: added."""
    again = _exposures(6)
    again.loc[5, "timestamp"] = "2024-05-01T11:59:00Z"
    report = store.ingest_exposures(_as(kind, again, tmp_path))
    assert (report.rows_added, report.duplicates_skipped) == (1, 5)
    assert store.connection.execute(
        'SELECT count(*), count(DISTINCT (experiment, variant, unit_id, "timestamp")), '
        "count(event_id) FROM exposures"
    ).fetchall() == [(7, 7, 0)]
