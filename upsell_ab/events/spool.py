"""Ingest the tracker's spool files into the store, idempotently.

Order of operations, and why it is crash-safe: (1) remove stale temporaries
of dead writers; (2) list finished files (``*.jsonl``; writers only create them
by atomic rename, so each is complete); (3) validate all of them; a file that
cannot be read or holds an invalid record is *quarantined*: moved to
``quarantine/`` with a ``<name>.reason.txt`` naming every problem (file, line,
field), and the other files go on; (4) write the good files' exposures and
events in one transaction; (5) only then move them to ``done/`` and the bad
ones to ``quarantine/``. A crash before (5) leaves every file in place; the
next run re-reads them and adds nothing, because every record carries a uuid
``event_id`` already in the store.

``quarantine=False`` keeps the strict behaviour: any bad file refuses the whole
run and nothing is written or moved.

A spool directory that does not exist is an error (a cron job with a typo in
the path must not report "0 files" and succeed forever).
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from upsell_ab.errors import InputError, Location, Problem
from upsell_ab.events.ingest import CanonicalBatch, SourceTable, to_canonical
from upsell_ab.events.schema import (
    EVENT_COLUMNS,
    EXPOSURE_COLUMNS,
    event_mapping,
    exposure_mapping,
)
from upsell_ab.events.store import IngestReport
from upsell_ab.events.store_open import process_alive
from upsell_ab.events.tracker import SPOOL_SUFFIX

if TYPE_CHECKING:
    import pandas as pd

    from upsell_ab.events.store import EventStore

DONE_DIR = "done"
QUARANTINE_DIR = "quarantine"
REASON_SUFFIX = ".reason.txt"
STALE_TEMPORARY_S = 3600.0
"""A writer's temporary file older than this is stale even if its process id is alive
again (a flush takes milliseconds; the id may have been reused)."""
_EVENT_ONLY = frozenset(EVENT_COLUMNS) - frozenset(EXPOSURE_COLUMNS)
_TEMPORARY_RE = re.compile(r"^\..*-(?P<pid>\d+)-[0-9a-f]+-\d+\.jsonl\.tmp$")


@dataclass(frozen=True)
class Quarantined:
    """A spool file moved aside: where it went and why."""

    file: str
    moved_to: str
    reasons: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "moved_to": self.moved_to, "reasons": list(self.reasons)}


@dataclass(frozen=True)
class SpoolResult:
    """What one spool ingest did: the rows written, files quarantined, temporaries removed."""

    report: IngestReport
    quarantined: tuple[Quarantined, ...] = ()
    stale_removed: tuple[str, ...] = field(default_factory=tuple)


def finished_files(spool_dir: str | Path) -> list[Path]:
    """Complete spool files, oldest name first (temporary files start with '.')."""
    directory = Path(spool_dir)
    if not directory.is_dir():
        return []
    return sorted(
        p
        for p in directory.iterdir()
        if p.is_file() and p.name.endswith(SPOOL_SUFFIX) and not p.name.startswith(".")
    )


def remove_stale_temporaries(spool_dir: str | Path, *, now: float | None = None) -> list[str]:
    """Delete ``.*.jsonl.tmp`` files whose writer process is gone (or that are older than
    :data:`STALE_TEMPORARY_S`); a live writer's temporary is left alone. Returns the names."""
    removed: list[str] = []
    moment = time.time() if now is None else now
    for path in Path(spool_dir).iterdir():
        match = _TEMPORARY_RE.match(path.name)
        if match is None or not path.is_file():
            continue
        try:
            old = moment - path.stat().st_mtime > STALE_TEMPORARY_S
        except OSError:
            continue
        if old or not process_alive(int(match.group("pid"))):
            path.unlink(missing_ok=True)
            removed.append(path.name)
    return removed


def ingest_spool(
    spool_dir: str | Path,
    store: EventStore,
    *,
    timezone: str | None = None,
    replace: bool = False,
    quarantine: bool = True,
) -> IngestReport:
    """:func:`ingest_spool_files`, returning only the rows' report."""
    return ingest_spool_files(
        spool_dir, store, timezone=timezone, quarantine=quarantine, replace=replace
    ).report


def ingest_spool_files(
    spool_dir: str | Path,
    store: EventStore,
    *,
    timezone: str | None = None,
    quarantine: bool = True,
    replace: bool = False,
) -> SpoolResult:
    """Validate every finished spool file, write the good ones in one transaction, move
    them to ``done/`` and the damaged ones to ``quarantine/`` (see the module docstring).

    All files are validated together (one vectorised pass); only when that pass
    finds a problem are the files re-checked one by one, to name the file and line.
    """
    import pyarrow as pa

    directory = Path(spool_dir)
    if not directory.is_dir():
        raise InputError(
            [
                Problem(
                    Location(file=str(spool_dir)),
                    "spool directory does not exist"
                    if not directory.exists()
                    else "the spool path is not a directory",
                    "check the path (the tracker creates it on first use)",
                    "not_found",
                )
            ]
        )
    stale = remove_stale_temporaries(directory)
    files = finished_files(directory)
    bad: dict[Path, list[Problem]] = {}
    tables: dict[Path, pa.Table] = {}
    for path in files:
        try:
            tables[path] = _read_records(path)
        except InputError as error:
            bad[path] = list(error.problems)
    batches: tuple[CanonicalBatch, CanonicalBatch] | None = None
    while tables:
        label = f"spool {spool_dir} ({len(tables)} files)"
        combined = pa.concat_tables(list(tables.values()), promote_options="default")
        try:
            batches = _split(_to_pandas(combined), label, None, timezone)
            break
        except InputError as error:
            located = _locate(tables, timezone)
            if not located:  # a problem no single file has: refuse, as before
                bad_all = {**bad}
                raise InputError(_all_problems(bad_all) + list(error.problems)) from None
            for path, problems in located.items():
                bad[path] = problems
                del tables[path]
    if bad and not quarantine:
        raise InputError(_all_problems(bad))
    label = f"spool {spool_dir} ({len(tables)} files)"
    report = IngestReport(0, 0, 0, label, "mixed")
    if batches is not None and tables:
        exposure_report, event_report = store.write_batches(list(batches), replace=replace)
        report = exposure_report + event_report
        done = directory / DONE_DIR
        done.mkdir(exist_ok=True)
        for path in tables:
            os.replace(path, done / path.name)
    moved = tuple(_quarantine(directory, path, problems) for path, problems in bad.items())
    return SpoolResult(report, moved, tuple(stale))


