"""CSV exports as shops' spreadsheets write them: ';', tab or '|' separated, not UTF-8.

A European spreadsheet saves "CSV" with ';' (its decimal mark is the comma); ingest read
the header as one column named ``order_id;unit_id;...`` and refused every canonical
column as missing, naming that one column. The separator is now taken from the header.
Japanese Excel saves Shift_JIS (cp932): the refusal now names that encoding and the
conversion. The oracle is what each file holds (the rows and values written here).
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from tests.cli_support import run_cli
from upsell_ab.events.readers import csv_delimiter

ROWS = [
    ("o1", "c1", "2026-03-05 10:00:00", "order", "12.50"),
    ("o2", "c2", "2026-03-05 11:00:00", "order", "7"),
]
HEADER = ("order_id", "unit_id", "timestamp", "event_type", "value")


def _write(path: Path, delimiter: str, rows: list[tuple[str, ...]]) -> None:
    lines = [delimiter.join(HEADER), *(delimiter.join(row) for row in rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.mark.parametrize("delimiter", [";", "\t", "|", ","])
def test_the_separator_comes_from_the_header(tmp_path: Path, delimiter: str) -> None:
    events = tmp_path / "orders.csv"
    _write(events, delimiter, ROWS)
    store = tmp_path / "s.duckdb"
    done = run_cli("ingest", "--store", str(store), "--events", str(events))
    assert done.returncode == 0, done.stderr
    with duckdb.connect(str(store), read_only=True) as connection:
        stored = connection.execute(
            "SELECT unit_id, order_id, value FROM events ORDER BY unit_id"
        ).fetchall()
    assert stored == [("c1", "o1", 12.5), ("c2", "o2", 7.0)]


def test_decimal_commas_are_refused_and_nothing_is_written(tmp_path: Path) -> None:
    events = tmp_path / "orders.csv"
    _write(events, ";", [("o1", "c1", "2026-03-05 10:00:00", "order", "12,50")])
    store = tmp_path / "s.duckdb"
    refused = run_cli("ingest", "--store", str(store), "--events", str(events))
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert "row 1, value: unparsable number in value: '12,50'" in refused.stderr
    assert not store.exists()


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("a,b,c", ","),
        ("a;b;c", ";"),
        ("a\tb", "\t"),
        ("a|b|c", "|"),
        ('unit_id,value,"note; free text"', ","),  # a ';' inside a quoted name
        ("a;b,c", ","),  # a tie keeps the comma
        ("single", ","),
    ],
)
def test_csv_delimiter(header: str, expected: str) -> None:
    assert csv_delimiter(header) == expected


def test_a_shift_jis_file_is_named_with_its_conversion(tmp_path: Path) -> None:
    events = tmp_path / "orders.csv"
    text = (
        "order_id,unit_id,timestamp,event_type,value,note\n"
        "o1,c1,2026-03-05 10:00:00,order,520,ケーキ\n"
    )
    events.write_bytes(text.encode("cp932"))
    refused = run_cli("ingest", "--store", str(tmp_path / "s.duckdb"), "--events", str(events))
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert "is not UTF-8" in refused.stderr and "iconv -f cp932 -t utf-8" in refused.stderr


def test_a_latin1_file_keeps_the_latin1_hint(tmp_path: Path) -> None:
    """0xE9 followed by a newline is not a cp932 pair: the file is not offered as Shift_JIS."""
    events = tmp_path / "orders.csv"
    events.write_bytes(
        b"order_id,unit_id,timestamp,event_type,value,note\n"
        b"o1,c1,2026-03-05 10:00:00,order,520,caf\xe9\n"
    )
    refused = run_cli("ingest", "--store", str(tmp_path / "s.duckdb"), "--events", str(events))
    assert refused.returncode == 1
    assert "iconv -f latin1 -t utf-8" in refused.stderr and "cp932" not in refused.stderr
