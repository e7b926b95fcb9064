"""`upsell-ab store`: see and undo ingests.

store list       every ingest batch: id, time, kind, file, rows read / added /
                 skipped / conflicting / replaced, rows still stored, defaulted columns
store dry-run    what an ingest of these files would add, skip or conflict with
                 (same flags as ingest); nothing is written
store remove N   delete every row of batch N in one transaction (the batch stays in
                 the list, marked removed)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from upsell_ab.cli.exit_codes import ExitCode


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "store",
        help="list ingest batches, dry-run an ingest, remove a batch",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    listing = actions.add_parser("list", help="every ingest batch of the store")
    _store_flag(listing)
    listing.add_argument("--format", choices=("text", "json"), default="text")
    listing.set_defaults(run=run_list)

    remove = actions.add_parser("remove", help="delete one ingest batch's rows atomically")
    _store_flag(remove)
    remove.add_argument("ingest_id", type=int, metavar="BATCH", help="batch id (see store list)")
    remove.set_defaults(run=run_remove)

    from upsell_ab.cli import ingest_command

    dry = actions.add_parser(
        "dry-run",
        help="what an ingest would add, skip or conflict with; nothing written",
        description="Same flags as 'upsell-ab ingest'; runs the whole ingest inside a "
        "transaction that is rolled back.",
    )
    ingest_command.add_source_flags(dry)
    ingest_command.add_write_flags(dry)
    dry.add_argument("--format", choices=("text", "json"), default="text")
    dry.set_defaults(run=run_dry, dry_run=True)
    parser.set_defaults(run=None)


def _store_flag(parser: Any) -> None:
    parser.add_argument(
        "--store", help="DuckDB store file (default: the spec's, else upsell_ab.duckdb)"
    )
    parser.add_argument("--spec", help="experiment spec whose data.store names the store")


def _store_path(args: argparse.Namespace) -> str | None:
    from upsell_ab.events.store import DEFAULT_STORE

    if args.store:
        return str(args.store)
    if args.spec:
        from upsell_ab.spec.load import load_spec

        return load_spec(args.spec).data.store or DEFAULT_STORE
    return DEFAULT_STORE


def _missing(path: str) -> int:
    print(f"upsell-ab store: no store file {path} (ingest something first)", file=sys.stderr)
    return int(ExitCode.INVALID_INPUT)


def run_list(args: argparse.Namespace) -> int:
    from upsell_ab.events.store import EventStore
    from upsell_ab.events.store_admin import list_batches

    path = _store_path(args)
    assert path is not None
    if not Path(path).exists():
        return _missing(path)
    with EventStore(path) as store:
        for note in store.notes:
            print(f"upsell-ab store: {note}", file=sys.stderr)
        batches = list_batches(store.connection)
    if args.format == "json":
        print(json.dumps({"store": path, "batches": [b.to_dict() for b in batches]}, indent=2))
        return int(ExitCode.OK)
    if not batches:
        print(f"store {path}: no ingests")
        return int(ExitCode.OK)
    print(
        f"{'batch':>5}  {'ingested at (UTC)':<19}  {'kind':<9} {'read':>9} {'added':>9} "
        f"{'skipped':>9} {'conflict':>8} {'replaced':>8} {'stored':>9}  source"
    )
    for b in batches:
        status = f" [removed {b.removed_at:%Y-%m-%d %H:%M}]" if b.removed_at else ""
        defaulted = f" [defaulted: {', '.join(b.defaulted)}]" if b.defaulted else ""
        print(
            f"{b.ingest_id:>5}  {b.ingested_at:%Y-%m-%d %H:%M:%S}  {b.kind:<9} {b.rows_read:>9,} "
            f"{b.rows_added:>9,} {b.duplicates:>9,} {b.conflicts:>8,} {b.replaced:>8,} "
            f"{b.rows_now:>9,}  {b.source}{defaulted}{status}"
        )
    return int(ExitCode.OK)


def run_remove(args: argparse.Namespace) -> int:
    from upsell_ab.events.store import EventStore
    from upsell_ab.events.store_admin import remove_batch

    path = _store_path(args)
    assert path is not None
    if not Path(path).exists():
        return _missing(path)
    with EventStore(path) as store:
        kind, removed = remove_batch(store.connection, args.ingest_id)
        counts = store.counts()
    print(
        f"removed batch {args.ingest_id}: {removed:,} {kind} rows; store {path}: "
        f"{counts.exposures:,} exposures, {counts.events:,} events"
    )
    return int(ExitCode.OK)


def run_dry(args: argparse.Namespace) -> int:
    from upsell_ab.cli import ingest_command

    return ingest_command.run(args)
