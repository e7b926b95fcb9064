"""Broken disks, killed writers, damaged spool files (issue 10): nothing lost, exit codes kept.

Real faults, no mocks: a small tmpfs (mounted here as root; skipped with the
reason where mounting is not allowed) fills up for real, processes are killed
with SIGKILL at seeded random moments, a read-only mount is read-only for
real. Oracles are counts we wrote ourselves, never numbers our code produced.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli_support import run_cli
from upsell_ab.events.spool import QUARANTINE_DIR, finished_files
from upsell_ab.events.store import EventStore
from upsell_ab.events.tracker import Tracker

REPO = Path(__file__).resolve().parents[1]


def _mount_tmpfs(where: Path, size: str, *, read_only: bool = False) -> None:
    where.mkdir(parents=True, exist_ok=True)
    options = f"size={size}" + (",ro" if read_only else "")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs in this sandbox ({done.stderr.strip()})")


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB file system that really fills up."""
    where = tmp_path / "small"
    _mount_tmpfs(where, "1m")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def _exposures_csv(path: Path, units: range, prefix: str = "u") -> None:
    lines = ["experiment,variant,unit_id,timestamp"]
    lines += [f"e,{'a' if i % 2 else 'b'},{prefix}{i},2026-03-05 10:00:00" for i in units]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


# ------------------------------------------------------------------ spool


def test_missing_spool_directory_is_exit_1_and_creates_no_store(tmp_path: Path) -> None:
    store = tmp_path / "new.duckdb"
    done = run_cli("ingest", "--store", str(store), "--spool", str(tmp_path / "typo"))
    assert done.returncode == 1
    assert "spool directory does not exist" in done.stderr and "Traceback" not in done.stderr
    assert not store.exists()


