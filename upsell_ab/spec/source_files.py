"""``validate``: the column mapping of a ``files`` source against the real files.

A spec whose ``event_columns.value`` is left at ``value`` while the export calls
it ``revenue`` used to validate and then fail at analysis with DuckDB's
``Referenced column "value" not found``. Here every column the analysis will read
(the mapped names, the defaults left implicit, attributes, segments and CUPED
covariate columns) is looked up in the file's header; a missing one is a
located problem with a did-you-mean (close spelling, or a known synonym such
as ``revenue`` for ``value``). Files that are not there (data kept outside the
repository, as in CI) are skipped: the check needs the data to exist.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from upsell_ab.errors import Problem
from upsell_ab.spec.load import Parsed
from upsell_ab.spec.locate import problem_at
from upsell_ab.spec.models import Experiment, SourceKind

_EXPOSURE_FIELDS = {
    "experiment": "experiment",
    "variant": "variant",
    "unit_id": "unit_id",
    "timestamp": "timestamp",
    "event_id": "event_id",
}
_EVENT_FIELDS = {
    "unit_id": "unit_id",
    "timestamp": "timestamp",
    "type": "event_type",
    "value": "value",
    "discount": "discount",
    "quantity": "quantity",
    "event_id": "event_id",
}
"""Spec field of ``event_columns`` -> the canonical column (for the synonym hints);
``order_id`` is only read by ingest, never by the analysis, so it is not checked here."""

_ABSENT_HINT = {
    "discount": "or 'discount: null' if the export has no discount column (0 on every row)",
    "quantity": "or 'quantity: null' if the export has no quantity column (1 on every row)",
    "event_id": "or 'event_id: null' if the export has no event ids (no de-duplication)",
}


OPTIONAL_DEFAULTS: dict[str, dict[str, str]] = {
    "exposures": {"event_id": "event_id"},
    "events": {"discount": "discount", "quantity": "quantity", "event_id": "event_id"},
}
"""Columns the analysis can do without, at their default names: a file that lacks one
is read as if the spec said ``<field>: null`` (discount 0, quantity 1, no de-duplication
by id), as the Python API reads a DataFrame; a name the spec maps must exist."""


def _mapping(experiment: Experiment, side: str) -> Any:
    data = experiment.data
    return data.exposure_columns if side == "exposures" else data.event_columns


def measured_lookalike(
    experiment: Experiment, side: str, field: str, present: Sequence[str]
) -> str | None:
    """A column of ``present`` that probably holds the measured column ``field``
    (``discount_amount`` for ``discount``), among those no other field maps; None for
    the identifying columns. Why: reading ``discount`` as absent puts 0 on every order,
    and a profit-after-discount decision then ships the deepest discount on its gross
    margin, as ingest's refusal of look-alike columns (events.column_hints) prevents."""
    from upsell_ab.events.column_hints import MEASURED, lookalike

    if field not in MEASURED:
        return None
    used = [v for v in _mapping(experiment, side).model_dump().values() if isinstance(v, str)]
    return lookalike(field, present, used)


def implicitly_absent(
    experiment: Experiment,
    side: str,
    field: str,
    name: str,
    present: Sequence[str] = (),
) -> bool:
    """The optional column ``field`` is left at its default ``name`` and is read as absent
    from a source whose columns are ``present`` (never when one of them looks like it)."""
    default = OPTIONAL_DEFAULTS[side].get(field)
    if default is None or name != default or getattr(_mapping(experiment, side), field) != default:
        return False
    return measured_lookalike(experiment, side, field, present) is None


def with_absent_optional_columns(experiment: Experiment) -> Experiment:
    """``experiment`` whose files source no longer maps the optional columns (at their
    default names) its files lack (:data:`OPTIONAL_DEFAULTS`). Headers are read only
    when such a column is left at its default."""
    data = experiment.data
    if data.kind is not SourceKind.files:
        return experiment
    from upsell_ab.errors import SpecError
    from upsell_ab.events.file_header import read_file_header
    from upsell_ab.events.sources import file_format

    columns: dict[str, tuple[str, ...]] = {}
    for side, defaults in OPTIONAL_DEFAULTS.items():
        mapping = _mapping(experiment, side)
        table = getattr(data, side)
        if table.path is None or not any(getattr(mapping, f) == n for f, n in defaults.items()):
            continue
        try:
            header = read_file_header(table.path, file_format(table, side))
        except SpecError:
            continue
        if header.missing or header.error is not None:
            continue  # the analysis reports it
        columns[side] = tuple(header.columns)
    return without_absent_defaults(experiment, columns)


