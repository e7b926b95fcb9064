"""`upsell-ab ingest`: load exposure/event files (and tracker spool files) into the store.

Every file is validated before anything is written; one bad file refuses the
whole run (exit 1, every problem located, store unchanged). Valid files are
then written in one transaction. Re-running with the same files adds nothing.
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
    parser.add_argument("--format", choices=("text", "json"), default="text")
    add_memory_argument(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    apply_memory_argument(args)
    from upsell_ab.errors import InputError
    from upsell_ab.events.ingest import validated_chunks
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
        events = event_mapping(event_spec, event_overrides)
    except InputError as error:
        return _refuse(error, args.format)

    work: tuple[tuple[Kind, list[str], ColumnMapping], ...] = (
        ("exposures", args.exposures, exposures),
        ("events", args.events, events),
    )
    streams = [
        validated_chunks(path, kind, mapping, timezone=args.timezone)
        for kind, files, mapping in work
        for path in files
    ]
    store_path = args.store or spec_store or DEFAULT_STORE
    created = not Path(store_path).exists()
    reports: list[IngestReport] = []
    spooled: SpoolResult | None = None
    try:
        with EventStore(store_path) as store:
            if streams:
                reports.extend(store.write_streams(streams))
            if args.spool:
                from upsell_ab.events.spool import ingest_spool_files

                spooled = ingest_spool_files(args.spool, store, timezone=args.timezone)
                reports.append(spooled.report)
            counts = store.counts()
    except InputError as error:
        if created and not reports:
            _remove_new_store(store_path)
        return _refuse(error, args.format, written=bool(reports))
    except BaseException:  # disk full, driver failure, interrupt: the CLI reports it
        if created and not reports:
            _remove_new_store(store_path)
        raise
    _print_reports(reports, store_path, counts, args.format, spooled)
    # quarantined spool files: the rest is in, but a person must look (cron must notice)
    return int(ExitCode.INVALID_INPUT if spooled and spooled.quarantined else ExitCode.OK)


def _remove_new_store(store_path: str) -> None:
    """A refused or failed FIRST ingest leaves no store file behind (nothing was committed)."""
    for leftover in (Path(store_path), Path(f"{store_path}.wal")):
        leftover.unlink(missing_ok=True)


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


def _print_reports(
    reports: list[IngestReport],
    store: str,
    counts: Any,
    output: str,
    spooled: SpoolResult | None = None,
) -> None:
    quarantined = list(spooled.quarantined) if spooled else []
    if output == "json":
        payload = {
            "ok": not quarantined,
            "store": store,
            "ingests": [r.to_dict() for r in reports],
            "store_rows": {"exposures": counts.exposures, "events": counts.events},
            "quarantined": [q.to_dict() for q in quarantined],
            "stale_temporaries_removed": list(spooled.stale_removed) if spooled else [],
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
    for r in reports:
        line = (
            f"{r.kind:<9} {r.source}: read {r.rows_read:,}, added {r.rows_added:,}, "
            f"duplicates skipped {r.duplicates_skipped:,}"
        )
        if r.duplicates_in_source:
            line += f" ({r.duplicates_in_source:,} repeated inside the source)"
        print(escape_control(line, keep_newlines=False))
        if r.defaulted_columns:
            print(
                f"  note: no column for {', '.join(r.defaulted_columns)}; "
                "defaults used (value 0, discount 0, quantity 1)"
            )
    print(f"store {store}: {counts.exposures:,} exposures, {counts.events:,} events")