def test_damaged_spool_files_are_quarantined_and_the_rest_ingested(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    with Tracker(spool, process_name="good", flush_every=10, flush_interval_s=None) as tracker:
        for i in range(25):
            tracker.exposure("e", "a", f"u{i}")
    (spool / "x-torn.jsonl").write_text('{"kind": "exposure", "unit', encoding="utf-8")
    (spool / "y-badrow.jsonl").write_text(
        '{"kind":"event","unit_id":"u1","timestamp":"soon","event_type":"order"}\n',
        encoding="utf-8",
    )
    (spool / "z-binary.jsonl").write_bytes(b"\x00\xff\xfe garbage\n")
    store = tmp_path / "s.duckdb"
    done = run_cli("ingest", "--store", str(store), "--spool", str(spool), "--format", "json")
    assert done.returncode == 1, done.stderr  # a person must look at the quarantine
    payload = json.loads(done.stdout)
    quarantined = sorted(Path(q["file"]).name for q in payload["quarantined"])
    assert quarantined == ["x-torn.jsonl", "y-badrow.jsonl", "z-binary.jsonl"]
    assert payload["store_rows"]["exposures"] == 25
    folder = spool / QUARANTINE_DIR
    for name in quarantined:
        assert (folder / name).is_file()
        reason = (folder / f"{name}.reason.txt").read_text(encoding="utf-8")
        assert name in reason
    assert "timestamp" in (folder / "y-badrow.jsonl.reason.txt").read_text(encoding="utf-8")
    assert finished_files(spool) == []
    again = run_cli("ingest", "--store", str(store), "--spool", str(spool), "--format", "json")
    assert again.returncode == 0 and json.loads(again.stdout)["quarantined"] == []
    (spool / "x-torn.jsonl").write_text("{not json\n", encoding="utf-8")  # the same name again
    third = run_cli("ingest", "--store", str(store), "--spool", str(spool), "--format", "json")
    assert third.returncode == 1
    assert json.loads(third.stdout)["quarantined"][0]["moved_to"].endswith("x-torn.jsonl.1")
    assert (folder / "x-torn.jsonl").read_text(encoding="utf-8").startswith('{"kind"')
    assert (folder / "x-torn.jsonl.1.reason.txt").is_file()


def test_stale_temporaries_of_dead_writers_are_removed(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    stale = spool / f".app-{dead.stdout.strip()}-0123abcd-00000007.jsonl.tmp"
    stale.write_text('{"kind": "exp', encoding="utf-8")
    live = spool / f".app-{os.getpid()}-0123abcd-00000001.jsonl.tmp"
    live.write_text('{"kind": "exp', encoding="utf-8")
    done = run_cli("ingest", "--store", str(tmp_path / "s.duckdb"), "--spool", str(spool),
                "--format", "json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["stale_temporaries_removed"] == [stale.name]
    assert not stale.exists() and live.exists()  # a live writer's file is left alone


WRITER = textwrap.dedent(
    """
    import sys
    from upsell_ab.events.tracker import Tracker
    spool, name = sys.argv[1], sys.argv[2]
    tracker = Tracker(spool, process_name=name, flush_every=37, flush_interval_s=0.01)
    i = 0
    while True:
        tracker.exposure("e", "a", f"{name}-{i}")
        i += 1
        if i % 37 == 0:
            tracker.flush()
            print(i, flush=True)  # everything below i is on disk
    """
)


def test_writers_killed_at_random_points_lose_nothing_flushed(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    rng = random.Random(20261203)
    flushed: dict[str, int] = {}
    for round_ in range(4):
        name = f"w{round_}"
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(spool), name],
                                stdout=subprocess.PIPE, text=True)  # fmt: skip
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "37"  # running and flushing
        time.sleep(rng.uniform(0.0, 0.4))
        proc.send_signal(signal.SIGKILL)
        rest, _ = proc.communicate(timeout=10)
        reported = [int(x) for x in ["37", *rest.split()]]
        flushed[name] = max(reported)
    done = run_cli("ingest", "--store", str(tmp_path / "s.duckdb"), "--spool", str(spool),
                "--format", "json")  # fmt: skip
    assert done.returncode == 0, done.stderr  # killed writers leave only whole files
    with EventStore(tmp_path / "s.duckdb", read_only=True) as store:
        units = {r[0] for r in store.connection.execute("SELECT unit_id FROM exposures").fetchall()}
    for name, count in flushed.items():
        mine = {u for u in units if u.startswith(f"{name}-")}
        assert {f"{name}-{i}" for i in range(count)} <= mine  # nothing flushed is lost
        assert all(int(u.split("-")[1]) < count + 37 + 1000 for u in mine)
    assert not [p for p in spool.iterdir() if p.name.endswith(".tmp")]


# ------------------------------------------------------------ full disk


def test_tracker_on_a_full_disk_never_slows_the_app_and_recovers(small_disk: Path) -> None:
    filler = small_disk / "filler"
    with filler.open("wb") as handle:  # leave ~64 KiB free
        handle.write(b"\0" * (1024 * 1024 - 64 * 1024))
    spool = small_disk / "spool"
    tracker = Tracker(spool, flush_every=100, flush_interval_s=0.05, max_pending=2000)
    costs = []
    for i in range(20_000):
        began = time.perf_counter()
        tracker.exposure("e", "a", f"u{i}", channel="app")
        costs.append(time.perf_counter() - began)
    deadline = time.monotonic() + 5
    while tracker.flush_errors == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert tracker.flush_errors >= 1  # the disk really refused
    assert tracker.pending() <= 2000 and tracker.dropped > 0  # bounded, drops counted
    mean = sum(costs) / len(costs)
    median = sorted(costs)[len(costs) // 2]
    # the issue measured 1.86 ms per call at 8,000 pending records; now ~0.01 ms
    assert median < 0.0002 and mean < 0.0005, (median, mean)
    on_disk_before = sum(
        len(p.read_text(encoding="utf-8").splitlines()) for p in finished_files(spool)
    )
    filler.unlink()  # space comes back: the background thread catches up by itself
    deadline = time.monotonic() + 40
    while tracker.pending() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert tracker.pending() == 0
    tracker.close()
    lines = sum(len(p.read_text(encoding="utf-8").splitlines()) for p in finished_files(spool))
    assert lines == 20_000 - tracker.dropped and lines > on_disk_before
    assert not [p for p in spool.iterdir() if p.name.endswith(".tmp")]


def test_ingest_into_a_store_on_a_full_disk_is_one_line_and_leaves_it_as_it_was(
    small_disk: Path, tmp_path: Path
) -> None:
    store = small_disk / "s.duckdb"
    _exposures_csv(tmp_path / "small.csv", range(10))
    assert run_cli("ingest", "--store", str(store), "--exposures", str(tmp_path / "small.csv"))
    big = tmp_path / "big.csv"
    _exposures_csv(big, range(200_000), prefix="big-unit-with-a-long-identifier-")
    done = run_cli("ingest", "--store", str(store), "--exposures", str(big))
    assert done.returncode == 1
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert "space" in done.stderr.lower() or "disk" in done.stderr.lower(), done.stderr
    for leftover in small_disk.iterdir():
        if leftover.name.endswith(".wal"):
            leftover.unlink()  # a new run would replay or discard it; read what is committed
    with EventStore(store, read_only=True) as opened:
        assert opened.counts().exposures == 10  # the committed state, untouched


def test_first_ingest_on_a_full_disk_leaves_no_store_file(small_disk: Path, tmp_path: Path) -> None:
    big = tmp_path / "big.csv"
    _exposures_csv(big, range(200_000), prefix="big-unit-with-a-long-identifier-")
    store = small_disk / "new.duckdb"
    done = run_cli("ingest", "--store", str(store), "--exposures", str(big))
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert not store.exists() and not Path(f"{store}.wal").exists()


# ---------------------------------------------------------- store faults


def test_read_only_store_still_analyses_and_refuses_ingest(tmp_path: Path) -> None:
    where = tmp_path / "ro"
    _mount_tmpfs(where, "8m")
    try:
        spec = REPO / "experiments" / "cake_wording.yaml"
        store = where / "s.duckdb"
        made = run_cli("simulate", str(spec), "--store", str(store), "--units", "2000")
        assert made.returncode == 0, made.stderr
        subprocess.run(["mount", "-o", "remount,ro", str(where)], check=True)
        analysed = run_cli("analyze", str(spec), "--store", str(store), "--format", "json",
                        "--no-daily")  # fmt: skip
        assert analysed.returncode == 0, analysed.stderr
        assert json.loads(analysed.stdout)["experiments"][0]["experiment"] == "cake_wording"
        _exposures_csv(tmp_path / "x.csv", range(3))
        refused = run_cli("ingest", "--store", str(store), "--exposures", str(tmp_path / "x.csv"))
        assert refused.returncode == 1 and "Traceback" not in refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def test_ingest_killed_at_random_points_leaves_a_committed_state(tmp_path: Path) -> None:
    store = tmp_path / "s.duckdb"
    _exposures_csv(tmp_path / "base.csv", range(100))
    assert run_cli("ingest", "--store", str(store), "--exposures", str(tmp_path / "base.csv"))
    big = tmp_path / "big.csv"
    _exposures_csv(big, range(300_000), prefix="k")
    rng = random.Random(7)
    for _ in range(3):
        proc = subprocess.Popen(
            [sys.executable, "-m", "upsell_ab.cli.main", "ingest", "--store", str(store),
             "--exposures", str(big)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        time.sleep(rng.uniform(0.3, 2.5))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        with EventStore(store, read_only=True) as opened:
            assert opened.counts().exposures in (100, 300_100)  # all or nothing


def test_a_file_that_is_not_a_store_is_one_line(tmp_path: Path) -> None:
    fake = tmp_path / "notes.duckdb"
    fake.write_text("meeting notes\n" * 100, encoding="utf-8")
    for args in (
        ["analyze", str(REPO / "experiments" / "cake_wording.yaml"), "--store", str(fake)],
        ["ingest", "--store", str(fake), "--spool", str(tmp_path)],
    ):
        done = run_cli(*args)
        assert done.returncode == 1 and "Traceback" not in done.stderr
        assert "is not a DuckDB store" in done.stderr
    assert fake.read_text(encoding="utf-8") == "meeting notes\n" * 100


def test_a_held_store_names_its_holder_after_the_bounded_wait(tmp_path: Path) -> None:
    store = tmp_path / "s.duckdb"
    _exposures_csv(tmp_path / "x.csv", range(5))
    assert run_cli("ingest", "--store", str(store), "--exposures", str(tmp_path / "x.csv"))
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('held', flush=True); "
         "time.sleep(60)", str(store)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        began = time.monotonic()
        done = run_cli("ingest", "--store", str(store), "--exposures", str(tmp_path / "x.csv"),
                    env={"UPSELL_AB_STORE_WAIT": "1.5"})  # fmt: skip
        waited = time.monotonic() - began
        assert done.returncode == 1 and "Traceback" not in done.stderr
        assert f"PID {holder.pid}" in done.stderr and "UPSELL_AB_STORE_WAIT" in done.stderr
        assert "waiting up to 2 s" in done.stderr or "waiting up to 1 s" in done.stderr
        assert 1.4 < waited < 30
    finally:
        holder.kill()
        holder.wait()


def _file_size_limit(limit: int) -> None:
    """In the child: files may not grow past ``limit`` bytes (EFBIG instead of SIGXFSZ)."""
    import resource

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def test_ingest_past_a_file_size_limit_is_one_line_without_mounting(tmp_path: Path) -> None:
    """The same full-disk path where mounting is not allowed: RLIMIT_FSIZE makes every
    write past 1 MiB fail with EFBIG, as a full disk fails with ENOSPC."""
    store = tmp_path / "s.duckdb"
    _exposures_csv(tmp_path / "small.csv", range(10))
    assert run_cli("ingest", "--store", str(store), "--exposures", str(tmp_path / "small.csv"))
    big = tmp_path / "big.csv"
    _exposures_csv(big, range(200_000), prefix="big-unit-with-a-long-identifier-")
    done = subprocess.run(
        [sys.executable, "-m", "upsell_ab.cli.main", "ingest", "--store", str(store),
         "--exposures", str(big)],
        capture_output=True, text=True, timeout=120, check=False,
        preexec_fn=lambda: _file_size_limit(1 << 20),
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert "too large" in done.stderr.lower() or "file size" in done.stderr.lower(), done.stderr
    Path(f"{store}.wal").unlink(missing_ok=True)
    with EventStore(store, read_only=True) as opened:
        assert opened.counts().exposures == 10