def without_absent_defaults(
    experiment: Experiment, columns: dict[str, tuple[str, ...]]
) -> Experiment:
    """``experiment`` with each optional column (:data:`OPTIONAL_DEFAULTS`) that is left at
    its default name and absent from its side's ``columns`` mapped to None (discount 0,
    quantity 1, no de-duplication by id); sides not in ``columns`` are left as they are."""
    data = experiment.data
    updates: dict[str, object] = {}
    for side, present in columns.items():
        key = "exposure_columns" if side == "exposures" else "event_columns"
        mapping = getattr(data, key)
        absent = {
            f: None
            for f, name in OPTIONAL_DEFAULTS[side].items()
            if name not in present and implicitly_absent(experiment, side, f, name, present)
        }
        if absent:
            updates[key] = mapping.model_copy(update=absent)
    if not updates:
        return experiment
    return experiment.model_copy(update={"data": data.model_copy(update=updates)})


def column_hint(
    name: str,
    canonical: str,
    present: tuple[str, ...],
    used: set[str],
    field: str,
    holder: str = "file",
) -> str:
    """Did-you-mean among the columns no other field maps: a known synonym first
    (``revenue`` for ``value``), then a close spelling; else the ``holder``'s columns."""
    from upsell_ab.events.column_hints import lookalike
    from upsell_ab.spec.suggest import did_you_mean

    free = [c for c in present if c not in used]
    guess = lookalike(canonical, free) or did_you_mean(name, free)
    if guess:
        parts = [f"did you mean '{guess}'? map it: {field}: {guess}"]
    else:
        shown = ", ".join(present[:12]) + (", ..." if len(present) > 12 else "")
        parts = [f"the {holder}'s columns are {shown}"]
    absent = _ABSENT_HINT.get(canonical)
    if absent:
        parts.append(absent)
    return "; ".join(parts)


def wanted_columns(experiment: Experiment) -> Iterable[tuple[str, str, tuple[str | int, ...], str]]:
    """(table, column name, spec path, canonical) for every column the analysis reads."""
    data = experiment.data
    for field, canonical in _EXPOSURE_FIELDS.items():
        name = getattr(data.exposure_columns, field)
        if isinstance(name, str):
            yield "exposures", name, ("data", "exposure_columns", field), canonical
    for index, name in enumerate(data.exposure_columns.attributes):
        yield "exposures", name, ("data", "exposure_columns", "attributes", index), name
    for segment in experiment.analysis.segments:
        if segment not in data.exposure_columns.attributes:
            yield "exposures", segment, ("analysis", "segments"), segment
    for metric, column in data.covariates.items():
        yield "exposures", column, ("data", "covariates", metric), column
    for field, canonical in _EVENT_FIELDS.items():
        name = getattr(data.event_columns, field)
        if isinstance(name, str):
            yield "events", name, ("data", "event_columns", field), canonical


