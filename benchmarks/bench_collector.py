"""Collector reliability and speed on loopback: many concurrent clients, tens of
thousands of records, then ``ingest``; and the same with the server SIGKILLed mid-load.

Run: ``python benchmarks/bench_collector.py [--records N] [--clients C] [--batch B]``
(defaults 40,000 records, 32 clients, 20 records per request). Prints Markdown and
writes ``benchmarks/results/collector.json``; the figures are quoted in README and
docs/web.md.

What is checked, not just timed:
* clean run: every record sent is acknowledged (202), the spool holds each exactly
  once (no duplicate event id), and after ``upsell-ab ingest --spool`` the store has
  exactly the records sent (same event ids), none lost, none duplicated;
* kill run: the server is killed with SIGKILL while clients are sending; every
  record whose request got a 202 is in the store after ingest (no acknowledged
  record lost); records of unacknowledged requests may or may not be there (written
  but the answer lost), never twice.

The load generator (asyncio + httpx, one keep-alive connection per client) runs on
the same 2-core machine as the server, so the figures are a floor for a real
deployment, where clients are elsewhere.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.collector_support import (  # noqa: E402
    batches,
    load,
    load_and_kill,
    records,
    running_collector,
    spool_ids,
)


def ingest(spool: Path, store: Path) -> tuple[list[str], list[str], float]:
    """Run ``upsell-ab ingest --spool``; return the stored exposure and event ids."""
    import duckdb

    from upsell_ab.cli.main import main

    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        code = main(["ingest", "--spool", str(spool), "--store", str(store), "--format", "json"])
    seconds = time.perf_counter() - started
    if code != 0:
        raise SystemExit(f"ingest failed with exit code {code}")
    with duckdb.connect(str(store), read_only=True) as db:
        exposures = [r[0] for r in db.execute("select event_id from exposures").fetchall()]
        events = [r[0] for r in db.execute("select event_id from events").fetchall()]
    return exposures, events, seconds


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def clean_run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    sent = records(args.records)
    with running_collector(work / "clean", *SERVER_FLAGS) as server:
        result = asyncio.run(load(server.url, batches(sent, args.batch), args.clients))
        spool = server.spool
    in_spool = spool_ids(spool)
    exposures, events, ingest_s = ingest(spool, work / "clean" / "store.duckdb")
    stored = exposures + events
    sent_ids = {r["event_id"] for r in sent}
    return {
        "records_sent": len(sent),
        "records_acknowledged": len(result["acked"]),
        "request_failures": result["failures"],
        "statuses": result["statuses"],
        "spool_lines": len(in_spool),
        "spool_duplicates": len(in_spool) - len(set(in_spool)),
        "stored": len(stored),
        "stored_duplicates": len(stored) - len(set(stored)),
        "lost": len(sent_ids - set(stored)),
        "unexpected": len(set(stored) - sent_ids),
        "seconds": round(result["seconds"], 3),
        "records_per_s": round(len(result["acked"]) / result["seconds"]),
        "requests_per_s": round(len(result["latencies"]) / result["seconds"]),
        "latency_p50_ms": round(1000 * percentile(result["latencies"], 0.50), 2),
        "latency_p99_ms": round(1000 * percentile(result["latencies"], 0.99), 2),
        "latency_max_ms": round(1000 * max(result["latencies"]), 2),
        "ingest_s": round(ingest_s, 3),
    }


def kill_run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    sent = records(args.records)
    with running_collector(work / "kill", *SERVER_FLAGS) as server:
        work_items = batches(sent, args.batch)
        result = asyncio.run(load_and_kill(server, work_items, args.clients, len(sent) // 2))
        server.process.wait(timeout=20)
        spool = server.spool
    leftovers = [p.name for p in spool.iterdir() if p.name.startswith(".")]
    exposures, events, _ = ingest(spool, work / "kill" / "store.duckdb")
    stored = set(exposures + events)
    acked = set(result["acked"])
    return {
        "records_sent": len(sent),
        "killed_after_acknowledged": len(sent) // 2,
        "records_acknowledged_before_kill": len(acked),
        "failed_requests_after_kill": result["failures"],
        "acknowledged_lost": len(acked - stored),
        "stored": len(exposures) + len(events),
        "stored_duplicates": len(exposures) + len(events) - len(stored),
        "stored_not_acknowledged": len(stored - acked),
        "temporary_files_left": len(leftovers),
    }


SERVER_FLAGS = ("--rate", "1000000", "--burst", "1000000", "--max-batch", "1000")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=40_000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--output", default=str(ROOT / "benchmarks" / "results" / "collector.json"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="upsell_ab_collector_") as tmp:
        work = Path(tmp)
        (work / "clean").mkdir()
        (work / "kill").mkdir()
        clean = clean_run(args, work)
        killed = kill_run(args, work)
    results = {
        "measured_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "python": platform.python_version(),
        "load_average": os.getloadavg()[0],
        "clients": args.clients,
        "batch": args.batch,
        "clean": clean,
        "sigkill": killed,
    }
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"| run | {args.clients} clients, {args.batch} records per request |")
    print("|---|---|")
    for name, section in (("clean", clean), ("SIGKILL", killed)):
        for key, value in section.items():
            print(f"| {name}: {key} | {value} |")
    ok = (
        clean["lost"] == 0
        and clean["stored_duplicates"] == 0
        and clean["spool_duplicates"] == 0
        and killed["acknowledged_lost"] == 0
        and killed["stored_duplicates"] == 0
    )
    print("\nreliability:", "OK" if ok else "FAILED")
    if not ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
