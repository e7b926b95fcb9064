"""The CLI's error boundary (issue 10): real driver failures become one clean line and exit 1.

Each failure below is produced by the real library (DuckDB, pyarrow, psycopg,
the OS), not a stand-in, and passed through :func:`run_guarded` exactly as
``upsell-ab`` does.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from upsell_ab.cli.failures import run_guarded
from upsell_ab.errors import StoreError

REPO = Path(__file__).resolve().parents[1]


def _guarded(failure: object) -> tuple[int, list[str]]:
    lines: list[str] = []

    def run() -> int:
        raise failure  # type: ignore[misc]

    return run_guarded("probe", run, lines.append), lines


def _duckdb_error() -> Exception:
    import duckdb

    try:
        duckdb.connect().execute("SELECT * FROM no_such_table")
    except duckdb.Error as error:
        return error
    raise AssertionError("DuckDB accepted a missing table")


def _arrow_error() -> Exception:
    import pyarrow as pa

    try:
        pa.array([1, "a"])
    except pa.ArrowException as error:
        return error
    raise AssertionError("pyarrow accepted mixed types")


def _psycopg_error() -> Exception:
    psycopg = pytest.importorskip("psycopg")
    try:
        psycopg.connect("postgresql://bob:Hunter2Secret@[::1:5999/shop")
    except psycopg.Error as error:
        return error
    raise AssertionError("libpq parsed a broken URI")


def _os_error() -> Exception:
    try:
        open("/proc/version/x", "w")  # noqa: SIM115
    except OSError as error:
        return error
    raise AssertionError("wrote below a file")


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (_duckdb_error, "upsell-ab probe: DuckDB failed: Catalog Error"),
        (_arrow_error, "upsell-ab probe: Arrow failed:"),
        (_psycopg_error, "upsell-ab probe: PostgreSQL failed:"),
        (_os_error, "upsell-ab probe: cannot use /proc/version/x: Not a directory"),
    ],
    ids=["duckdb", "pyarrow", "psycopg", "os"],
)
def test_library_failures_are_one_line_exit_1(make: object, expected: str) -> None:
    code, lines = _guarded(make())  # type: ignore[operator]
    assert code == 1 and len(lines) == 1 and "\n" not in lines[0]
    assert lines[0].startswith(expected), lines
    assert "Hunter2Secret" not in lines[0]


def test_a_multi_line_store_error_is_one_line_without_secrets() -> None:
    error = StoreError('Spark query failed: boom\n\tat org.apache.Foo("postgresql://a:pw123@h/db")')
    code, lines = _guarded(error)
    assert code == 1 and lines == ["upsell-ab probe: Spark query failed: boom"]
    code, lines = _guarded(StoreError("cannot reach postgresql://a:pw123@h/db \x1b[2J"))
    assert lines == ["upsell-ab probe: cannot reach postgresql://a:***@h/db \\x1b[2J"]


def test_interrupt_is_130() -> None:
    code, lines = _guarded(KeyboardInterrupt())
    assert code == 130 and lines == ["upsell-ab probe: interrupted"]


def _files_spec(folder: Path, exposures: str, events: str) -> Path:
    """cake_wording with a ``files`` source at the given paths, beside metrics.yaml."""
    shutil.copy(REPO / "experiments" / "metrics.yaml", folder / "metrics.yaml")
    spec = (REPO / "experiments" / "cake_wording.yaml").read_text(encoding="utf-8")
    files = (
        f"data:\n  kind: files\n  exposures: {{path: {exposures}}}\n"
        f"  events: {{path: {events}}}\n  exposure_columns: {{attributes: [channel]}}\n"
    )
    path = folder / "files.yaml"
    path.write_text(re.sub(r"data:\n(  .*\n)+", files, spec), "utf-8")
    return path


def _cli(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "upsell_ab.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=folder,
    )


def test_validate_explain_accepts_a_files_spec(tmp_path: Path) -> None:
    _files_spec(tmp_path, "data/x.parquet", "data/e.parquet")
    done = _cli(tmp_path, "validate", "--explain", str(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("value", ["inf", "nan", "1e400", "-5"])
def test_plan_refuses_non_finite_daily_units(value: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "upsell_ab.cli.main", "plan",
         str(REPO / "experiments" / "cake_wording.yaml"), "--daily-units", value],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "--daily-units" in done.stderr


def _analyze_files(tmp_path: Path, bad_event_line: str) -> subprocess.CompletedProcess[str]:
    """cake_wording on CSV files read in place: 40 customers (numeric ids), one event
    each, the event on data row 7 (line 8) replaced by ``bad_event_line``."""
    spec = _files_spec(tmp_path, "x.csv", "e.csv")
    exposures = ["experiment,variant,unit_id,timestamp,channel"]
    events = ["unit_id,timestamp,event_type,value,discount,quantity,event_id"]
    for i in range(40):
        arm = ("generic", "pairing")[i % 2]
        exposures.append(f"cake_wording,{arm},{1000 + i},2026-03-03 10:00:00,app")
        events.append(f"{1000 + i},2026-03-03 10:05:00,upsell_purchase,{480 + i}.5,0,1,e{i}")
    events[7] = bad_event_line
    (tmp_path / "x.csv").write_text("\n".join(exposures) + "\n", "utf-8")
    (tmp_path / "e.csv").write_text("\n".join(events) + "\n", "utf-8")
    return _cli(tmp_path, "analyze", str(spec))


def test_a_decimal_comma_in_files_read_in_place_is_located(tmp_path: Path) -> None:
    """DuckDB's conversion error names the value and column but not the file or row;
    the analysis adds them (the row we wrote the bad cell on) and says how to fix it."""
    done = _analyze_files(tmp_path, '1006,2026-03-03 10:05:00,upsell_purchase,"486,50",0,1,e6')
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "the events file" in done.stderr and "e.csv" in done.stderr, done.stderr
    assert "row 7 (line 8), column 'value': '486,50' is not a number" in done.stderr
    assert "'.' as the decimal point" in done.stderr


def test_a_text_id_among_numeric_ids_is_located(tmp_path: Path) -> None:
    """Numeric unit ids in the exposures, one 'guest' in the events: DuckDB fails the
    join's cast naming only its own alias; the report names the file, row and column."""
    done = _analyze_files(tmp_path, "guest,2026-03-03 10:05:00,upsell_purchase,486.5,0,1,e6")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "row 7 (line 8), column 'unit_id': 'guest' is not a whole number" in done.stderr, (
        done.stderr
    )
    assert "same kind of id in both" in done.stderr


