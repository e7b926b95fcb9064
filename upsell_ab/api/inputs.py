"""Data in the form a script has it -> :class:`~upsell_ab.metrics.aggregates.ExperimentData`.

Every raw form ends in the same metric query (:mod:`upsell_ab.metrics.compute`)
run where the rows are, so a DataFrame, a Parquet export, a DuckDB store and a
PostgreSQL table give the same numbers:

- pandas DataFrames and pyarrow Tables are *registered* on an in-memory DuckDB
  connection (a view over the frame's memory: nothing copied into a store, no
  file written) and the spec's relations are pointed at them;
- CSV/Parquet paths become ``read_csv``/``read_parquet`` relations read in place;
- DuckDB relations get two views on their own connection for the length of the
  query (dropped afterwards);
- connections (DuckDB, psycopg, Spark) run the query over the spec's tables;
- aggregate summaries (per-variant counts and sums) go through the same parser as
  ``analyze --summary`` (:mod:`upsell_ab.metrics.summary_csv`).
"""

from __future__ import annotations

import dataclasses
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from upsell_ab.errors import InputError, Location, Problem, StoreError, TimestampKindError

if TYPE_CHECKING:
    from upsell_ab.events.engines import QueryEngine
    from upsell_ab.metrics.aggregates import ExperimentData
    from upsell_ab.spec.models import Table
    from upsell_ab.spec.resolve import ResolvedExperiment

STORE_SUFFIXES = (".duckdb", ".db", ".ddb")
SUMMARY_COLUMNS = frozenset({"variant", "metric", "n", "sum"})
FILE_SUFFIXES = (".csv", ".csv.gz", ".tsv", ".parquet", ".pq")


def _problem(message: str, hint: str | None = None, field: str = "data") -> InputError:
    return InputError([Problem(Location(field=field), message, hint, code="data_invalid")])


def _is_frame(value: Any) -> bool:
    module = type(value).__module__
    return module.startswith("pandas") and type(value).__name__ == "DataFrame"


def _is_arrow(value: Any) -> bool:
    return type(value).__module__.startswith("pyarrow") and type(value).__name__ in (
        "Table",
        "RecordBatch",
    )


def _is_relation(value: Any) -> bool:
    return type(value).__name__ == "DuckDBPyRelation"


def _is_connection(value: Any) -> bool:
    module = type(value).__module__
    name = type(value).__name__
    return (
        name == "DuckDBPyConnection"
        or module.startswith("psycopg")
        or (module.startswith("pyspark") and name == "SparkSession")
        or (hasattr(value, "dialect") and hasattr(value, "execute"))
    )


def _file_kind(path: Path) -> str | None:
    """What an existing file is, from its first bytes: ``duckdb`` (the magic ``DUCK`` at
    byte 8), ``parquet`` (``PAR1``), else ``text``; None when there is no such file."""
    try:
        with path.open("rb") as handle:
            head = handle.read(12)
    except OSError:
        return None
    if head[8:12] == b"DUCK":
        return "duckdb"
    if head[:4] == b"PAR1":
        return "parquet"
    return "text"


def _summary_text(value: Any) -> str:
    """CSV text of a summary given as a DataFrame or a list of dicts (floats in full
    precision: pandas writes ``repr``, which round-trips exactly)."""
    import pandas as pd

    frame = value if _is_frame(value) else pd.DataFrame(list(value))
    return str(frame.to_csv(index=False))


def _pair(data: Any, exposures: Any, events: Any) -> tuple[Any, Any] | None:
    if exposures is not None or events is not None:
        if data is not None:
            raise _problem(
                "give either data= or exposures=/events=, not both",
                "analyze(exposures=exposures_df, events=events_df)",
            )
        if exposures is None or events is None:
            missing = "exposures" if exposures is None else "events"
            raise _problem(
                f"'{missing}' is missing: raw data needs both exposures and events",
                f"pass {missing}= too (a DataFrame, a CSV/Parquet path or a DuckDB relation)",
                field=missing,
            )
        return exposures, events
    if isinstance(data, tuple) and len(data) == 2:
        return data[0], data[1]
    if isinstance(data, Mapping) and set(data) == {"exposures", "events"}:
        return data["exposures"], data["events"]
    return None


