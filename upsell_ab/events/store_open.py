"""Open a DuckDB store file, waiting (bounded) while another process holds it.

DuckDB lets ONE process open a database file for writing, or any number of
processes read-only; a conflicting open fails at once with "Could not set
lock on file ... Conflicting lock is held in ... (PID n)". We choose to
*wait*: a reader (``analyze``/``report``) that meets an ``ingest`` retries
until the writer commits and closes, then reads that committed state; a second
writer queues the same way. Both wait at most ``UPSELL_AB_STORE_WAIT`` seconds
(default 60; 0 = fail at once), print one note naming the holder (process id
and command line) when they start waiting, and then fail with a
:class:`~upsell_ab.errors.StoreError` naming it. Why not read the last
committed state while a writer is open: DuckDB does not allow a second process
to open the file at all while one writes, and copying the file mid-write
could copy a torn state. Waiting keeps the rule simple: every read sees exactly
one committed state.

Other open failures (a file that is not a DuckDB database, a missing folder,
a newer storage version) become one-line :class:`StoreError` messages too.
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from upsell_ab.errors import StoreError

STORE_WAIT_ENV = "UPSELL_AB_STORE_WAIT"
DEFAULT_STORE_WAIT_S = 60.0
"""Seconds a command waits for a store another process holds (``UPSELL_AB_STORE_WAIT``)."""

_LOCK_RE = re.compile(r"Conflicting lock is held in (?P<program>.*?) \(PID (?P<pid>\d+)\)")
_BARE_LOCK_RE = re.compile(r"Conflicting lock is held(?: in PID (?P<pid>\d+))?")
WRITER_YIELD_S = 5.0
"""Longest a writer gives way to waiting readers before it competes for the file."""
_FIRST_DELAY_S = 0.005
_MAX_DELAY_S = 0.05
_MARKER = ".reader-waiting."


def store_wait_seconds() -> float:
    """The configured wait (``UPSELL_AB_STORE_WAIT``), else the default; bad values -> error."""
    raw = os.environ.get(STORE_WAIT_ENV)
    if raw is None or not raw.strip():
        return DEFAULT_STORE_WAIT_S
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not (0 <= value <= 86400):
        raise StoreError(f"{STORE_WAIT_ENV}={raw!r} is not a number of seconds between 0 and 86400")
    return value


def holder(message: str) -> str | None:
    """Who holds the lock, from DuckDB's message: 'PID n (command line)'; None when the
    error is not a lock conflict.

    DuckDB also reports a conflict as "Conflicting lock is held in PID 0." (no program:
    seen when the holder opened or released the file at that moment, under load). That
    is a conflict all the same, to be waited for, not a damaged store: treating it as
    one failed an ``ingest`` in the ingest-while-report test."""
    match = _LOCK_RE.search(message)
    if match is None:
        bare = _BARE_LOCK_RE.search(message)
        if bare is None:
            return None
        pid = bare.group("pid")
        return "another process" if pid in (None, "0") else f"PID {pid}"
    pid = match.group("pid")
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        command = " ".join(part.decode(errors="replace") for part in raw.split(b"\0") if part)
    except OSError:
        command = match.group("program")
    return f"PID {pid} ({command[:120]})" if command else f"PID {pid}"


def _note(text: str) -> None:
    from upsell_ab.redact import redact
    from upsell_ab.safe_text import escape_control

    # the holder's command line is another program's text: redact and escape it
    print(f"upsell-ab: {escape_control(redact(text), keep_newlines=False)}", file=sys.stderr)


def open_store(
    path: str | Path,
    *,
    read_only: bool,
    wait_s: float | None = None,
    on_wait: Callable[[str], None] | None = _note,
) -> Any:
    """``duckdb.connect(path, read_only=...)``, waiting up to ``wait_s`` seconds (default
    :func:`store_wait_seconds`) while another process holds a conflicting lock.

    Fairness: DuckDB has no queue, and a writer ingesting batch after batch
    releases the file only for milliseconds. A waiting reader therefore leaves a
    marker file (``<store>.reader-waiting.<pid>``) and a writer about to open the
    file gives way while a live reader's marker exists (at most
    :data:`WRITER_YIELD_S`); reads are short, so writers lose little."""
    import duckdb

    limit = store_wait_seconds() if wait_s is None else wait_s
    began = time.monotonic()
    delay = _FIRST_DELAY_S
    noted = False
    marker: Path | None = None
    if not read_only:
        _yield_to_readers(Path(path), min(limit, WRITER_YIELD_S))
    try:
        while True:
            try:
                return duckdb.connect(str(path), read_only=read_only)
            except duckdb.Error as error:
                message = str(error)
                who = holder(message)
                if who is None:
                    raise StoreError(_open_failure(path, message)) from None
                waited = time.monotonic() - began
                if waited >= limit:
                    action = "read" if read_only else "write"
                    raise StoreError(
                        f"store {path} is held by {who}; waited {waited:.0f} s to {action} it "
                        f"(retry when it finishes, or set {STORE_WAIT_ENV} to wait longer)"
                    ) from None
                if not noted:
                    if on_wait is not None:
                        on_wait(
                            f"store {path} is in use by {who}; waiting up to {limit:.0f} s "
                            f"({STORE_WAIT_ENV})"
                        )
                    noted = True
                    if read_only:
                        marker = _leave_marker(Path(path))
                time.sleep(min(delay, max(limit - waited, 0.0)))
                delay = min(delay * 2, _MAX_DELAY_S)
    finally:
        if marker is not None:
            marker.unlink(missing_ok=True)


def _marker_prefix(path: Path) -> str:
    return f"{path.name}{_MARKER}"


def _leave_marker(path: Path) -> Path | None:
    marker = path.with_name(f"{_marker_prefix(path)}{os.getpid()}")
    try:
        marker.touch()
    except OSError:  # a read-only folder: no fairness marker, still correct
        return None
    return marker


def _yield_to_readers(path: Path, limit: float) -> None:
    """Wait (at most ``limit`` s) while a live reader process waits for this store."""
    prefix = _marker_prefix(path)
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            waiting = [p for p in path.parent.iterdir() if p.name.startswith(prefix)]
        except OSError:
            return
        live = False
        for marker in waiting:
            pid = marker.name[len(prefix) :]
            if pid.isdigit() and process_alive(int(pid)) and int(pid) != os.getpid():
                live = True
            elif pid.isdigit() and not process_alive(int(pid)):
                marker.unlink(missing_ok=True)  # left by a killed reader
        if not live:
            return
        time.sleep(_FIRST_DELAY_S)


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this host (one owned by another user counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def _open_failure(path: str | Path, message: str) -> str:
    text = message.split("\n", 1)[0].removeprefix("IO Error: ")
    if "not a valid DuckDB database" in text:
        return (
            f"{path} is not a DuckDB store (give the path of a store written by "
            "'upsell-ab ingest', or a new path to create one)"
        )
    if "database does not exist" in text:
        return f"event store {path} does not exist (create it with 'upsell-ab ingest --store PATH')"
    return f"cannot open store {path}: {text}"