def test_a_timestamp_duckdb_cannot_read_is_located(tmp_path: Path) -> None:
    """One day-first time among ISO ones: DuckDB reads the whole column as text and fails
    with a binder error about VARCHAR and TIMESTAMP; the report names the cell."""
    done = _analyze_files(tmp_path, "1006,03/03/2026 10:05,upsell_purchase,486.5,0,1,e6")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "column 'timestamp' is read as text, not as timestamps" in done.stderr, done.stderr
    assert "'03/03/2026 10:05' on row 7 (line 8)" in done.stderr


def test_an_events_file_with_only_a_header_says_so(tmp_path: Path) -> None:
    done = _analyze_files(tmp_path, "1006,2026-03-03 10:05:00,upsell_purchase,486.5,0,1,e6")
    assert done.returncode == 0, done.stderr  # the set-up itself analyses
    header = (tmp_path / "e.csv").read_text("utf-8").splitlines()[0]
    (tmp_path / "e.csv").write_text(header + "\n", "utf-8")
    again = _cli(tmp_path, "analyze", str(tmp_path / "files.yaml"))
    assert again.returncode == 1 and "Traceback" not in again.stderr
    assert "the events file 'e.csv' has no data rows" in again.stderr, again.stderr


@pytest.mark.parametrize("cell", ["inf", "-inf", "nan"])
def test_a_non_finite_amount_in_files_read_in_place_is_refused(tmp_path: Path, cell: str) -> None:
    """DuckDB reads 'inf' and 'nan' as numbers; a percentile cap used to turn them into the
    cap silently (revenue_per_customer caps at the 99th percentile). The analysis refuses,
    naming the file, the column and how many events."""
    done = _analyze_files(tmp_path, f"1006,2026-03-03 10:05:00,upsell_purchase,{cell},0,1,e6")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "not a finite number" in done.stderr, done.stderr
    assert "the events file 'e.csv': 1 in column 'value'" in done.stderr


