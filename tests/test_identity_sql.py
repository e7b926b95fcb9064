"""The column-wise content comparison equals the content keys' text comparison.

:func:`~upsell_ab.events.identity.content_differs_sql` replaces
``content_sql(s) IS DISTINCT FROM content_sql(t)`` (the store's definition of "same
content", shared with the chunked path) on the Parquet path's re-ingest. The oracle
here is that text comparison itself, evaluated by DuckDB on the same pairs of rows:
pairs drawn with equal and nearly equal fields, signed zeros, subnormal and huge
values, timestamps at whole seconds and at the microsecond, the ends of the accepted
range, non-ASCII text and NULL order ids.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from upsell_ab.events.identity import content_differs_sql, content_sql
from upsell_ab.events.schema import EVENTS_DDL, EXPOSURES_DDL, Kind

TEXT = st.sampled_from(["c1", "c2", "Ü", "顧客", "a b", "o-1", "0", "𝔘"])
NUMBER = st.sampled_from(
    [0.0, -0.0, 1.0, 1.0000000000000002, 0.1, 0.30000000000000004, 5e-324, 1e-310, 1e20, 1e300]
)
MOMENT = st.sampled_from(
    [
        datetime(2024, 5, 1, 10, 0, 0),
        datetime(2024, 5, 1, 10, 0, 0, 1),
        datetime(2024, 5, 1, 10, 0, 0, 100000),
        datetime(2024, 5, 1, 10, 0, 0, 999999),
        datetime(1900, 1, 1),
        datetime(2199, 12, 31, 23, 59, 59, 999999),
    ]
)


@st.composite
def event_rows(draw: st.DrawFn) -> tuple[Any, ...]:
    return (
        draw(TEXT),
        draw(MOMENT),
        draw(st.sampled_from(["order", "refund", "Bestellung"])),
        draw(NUMBER),
        draw(NUMBER),
        draw(NUMBER),
        draw(st.one_of(st.none(), TEXT)),
    )


@st.composite
def exposure_rows(draw: st.DrawFn) -> tuple[Any, ...]:
    return (draw(TEXT), draw(TEXT), draw(TEXT), draw(MOMENT))


def nearby(
    data: st.DataObject, row: tuple[Any, ...], strategy: st.SearchStrategy[Any]
) -> tuple[Any, ...]:
    """The same row, or it with one or two fields redrawn (often an equal value)."""
    other = data.draw(strategy)
    fields = data.draw(st.sets(st.integers(0, len(row) - 1), max_size=2))
    return tuple(other[i] if i in fields else row[i] for i in range(len(row)))


def compare(kind: Kind, ddl: str, pairs: list[tuple[tuple[Any, ...], tuple[Any, ...]]]) -> None:
    connection = duckdb.connect()
    for name in ("s", "t"):
        connection.execute(ddl.replace(f"EXISTS {kind}", f"EXISTS {name}"))
    columns = 7 if kind == "events" else 4
    marks = ", ".join(["?"] * columns)
    names = (
        'unit_id, "timestamp", event_type, value, discount, quantity, order_id'
        if kind == "events"
        else 'experiment, variant, unit_id, "timestamp"'
    )
    for k, (left, right) in enumerate(pairs):
        for name, row in (("s", left), ("t", right)):
            connection.execute(
                f"INSERT INTO {name} ({names}, event_id) VALUES ({marks}, ?)", [*row, str(k)]
            )
    got = connection.execute(
        f"SELECT s.event_id, {content_sql(kind, 's')} IS DISTINCT FROM {content_sql(kind, 't')}, "
        f"{content_differs_sql(kind, 's', 't')} FROM s JOIN t USING (event_id) ORDER BY 1"
    ).fetchall()
    assert len(got) == len(pairs)
    for key, by_text, by_columns in got:
        assert by_columns == by_text, pairs[int(key)]


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_events_columns_agree_with_text(data: st.DataObject) -> None:
    pairs = []
    for _ in range(40):
        row = data.draw(event_rows())
        pairs.append((row, nearby(data, row, event_rows())))
    compare("events", EVENTS_DDL, pairs)


@settings(max_examples=30, deadline=None)
@given(st.data())
def test_exposures_columns_agree_with_text(data: st.DataObject) -> None:
    pairs = []
    for _ in range(40):
        row = data.draw(exposure_rows())
        pairs.append((row, nearby(data, row, exposure_rows())))
    compare("exposures", EXPOSURES_DDL, pairs)


@pytest.mark.parametrize(
    ("left", "right", "differs"),
    [
        ((0.0, 0.0, 1.0, None), (-0.0, 0.0, 1.0, None), True),  # '-0.0' vs '0.0'
        ((0.0, 0.0, 1.0, None), (0.0, 0.0, 1.0, None), False),
        ((0.0, 0.0, 1.0, "o1"), (0.0, 0.0, 1.0, None), True),
        ((5e-324, 0.0, 1.0, None), (0.0, 0.0, 1.0, None), True),
    ],
)
def test_signed_zero_and_null_order_id(
    left: tuple[Any, ...], right: tuple[Any, ...], differs: bool
) -> None:
    when = datetime(2024, 5, 1) + timedelta(microseconds=7)
    pair = (("u", when, "order", *left), ("u", when, "order", *right))
    compare("events", EVENTS_DDL, [pair])
    connection = duckdb.connect()
    got = connection.execute(
        "SELECT " + content_differs_sql("events", "s", "t") + " FROM (SELECT ? AS unit_id, "
        '? AS "timestamp", ? AS event_type, CAST(? AS DOUBLE) AS value, CAST(? AS DOUBLE) AS '
        "discount, CAST(? AS DOUBLE) AS quantity, CAST(? AS VARCHAR) AS order_id) AS s, (SELECT "
        '? AS unit_id, ? AS "timestamp", ? AS event_type, CAST(? AS DOUBLE) AS value, CAST(? AS '
        "DOUBLE) AS discount, CAST(? AS DOUBLE) AS quantity, CAST(? AS VARCHAR) AS order_id) AS t",
        [*pair[0], *pair[1]],
    ).fetchall()
    assert got == [(differs,)]
