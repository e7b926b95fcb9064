"""`upsell-ab assign SPEC --input FILE --output FILE` for a switchback spec: every row's
time (``--time-column``, default ``timestamp``) picks its slot, the slot key is hashed by
the bulk assigner (identical to ``--at`` on each row). Naive times are the shop's local
time; a bad time is refused with its row and nothing is written."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from upsell_ab.cli.exit_codes import ExitCode
from upsell_ab.errors import InputError, Location, Problem

if TYPE_CHECKING:
    from upsell_ab.spec.models import Experiment


def _moment(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value  # pandas Timestamp is a datetime
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return None


def assign_slot_file(experiment: Experiment, args: argparse.Namespace) -> int:
    from upsell_ab.assignment import Assigner
    from upsell_ab.cli.assign_command import VARIANT_COLUMN, _format_of, _read, _write

    source = Path(args.input)
    in_format = _format_of(source, "input")
    out_format = "csv" if args.output == "-" else _format_of(Path(args.output), "output")
    frame = _read(source, in_format)
    column = args.time_column
    if column not in frame.columns:
        raise InputError(
            [
                Problem(
                    Location(file=str(source), field=column),
                    f"required column {column!r} is missing (the time of each visit: the "
                    "spec randomises time slots)",
                    hint="name the time column with --time-column; columns present: "
                    + (", ".join(map(str, frame.columns)) or "none"),
                    code="missing_column",
                )
            ]
        )
    clock = experiment.randomization.clock()
    keys: list[str] = []
    for index, value in enumerate(frame[column].tolist()):
        moment = _moment(value)
        if moment is None:
            raise InputError(
                [
                    Problem(
                        Location(
                            file=str(source),
                            line=index + 2 if in_format == "csv" else None,
                            row=index + 1,
                            field=column,
                        ),
                        f"{value!r} is not an ISO 8601 time",
                        hint="write times such as 2026-12-04T10:30 (local) or with an offset",
                        code="bad_time",
                    )
                ]
            )
        keys.append(clock.key(moment))
    variants = Assigner(experiment).assign_many(keys)
    if VARIANT_COLUMN in frame.columns:
        print(f"note: replacing the existing {VARIANT_COLUMN!r} column", file=sys.stderr)
    out = frame.assign(**{VARIANT_COLUMN: variants})
    _write(out, args.output, out_format)
    print(f"assigned {len(out)} rows by {clock.slot} slot", file=sys.stderr)
    return int(ExitCode.OK)