def test_an_empty_amount_is_not_refused(tmp_path: Path) -> None:
    """The refusal is for inf/NaN only: an empty cell is a missing amount (counted as 0)."""
    done = _analyze_files(tmp_path, "1006,2026-03-03 10:05:00,upsell_purchase,,0,1,e6")
    assert done.returncode == 0, done.stderr


def test_a_missing_column_in_files_read_in_place_is_a_located_spec_problem(
    tmp_path: Path,
) -> None:
    """An export without its 'value' column: DuckDB's 'Referenced column not found' used
    to reach the user; the analysis reports what validate reports (file, line, field).
    (A missing optional column at its default name, such as 'discount', is read as
    absent: tests/test_validate_source_files.py.)"""
    done = _analyze_files(tmp_path, "1006,2026-03-03 10:05:00,upsell_purchase,486.5,0,1,e6")
    assert done.returncode == 0, done.stderr
    lines = (tmp_path / "e.csv").read_text("utf-8").splitlines()
    cut = [",".join(c for k, c in enumerate(line.split(",")) if k != 3) for line in lines]
    (tmp_path / "e.csv").write_text("\n".join(cut) + "\n", "utf-8")
    again = _cli(tmp_path, "analyze", "files.yaml")
    assert again.returncode == 1 and "Traceback" not in again.stderr
    assert "Binder Error" not in again.stderr, again.stderr
    assert re.search(r"files\.yaml:\d+:\d+: data\.event_columns\.value: the events file "
                     r"'e\.csv' has no column 'value'", again.stderr), again.stderr  # fmt: skip


def test_a_missing_file_names_where_it_was_looked_for(tmp_path: Path) -> None:
    """Relative paths are read from the folder the command runs in: run from elsewhere
    and the analysis says which path it tried and why, located in the spec."""
    done = _analyze_files(tmp_path, "1006,2026-03-03 10:05:00,upsell_purchase,486.5,0,1,e6")
    assert done.returncode == 0, done.stderr
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    again = _cli(elsewhere, "analyze", str(tmp_path / "files.yaml"))
    assert again.returncode == 1 and "Traceback" not in again.stderr
    assert "No files found" not in again.stderr, again.stderr
    assert "data.exposures.path: no exposures file matches 'x.csv'" in again.stderr
    assert str(elsewhere / "x.csv") in again.stderr
    assert "not the spec's folder" in again.stderr


def test_epoch_seconds_for_a_timestamp_is_a_located_spec_problem(tmp_path: Path) -> None:
    """Integer epoch seconds where a timestamp belongs: DuckDB's 'Cannot compare values of
    type BIGINT and type TIMESTAMP' used to reach the user; the analysis names the spec
    line, the column, its type and how to export it."""
    done = _analyze_files(tmp_path, "1006,2026-03-03 10:05:00,upsell_purchase,486.5,0,1,e6")
    assert done.returncode == 0, done.stderr
    lines = (tmp_path / "e.csv").read_text("utf-8").splitlines()
    epoch = [lines[0]] + [",".join([c.split(",")[0], "1772532300", *c.split(",")[2:]])
                          for c in lines[1:]]  # fmt: skip
    (tmp_path / "e.csv").write_text("\n".join(epoch) + "\n", "utf-8")
    again = _cli(tmp_path, "analyze", "files.yaml")
    assert again.returncode == 1 and "Traceback" not in again.stderr
    assert "Binder Error" not in again.stderr, again.stderr
    assert "column 'timestamp' of the events file 'e.csv' is BIGINT" in again.stderr
    assert "the analysis needs a timestamp" in again.stderr, again.stderr
