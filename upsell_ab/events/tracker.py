"""Live tracking for apps: buffer in memory, spill to per-process spool files.

Why spool files and not the database: a DuckDB file has one writer, and a web
request must never wait for analysis or for a lock. Each call only appends to
an in-memory list under a lock; it never touches the disk. A background
thread (``upsell-ab-tracker``) writes the buffer in chunks of at most
``flush_every`` records per file: each chunk goes to a hidden temporary file in
``spool_dir``, is ``fsync`` ed, and renamed atomically (POSIX ``rename``) to
``<process>-<pid>-<token>-<seq>.jsonl``; a reader therefore sees complete files
or nothing. Several processes never share a file, so there is no lock
contention between them. Every record carries a uuid4 ``event_id``, which makes
:func:`ingest_spool` idempotent.

When the spool disk is full or gone, the thread backs off (0.1 s doubling to
30 s between attempts) while the app goes on at full speed. The buffer is
bounded (``max_pending`` records, default 100,000, about 30 MB): beyond it new
records are **dropped and counted** (``dropped``; one warning is logged), so a
long outage costs the newest records, never the app's memory or latency. Small
chunks also mean a nearly full disk still takes what fits.

Durability: what was flushed survives a crash (SIGKILL, power loss after the
directory fsync); what was still buffered is lost. Flushes happen when
``flush_every`` records are pending, every ``flush_interval_s`` seconds, on
:meth:`Tracker.flush` (synchronous, in the caller's thread) and at interpreter
exit.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import math
import os
import re
import threading
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from upsell_ab.events.store import EventStore, IngestReport

SPOOL_SUFFIX = ".jsonl"
DEFAULT_MAX_PENDING = 100_000
"""Records a tracker buffers at most; beyond, new records are dropped and counted."""
_FIRST_BACKOFF_S = 0.1
_MAX_BACKOFF_S = 30.0
_LOG = logging.getLogger("upsell_ab.tracker")
_NAME_RE = re.compile(r"[^A-Za-z0-9_.-]+")
_ATTRIBUTE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_RESERVED = frozenset(
    {"kind", "experiment", "variant", "unit_id", "timestamp", "event_id", "event_type"}
    | {"value", "discount", "quantity", "order_id", "_row"}
)


class Tracker:
    """Record exposures and events from an app; thread-safe, never blocks on the store.

    >>> tracker = Tracker("/var/spool/upsell_ab")            # doctest: +SKIP
    >>> tracker.exposure("checkout_upsell", "treatment", "c42", channel="web")  # doctest: +SKIP
    >>> tracker.event("c42", "order", value=4800, discount=480, order_id="o-9")  # doctest: +SKIP
    """

    def __init__(
        self,
        spool_dir: str | Path,
        process_name: str | None = None,
        flush_every: int = 1000,
        flush_interval_s: float | None = 5.0,
        max_pending: int = DEFAULT_MAX_PENDING,
    ) -> None:
        if flush_every < 1:
            raise ValueError("flush_every must be >= 1")
        if flush_interval_s is not None and flush_interval_s <= 0:
            raise ValueError("flush_interval_s must be > 0 (or None for no timed flushes)")
        if max_pending < flush_every:
            raise ValueError("max_pending must be >= flush_every")
        self.spool_dir = Path(spool_dir)
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        self.process_name = _NAME_RE.sub("_", process_name or "app")[:40] or "app"
        self.flush_every = flush_every
        self.flush_interval_s = flush_interval_s
        self.max_pending = max_pending
        self._buffer: list[str] = []
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False
        self.flush_errors = 0
        """Background flushes that failed (the records were kept for the next one)."""
        self.dropped = 0
        """Records dropped because ``max_pending`` were already waiting (disk full/gone)."""
        self._reset_for_process()
        atexit.register(self._at_exit)

    # -------------------------------------------------------------- records
    def exposure(
        self,
        experiment: str,
        variant: str,
        unit_id: str,
        timestamp: datetime | None = None,
        **attributes: Any,
    ) -> str:
        """Record that ``unit_id`` saw ``variant``; returns the record's event id."""
        record: dict[str, Any] = {
            "kind": "exposure",
            "experiment": _text("experiment", experiment),
            "variant": _text("variant", variant),
            "unit_id": _text("unit_id", unit_id),
            "timestamp": _timestamp(timestamp),
            "event_id": uuid.uuid4().hex,
        }
        for name, value in attributes.items():
            if not _ATTRIBUTE_RE.match(name) or name in _RESERVED:
                raise ValueError(
                    f"attribute name {name!r} must be a plain identifier (letters, digits, '_') "
                    "and not a canonical column"
                )
            record[name] = None if value is None else str(value)
        return self._append(record)

    def event(
        self,
        unit_id: str,
        event_type: str,
        value: float = 0.0,
        discount: float = 0.0,
        quantity: float = 1.0,
        order_id: str | None = None,
        event_id: str | None = None,
        timestamp: datetime | None = None,
    ) -> str:
        """Record an order, upsell purchase, refund ... (values follow the store's rules:
        finite and >= 0). Returns the event id (``event_id`` if given, else a uuid4)."""
        record = {
            "kind": "event",
            "unit_id": _text("unit_id", unit_id),
            "timestamp": _timestamp(timestamp),
            "event_type": _text("event_type", event_type),
            "value": _amount("value", value),
            "discount": _amount("discount", discount),
            "quantity": _amount("quantity", quantity),
            "order_id": None if order_id is None else _text("order_id", order_id),
            "event_id": uuid.uuid4().hex if event_id is None else _text("event_id", event_id),
        }
        return self._append(record)

    def _append(self, record: dict[str, Any]) -> str:
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
        if self._closed:
            raise RuntimeError("tracker is closed")
        if os.getpid() != self._pid:
            self._reset_for_process()
        with self._lock:
            if len(self._buffer) >= self.max_pending:
                self.dropped += 1
                first_drop = self.dropped == 1
                full = True
            else:
                self._buffer.append(line)
                first_drop = False
                full = len(self._buffer) >= self.flush_every
        if first_drop:
            _LOG.warning(
                "upsell_ab tracker: %d records pending and the spool %s takes none; "
                "dropping new records (counted in Tracker.dropped)",
                self.max_pending,
                self.spool_dir,
            )
        if full:
            self._wake.set()  # the background thread writes; this call never waits
        return str(record["event_id"])

    # --------------------------------------------------------------- flushing
    def flush(self) -> Path | None:
        """Write every buffered record now, in files of at most ``flush_every`` records,
        each atomically; returns the last file written. Raises OSError when the disk
        refuses (the records not written stay buffered)."""
        with self._flush_lock:
            last: Path | None = None
            while True:
                written = self._write_chunk()
                if written is None:
                    return last
                last = written

    def _write_chunk(self) -> Path | None:
        """One file with the oldest ``flush_every`` buffered records (caller holds
        ``_flush_lock``); None when nothing is buffered."""
        with self._lock:
            if not self._buffer:
                return None
            lines = self._buffer[: self.flush_every]
            del self._buffer[: self.flush_every]
            self._sequence += 1
            sequence = self._sequence
        name = spool_file_name(self.process_name, self._pid, self._token, sequence)
        try:
            return write_spool_file(self.spool_dir, name, lines)
        except BaseException:
            with self._lock:  # keep the records for the next attempt, oldest first
                self._buffer[:0] = lines
                excess = len(self._buffer) - self.max_pending
                if excess > 0:  # appended meanwhile: the bound holds, the newest go
                    del self._buffer[-excess:]
                    self.dropped += excess
            raise

    def pending(self) -> int:
        """Records buffered and not yet flushed."""
        with self._lock:
            return len(self._buffer)

    def close(self) -> None:
        """Stop the background thread and flush what is left (raises OSError if the disk
        refuses it); further records raise."""
        if self._closed:
            return
        self._stop.set()
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        self.flush()
        self._closed = True
        atexit.unregister(self._at_exit)

    def __enter__(self) -> Tracker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _reset_for_process(self) -> None:
        """(Re)initialise per-process state: after ``fork`` the child gets its own
        file names and drops records buffered by the parent (the parent flushes them)."""
        self._pid = os.getpid()
        self._token = uuid.uuid4().hex[:8]
        self._sequence = 0
        self._buffer = []
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(
            target=self._background, name="upsell-ab-tracker", daemon=True
        )
        self._thread.start()

    def _background(self) -> None:
        """Flush when woken (``flush_every`` pending) or every ``flush_interval_s``; on a
        refused write, back off (0.1 s doubling to 30 s) and keep the records."""
        delay = 0.0
        while not self._stop.is_set():
            if delay:
                self._stop.wait(timeout=delay)
            else:
                self._wake.wait(timeout=self.flush_interval_s)
                self._wake.clear()
            if self._stop.is_set():
                return
            try:
                with self._flush_lock:
                    while self._write_chunk() is not None and not self._stop.is_set():
                        pass
                delay = 0.0
            except OSError:
                self.flush_errors += 1
                delay = min(max(delay * 2, _FIRST_BACKOFF_S), _MAX_BACKOFF_S)

    def _at_exit(self) -> None:
        if not self._closed and os.getpid() == self._pid:
            self._stop.set()
            self._wake.set()
            with contextlib.suppress(OSError):
                self.flush()


