"""``validate --explain``: prove each spec's metric SQL compiles and plans.

Jetstream-style dry run: the same query builder the analysis uses renders the
experiment's single query for every dialect (DuckDB, PostgreSQL, Spark SQL),
and DuckDB EXPLAINs it against empty canonical tables, so a spec that would
only fail at analysis time (an attribute column the data cannot have, a
metric the builder cannot express) fails in CI instead. Kept out of plain
``validate`` because it imports DuckDB and SQLGlot.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from upsell_ab.errors import Location, Problem, UpsellAbError
from upsell_ab.spec.models import SourceKind

DIALECTS = ("duckdb", "postgres", "spark")


def explain_problems(spec_files: Iterable[Path]) -> list[Problem]:
    """One problem per spec whose SQL fails to render or to plan; empty when all pass."""
    import duckdb

    from upsell_ab.events.schema import create_schema, quote_identifier
    from upsell_ab.metrics.compute import experiment_sql
    from upsell_ab.spec.load import load_experiment

    problems: list[Problem] = []
    for path in spec_files:
        location = Location(file=str(path), field="metrics")
        try:
            resolved = load_experiment(path)
            kind = resolved.experiment.data.kind
            # files are read in place by DuckDB only: the other dialects do not apply
            dialects = ("duckdb",) if kind is SourceKind.files else DIALECTS
            for dialect in dialects:
                experiment_sql(resolved, dialect, segments=True, daily=True)  # type: ignore[arg-type]
            if kind is not SourceKind.embedded:
                continue  # files and servers are not reachable from CI: rendering is the check
            connection = duckdb.connect()
            create_schema(connection)
            columns = resolved.experiment.data.exposure_columns
            for attribute in {*columns.attributes, *resolved.experiment.analysis.segments}:
                connection.execute(
                    f"ALTER TABLE exposures ADD COLUMN {quote_identifier(attribute)} VARCHAR"
                )
            connection.execute("EXPLAIN " + experiment_sql(resolved, "duckdb", segments=True))
            connection.close()
        except (UpsellAbError, duckdb.Error) as error:
            problems.append(
                Problem(
                    location,
                    f"the metric query does not compile or plan: {error}",
                    hint="check data.exposure_columns and the metric definitions",
                    code="sql_invalid",
                )
            )
    return problems
