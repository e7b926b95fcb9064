"""`upsell-ab assign`: the variant of one unit, or of every row of a file.

One unit: ``upsell-ab assign SPEC --unit ID [--attr KEY=VALUE ...] [--format json]``
prints the variant id, or ``not in experiment: <reason> (<detail>)``.

A file: ``upsell-ab assign SPEC --input FILE --output FILE`` (CSV or Parquet by
extension; ``--output -`` writes CSV to stdout) copies the rows and adds a
``variant`` column, empty where the unit is not in the experiment. The unit
column (``population.unit``) and every attribute used by targeting must be
present; on any problem nothing is written (the output goes to a temporary
file in the same folder, renamed into place at the end).

Text values (``--attr``, CSV cells) become numbers or booleans only where the
spec's targeting compares that attribute with numbers or booleans, so an id
such as ``007`` stays text unless a condition needs a number.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from upsell_ab.cli.exit_codes import ExitCode
from upsell_ab.errors import InputError, Location, Problem

if TYPE_CHECKING:
    import pandas as pd

    from upsell_ab.spec.holdout_models import Holdout
    from upsell_ab.spec.models import Condition, Experiment

_NUMBER = re.compile(r"^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$")
_FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
VARIANT_COLUMN = "variant"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "assign",
        help="variant of one unit (--unit) or of every row of a file (--input/--output)",
        description=__doc__.split("\n\n")[1] if __doc__ else None,
    )
    parser.add_argument("spec", help="experiment spec (YAML)")
    parser.add_argument("--unit", help="unit id (value of the spec's population.unit)")
    parser.add_argument(
        "--attr",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="attribute for targeting (repeatable)",
    )
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument("--input", help="CSV or Parquet file with one row per unit")
    parser.add_argument("--output", help="CSV or Parquet file to write, or - for CSV on stdout")
    parser.add_argument(
        "--store",
        metavar="DB",
        help="bandit specs: the DuckDB store whose allocation history gives the current "
        "weights (default: the spec's store)",
    )
    parser.add_argument(
        "--sticky",
        action="store_true",
        help="bandit specs: remember each unit's first variant in the store (required once "
        "the weights changed)",
    )
    parser.add_argument(
        "--at",
        metavar="TIME",
        help="switchback specs (randomization.unit: time_slot): the arm of the slot holding "
        "this ISO 8601 time (no offset = the shop's local time) instead of --unit",
    )
    parser.add_argument(
        "--time-column",
        default="timestamp",
        help="switchback specs with --input: the column with each row's time (default timestamp)",
    )
    parser.set_defaults(run=run)


def _assign_slot(experiment: Experiment, args: argparse.Namespace) -> int:
    """A switchback spec: the slot key of ``--at`` is the hashed unit."""
    from datetime import datetime

    if not experiment.randomization.is_switchback:
        raise _argument_error(
            "--at is for switchback specs (randomization.unit: time_slot); give --unit ID"
        )
    if args.unit is not None or args.input is not None:
        raise _argument_error("--at replaces --unit and --input; give one of them")
    try:
        at = datetime.fromisoformat(args.at)
    except ValueError:
        raise _argument_error(
            f"--at {args.at!r} is not an ISO 8601 time such as 2026-12-04T10:30"
        ) from None
    from upsell_ab.assignment import Assigner

    key = experiment.randomization.clock().key(at)
    return _assign_one(experiment, key, args.attr, args.format, Assigner(experiment))


def _assigner(experiment: Experiment, args: argparse.Namespace, holdout: Holdout | None) -> Any:
    """The spec's assigner (with the programme's holdout); for a bandit, the latest
    recorded weights (sticky on request)."""
    if not experiment.allocation.is_bandit:
        from upsell_ab.assignment import Assigner

        return Assigner(experiment, holdout=holdout)
    from upsell_ab.allocation.assign import bandit_assigner
    from upsell_ab.allocation.history import store_path_for
    from upsell_ab.assignment.sticky import StoreSticky

    path = store_path_for(experiment, args.store)
    return bandit_assigner(
        experiment,
        store=path,
        sticky=StoreSticky(path) if args.sticky else None,
        holdout=holdout,
    )


def run(args: argparse.Namespace) -> int:
    if args.at is not None:
        from upsell_ab.spec.load import load_spec

        return _assign_slot(load_spec(args.spec), args)
    if (args.unit is None) == (args.input is None):
        raise _argument_error("give either --unit ID or --input FILE --output FILE")
    if args.input is not None and args.output is None:
        raise _argument_error("--input needs --output (a file, or - for stdout)")
    if args.unit is not None and args.output is not None:
        raise _argument_error("--output is for --input; with --unit the answer is printed")
    from upsell_ab.spec.load import load_spec
    from upsell_ab.spec.program import holdout_for

    experiment = load_spec(args.spec)
    if experiment.randomization.is_switchback:
        if args.input is not None:
            from upsell_ab.cli.assign_slots import assign_slot_file

            return assign_slot_file(experiment, args)
        raise _argument_error(
            "this spec randomises time slots (randomization.unit: time_slot): "
            "give --at TIME (or --input FILE with a time column) instead of --unit"
        )
    holdout = holdout_for(args.spec)
    if args.unit is not None:
        assigner = _assigner(experiment, args, holdout)
        return _assign_one(experiment, args.unit, args.attr, args.format, assigner)
    assigner = _assigner(experiment, args, holdout)
    return _assign_file(experiment, Path(args.input), args.output, assigner, holdout)


# ------------------------------------------------------------------ one unit
def _assign_one(
    experiment: Experiment, unit: str, pairs: list[str], fmt: str, assigner: Any
) -> int:
    kinds = expected_kinds(experiment.population.targeting)
    attributes: dict[str, object] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key:
            raise _argument_error(f"--attr {pair!r}: expected KEY=VALUE")
        attributes[key] = parse_text(text, kinds.get(key, frozenset()))
    result = assigner.assign(unit, attributes)
    if fmt == "json":
        print(json.dumps(result.to_dict(), ensure_ascii=False))
    elif result.in_experiment:
        print(result.variant)
    else:
        detail = f" ({result.detail})" if result.detail else ""
        print(f"not in experiment: {result.reason.value}{detail}")
    return int(ExitCode.OK)


def expected_kinds(conditions: Iterable[Condition]) -> dict[str, frozenset[str]]:
    """Per attribute, the kinds ('number', 'bool') its conditions compare with."""
    from upsell_ab.spec.models import Operator

    kinds: dict[str, set[str]] = {}
    for condition in conditions:
        seen = kinds.setdefault(condition.attribute, set())
        if condition.op in (Operator.gt, Operator.gte, Operator.lt, Operator.lte):
            seen.add("number")
        for value in [condition.value, *(condition.values or [])]:
            if isinstance(value, bool):
                seen.add("bool")
            elif isinstance(value, int | float):
                seen.add("number")
    return {name: frozenset(found) for name, found in kinds.items()}


def parse_text(text: str, kinds: frozenset[str]) -> object:
    """``"3"`` -> 3 where a number is expected, ``"true"`` -> True where a boolean is;
    ``""`` -> None (missing); otherwise the text itself."""
    if text == "":
        return None
    if "number" in kinds and _NUMBER.match(text):
        return float(text) if any(c in text for c in ".eE") else int(text)
    if "bool" in kinds and text.lower() in ("true", "false"):
        return text.lower() == "true"
    return text


# ------------------------------------------------------------------- a file
def _assign_file(
    experiment: Experiment, source: Path, target: str, assigner: Any, holdout: Holdout | None
) -> int:
    in_format = _format_of(source, "input")
    out_format = "csv" if target == "-" else _format_of(Path(target), "output")
    unit = experiment.population.unit
    kinds = expected_kinds(experiment.population.targeting)
    frame = _read(source, in_format)
    needed = [unit, *kinds]
    if holdout is not None and holdout.unit not in needed:
        needed.append(holdout.unit)
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise InputError(
            [
                Problem(
                    Location(file=str(source), field=column),
                    f"required column {column!r} is missing"
                    + (
                        " (the spec's population.unit)"
                        if column == unit
                        else " (used by targeting)"
                        if column in kinds
                        else " (the long-term holdout's unit, program.yaml)"
                    ),
                    hint=f"columns present: {', '.join(map(str, frame.columns)) or 'none'}",
                    code="missing_column",
                )
                for column in missing
            ]
        )
    attributes = _typed_attributes(frame, kinds, in_format)
    if holdout is not None and holdout.unit != unit and holdout.unit in frame.columns:
        import pandas as pd

        attributes = (
            attributes if attributes is not None else pd.DataFrame(index=frame.index)
        ).assign(**{holdout.unit: _unit_ids(frame[holdout.unit], in_format)})
    try:
        variants = assigner.assign_many(_unit_ids(frame[unit], in_format), attributes)
    except TypeError as error:
        raise InputError(
            [Problem(Location(file=str(source), field=unit), str(error), code="bad_unit")]
        ) from error
    if VARIANT_COLUMN in frame.columns:
        print(f"note: replacing the existing {VARIANT_COLUMN!r} column", file=sys.stderr)
    out = frame.assign(**{VARIANT_COLUMN: variants})
    _write(out, target, out_format)
    inside = int(sum(v is not None for v in variants))
    print(f"assigned {inside} of {len(out)} rows", file=sys.stderr)
    return int(ExitCode.OK)


def _format_of(path: Path, role: str) -> str:
    fmt = _FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InputError(
            [
                Problem(
                    Location(file=str(path)),
                    f"unknown {role} file type {path.suffix or '(none)'!r}",
                    hint="use .csv or .parquet"
                    + (" (or - for stdout)" if role == "output" else ""),
                    code="unknown_extension",
                )
            ]
        )
    return fmt


def _read(source: Path, fmt: str) -> pd.DataFrame:
    import pandas as pd

    try:
        if fmt == "csv":
            # Everything as text: rows are copied out unchanged; targeting columns
            # are parsed with parse_text below.
            return pd.read_csv(source, dtype=str, keep_default_na=False, encoding="utf-8-sig")
        return pd.read_parquet(source)
    except (OSError, ValueError, ImportError, pd.errors.ParserError) as error:
        raise InputError(
            [Problem(Location(file=str(source)), f"cannot read: {error}", code="unreadable")]
        ) from error
    except Exception as error:  # pyarrow raises its own types for corrupt files
        raise InputError(
            [Problem(Location(file=str(source)), f"cannot read: {error}", code="unreadable")]
        ) from error


def _typed_attributes(
    frame: pd.DataFrame, kinds: dict[str, frozenset[str]], fmt: str
) -> pd.DataFrame | None:
    import pandas as pd

    if not kinds:
        return None
    columns: dict[str, Any] = {}
    for name, expected in kinds.items():
        column = frame[name]
        if fmt == "csv":
            parsed = [parse_text(t, expected) for t in column.tolist()]
            columns[name] = pd.Series(parsed, index=frame.index, dtype=object)
        else:
            columns[name] = column
    return pd.DataFrame(columns, index=frame.index)


def _unit_ids(column: pd.Series, fmt: str) -> Any:
    if fmt == "csv":
        return column.tolist()  # "" (empty cell) is a missing unit
    return column


def _write(frame: pd.DataFrame, target: str, fmt: str) -> None:
    if target == "-":
        frame.to_csv(sys.stdout, index=False)
        return
    from upsell_ab.output_file import output_path

    with output_path(target) as temp:  # devices, FIFOs, symlinks: written through
        if fmt == "csv":
            frame.to_csv(temp, index=False)
        else:
            frame.to_parquet(temp, index=False)


def _argument_error(message: str) -> InputError:
    return InputError([Problem(Location(), message, code="bad_argument")])
