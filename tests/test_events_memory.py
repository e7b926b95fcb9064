"""DuckDB's memory limit follows the machine, is overridable, and spills to a private
temporary directory that is removed when the connection closes (issue 17)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from upsell_ab.errors import InputError
from upsell_ab.events.engines import DuckDBEngine
from upsell_ab.events.memory import (
    MEMORY_ENV,
    SPILL_PREFIX,
    host_label,
    memory_limit_bytes,
    parse_memory_limit,
    physical_memory,
    remove_stale_spills,
)
from upsell_ab.events.store import EventStore


def test_default_is_half_the_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MEMORY_ENV, raising=False)
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    assert 0 < physical_memory() <= total
    assert memory_limit_bytes() == physical_memory() // 2


def test_sizes_and_shares() -> None:
    assert parse_memory_limit("8GB", "x") == 8 * 10**9
    assert parse_memory_limit("512 MiB", "x") == 512 * 2**20
    assert parse_memory_limit("25%", "x") == int(physical_memory() * 0.25)
    for bad in ("lots", "0%", "150%", "1MB", "-3GB"):
        with pytest.raises(InputError, match="bad memory limit"):
            parse_memory_limit(bad, "--memory-limit")


def test_environment_and_flag(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MEMORY_ENV, "2GB")
    assert memory_limit_bytes() == 2 * 10**9
    assert memory_limit_bytes("1GB") == 10**9  # the flag wins
    monkeypatch.setenv(MEMORY_ENV, "nonsense")
    with pytest.raises(InputError, match=MEMORY_ENV):
        memory_limit_bytes()


def test_engine_sets_the_limit_and_removes_its_spill_directory(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(MEMORY_ENV, "300MiB")
    engine = DuckDBEngine()
    limit = engine.execute("SELECT current_setting('memory_limit')")[0][0]
    spill = engine.execute("SELECT current_setting('temp_directory')")[0][0]
    assert limit.replace(" ", "") in ("300.0MiB", "300MiB", "314.5MB")  # DuckDB's own format
    assert Path(spill).is_dir() and "upsell_ab_duckdb_" in spill
    # a grouping far larger than the limit completes by spilling
    rows = engine.execute(
        "SELECT count(*), sum(s) FROM (SELECT i % 20000000 AS k, sum(i) AS s "
        "FROM range(40000000) t(i) GROUP BY k)"
    )
    assert rows[0][0] == 20_000_000
    engine.close()
    assert not Path(spill).exists()


def test_store_connection_is_limited_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MEMORY_ENV, "256MiB")
    store = EventStore(tmp_path / "s.duckdb")
    connection = store.connect()
    spill = connection.execute("SELECT current_setting('temp_directory')").fetchall()[0][0]
    assert Path(spill).is_dir()
    store.close()
    assert not Path(spill).exists()


def test_bad_flag_is_a_one_line_error(tmp_path: Path) -> None:
    spec = Path(__file__).parents[1] / "experiments" / "cake_wording.yaml"
    result = subprocess.run(
        [sys.executable, "-m", "upsell_ab.cli.main", "analyze", str(spec), "--memory-limit", "x"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])},
    )
    assert result.returncode == 1
    assert "bad memory limit 'x'" in result.stderr and "Traceback" not in result.stderr


# ------------------------------------------------- spill directories of killed processes
_HOLDER = (
    "import sys, time, duckdb\n"
    "from upsell_ab.events.engines import configure_duckdb\n"
    "c = duckdb.connect()\n"
    "print(configure_duckdb(c), flush=True)\n"
    "time.sleep(120)\n"
)


def _holder() -> tuple[subprocess.Popen[str], Path]:
    """A real process holding a spill directory (as `analyze` or `ingest` would)."""
    process = subprocess.Popen([sys.executable, "-c", _HOLDER], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    return process, Path(process.stdout.readline().strip())


def test_a_killed_process_spill_directory_is_removed_by_the_next_one() -> None:
    """SIGKILL leaves the directory (no cleanup can run); the next connection removes
    it, and keeps the one of a process still running."""
    killed, left = _holder()
    alive, kept = _holder()
    try:
        (left / "spill.tmp").write_bytes(b"x" * 4096)  # as if DuckDB had spilled
        killed.kill()
        killed.wait()
        assert left.is_dir()
        engine = DuckDBEngine()
        mine = Path(engine.execute("SELECT current_setting('temp_directory')")[0][0])
        assert not left.exists()
        assert kept.is_dir() and mine.is_dir()
        assert f"_{os.getpid()}_" in mine.name
        engine.close()
        assert not mine.exists()
    finally:
        alive.kill()
        alive.wait()
        killed.kill()
    remove_stale_spills(kept.parent)
    assert not kept.exists()


def test_only_this_hosts_dead_processes_and_day_old_unnamed_directories_go(
    tmp_path: Path,
) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    host = host_label()
    names = {
        "dead_here": f"{SPILL_PREFIX}{host}_{dead.pid}_abc",
        "alive_here": f"{SPILL_PREFIX}{host}_{os.getpid()}_abc",
        "dead_elsewhere": f"{SPILL_PREFIX}otherhost_{dead.pid}_abc",
        "old_unnamed": f"{SPILL_PREFIX}k2j4h5g6",
        "new_unnamed": f"{SPILL_PREFIX}q9w8e7r6",
        "not_ours": "some_other_tool_1234",
    }
    for name in names.values():
        (tmp_path / name).mkdir()
    two_days_ago = time.time() - 2 * 24 * 3600
    os.utime(tmp_path / names["old_unnamed"], (two_days_ago, two_days_ago))
    os.utime(tmp_path / names["not_ours"], (two_days_ago, two_days_ago))
    removed = remove_stale_spills(tmp_path)
    assert sorted(p.name for p in removed) == sorted([names["dead_here"], names["old_unnamed"]])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        names[k] for k in ("alive_here", "dead_elsewhere", "new_unnamed", "not_ours")
    )