def experiment_data(
    resolved: ResolvedExperiment,
    data: Any,
    *,
    exposures: Any = None,
    events: Any = None,
    segments: bool = False,
    daily: bool = True,
    step: Callable[[str], None],
) -> tuple[ExperimentData, bool]:
    """Sufficient statistics of ``resolved`` from ``data`` (forms in the module docstring);
    the flag is True when they were computed from raw rows (so daily lifts exist)."""
    from upsell_ab.metrics.compute import compute_experiment_data
    from upsell_ab.metrics.summary_csv import parse_summary, read_summary

    experiment_id = resolved.experiment.id
    pair = _pair(data, exposures, events)
    if pair is not None:
        step(f"{experiment_id}: computing metrics where the rows are")
        return _from_pair(resolved, pair, segments=segments, daily=daily), True
    if data is None:
        step(f"{experiment_id}: computing metrics in the store")
        return compute_experiment_data(resolved, segments=segments, daily=daily), True
    from upsell_ab.metrics.aggregates import ExperimentData

    if isinstance(data, ExperimentData):
        return data, bool(any(m.daily for m in data.metrics.values()))
    if isinstance(data, str | Path):
        path = Path(data)
        # a store's name wins over its content (a damaged store must be reported as one)
        kind = "duckdb" if path.suffix.lower() in STORE_SUFFIXES else _file_kind(path)
        if kind == "text" or (kind is None and path.suffix.lower() in (".csv", ".txt")):
            # one text file alone can only be a summary CSV (its parser says what is wrong)
            step(f"{experiment_id}: reading summary {path}")
            return read_summary(path, resolved), False
        if kind == "parquet" or (kind is None and path.name.lower().endswith(FILE_SUFFIXES)):
            raise _problem(
                f"{path} holds rows of one kind; the analysis needs exposures and events",
                "analyze(exposures='exposures.parquet', events='events.parquet'), or a "
                "summary CSV with columns variant,metric,n,sum",
            )
        step(f"{experiment_id}: computing metrics in the store")
        return compute_experiment_data(resolved, store=path, segments=segments, daily=daily), True
    if _is_frame(data) or (
        isinstance(data, Sequence) and data and all(isinstance(r, Mapping) for r in data)
    ):
        columns = set(data.columns) if _is_frame(data) else set().union(*data)
        if not columns >= SUMMARY_COLUMNS:
            raise _problem(
                "one table is either an aggregate summary (columns variant, metric, n, sum) "
                "or needs its partner",
                "pass raw rows as analyze(exposures=..., events=...)",
            )
        step(f"{experiment_id}: reading the summary")
        return parse_summary(_summary_text(data), resolved, "<summary>"), False
    if _is_connection(data):
        step(f"{experiment_id}: computing metrics on the connection")
        return (
            compute_experiment_data(resolved, connection=data, segments=segments, daily=daily),
            True,
        )
    raise _problem(
        f"cannot analyse data of type {type(data).__name__}",
        "pass a store path, exposures= and events=, a connection or a summary table",
    )


@dataclasses.dataclass
class _Registered:
    """Relations made visible to one DuckDB query; ``close`` removes what was added."""

    engine: QueryEngine
    tables: dict[str, Table]
    cleanup: list[Callable[[], None]]

    def close(self) -> None:
        for undo in reversed(self.cleanup):
            undo()
        self.engine.close()


