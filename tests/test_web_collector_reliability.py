"""Many concurrent clients over loopback, then ``ingest``: nothing lost, nothing twice;
and with the server SIGKILLed mid-load, no acknowledged record lost.

The full-size run (40,000 records, 32 clients) is ``benchmarks/bench_collector.py``
with its results in README; this is the same check, small enough for every test run.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
from pathlib import Path

import duckdb
import pytest

from tests.collector_support import (
    batches,
    load,
    load_and_kill,
    records,
    running_collector,
    spool_ids,
)
from upsell_ab.cli.main import main

FLAGS = ("--rate", "100000", "--burst", "100000")


def ingest(spool: Path, store: Path) -> list[str]:
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["ingest", "--spool", str(spool), "--store", str(store)]) == 0
    with duckdb.connect(str(store), read_only=True) as db:
        rows = db.execute(
            "select event_id from exposures union all select event_id from events"
        ).fetchall()
    return [r[0] for r in rows]


def test_concurrent_clients_lose_nothing_and_duplicate_nothing(tmp_path: Path) -> None:
    sent = records(3000)
    with running_collector(tmp_path, *FLAGS) as server:
        result = asyncio.run(load(server.url, batches(sent, 25), clients=12))
    assert result["statuses"] == {202: len(batches(sent, 25))}
    assert sorted(result["acked"]) == sorted(r["event_id"] for r in sent)
    lines = spool_ids(server.spool)
    assert len(lines) == len(set(lines)) == len(sent)
    stored = ingest(server.spool, tmp_path / "store.duckdb")
    assert sorted(stored) == sorted(r["event_id"] for r in sent)
    # a second ingest of the same spool (files already moved to done/) adds nothing
    assert sorted(ingest(server.spool, tmp_path / "store.duckdb")) == sorted(stored)


@pytest.mark.parametrize("kill_at", [300, 1500])
def test_sigkill_mid_load_loses_no_acknowledged_record(tmp_path: Path, kill_at: int) -> None:
    sent = records(4000)
    with running_collector(tmp_path, *FLAGS) as server:
        result = asyncio.run(load_and_kill(server, batches(sent, 20), 12, kill_at))
    acked = set(result["acked"])
    assert len(acked) >= kill_at
    assert result["failures"] > 0, "the kill came after the load ended: nothing was tested"
    stored = ingest(server.spool, tmp_path / "store.duckdb")
    assert len(stored) == len(set(stored))
    assert acked <= set(stored), f"{len(acked - set(stored))} acknowledged records lost"
    assert set(stored) <= {r["event_id"] for r in sent}
