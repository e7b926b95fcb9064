"""The column mapping of a table source (embedded store, PostgreSQL, Spark) against the
real tables, after the analysis query failed on them.

A spec whose ``exposure_columns.unit_id`` says ``customer_id`` while the table (or a
store written by ``upsell-ab ingest``, which keeps the canonical ``unit_id``) has no
such column used to end in the engine's words (DuckDB's ``Binder Error: Referenced
column "customer_id" not found``, PostgreSQL's ``column "customer_id" does not exist``)
with no line of the spec and no way out. After such a failure the columns of both
tables are read (``SELECT * FROM t LIMIT 0``) and every column the analysis reads is
looked up, as :mod:`upsell_ab.spec.source_files` does for files before the query: a
missing one is a located problem with a did-you-mean; a table that cannot be read at
all is one too. Nothing is read when the query succeeds.
"""

from __future__ import annotations

from upsell_ab.errors import Problem
from upsell_ab.spec.load import Parsed
from upsell_ab.spec.locate import problem_at
from upsell_ab.spec.models import Experiment, SourceKind
from upsell_ab.spec.source_files import (
    NEEDS_TYPE,
    column_hint,
    implicitly_absent,
    wanted_columns,
)

TableColumns = dict[str, dict[str, str] | str]
"""Side (``exposures``/``events``) -> its columns (name -> the engine's type name), or the
engine's error reading it."""


def _hint_for_missing_table(kind: SourceKind, side: str) -> str:
    if kind is SourceKind.embedded:
        return (
            f"a store written by 'upsell-ab ingest' has the table '{side}' once {side} are "
            f"ingested (upsell-ab ingest --{side} FILE); for a DuckDB file of your own, "
            f"set data.{side}.table (and schema) to its table"
        )
    return f"set data.{side}.table (and data.{side}.schema) to the table that holds the {side}"


def table_column_problems(
    parsed: Parsed, columns: TableColumns, where: dict[str, str]
) -> list[Problem]:
    """Located problems: a table that could not be read (``columns[side]`` is the error),
    and each column the analysis reads that its table lacks. ``where`` names each side's
    table for the message (``table 'events' of the store s.duckdb``)."""
    experiment = parsed.model
    if not isinstance(experiment, Experiment) or experiment.data.kind is SourceKind.files:
        return []
    file = str(parsed.path)
    problems: list[Problem] = []
    for side in ("exposures", "events"):
        found = columns.get(side)
        if isinstance(found, str):
            problems.append(
                problem_at(
                    parsed.document,
                    file,
                    ("data", side, "table"),
                    f"cannot read the {side} {where[side]}: {found}",
                    _hint_for_missing_table(experiment.data.kind, side),
                    "not_found",
                )
            )
    wanted = list(wanted_columns(experiment))
    used = {name for _, name, _, _ in wanted}
    for side, name, path, canonical in wanted:
        types = columns.get(side)
        if not isinstance(types, dict):
            continue
        present = tuple(types)
        needed = NEEDS_TYPE.get(canonical)
        if name in types and needed is not None and not needed[1](types[name]):
            problems.append(
                problem_at(
                    parsed.document,
                    file,
                    path,
                    f"column '{name}' of the {side} {where[side]} is {types[name]}, the "
                    f"analysis needs {needed[0]}",
                    f"store it as {needed[0]} (ALTER TABLE ... TYPE, or a view that casts it, "
                    f"named in data.{side}.table)",
                    "column_type",
                )
            )
            continue
        if name in types:
            continue
        field = path[-1] if isinstance(path[-1], str) else path[-2]
        if implicitly_absent(experiment, side, str(field), name, present):
            continue  # read as absent (discount 0, quantity 1), as from files
        if experiment.data.kind is SourceKind.embedded and canonical in present:
            hint = (
                f"a store written by 'upsell-ab ingest' keeps the canonical name "
                f"'{canonical}' (ingest maps your file's columns with --spec or --map): "
                f"remove this mapping from the spec"
            )
        else:
            hint = column_hint(name, canonical, present, used, str(field), holder="table")
        problems.append(
            problem_at(
                parsed.document,
                file,
                path,
                f"the {side} {where[side]} has no column '{name}'",
                hint,
                "unknown_column",
            )
        )
    return problems