def _file_table(value: str | Path, side: str) -> Table:
    from upsell_ab.spec.models import Table

    text = str(value)
    if not text.lower().endswith(FILE_SUFFIXES):
        raise _problem(
            f"cannot tell the format of {text!r}",
            "name a .csv or .parquet file (or glob)",
            field=side,
        )
    if "*" not in text and not Path(text).exists():
        raise _problem(f"no such file {text!r}", "check the path", field=side)
    fmt = "parquet" if text.lower().endswith((".parquet", ".pq")) else "csv"
    return Table(path=text, format=fmt)


def _register(pair: tuple[Any, Any]) -> _Registered:
    """Point an in-memory (or the relations' own) DuckDB connection at both sides."""
    from upsell_ab.events.engines import DuckDBEngine, DuckDBRelationEngine
    from upsell_ab.spec.models import Table

    token = uuid.uuid4().hex[:12]
    names = {side: f"upsell_ab_{side}_{token}" for side in ("exposures", "events")}
    relations = [v for v in pair if _is_relation(v)]
    tables: dict[str, Table] = {}
    cleanup: list[Callable[[], None]] = []
    engine: QueryEngine
    if relations:
        for side, value in zip(names, pair, strict=True):
            if not (_is_relation(value) or isinstance(value, str | Path)):
                raise _problem(
                    "a DuckDB relation can be paired with another relation of the same "
                    "connection or a file path, not a DataFrame",
                    "register the DataFrame on the relation's connection first",
                    field=side,
                )
        relation_engine = DuckDBRelationEngine(relations[0])
        engine = relation_engine
        for side, value in zip(names, pair, strict=True):
            if _is_relation(value):
                relation_engine.add_view(names[side], value)
                tables[side] = Table(table=names[side])
            else:
                tables[side] = _file_table(value, side)
        return _Registered(engine, tables, cleanup)
    duck = DuckDBEngine()
    for side, value in zip(names, pair, strict=True):
        if _is_frame(value) or _is_arrow(value):
            duck.connection.register(names[side], value)
            tables[side] = Table(table=names[side])
        elif isinstance(value, str | Path):
            tables[side] = _file_table(value, side)
        else:
            duck.close()
            raise _problem(
                f"cannot read {side} of type {type(value).__name__}",
                "pass a pandas DataFrame, a pyarrow Table, a CSV/Parquet path or a DuckDB relation",
                field=side,
            )
    return _Registered(duck, tables, cleanup)


def _from_pair(
    resolved: ResolvedExperiment, pair: tuple[Any, Any], *, segments: bool, daily: bool
) -> ExperimentData:
    from upsell_ab.api.frame_columns import fitted_source
    from upsell_ab.metrics.compute import compute_experiment_data
    from upsell_ab.spec.models import SourceKind

    breakdown = tuple(resolved.experiment.analysis.segments) if segments else ()
    fitted = fitted_source(
        resolved.experiment.data,
        pair[0],
        pair[1],
        breakdown,
        unit=resolved.experiment.population.unit,
    )
    registered = _register(pair)
    try:
        source = fitted.model_copy(
            update={
                "kind": SourceKind.embedded,
                "exposures": registered.tables["exposures"],
                "events": registered.tables["events"],
            }
        )
        local = dataclasses.replace(
            resolved, experiment=resolved.experiment.model_copy(update={"data": source})
        )
        try:
            return compute_experiment_data(
                local, connection=_Borrowed(registered.engine), segments=segments, daily=daily
            )
        except StoreError as error:
            times = (fitted.exposure_columns.timestamp, fitted.event_columns.timestamp)
            raise _frame_located(error, pair, registered.tables, times) from error
    finally:
        registered.close()


_CONVERSION = re.compile(
    r"Could not convert string '(?P<value>.*?)' to (?P<type>\w+)"
    r"(?: when casting from source column (?P<column>\S+))?"
)


