"""Reading and validating exposure/event sources (no store writes here).

Oracles: timestamps are checked against datetimes built by hand with
``zoneinfo`` (independent of pandas' parser); problem locations against the
row/line we wrote into the file ourselves.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from upsell_ab.errors import InputError
from upsell_ab.events.ingest import MAX_PROBLEMS_PER_KIND, load_batch
from upsell_ab.events.schema import event_mapping, exposure_mapping, split_map_flags
from upsell_ab.spec.models import EventColumns, ExposureColumns


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def utc_naive(value: datetime) -> np.datetime64:
    return np.datetime64(value.astimezone(UTC).replace(tzinfo=None), "us")


def problems_of(
    excinfo: pytest.ExceptionInfo[InputError],
) -> list[tuple[int | None, int | None, str | None, str]]:
    return [
        (p.location.line, p.location.row, p.location.field, p.code) for p in excinfo.value.problems
    ]


# ------------------------------------------------------------------ timestamps
def test_timestamp_formats_all_become_utc(tmp_path: Path) -> None:
    src = write(
        tmp_path / "x.csv",
        "experiment,variant,unit_id,timestamp\n"
        "e,a,u1,2024-05-01T10:00:00+09:00\n"
        "e,a,u2,2024-05-01 10:00:00\n"
        "e,a,u3,2024-05-01T10:00:00Z\n"
        "e,a,u4,1714557600\n"
        "e,a,u5,1714557600.25\n"
        "e,a,u6,2024-05-01\n"
        "e,a,u7,2024-05-01T10:00:00.123456-05:30\n",
    )
    got = load_batch(src, "exposures").frame["timestamp"].to_numpy()
    tokyo = ZoneInfo("Asia/Tokyo")
    expected = [
        utc_naive(datetime(2024, 5, 1, 10, tzinfo=tokyo)),
        utc_naive(datetime(2024, 5, 1, 10, tzinfo=UTC)),
        utc_naive(datetime(2024, 5, 1, 10, tzinfo=UTC)),
        utc_naive(datetime.fromtimestamp(1714557600, UTC)),
        utc_naive(datetime.fromtimestamp(1714557600, UTC)) + np.timedelta64(250_000, "us"),
        utc_naive(datetime(2024, 5, 1, tzinfo=UTC)),
        utc_naive(datetime(2024, 5, 1, 15, 30, 0, 123456, tzinfo=UTC)),
    ]
    assert list(got) == expected


def test_naive_timestamps_follow_timezone_option_aware_ones_do_not(tmp_path: Path) -> None:
    src = write(
        tmp_path / "x.csv",
        "experiment,variant,unit_id,timestamp\n"
        "e,a,u1,2024-07-01 12:00:00\n"
        "e,a,u2,2024-07-01T12:00:00+00:00\n"
        "e,a,u3,2024-01-15 12:00\n",
    )
    got = load_batch(src, "exposures", timezone="Europe/Berlin").frame["timestamp"].to_numpy()
    berlin = ZoneInfo("Europe/Berlin")
    assert list(got) == [
        utc_naive(datetime(2024, 7, 1, 12, tzinfo=berlin)),  # CEST, UTC+2
        utc_naive(datetime(2024, 7, 1, 12, tzinfo=UTC)),
        utc_naive(datetime(2024, 1, 15, 12, tzinfo=berlin)),  # CET, UTC+1
    ]
    assert got[0] == np.datetime64("2024-07-01T10:00:00", "us")


def test_dst_gap_and_overlap_are_refused_with_location(tmp_path: Path) -> None:
    src = write(
        tmp_path / "x.csv",
        "experiment,variant,unit_id,timestamp\n"
        "e,a,u1,2024-03-31 02:30:00\n"  # does not exist in Berlin
        "e,a,u2,2024-10-27 02:30:00\n"  # happens twice in Berlin
        "e,a,u3,2024-10-27T02:30:00+01:00\n",  # explicit offset: fine
    )
    with pytest.raises(InputError) as excinfo:
        load_batch(src, "exposures", timezone="Europe/Berlin")
    assert problems_of(excinfo) == [
        (2, 1, "timestamp", "bad_timestamp"),
        (3, 2, "timestamp", "bad_timestamp"),
    ]
    assert "daylight-saving" in excinfo.value.problems[0].message


def test_unknown_timezone_is_an_input_error() -> None:
    frame = pd.DataFrame(
        {"experiment": ["e"], "variant": ["a"], "unit_id": ["u"], "timestamp": ["2024-01-01"]}
    )
    with pytest.raises(InputError) as excinfo:
        load_batch(frame, "exposures", timezone="Mars/Olympus")
    assert excinfo.value.problems[0].code == "bad_timezone"


def test_epoch_milliseconds_are_refused_with_hint(tmp_path: Path) -> None:
    src = write(tmp_path / "x.csv", "experiment,variant,unit_id,timestamp\ne,a,u1,1714557600000\n")
    with pytest.raises(InputError) as excinfo:
        load_batch(src, "exposures")
    problem = excinfo.value.problems[0]
    assert (problem.location.row, problem.code) == (1, "bad_timestamp")
    assert problem.hint is not None and "milliseconds" in problem.hint


def test_dataframe_datetime_columns_aware_and_naive() -> None:
    aware = pd.Series(pd.to_datetime(["2024-05-01 10:00"]).tz_localize("Asia/Tokyo"))
    frame = pd.DataFrame(
        {"experiment": ["e"], "variant": ["a"], "unit_id": ["u"], "timestamp": aware}
    )
    got = load_batch(frame, "exposures").frame["timestamp"].to_numpy()
    assert got[0] == np.datetime64("2024-05-01T01:00:00", "us")
    naive = frame.assign(timestamp=pd.to_datetime(["2024-05-01 10:00"]))
    got = load_batch(naive, "exposures", timezone="Asia/Tokyo").frame["timestamp"].to_numpy()
    assert got[0] == np.datetime64("2024-05-01T01:00:00", "us")
    epoch = frame.assign(timestamp=[1714557600])
    got = load_batch(epoch, "exposures").frame["timestamp"].to_numpy()
    assert got[0] == utc_naive(datetime.fromtimestamp(1714557600, UTC))


# ------------------------------------------------------------ located problems
def test_every_problem_is_located_with_line_and_row(tmp_path: Path) -> None:
    src = write(
        tmp_path / "orders.csv",
        "unit_id,timestamp,event_type,value,discount,quantity\n"
        "u1,2024-05-01,order,100,0,1\n"
        ",2024-05-01,order,100,0,1\n"
        "u3,yesterday,order,100,0,1\n"
        "u4,2024-05-01,order,12abc,0,1\n"
        "u5,2024-05-01,order,100,0,-2\n"
        "u6,2024-05-01,order,-1,0,1\n"
        "u7,2024-05-01,,100,-3,1\n"
        "u8,2024-05-01,order,inf,0,1\n",
    )
    with pytest.raises(InputError) as excinfo:
        load_batch(src, "events")
    got = sorted(problems_of(excinfo), key=lambda p: (p[1] or 0, p[2] or ""))
    assert got == [
        (3, 2, "unit_id", "empty_value"),
        (4, 3, "timestamp", "bad_timestamp"),
        (5, 4, "value", "bad_number"),
        (6, 5, "quantity", "negative_quantity"),
        (7, 6, "value", "negative_value"),
        (8, 7, "discount", "negative_discount"),
        (8, 7, "event_type", "empty_value"),
        (9, 8, "value", "bad_number"),
    ]
    text = str(excinfo.value)
    assert "orders.csv:5: row 4, value: unparsable number in value: '12abc'" in text


def test_missing_column_suggests_close_name(tmp_path: Path) -> None:
    src = write(tmp_path / "x.csv", "experiment,Variant,unit_id,timestmp\ne,a,u,2024-01-01\n")
    with pytest.raises(InputError) as excinfo:
        load_batch(src, "exposures")
    hints = {p.location.field: p.hint or "" for p in excinfo.value.problems}
    assert set(hints) == {"variant", "timestamp"}
    assert "did you mean 'Variant'" in hints["variant"]
    assert "did you mean 'timestmp'" in hints["timestamp"]
    assert all(p.location.line == 1 for p in excinfo.value.problems)


def test_optional_event_column_near_miss_is_an_error_not_a_silent_default(tmp_path: Path) -> None:
    src = write(tmp_path / "x.csv", "unit_id,timestamp,event_type,Value\nu,2024-01-01,order,5\n")
    with pytest.raises(InputError) as excinfo:
        load_batch(src, "events")
    assert [p.location.field for p in excinfo.value.problems] == ["value"]


def test_absent_optional_event_columns_take_documented_defaults(tmp_path: Path) -> None:
    src = write(tmp_path / "x.csv", "unit_id,timestamp,event_type\nu,2024-01-01,unsubscribe\n")
    batch = load_batch(src, "events")
    row = batch.frame.iloc[0]
    assert (row["value"], row["discount"], row["quantity"]) == (0.0, 0.0, 1.0)
    assert set(batch.defaulted) == {"value", "discount", "quantity"}


def test_empty_numeric_cells_take_defaults(tmp_path: Path) -> None:
    src = write(
        tmp_path / "x.csv",
        "unit_id,timestamp,event_type,value,discount,quantity\nu,2024-01-01,order,,,\n",
    )
    row = load_batch(src, "events").frame.iloc[0]
    assert (row["value"], row["discount"], row["quantity"]) == (0.0, 0.0, 1.0)


def test_problem_list_is_capped_per_kind_but_counts_the_rest(tmp_path: Path) -> None:
    lines = "".join(f"u{i},notadate,order,1\n" for i in range(25))
    src = write(tmp_path / "x.csv", "unit_id,timestamp,event_type,value\n" + lines)
    with pytest.raises(InputError) as excinfo:
        load_batch(src, "events")
    problems = excinfo.value.problems
    assert len(problems) == MAX_PROBLEMS_PER_KIND + 1
    assert f"{25 - MAX_PROBLEMS_PER_KIND:,} more rows" in problems[-1].message


def test_ragged_csv_rows_are_located(tmp_path: Path) -> None:
    src = write(
        tmp_path / "x.csv", "unit_id,timestamp,event_type\nu,2024-01-01,order\nu,2024,order,extra\n"
    )
    with pytest.raises(InputError) as excinfo:
        load_batch(src, "events")
    problem = excinfo.value.problems[0]
    assert problem.code == "bad_row"
    assert "expected 3 fields, found 4" in problem.message


def test_duplicate_header_is_refused(tmp_path: Path) -> None:
    src = write(tmp_path / "x.csv", "unit_id,timestamp,unit_id\nu,2024-01-01,v\n")
    with pytest.raises(InputError) as excinfo:
        load_batch(src, "events")
    assert excinfo.value.problems[0].location.column == 3


# -------------------------------------------------------------------- mapping
def test_spec_mapping_and_overrides(tmp_path: Path) -> None:
    src = write(tmp_path / "x.csv", "customer,seen_at,exp,arm,channel\nc1,2024-01-01,e,a,web\n")
    spec = ExposureColumns(unit_id="customer", timestamp="seen_at", experiment="exp")
    batch = load_batch(src, "exposures", exposure_mapping(spec, {"variant": "arm"}))
    row = batch.frame.iloc[0]
    assert (row["unit_id"], row["experiment"], row["variant"], row["channel"]) == (
        "c1",
        "e",
        "a",
        "web",
    )
    assert batch.attributes == ("channel",)


def test_attribute_list_limits_columns_and_checks_names(tmp_path: Path) -> None:
    src = write(
        tmp_path / "x.csv",
        "experiment,variant,unit_id,timestamp,segment,Unnamed: 0\ne,a,u,2024-01-01,new,0\n",
    )
    with pytest.raises(InputError) as excinfo:
        load_batch(src, "exposures")
    assert [p.code for p in excinfo.value.problems] == ["bad_attribute"]
    batch = load_batch(src, "exposures", exposure_mapping(attributes=("segment",)))
    assert batch.attributes == ("segment",)


def test_split_map_flags_routes_by_kind() -> None:
    exposures, events = split_map_flags(
        ["unit_id=customer", "events.value=revenue", "exposures.timestamp=seen"]
    )
    assert exposures == {"unit_id": "customer", "timestamp": "seen"}
    assert events == {"unit_id": "customer", "value": "revenue"}
    with pytest.raises(InputError) as excinfo:
        split_map_flags(["unit=customer", "novalue"])
    assert [p.code for p in excinfo.value.problems] == ["bad_mapping", "bad_mapping"]
    assert "did you mean 'unit_id'" in (excinfo.value.problems[0].hint or "")


def test_explicitly_mapped_optional_column_must_exist(tmp_path: Path) -> None:
    src = write(tmp_path / "x.csv", "unit_id,timestamp,event_type\nu,2024-01-01,order\n")
    with pytest.raises(InputError) as excinfo:
        load_batch(src, "events", event_mapping(EventColumns(value="revenue")))
    assert excinfo.value.problems[0].location.field == "revenue"


def test_an_unprefixed_map_missing_from_the_other_table_names_the_prefix(tmp_path: Path) -> None:
    """`--map event_id=order_id` reaches both tables (documented); the exposures file
    has no order_id, and the fix is the events-only form, not another --map."""
    src = write(tmp_path / "xp.csv", "unit_id,experiment,variant,timestamp\nu,e,a,2024-01-01\n")
    exposures, _ = split_map_flags(["event_id=order_id"])
    with pytest.raises(InputError) as excinfo:
        load_batch(src, "exposures", exposure_mapping(None, exposures))
    (problem,) = excinfo.value.problems
    assert problem.location.field == "order_id"
    assert "--map events.event_id=order_id" in (problem.hint or ""), problem.hint


# ----------------------------------------------------------- types and formats
def test_parquet_typed_columns_and_integral_float_ids(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "unit_id": [1001.0, 1002.0],
            "timestamp": pd.to_datetime(["2024-01-01 00:00", "2024-01-02 00:00"]).tz_localize(
                "UTC"
            ),
            "event_type": ["order", "refund"],
            "value": [10, 2.5],
        }
    )
    path = tmp_path / "x.parquet"
    frame.to_parquet(path)
    batch = load_batch(path, "events")
    assert list(batch.frame["unit_id"]) == ["1001", "1002"]
    assert list(batch.frame["value"]) == [10.0, 2.5]
    assert batch.sha256 is not None and len(batch.sha256) == 64


def test_ids_keep_leading_zeros_and_are_stripped(tmp_path: Path) -> None:
    src = write(tmp_path / "x.csv", "unit_id,timestamp,event_type\n 007 ,2024-01-01,order\n")
    assert load_batch(src, "events").frame["unit_id"].iloc[0] == "007"


def test_hostile_source_column_names_are_only_data(tmp_path: Path) -> None:
    hostile = 'id"; DROP TABLE events; --'
    frame = pd.DataFrame({hostile: ["u"], "timestamp": ["2024-01-01"], "event_type": ["order"]})
    batch = load_batch(frame, "events", event_mapping(overrides={"unit_id": hostile}))
    assert batch.frame["unit_id"].iloc[0] == "u"


def test_excel_style_csv_with_bom_and_crlf(tmp_path: Path) -> None:
    src = tmp_path / "excel.csv"
    src.write_bytes(b"\xef\xbb\xbfexperiment,variant,unit_id,timestamp\r\ne,a,u1,2024-01-01\r\n")
    batch = load_batch(src, "exposures")
    assert list(batch.frame["unit_id"]) == ["u1"]
    assert batch.attributes == ()
