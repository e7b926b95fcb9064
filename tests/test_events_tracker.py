"""Live tracker: concurrent writer processes, crash safety, idempotent spool ingestion.

Writers are real OS processes (``subprocess``) so nothing is shared but the
spool directory; the oracle is the set of ids each writer was told to write.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from upsell_ab.errors import InputError
from upsell_ab.events.spool import finished_files
from upsell_ab.events.store import EventStore
from upsell_ab.events.tracker import Tracker, ingest_spool

WRITER = r"""
import sys, time
from upsell_ab.events.tracker import Tracker
spool, worker, n, mode = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
tracker = Tracker(spool, process_name=f"w{worker}", flush_every=500, flush_interval_s=None)
for i in range(n):
    unit = f"w{worker}-{i}"
    tracker.exposure("exp", "treatment" if i % 2 else "control", unit, segment="s" + str(i % 3))
    if i % 4 == 0:
        tracker.event(unit, "order", value=10.0 + i % 7, discount=1.0, order_id="o" + unit)
if mode == "kill":
    tracker.flush()
    for i in range(n, n + 50):  # buffered, never flushed: lost when killed
        tracker.exposure("exp", "control", f"w{worker}-{i}")
    print("flushed", flush=True)
    time.sleep(60)
else:
    tracker.close()