def _frame_located(
    error: StoreError,
    pair: tuple[Any, Any],
    tables: dict[str, Table],
    times: tuple[str, str] = ("timestamp", "timestamp"),
) -> Any:
    """A failure on frames in the caller's words: "the events DataFrame" for the table
    name registered for one query, a cell DuckDB could not convert located by row
    and index label (DuckDB names the value and the column only), and a timestamp
    column of the wrong kind named by frame and column (``times``: the exposures' and
    events' timestamp columns)."""
    retold = _timestamp_frame(error, pair, times)
    if retold is not None:
        return retold
    text = str(error)
    for table in tables.values():
        if table.table is not None:
            text = text.replace(f"table {table.table!r}", "DataFrame")
    match = _CONVERSION.search(text)
    if match is None:
        return StoreError(text) if text != str(error) else error
    named = match["column"].strip('"') if match["column"] else None
    for side, frame in zip(("exposures", "events"), pair, strict=True):
        if not _is_frame(frame):
            continue
        # DuckDB names the column when the query casts it, not when the frame scan does
        candidates = [named] if named in frame.columns else [] if named else list(frame.columns)
        found = [
            (column, hits)
            for column in candidates
            if frame[column].dtype.kind not in "biufcmM"  # text (object or str dtype)
            and len(hits := (frame[column].astype(str) == match["value"]).to_numpy().nonzero()[0])
        ]
        if not found:
            continue
        column, hits = found[0]
        row = int(hits[0])
        label = frame.index[row]
        label = label.item() if hasattr(label, "item") else label  # numpy scalar -> Python
        kind = "a number" if match["type"] in ("DOUBLE", "FLOAT", "DECIMAL") else match["type"]
        return _problem(
            f"the {side} DataFrame, row {row} (index {label!r}), column "
            f"{column!r}: {match['value']!r} is not {kind}",
            f"convert the column first, e.g. pd.to_numeric({side}[{column!r}]) after "
            "removing currency signs and thousands separators",
            field=side,
        )
    return error


def _timestamp_frame(
    error: StoreError, pair: tuple[Any, Any], times: tuple[str, str]
) -> StoreError | None:
    """The metric layer's :class:`~upsell_ab.errors.TimestampKindError` with the frame
    and column it is about: which side holds text or numbers, or which side carries a
    time zone (None when the frames do not tell, or for any other error)."""
    if not isinstance(error, TimestampKindError):
        return None
    kinds: dict[str, str] = {}
    for side, frame, column in zip(("exposures", "events"), pair, times, strict=True):
        if not _is_frame(frame) or column not in frame.columns:
            continue
        dtype = frame[column].dtype
        if getattr(dtype, "tz", None) is not None:
            kinds[side] = f"zoned ({dtype.tz})"
        elif dtype.kind == "M":
            kinds[side] = "naive"
        elif dtype.kind in "iuf":
            kinds[side] = "numbers"
        elif dtype.kind in "OSU" or str(dtype).startswith("str"):
            kinds[side] = "text"
    column_of = dict(zip(("exposures", "events"), times, strict=True))
    if error.kind in ("text", "numbers"):
        sides = [side for side, found in kinds.items() if found == error.kind]
        if len(sides) == 1:
            side = sides[0]
            return error.retold(f"the {side} DataFrame's column {column_of[side]!r} {error.holds}")
    if error.kind == "zones":
        zoned = [s for s, k in kinds.items() if k.startswith("zoned")]
        naive = [s for s, k in kinds.items() if k == "naive"]
        if len(zoned) == 1 and len(naive) == 1:
            return error.retold(
                f"the {zoned[0]} DataFrame's {column_of[zoned[0]]!r} carries a time zone "
                f"{kinds[zoned[0]][len('zoned ') :]}, the {naive[0]} DataFrame's "
                f"{column_of[naive[0]]!r} does not"
            )
    return None


class _Borrowed:
    """The engine lent to one query: ``compute_experiment_data`` closes what it is given,
    but the registrations must be undone first, so closing is left to the owner."""

    def __init__(self, engine: QueryEngine) -> None:
        self.engine = engine
        self.dialect = engine.dialect

    def execute(self, sql: str) -> list[tuple[Any, ...]]:
        return self.engine.execute(sql)

    def close(self) -> None:
        return None