def ingest_spool(
    spool_dir: str | Path,
    store: EventStore,
    *,
    timezone: str | None = None,
    quarantine: bool = True,
) -> IngestReport:
    """Ingest finished spool files into ``store`` idempotently, then move them to ``done/``
    (damaged files to ``quarantine/`` unless ``quarantine=False``, which refuses them)."""
    from upsell_ab.events.spool import ingest_spool as _ingest

    return _ingest(spool_dir, store, timezone=timezone, quarantine=quarantine)


def spool_file_name(process_name: str, pid: int, token: str, sequence: int) -> str:
    """``<process>-<pid>-<token>-<seq>.jsonl``: unique per writer, nothing from a request."""
    return f"{process_name}-{pid}-{token}-{sequence:08d}{SPOOL_SUFFIX}"


def write_spool_file(spool_dir: Path, name: str, lines: Sequence[str]) -> Path:
    """Write JSON lines to ``spool_dir/name`` durably and atomically: a hidden temporary
    file, ``fsync``, ``rename``, then ``fsync`` of the directory. Readers see the whole
    file or nothing; on any error the temporary file is removed and nothing is visible.
    Shared by :class:`Tracker` and the web collector (:mod:`upsell_ab.web`)."""
    final = spool_dir / name
    temporary = spool_dir / f".{name}.tmp"
    try:
        with temporary.open("w", encoding="utf-8") as handle:
            handle.write("\n".join(lines))
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, final)
        _fsync_directory(spool_dir)
    except BaseException:
        with contextlib.suppress(OSError):  # a read-only disk: keep the first error
            temporary.unlink(missing_ok=True)
        raise
    return final


def _text(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must be a non-empty string, got {value!r}")
    return value


def _amount(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"{name} must be finite and >= 0, got {value!r}")
    return number


def _timestamp(value: datetime | None) -> str:
    """ISO 8601 in UTC. Naive datetimes are refused: ``datetime.now()`` is local time
    and would silently shift every record by the server's offset."""
    if value is None:
        return datetime.now(UTC).isoformat()
    if not isinstance(value, datetime):
        raise ValueError(f"timestamp must be a datetime, got {value!r}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("timestamp must be time-zone aware, e.g. datetime.now(UTC)")
    return value.astimezone(UTC).isoformat()


def _fsync_directory(path: Path) -> None:
    """Make the rename itself durable (POSIX); a no-op where directories cannot be opened."""
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)
