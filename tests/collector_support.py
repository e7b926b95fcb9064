"""Start the real collector (``upsell-ab serve`` under uvicorn) in a subprocess for tests
and benchmarks, on a free loopback port; stop it by its process id."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

TOKEN = "shop-jp-token-0123456789abcdef"
OTHER_TOKEN = "cafe-token-fedcba9876543210"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_tokens(path: Path) -> Path:
    path.write_text(f"# site:token\nshop-jp:{TOKEN}\ncafe:{OTHER_TOKEN}\n", encoding="utf-8")
    return path


@dataclass
class Collector:
    url: str
    process: subprocess.Popen[bytes]
    spool: Path
    log: Path

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, sig)
            self.process.wait(timeout=20)


@contextlib.contextmanager
def running_collector(work: Path, *extra: str, spool: Path | None = None) -> Iterator[Collector]:
    spool = spool or work / "spool"
    tokens = write_tokens(work / "tokens.txt")
    port = free_port()
    log = work / f"collector-{port}.log"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "upsell_ab.cli.main",
                "serve",
                "--spool",
                str(spool),
                "--tokens",
                str(tokens),
                "--port",
                str(port),
                *extra,
            ],
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=env,
        )
    collector = Collector(f"http://127.0.0.1:{port}", process, spool, log)
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"collector exited: {log.read_text(errors='replace')}")
            try:
                if httpx.get(collector.url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("collector did not start in 30 s")
            time.sleep(0.1)
        yield collector
    finally:
        collector.kill(signal.SIGTERM)


def records(count: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i in range(count):
        unit = f"c-{i // 2}" if i % 3 else f"顧客-{i // 2}🎂"
        if i % 2 == 0:
            out.append(
                {
                    "experiment": "load",
                    "variant": "a" if i % 4 == 0 else "b",
                    "unit_id": unit,
                    "event_id": uuid.uuid4().hex,
                    "timestamp": "2026-03-05T10:00:00+09:00",
                    "attributes": {"channel": "web"},
                }
            )
        else:
            out.append(
                {
                    "unit_id": unit,
                    "event_type": "order",
                    "event_id": uuid.uuid4().hex,
                    "timestamp": "2026-03-05T10:05:00+09:00",
                    "value": 1000 + i % 7,
                }
            )
    return out


def batches(items: list[dict[str, Any]], size: int) -> list[tuple[str, list[dict[str, Any]]]]:
    """(path, batch) in send order; exposures and events alternate between requests."""
    exposures = [r for r in items if "experiment" in r]
    events = [r for r in items if "experiment" not in r]
    out: list[tuple[str, list[dict[str, Any]]]] = []
    for start in range(0, max(len(exposures), len(events)), size):
        if exposures[start : start + size]:
            out.append(("/v1/exposures", exposures[start : start + size]))
        if events[start : start + size]:
            out.append(("/v1/events", events[start : start + size]))
    return out


async def load(
    url: str,
    work: list[tuple[str, list[dict[str, Any]]]],
    clients: int,
    acked: list[str] | None = None,
) -> dict[str, Any]:
    """Clients take batches from a shared queue; returns acked ids (also appended to
    ``acked`` as they come, for a watcher), latencies, statuses and failed requests."""
    queue: asyncio.Queue[tuple[str, list[dict[str, Any]]]] = asyncio.Queue()
    for item in work:
        queue.put_nowait(item)
    acked = [] if acked is None else acked
    latencies: list[float] = []
    failures = 0
    statuses: dict[int, int] = {}

    async def client() -> None:
        nonlocal failures
        async with httpx.AsyncClient(base_url=url, headers=AUTH, timeout=30) as http:
            while not queue.empty():
                path, batch = queue.get_nowait()
                started = time.perf_counter()
                try:
                    response = await http.post(path, json=batch)
                except httpx.HTTPError:
                    failures += 1
                    continue
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
                if response.status_code == 202:
                    latencies.append(time.perf_counter() - started)
                    acked.extend(r["event_id"] for r in batch)

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return {
        "acked": acked,
        "latencies": latencies,
        "failures": failures,
        "statuses": statuses,
        "seconds": time.perf_counter() - started,
    }


async def load_and_kill(
    collector: Collector,
    work: list[tuple[str, list[dict[str, Any]]]],
    clients: int,
    kill_at_acked: int,
) -> dict[str, Any]:
    """Run :func:`load` and SIGKILL the server once ``kill_at_acked`` records were acked."""
    acked: list[str] = []
    task = asyncio.create_task(load(collector.url, work, clients, acked))
    while len(acked) < kill_at_acked and not task.done():
        await asyncio.sleep(0.005)
    os.kill(collector.process.pid, signal.SIGKILL)
    result = await task
    result["acked_at_kill"] = kill_at_acked
    return result


def spool_ids(spool: Path) -> list[str]:
    ids: list[str] = []
    for path in spool.glob("*.jsonl"):
        ids += [json.loads(line)["event_id"] for line in path.read_text("utf-8").splitlines()]
    return ids