"""


def start_writer(spool: Path, worker: int, n: int, mode: str = "normal") -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, str(spool), str(worker), str(n), mode],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )


def expected_units(workers: int, n: int) -> set[str]:
    return {f"w{w}-{i}" for w in range(workers) for i in range(n)}


def test_four_processes_write_at_once_nothing_lost_nothing_duplicated(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()  # a missing spool directory is an error for ingest (issue 10)
    workers, n = 4, 5000
    procs = [start_writer(spool, w, n) for w in range(workers)]
    with EventStore(tmp_path / "s.duckdb") as store:
        # ingest while the writers are still writing: readers must only see whole files
        while any(p.poll() is None for p in procs):
            ingest_spool(spool, store)
            time.sleep(0.2)
        assert all(p.returncode == 0 for p in procs)
        ingest_spool(spool, store)
        units = store.connection.execute(
            "SELECT unit_id, count(*) FROM exposures GROUP BY unit_id"
        ).fetchall()
        assert {u for u, _ in units} == expected_units(workers, n)
        assert max(c for _, c in units) == 1
        row = store.connection.execute(
            "SELECT count(*), count(DISTINCT event_id), sum(value) FROM events"
        ).fetchall()[0]
        per_worker = [10.0 + i % 7 for i in range(0, n, 4)]
        assert row == (
            workers * len(per_worker),
            workers * len(per_worker),
            workers * sum(per_worker),
        )
        assert store.attribute_columns() == ("segment",)
        before = store.checksum("exposures"), store.checksum("events")
        assert ingest_spool(spool, store).rows_added == 0
        assert (store.checksum("exposures"), store.checksum("events")) == before
    assert finished_files(spool) == []


def test_sigkill_after_flush_loses_nothing_flushed(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    proc = start_writer(spool, 0, 1200, mode="kill")
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "flushed"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    with EventStore(tmp_path / "s.duckdb") as store:
        ingest_spool(spool, store)
        units = {r[0] for r in store.connection.execute("SELECT unit_id FROM exposures").fetchall()}
    assert units == expected_units(1, 1200)  # the 50 unflushed records are gone, as documented


def test_crash_between_commit_and_move_reingests_nothing(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    with Tracker(spool, flush_every=10, flush_interval_s=None) as tracker:
        for i in range(35):
            tracker.exposure("exp", "control", f"u{i}")
            tracker.event(f"u{i}", "order", value=5)
    with EventStore(tmp_path / "s.duckdb") as store:
        first = ingest_spool(spool, store)
        assert first.rows_added == 70
        # simulate the crash: the commit happened, the move did not
        for path in (spool / "done").iterdir():
            shutil.move(str(path), spool / path.name)
        again = ingest_spool(spool, store)
        assert (again.rows_read, again.rows_added, again.duplicates_skipped) == (70, 0, 70)
        assert store.counts().exposures == 35 and store.counts().events == 35
    assert finished_files(spool) == []


def test_threads_share_one_tracker_safely(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    tracker = Tracker(spool, flush_every=97, flush_interval_s=0.05)

    def work(thread: int) -> None:
        for i in range(1500):
            tracker.exposure("exp", "control", f"t{thread}-{i}")

    threads = [threading.Thread(target=work, args=(t,)) for t in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    tracker.close()
    with EventStore(tmp_path / "s.duckdb") as store:
        report = ingest_spool(spool, store)
        distinct = store.connection.execute(
            "SELECT count(DISTINCT unit_id) FROM exposures"
        ).fetchall()
    assert report.rows_added == 9000 and report.duplicates_skipped == 0
    assert distinct == [(9000,)]


def test_timed_flush_writes_without_explicit_flush(tmp_path: Path) -> None:
    tracker = Tracker(tmp_path, flush_every=10_000, flush_interval_s=0.1)
    tracker.exposure("exp", "control", "u1")
    deadline = time.monotonic() + 5
    while not finished_files(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(finished_files(tmp_path)) == 1
    assert tracker.pending() == 0
    tracker.close()


def test_timestamps_are_stored_in_utc(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    tokyo = timezone(timedelta(hours=9))
    with Tracker(spool, flush_interval_s=None) as tracker:
        tracker.exposure("exp", "control", "u1", timestamp=datetime(2024, 5, 1, 9, 0, tzinfo=tokyo))
        tracker.event("u1", "order", value=3, timestamp=datetime(2024, 5, 1, 1, 30, tzinfo=UTC))
    with EventStore(tmp_path / "s.duckdb") as store:
        ingest_spool(spool, store)
        (exposed,) = store.connection.execute('SELECT "timestamp" FROM exposures').fetchall()[0]
        (ordered,) = store.connection.execute('SELECT "timestamp" FROM events').fetchall()[0]
    assert exposed == datetime(2024, 5, 1, 0, 0)
    assert ordered == datetime(2024, 5, 1, 1, 30)


def test_bad_calls_fail_in_the_app_not_at_ingestion(tmp_path: Path) -> None:
    tracker = Tracker(tmp_path, flush_interval_s=None)
    with pytest.raises(ValueError, match="aware"):
        tracker.exposure("exp", "control", "u1", timestamp=datetime(2024, 5, 1))
    with pytest.raises(ValueError, match=">= 0"):
        tracker.event("u1", "order", value=-1)
    with pytest.raises(ValueError, match="finite"):
        tracker.event("u1", "order", value=float("nan"))
    with pytest.raises(ValueError, match="identifier"):
        tracker.exposure("exp", "control", "u1", **{'x"; DROP TABLE events; --': "1"})
    with pytest.raises(ValueError, match="non-empty"):
        tracker.event("", "order")
    assert tracker.pending() == 0
    tracker.close()


def test_partial_and_corrupt_files(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    with Tracker(spool, flush_interval_s=None) as tracker:
        tracker.exposure("exp", "control", "u1")
    (spool / ".w-1-abc-00000001.jsonl.tmp").write_text(
        '{"kind": "exposure", "unit', encoding="utf-8"
    )
    with EventStore(tmp_path / "s.duckdb") as store:
        assert ingest_spool(spool, store).rows_added == 1  # the temporary file is not read
        (spool / "zz-corrupt.jsonl").write_text('{"kind": "event"\n', encoding="utf-8")
        with Tracker(spool, flush_interval_s=None) as tracker:
            tracker.exposure("exp", "control", "u2")
        before = store.checksum("exposures")
        with pytest.raises(InputError) as excinfo:  # strict mode; default quarantines
            ingest_spool(spool, store, quarantine=False)
        assert excinfo.value.problems[0].location.file.endswith("zz-corrupt.jsonl")  # type: ignore[union-attr]
        assert store.checksum("exposures") == before
        assert len(finished_files(spool)) == 2  # nothing moved


def test_fork_child_gets_its_own_files(tmp_path: Path) -> None:
    tracker = Tracker(tmp_path, process_name="pre", flush_interval_s=None)
    tracker.exposure("exp", "control", "parent-1")
    pid = os.fork()
    if pid == 0:  # child: the parent's buffer is not ours; write one record and exit
        try:
            tracker.exposure("exp", "control", "child-1")
            tracker.flush()
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    tracker.close()
    with EventStore(tmp_path / "s.duckdb") as store:
        ingest_spool(tmp_path, store)
        units = sorted(
            r[0] for r in store.connection.execute("SELECT unit_id FROM exposures").fetchall()
        )
    assert units == ["child-1", "parent-1"]


def test_bad_record_in_a_spool_file_is_located_by_file_and_line(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    with Tracker(spool, process_name="a", flush_interval_s=None) as tracker:
        tracker.exposure("exp", "control", "u1")
    bad = spool / "b-1-x-00000001.jsonl"
    bad.write_text(
        '{"kind":"event","unit_id":"u1","timestamp":"2024-05-01T00:00:00+00:00","event_type":"order"}\n'
        '{"kind":"event","unit_id":"u1","timestamp":"soon","event_type":"order"}\n',
        encoding="utf-8",
    )
    with EventStore(tmp_path / "s.duckdb") as store, pytest.raises(InputError) as excinfo:
        ingest_spool(spool, store, quarantine=False)  # strict mode; default quarantines
    locations = [
        (p.location.file, p.location.row, p.location.field) for p in excinfo.value.problems
    ]
    assert locations == [(str(bad), 2, "timestamp")]


def test_failed_automatic_flush_keeps_records_and_does_not_raise(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spool = tmp_path / "spool"
    tracker = Tracker(spool, flush_every=2, flush_interval_s=None)

    def disk_full(*args: object) -> None:
        raise OSError(28, "No space left on device (injected)")

    monkeypatch.setattr(os, "replace", disk_full)
    tracker.exposure("exp", "control", "u1")
    tracker.exposure("exp", "control", "u2")  # wakes the background flush, which fails
    deadline = time.monotonic() + 5  # the flush runs off the calling thread (issue 10)
    while tracker.flush_errors == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert tracker.flush_errors >= 1 and tracker.pending() == 2
    assert [p.name for p in spool.iterdir()] == []  # the temporary file was removed
    monkeypatch.undo()
    assert tracker.flush() is not None and tracker.pending() == 0
    tracker.close()
    with EventStore(tmp_path / "s.duckdb") as store:
        assert ingest_spool(spool, store).rows_added == 2
