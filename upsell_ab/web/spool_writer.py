"""Group commit into the tracker spool: a request is acknowledged only after its
records are durably on disk, and concurrent requests share one fsync.

Each request hands its validated lines to :meth:`SpoolWriter.write` and waits.
One writer task at a time takes *everything* queued so far and writes it as one
spool file with :func:`upsell_ab.events.tracker.write_spool_file` (temporary file,
``fsync``, atomic ``rename``, directory ``fsync``: the tracker's own format and
durability), in a worker thread so the event loop keeps accepting requests. Then it
resolves every waiting request at once; requests that arrived meanwhile form the
next file. Under load, many requests share one fsync (throughput), and none is
answered before its file is renamed (durability: an acknowledged record survives
SIGKILL and, after the directory fsync, power loss).

If the write fails (disk full), every request of that file gets the error (503)
and the temporary file is removed: nothing of it is in the spool, and the client's
retry with the same ``event_id`` s is the only copy. File names are
``collector-<pid>-<random>-<seq>.jsonl``: nothing from a request reaches a path.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path

from upsell_ab.events.tracker import spool_file_name, write_spool_file

MAX_LINES_PER_FILE = 50_000


class SpoolWriter:
    def __init__(self, spool_dir: str | Path, process_name: str = "collector") -> None:
        self.spool_dir = Path(spool_dir)
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        self.process_name = process_name
        self._token = uuid.uuid4().hex[:8]
        self._sequence = 0
        self._queue: list[tuple[list[str], asyncio.Future[None]]] = []
        self._task: asyncio.Task[None] | None = None
        self.files_written = 0
        self.records_written = 0

    async def write(self, lines: list[str]) -> None:
        """Return once ``lines`` are durably in a spool file (raises OSError if not)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((lines, future))
        if self._task is None:
            self._task = asyncio.create_task(self._drain())
        await asyncio.shield(future)

    async def _drain(self) -> None:
        try:
            while self._queue:
                batch: list[tuple[list[str], asyncio.Future[None]]] = []
                count = 0
                while self._queue and (not batch or count < MAX_LINES_PER_FILE):
                    item = self._queue.pop(0)
                    batch.append(item)
                    count += len(item[0])
                lines = [line for item_lines, _ in batch for line in item_lines]
                self._sequence += 1
                name = spool_file_name(self.process_name, os.getpid(), self._token, self._sequence)
                try:
                    await asyncio.to_thread(write_spool_file, self.spool_dir, name, lines)
                except OSError as error:
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(error)
                    continue
                self.files_written += 1
                self.records_written += len(lines)
                for _, future in batch:
                    if not future.done():
                        future.set_result(None)
        finally:
            self._task = None
