"""Ingest the tracker's spool files into the store, idempotently.

Order of operations, and why it is crash-safe: (1) list finished files
(``*.jsonl``; writers only create them by atomic rename, so each is complete);
(2) validate all of them — one bad file refuses the whole run, nothing
written; (3) write exposures and events in one transaction;
(4) only then move the files to ``done/``. A crash before (4) leaves the files
in place; the next run re-reads them and adds nothing, because every record
carries a uuid ``event_id`` already in the store.
"""

from __future__ import annotations

import os
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
from upsell_ab.events.tracker import SPOOL_SUFFIX

if TYPE_CHECKING:
    import pandas as pd

    from upsell_ab.events.store import EventStore

DONE_DIR = "done"
_EVENT_ONLY = frozenset(EVENT_COLUMNS) - frozenset(EXPOSURE_COLUMNS)


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


def ingest_spool(
    spool_dir: str | Path,
    store: EventStore,
    *,
    timezone: str | None = None,
    replace: bool = False,
) -> IngestReport:
    """Validate every finished spool file, write them in one transaction, move to ``done/``.

    All files are validated together (one vectorised pass); only when that pass
    finds a problem are the files re-checked one by one, to name the file and line.
    """
    import pyarrow as pa

    files = finished_files(spool_dir)
    label = f"spool {spool_dir} ({len(files)} files)"
    if not files:
        return IngestReport(0, 0, 0, label, "mixed")
    tables: list[pa.Table] = []
    problems: list[Problem] = []
    for path in files:
        try:
            tables.append(_read_records(path))
        except InputError as error:
            problems.extend(error.problems)
    if problems:
        raise InputError(problems)
    combined = pa.concat_tables(tables, promote_options="default")
    try:
        batches = _split(_to_pandas(combined), label, None, timezone)
    except InputError as error:
        raise InputError(_locate(files, tables, timezone) or error.problems) from None
    exposure_report, event_report = store.write_batches(list(batches), replace=replace)
    report = exposure_report + event_report
    done = Path(spool_dir) / DONE_DIR
    done.mkdir(exist_ok=True)
    for path in files:
        os.replace(path, done / path.name)
    return report


def _locate(files: list[Path], tables: list[Any], timezone: str | None) -> list[Problem]:
    """Per-file validation, run only after the combined pass failed: located problems."""
    import numpy as np

    problems: list[Problem] = []
    for path, table in zip(files, tables, strict=True):
        try:
            _split(_to_pandas(table), str(path), np.arange(1, table.num_rows + 1), timezone)
        except InputError as error:
            problems.extend(error.problems)
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
                    "spool files are JSON lines written by the tracker; move a damaged file "
                    "out of the spool directory to ingest the others",
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