def source_file_problems(parsed: Parsed, *, require_files: bool = False) -> list[Problem]:
    """Located problems for columns a valid ``files`` spec maps but its files lack.
    ``require_files`` (an analysis, which must read them): a path that matches no file is
    a problem too, naming the folder relative paths are read from."""
    experiment = parsed.model
    if not isinstance(experiment, Experiment) or experiment.data.kind is not SourceKind.files:
        return []
    from upsell_ab.errors import SpecError
    from upsell_ab.events.file_header import read_file_header
    from upsell_ab.events.sources import file_format

    file = str(parsed.path)
    headers: dict[str, dict[str, str]] = {}
    problems: list[Problem] = []
    for table_name in ("exposures", "events"):
        table = getattr(experiment.data, table_name)
        if table.path is None:
            continue
        try:
            fmt = file_format(table, table_name)
        except SpecError as error:
            problems += [
                problem_at(parsed.document, file, ("data", table_name), p.message, p.hint,
                           "invalid_value")
                for p in error.problems
            ]  # fmt: skip
            continue
        header = read_file_header(table.path, fmt)
        if header.error is not None:
            problems.append(
                problem_at(
                    parsed.document,
                    file,
                    ("data", table_name, "path"),
                    f"cannot read the columns of {table.path!r}: {header.error}",
                    f"check that the file is {fmt} (or set data.{table_name}.format)",
                    "unreadable",
                )
            )
        elif not header.missing:
            headers[table_name] = dict(zip(header.columns, header.types, strict=True))
        elif require_files:
            problems.append(_missing_file(parsed, table_name, table.path))
    wanted = list(wanted_columns(experiment))
    used = {name for _, name, _, _ in wanted}
    for table_name, name, path, canonical in wanted:
        types = headers.get(table_name)
        if types is None:
            continue
        where = getattr(experiment.data, table_name).path
        field = path[-1] if isinstance(path[-1], str) else path[-2]
        if name not in types and implicitly_absent(
            experiment, table_name, str(field), name, tuple(types)
        ):
            continue  # read as absent (OPTIONAL_DEFAULTS)
        if name not in types:
            problems.append(
                problem_at(
                    parsed.document,
                    file,
                    path,
                    f"the {table_name} file {where!r} has no column '{name}'",
                    column_hint(name, canonical, tuple(types), used, str(field)),
                    "unknown_column",
                )
            )
            continue
        needed = NEEDS_TYPE.get(canonical)
        if needed is not None and not needed[1](types[name]):
            problems.append(
                problem_at(
                    parsed.document,
                    file,
                    path,
                    f"column '{name}' of the {table_name} file {where!r} is {types[name]}, "
                    f"the analysis needs {needed[0]}",
                    _TYPE_HINT[needed[0]],
                    "column_type",
                )
            )
    return problems


def _missing_file(parsed: Parsed, table_name: str, path: str) -> Problem:
    """No file at ``path``: where it was looked for (relative paths are read from the
    folder the command runs in, not the spec's folder) and how to fix it."""
    import os
    from pathlib import Path

    message = f"no {table_name} file matches {path!r}"
    if not Path(path).is_absolute():
        message += (
            f": looked for {str(Path(os.getcwd()) / path)!r} (relative paths are read from "
            "the folder upsell-ab runs in, not the spec's folder)"
        )
    return problem_at(
        parsed.document,
        str(parsed.path),
        ("data", table_name, "path"),
        message,
        "run upsell-ab from the folder the path is relative to, or give an absolute path",
        "not_found",
    )


def _is_time(kind: str) -> bool:
    return kind.upper().startswith(("TIMESTAMP", "DATE"))


def _is_number(kind: str) -> bool:
    name = kind.upper()
    return name == "INT" or name.startswith(_NUMERIC)


_NUMERIC = (
    "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
    "UINTEGER", "UBIGINT", "UHUGEINT", "FLOAT", "DOUBLE", "DECIMAL", "NUMERIC", "REAL",
)  # fmt: skip
"""Numeric type names of DuckDB, PostgreSQL (``numeric``, ``real``, ``double precision``)
and Spark (``int``, ``decimal(10,2)``), compared upper-cased."""
NEEDS_TYPE = {
    "timestamp": ("a timestamp", _is_time),
    "value": ("a number", _is_number),
    "discount": ("a number", _is_number),
    "quantity": ("a number", _is_number),
}
"""Canonical columns whose type the analysis computes with (no engine here casts text),
for files and tables alike."""
_TYPE_HINT = {
    "a timestamp": "write the column as a timestamp type when exporting (Parquet), or as "
    "ISO 8601 text ('2026-03-05 10:00:00') in a CSV so it is read as one",
    "a number": "export plain numbers: no currency signs or thousands separators "
    "('1200', not '¥1,200'); or ingest the file, which converts and reports bad rows",
}
