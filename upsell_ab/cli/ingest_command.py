"""`upsell-ab ingest`: load exposure/event files (and tracker spool files) into the store.

Every file is validated before anything is written; one bad file refuses the
whole run (exit 1, every problem located, store unchanged). Valid files are
then written in one transaction, one ingest batch per file. Re-running with
the same files adds nothing; a corrected re-export (rows restating stored rows
with other values, order ids added, every time shifted by a time-zone offset)
is refused as a conflict unless --replace. --dry-run shows what would happen.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from upsell_ab.cli.exit_codes import ExitCode
from upsell_ab.cli.memory_option import add_memory_argument, apply_memory_argument
from upsell_ab.safe_text import escape_control

if TYPE_CHECKING:
    from upsell_ab.errors import InputError
    from upsell_ab.events.schema import ColumnMapping, Kind
    from upsell_ab.events.spool import SpoolResult
    from upsell_ab.events.store import IngestReport


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "ingest",
        help="load exposures and events (CSV, Parquet, JSON lines, tracker spool) into the store",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_source_flags(parser)
    add_write_flags(parser)
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="validate and compare with the store, report what would be added, skipped or "
        "conflict; write nothing",
    )
    parser.add_argument("--format", choices=("text", "json"), default="text")
    add_memory_argument(parser)
    parser.set_defaults(run=run)


def add_source_flags(parser: Any) -> None:
    """Where to read from and how columns map (``ingest`` and ``store dry-run``)."""
    parser.add_argument(
        "--store", help="DuckDB store file (default: the spec's, else upsell_ab.duckdb)"
    )
    parser.add_argument("--exposures", nargs="+", default=[], metavar="FILE", help="exposure files")
    parser.add_argument("--events", nargs="+", default=[], metavar="FILE", help="event files")
    parser.add_argument("--spool", metavar="DIR", help="tracker spool directory to ingest")
    parser.add_argument("--spec", help="experiment spec whose data section gives column mappings")
    parser.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="CANONICAL=SOURCE",
        help="column mapping override, e.g. unit_id=customer_id or events.value=revenue",
    )
    parser.add_argument(
        "--attribute",
        action="append",
        default=None,
        metavar="NAME",
        help="exposure attribute column to keep (repeat; default: every unmapped column)",
    )
    parser.add_argument(
        "--timezone",
        metavar="AREA/CITY",
        help="zone of naive timestamps (default UTC); values with an offset are converted",
    )


def add_write_flags(parser: Any) -> None:
    """Flags shared by ``ingest`` and ``store dry-run``."""
    parser.add_argument(
        "--replace",
        action="store_true",
        help="rows that restate stored rows with different content replace them "
        "(default: such conflicts refuse the ingest)",
    )
    parser.add_argument(
        "--allow-default",
        action="append",
        default=[],
        metavar="COLUMN",
        help="accept value/discount/quantity defaulted (0, 0, 1) although a column looks "
        "like it (default: refused with a did-you-mean)",
    )
    parser.add_argument(
        "--bound",
        action="append",
        default=[],
        metavar="[TYPE.]COLUMN=LOW:HIGH",
        help="plausible range of value/discount/quantity, e.g. order.value=0:5e6 "
        "(defaults: value and discount <= 1e12, quantity <= 1e6)",
    )
    parser.add_argument(
        "--implausible",
        choices=("warn", "refuse"),
        default="warn",
        help="values outside the plausible ranges: warn with their rows (default) or refuse",
    )


def run(args: argparse.Namespace) -> int:
    apply_memory_argument(args)
    from upsell_ab.errors import InputError
    from upsell_ab.events.parquet_ingest import source_stream
    from upsell_ab.events.plausibility import ValueBounds
    from upsell_ab.events.schema import event_mapping, exposure_mapping, split_map_flags
    from upsell_ab.events.store import DEFAULT_STORE, EventStore
    from upsell_ab.events.timestamps import resolve_timezone

    if not (args.exposures or args.events or args.spool):
        print("upsell-ab ingest: give --exposures, --events or --spool", file=sys.stderr)
        return int(ExitCode.INVALID_INPUT)
    try:
        resolve_timezone(args.timezone)
        exposure_overrides, event_overrides = split_map_flags(args.map)
        exposure_spec, event_spec, spec_store = _spec_mapping(args.spec)
        attributes = tuple(args.attribute) if args.attribute else None
        exposures = exposure_mapping(exposure_spec, exposure_overrides, attributes)
        bounds = ValueBounds().with_flags(args.bound, refuse=args.implausible == "refuse")
        events = event_mapping(
            event_spec, event_overrides, allow_default=args.allow_default, bounds=bounds
        )
    except InputError as error:
        return _refuse(error, args.format)

    work: tuple[tuple[Kind, list[str], ColumnMapping], ...] = (
        ("exposures", args.exposures, exposures),
        ("events", args.events, events),
    )
    streams = [
        source_stream(path, kind, mapping, timezone=args.timezone)
        for kind, files, mapping in work
        for path in files
    ]
    store_path = args.store or spec_store or DEFAULT_STORE
    created = not Path(store_path).exists()
    reports: list[IngestReport] = []
    dry_run = bool(getattr(args, "dry_run", False))
    notes: list[str] = []
    spooled: SpoolResult | None = None
    try:
        with EventStore(store_path) as store:
            notes = store.notes
            if streams:
                reports.extend(store.write_streams(streams, replace=args.replace, dry_run=dry_run))
            if args.spool and not dry_run:
                from upsell_ab.events.spool import ingest_spool_files

                spooled = ingest_spool_files(
                    args.spool, store, timezone=args.timezone, replace=args.replace
                )
                reports.append(spooled.report)
            counts = store.counts()
            unused = _unused_types(args.spec, store, reports) if args.spec else []
    except InputError as error:
        _remove_new_store(created and (not reports or dry_run), store_path)
        return _refuse(error, args.format, written=bool(reports) and not dry_run)
    except BaseException:  # disk full, driver failure, interrupt: the CLI reports it
        _remove_new_store(created and (not reports or dry_run), store_path)
        raise
    _remove_new_store(created and dry_run, store_path)
    for note in notes:
        print(f"upsell-ab ingest: {note}", file=sys.stderr)
    _print_reports(
        reports,
        store_path,
        counts,
        args.format,
        spooled,
        dry_run=dry_run,
        unused=unused,
        replace=args.replace,
    )
    # quarantined spool files: the rest is in, but a person must look (cron must notice)
    return int(ExitCode.INVALID_INPUT if spooled and spooled.quarantined else ExitCode.OK)


def _remove_new_store(remove: bool, store_path: str) -> None:
    """A refused or failed FIRST ingest, or a dry run, leaves no store file behind
    (nothing was committed)."""
    if remove:
        for leftover in (Path(store_path), Path(f"{store_path}.wal")):
            leftover.unlink(missing_ok=True)


def _unused_types(spec_path: str, store: Any, reports: list[IngestReport]) -> list[str]:
    from upsell_ab.errors import UpsellAbError
    from upsell_ab.events.event_types import unused_event_types
    from upsell_ab.spec.load import load_experiment

    batches = [r.ingest_id for r in reports if r.kind == "events" and r.ingest_id is not None]
    if not batches:
        return []
    try:
        resolved = load_experiment(spec_path)
    except UpsellAbError as error:
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        return [f"event types not checked against the metrics ({first})"]
    return unused_event_types(resolved, store, batches)


def _spec_mapping(spec_path: str | None) -> tuple[Any, Any, str | None]:
    if spec_path is None:
        return None, None, None
    from upsell_ab.spec.load import load_spec

    spec = load_spec(spec_path)
    return spec.data.exposure_columns, spec.data.event_columns, spec.data.store


def _refuse(error: InputError, output: str, written: bool = False) -> int:
    if output == "json":
        problems = [
            {
                "file": p.location.file,
                "line": p.location.line,
                "row": p.location.row,
                "column": p.location.field,
                "message": p.message,
                "hint": p.hint,
                "code": p.code,
            }
            for p in error.problems
        ]
        print(json.dumps({"ok": False, "written": written, "problems": problems}, indent=2))
    what = "files were written; the spool was refused" if written else "nothing written"
    print(f"upsell-ab ingest: refused, {what}:", file=sys.stderr)
    for problem in error.problems:  # file names and values are untrusted text
        print(f"  {escape_control(str(problem), keep_newlines=False)}", file=sys.stderr)
    return int(ExitCode.INVALID_INPUT)


_DEFAULTS = {"value": "0", "discount": "0", "quantity": "1"}


def _print_reports(
    reports: list[IngestReport],
    store: str,
    counts: Any,
    output: str,
    spooled: SpoolResult | None = None,
    *,
    dry_run: bool = False,
    unused: list[str] | None = None,
    replace: bool = False,
) -> None:
    quarantined = list(spooled.quarantined) if spooled else []
    if output == "json":
        payload = {
            "ok": not quarantined,
            "dry_run": dry_run,
            "store": store,
            "ingests": [r.to_dict() for r in reports],
            "store_rows": {"exposures": counts.exposures, "events": counts.events},
            "quarantined": [q.to_dict() for q in quarantined],
            "stale_temporaries_removed": list(spooled.stale_removed) if spooled else [],
            "unused_event_types": unused or [],
        }
        print(json.dumps(payload, indent=2))
        for item in quarantined:
            print(
                escape_control(f"upsell-ab ingest: quarantined {item.file}", keep_newlines=False),
                file=sys.stderr,
            )
        return
    for item in quarantined:
        text = (
            f"upsell-ab ingest: quarantined {item.file} -> {item.moved_to} "
            f"(reasons in {item.moved_to}.reason.txt): {item.reasons[0] if item.reasons else ''}"
        )
        print(escape_control(text, keep_newlines=False), file=sys.stderr)
    if spooled and spooled.stale_removed:
        print(f"  removed {len(spooled.stale_removed)} stale temporary spool files")
    verb = "would add" if dry_run else "added"
    for r in reports:
        batch = "" if r.ingest_id is None else f" [batch {r.ingest_id}]"
        line = (
            f"{r.kind:<9} {r.source}{batch}: read {r.rows_read:,}, {verb} {r.rows_added:,}, "
            f"duplicates skipped {r.duplicates_skipped:,}"
        )
        if r.duplicates_in_source:
            line += f" ({r.duplicates_in_source:,} repeated inside the source)"
        if r.conflicts:
            line += f", conflicts {r.conflicts:,}"
        if r.conflicts_in_source:
            line += f", conflicts inside the source {r.conflicts_in_source:,}"
        if r.replaced:
            line += f", replaced {r.replaced:,} stored rows"
        print(escape_control(line, keep_newlines=False))
        if r.defaulted_columns:
            defaults = ", ".join(f"{c} {_DEFAULTS.get(c, 'NULL')}" for c in r.defaulted_columns)
            names = ", ".join(r.defaulted_columns)
            print(f"  note: no column for {names}; defaults used ({defaults})")
        if dry_run and r.conflicts and not replace:
            print(
                f"  a real ingest would be refused: {r.conflicts:,} rows conflict with stored "
                "rows (add --replace to replace them)"
            )
        if dry_run and r.conflicts_in_source:
            print("  a real ingest would be refused: conflicting rows inside the source")
        for warning in r.warnings:
            print(escape_control(f"  warning: {warning}", keep_newlines=False))
    for note in unused or []:
        print(escape_control(f"warning: {note}", keep_newlines=False))
    if dry_run:
        print(f"dry run: nothing written; store {store} unchanged")
    print(f"store {store}: {counts.exposures:,} exposures, {counts.events:,} events")