def _all_problems(bad: dict[Path, list[Problem]]) -> list[Problem]:
    return [problem for problems in bad.values() for problem in problems]


def _quarantine(directory: Path, path: Path, problems: list[Problem]) -> Quarantined:
    """Move ``path`` into ``quarantine/`` next to a reason file listing its problems."""
    folder = directory / QUARANTINE_DIR
    folder.mkdir(exist_ok=True)
    target = folder / path.name
    copy = 0
    while target.exists():  # never overwrite earlier evidence of the same name
        copy += 1
        target = folder / f"{path.name}.{copy}"
    reasons = tuple(str(p) for p in problems)
    reason_file = folder / (target.name + REASON_SUFFIX)
    reason_file.write_text("\n".join(reasons) + "\n", encoding="utf-8")
    os.replace(path, target)
    return Quarantined(str(path), str(target), reasons)


def _locate(tables: dict[Path, Any], timezone: str | None) -> dict[Path, list[Problem]]:
    """Per-file validation, run only after the combined pass failed: located problems."""
    import numpy as np

    problems: dict[Path, list[Problem]] = {}
    for path, table in tables.items():
        try:
            _split(_to_pandas(table), str(path), np.arange(1, table.num_rows + 1), timezone)
        except InputError as error:
            problems[path] = list(error.problems)
    return problems


def _split(
    frame: pd.DataFrame, name: str, rows: Any, timezone: str | None
) -> tuple[CanonicalBatch, CanonicalBatch]:
    """Spool records (both kinds, one frame) -> validated exposure and event batches."""
    import numpy as np

    if rows is None:
        rows = np.arange(1, len(frame) + 1)
    is_exposure = (frame["kind"] == "exposure").to_numpy(dtype=bool)
    attributes = [
        str(c)
        for c in frame.columns
        if c != "kind" and c not in EXPOSURE_COLUMNS and c not in _EVENT_ONLY
    ]
    exposure_frame = frame.loc[is_exposure, [*EXPOSURE_COLUMNS, *attributes]]
    event_frame = frame.loc[~is_exposure, list(EVENT_COLUMNS)]
    exposure_batch = to_canonical(
        SourceTable(exposure_frame.reset_index(drop=True), name, "jsonl", None, rows[is_exposure]),
        exposure_mapping(attributes=tuple(attributes)),
        timezone=timezone,
    )
    event_batch = to_canonical(
        SourceTable(event_frame.reset_index(drop=True), name, "jsonl", None, rows[~is_exposure]),
        event_mapping(),
        timezone=timezone,
    )
    return exposure_batch, event_batch


def _read_records(path: Path) -> Any:
    """One JSON object per line, read by pyarrow (vectorised) into an Arrow table;
    canonical fields typed, attributes as strings."""
    import pyarrow as pa
    import pyarrow.json as pajson

    schema = pa.schema(
        [(name, pa.string()) for name in ("kind", *EXPOSURE_COLUMNS, "event_type", "order_id")]
        + [(name, pa.float64()) for name in ("value", "discount", "quantity")]
    )
    try:
        table = pajson.read_json(
            path,
            parse_options=pajson.ParseOptions(
                explicit_schema=schema, unexpected_field_behavior="infer"
            ),
        )
    except (pa.ArrowInvalid, OSError) as error:
        raise InputError(
            [
                Problem(
                    Location(file=str(path)),
                    f"unreadable spool file: {error}",
                    "spool files are JSON lines written by the tracker; a damaged file is "
                    "moved to quarantine/ and the others are ingested",
                    "bad_file",
                )
            ]
        ) from None
    import pyarrow.compute as pc

    kinds = table.column("kind")
    if kinds.null_count or not pc.all(pc.is_in(kinds, pa.array(["exposure", "event"]))).as_py():
        raise InputError(
            [
                Problem(
                    Location(file=str(path), field="kind"),
                    "spool records need kind 'exposure' or 'event'",
                    "spool files are written by upsell_ab.events.tracker.Tracker only",
                    "bad_file",
                )
            ]
        )
    columns: dict[str, Any] = {}
    for name in table.column_names:
        column = table.column(name)
        if name not in schema.names:
            column = column.cast(pa.string())
        columns[name] = column
    return pa.table(columns)


def _to_pandas(table: Any) -> pd.DataFrame:
    return table.to_pandas(types_mapper=_arrow_types)


def _arrow_types(arrow_type: Any) -> Any:
    import pandas as pd
    import pyarrow as pa

    return pd.ArrowDtype(arrow_type) if arrow_type == pa.string() else None
