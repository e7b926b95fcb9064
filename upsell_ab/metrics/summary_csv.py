"""Read per-variant sufficient statistics typed in by hand ("offered to 100, 30 bought").

For shops that only have counts, ``upsell-ab analyze SPEC --summary FILE.csv``
takes one row per (variant, metric):

    variant,metric,n,sum,sum_squares[,denominator_sum,denominator_sum_squares,cross_sum]
                                    [,covariate_sum,covariate_sum_squares,covariate_cross_sum]

- ``n`` units, ``sum`` of the per-unit values and ``sum_squares`` of their
  squares. For proportion/retention metrics ``sum`` is the number of converted
  units and ``sum_squares`` may be left out (a 0/1 value equals its square).
- Ratio metrics add the per-unit denominator's sum and sum of squares and the
  numerator x denominator cross-product (delta method).
- CUPED adds the pre-period covariate's sum, sum of squares and the
  outcome x covariate cross-product. (CUPED on ratio metrics needs fifteen sums
  and is not offered here; use the event store.)

Any number of variants. Every problem found is reported at once as an
:class:`InputError` naming the file, the line (``row``, 1 = header) and the
column; unknown variants, metrics and columns get a "did you mean".
A metric of the spec with no rows is left out (the analysis says so); a metric
with rows must have one for every variant.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import TYPE_CHECKING

from upsell_ab.errors import InputError, Location, Problem
from upsell_ab.metrics.aggregates import ExperimentData, MetricData, QualitySummary
from upsell_ab.metrics.sufficient import CupedStats, MetricStats, RatioStats, SampleStats
from upsell_ab.spec.models import MetricType
from upsell_ab.spec.suggest import suggestion

if TYPE_CHECKING:
    from upsell_ab.spec.resolve import ResolvedExperiment

REQUIRED = ("variant", "metric", "n", "sum")
RATIO_COLUMNS = ("denominator_sum", "denominator_sum_squares", "cross_sum")
CUPED_COLUMNS = ("covariate_sum", "covariate_sum_squares", "covariate_cross_sum")
COLUMNS = (*REQUIRED, "sum_squares", *RATIO_COLUMNS, *CUPED_COLUMNS)
BINARY = (MetricType.proportion, MetricType.retention)
_RELATIVE_SLACK = 1e-9
"""Rounding allowed when checking sum_squares >= sum^2 / n."""


class _Row:
    """One CSV line with located number parsing; problems are collected, not raised."""

    def __init__(self, file: str, line: int, cells: dict[str, str], problems: list[Problem]):
        self.file, self.line, self.cells, self.problems = file, line, cells, problems

    def problem(self, column: str, message: str, hint: str | None = None) -> None:
        location = Location(file=self.file, row=self.line, field=column)
        self.problems.append(Problem(location, message, hint, code="summary_invalid"))

    def given(self, column: str) -> bool:
        return bool((self.cells.get(column) or "").strip())

    def number(self, column: str) -> float | None:
        text = (self.cells.get(column) or "").strip()
        if not text:
            self.problem(column, f"'{column}' is required here")
            return None
        try:
            value = float(text)
        except ValueError:
            self.problem(column, f"'{text}' is not a number")
            return None
        if not math.isfinite(value):
            self.problem(column, f"'{text}' is not a finite number")
            return None
        return value

    def count(self, column: str) -> int | None:
        value = self.number(column)
        if value is None:
            return None
        if value < 0 or value != int(value):
            self.problem(column, f"'{self.cells[column].strip()}' must be a whole number >= 0")
            return None
        return int(value)


def _check_squares(row: _Row, n: int, total: float, squares: float, column: str) -> bool:
    """Cauchy-Schwarz: sum of squares >= sum^2 / n, else the sums cannot come from data."""
    floor = total * total / n if n else 0.0
    if squares < 0 or squares < floor - _RELATIVE_SLACK * max(abs(floor), 1.0):
        row.problem(
            column,
            f"{squares:g} is impossible: with n = {n} and sum = {total:g} it must be "
            f">= sum^2 / n = {floor:g}",
            "check that the column holds the sum of squared per-unit values",
        )
        return False
    return True


def _stats(row: _Row, metric_type: MetricType) -> MetricStats | None:
    n = row.count("n")
    total = row.number("sum")
    if n is None or total is None:
        return None
    binary = metric_type in BINARY
    if binary and (total < 0 or total > n or total != int(total)):
        row.problem("sum", f"converted units must be a whole number within [0, n = {n}]")
        return None
    squares = row.number("sum_squares") if row.given("sum_squares") or not binary else total
    if squares is None or not _check_squares(row, n, total, squares, "sum_squares"):
        return None
    has_cuped = any(row.given(c) for c in CUPED_COLUMNS)
    if metric_type is MetricType.ratio:
        if has_cuped:
            row.problem("covariate_sum", "CUPED on a ratio metric is not supported in a summary")
            return None
        d_sum, d_sq, cross = (row.number(c) for c in RATIO_COLUMNS)
        if d_sum is None or d_sq is None or cross is None:
            return None
        if not _check_squares(row, n, d_sum, d_sq, "denominator_sum_squares"):
            return None
        return RatioStats(n, total, squares, d_sum, d_sq, cross)
    if any(row.given(c) for c in RATIO_COLUMNS):
        row.problem(
            "denominator_sum", f"denominator columns are for ratio metrics, not {metric_type.value}"
        )
        return None
    if has_cuped:
        x_sum, x_sq, cross = (row.number(c) for c in CUPED_COLUMNS)
        if x_sum is None or x_sq is None or cross is None:
            return None
        if not _check_squares(row, n, x_sum, x_sq, "covariate_sum_squares"):
            return None
        return CupedStats(n, total, squares, x_sum, x_sq, cross)
    return SampleStats(n, total, squares)


def _header_problems(file: str, header: list[str]) -> list[Problem]:
    problems = [
        Problem(
            Location(file, row=1, field=column),
            f"unknown column '{column}'",
            suggestion(column, COLUMNS, what="column"),
            code="summary_invalid",
        )
        for column in header
        if column not in COLUMNS
    ]
    problems += [
        Problem(
            Location(file, row=1, field=column),
            f"missing column '{column}'",
            f"the header needs {', '.join(REQUIRED)}",
            code="summary_invalid",
        )
        for column in REQUIRED
        if column not in header
    ]
    return problems


def _read_rows(
    file: str, text: str, resolved: ResolvedExperiment, problems: list[Problem]
) -> tuple[dict[str, dict[str, MetricStats]], dict[tuple[str, str], int]]:
    """Parse every data row; returns stats per metric and variant and the line of each pair."""
    experiment = resolved.experiment
    variants = [v.id for v in experiment.variants]
    names = list(resolved.metrics)
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in reader.fieldnames or []]
    reader.fieldnames = header
    problems += _header_problems(file, header)
    stats: dict[str, dict[str, MetricStats]] = {}
    seen: dict[tuple[str, str], int] = {}
    if problems:
        return stats, seen
    for cells in reader:
        row = _Row(
            file, reader.line_num, {k: v for k, v in cells.items() if k is not None}, problems
        )
        if not any((v or "").strip() for v in row.cells.values()):
            continue
        variant = (row.cells.get("variant") or "").strip()
        metric = (row.cells.get("metric") or "").strip()
        known = True
        if variant not in variants:
            hint = suggestion(variant, variants, what="variant")
            row.problem("variant", f"unknown variant '{variant}'", hint)
            known = False
        if metric not in resolved.metrics:
            hint = suggestion(metric, names, what="metric")
            row.problem("metric", f"metric '{metric}' is not used by {experiment.id}", hint)
            known = False
        if not known:
            continue
        if (variant, metric) in seen:
            first = seen[(variant, metric)]
            row.problem(
                "variant", f"a second row for '{variant}', '{metric}' (first: line {first})"
            )
            continue
        seen[(variant, metric)] = reader.line_num
        value = _stats(row, resolved.metrics[metric].type)
        if value is not None:
            stats.setdefault(metric, {})[variant] = value
    for metric in sorted({m for _, m in seen}):
        missing = [v for v in variants if (v, metric) not in seen]
        if missing:
            problems.append(
                Problem(
                    Location(file, field="variant"),
                    f"metric '{metric}' has no row for variant(s) {', '.join(missing)}",
                    "give one row per variant for every metric listed",
                    code="summary_invalid",
                )
            )
    return stats, seen


def read_summary(path: str | Path, resolved: ResolvedExperiment) -> ExperimentData:
    """Parse ``path`` into :class:`ExperimentData` for ``resolved`` (module docstring)."""
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        problem = Problem(Location(file=file), f"cannot read the summary: {error}")
        raise InputError([problem]) from error
    return parse_summary(text, resolved, file)


def parse_summary(text: str, resolved: ResolvedExperiment, file: str) -> ExperimentData:
    """The same as :func:`read_summary` on CSV ``text`` already in memory (a DataFrame
    written with ``to_csv``); ``file`` names the input in error locations."""
    problems: list[Problem] = []
    stats, _ = _read_rows(file, text, resolved, problems)
    if problems:
        raise InputError(problems)
    if not stats:
        raise InputError([Problem(Location(file), "the summary has no data rows")])
    experiment = resolved.experiment
    variants = [v.id for v in experiment.variants]
    return ExperimentData(
        experiment_id=experiment.id,
        metrics={
            m: MetricData(metric=m, by_variant=stats[m]) for m in resolved.metrics if m in stats
        },
        quality=QualitySummary(
            exposures_by_variant=_units(stats, experiment.metrics.primary, variants),
            configured_weights={v.id: v.weight for v in experiment.variants},
        ),
    )


def _units(
    stats: dict[str, dict[str, MetricStats]], primary: str, variants: list[str]
) -> dict[str, int]:
    """Units per variant for the SRM check: the primary metric's n (else the largest n)."""
    if primary in stats:
        return {v: stats[primary][v].n for v in variants}
    return {v: max(by_variant[v].n for by_variant in stats.values()) for v in variants}
