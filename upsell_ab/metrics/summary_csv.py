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

Several rows for one (variant, metric), e.g. daily tallies, are added (counts,
sums and sums of squares are additive over disjoint days); the same day given twice
for one variant and metric is refused (a copy-paste would count its customers twice).
When the sums of squares are unknown, give one row per customer instead:
``variant,metric,value``
(optionally ``unit_id``: then a customer given twice for one metric, or in two
variants, is refused), the customer's value (0/1 for proportions); the sums are then
computed here, centred on the metric's mean.

Spreadsheets name columns their own way: ``columns`` (``analyze --map n=shown
--map sum=took``) maps each canonical column to the CSV's name, and every message
then speaks of the CSV's names. A ``date`` (or ``day``) column is allowed: its rows
are added, and ISO days give the decision the cumulative daily series from which it
locates a fixed-horizon test's planned look (and the spec's end date). Without a
``metric`` column every row is for the spec's primary metric
(``date,variant,shown,took`` is a whole take-rate summary).

Any number of variants. Every problem found is reported at once as an
:class:`InputError` naming the file, the line (``row``, 1 = header) and the
column; unknown variants, metrics and columns get a "did you mean".
A metric of the spec with no rows is left out (the decision names the CSV); a
metric with rows must have them for every variant.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping
from datetime import date
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING

from upsell_ab.errors import InputError, Location, Problem
from upsell_ab.metrics.aggregates import DailyStats, ExperimentData, MetricData, QualitySummary
from upsell_ab.metrics.sufficient import CupedStats, MetricStats, RatioStats, SampleStats
from upsell_ab.spec.models import MetricType
from upsell_ab.spec.suggest import suggestion

if TYPE_CHECKING:
    from upsell_ab.spec.resolve import ResolvedExperiment

REQUIRED = ("variant", "metric", "n", "sum")
PER_UNIT = ("variant", "metric", "value")
"""The per-customer layout: one row per unit and metric with the unit's value."""
RATIO_COLUMNS = ("denominator_sum", "denominator_sum_squares", "cross_sum")
CUPED_COLUMNS = ("covariate_sum", "covariate_sum_squares", "covariate_cross_sum")
COLUMNS = (*REQUIRED, "sum_squares", *RATIO_COLUMNS, *CUPED_COLUMNS, "value", "unit_id")
IGNORED = ("date", "day")
"""Columns a daily tally has that the statistics do not need (rows are added)."""
BINARY = (MetricType.proportion, MetricType.retention)
SQUARES_HINT = (
    "a mean needs the spread of the per-customer values, not only their total: add "
    "sum_squares, the sum of each customer's value squared (=SUMSQ(range) in a "
    "spreadsheet, SUM(value * value) in SQL), or give one row per customer with the "
    "columns variant,metric,value and the sums are computed for you"
)
_RELATIVE_SLACK = 1e-9
"""Rounding allowed when checking sum_squares >= sum^2 / n."""


class _Row:
    """One CSV line with located number parsing; problems are collected, not raised."""

    def __init__(
        self,
        file: str,
        line: int,
        cells: dict[str, str],
        problems: list[Problem],
        names: Mapping[str, str] | None = None,
    ):
        self.file, self.line, self.cells, self.problems = file, line, cells, problems
        self.names = names or {}
        """canonical column -> the CSV's name for it (``--map``), for messages."""

    def label(self, column: str) -> str:
        return self.names.get(column, column)

    def problem(self, column: str, message: str, hint: str | None = None) -> None:
        location = Location(file=self.file, row=self.line, field=self.label(column))
        self.problems.append(Problem(location, message, hint, code="summary_invalid"))

    def given(self, column: str) -> bool:
        return bool((self.cells.get(column) or "").strip())

    def number(self, column: str) -> float | None:
        text = (self.cells.get(column) or "").strip()
        if not text:
            hint = SQUARES_HINT if column == "sum_squares" else None
            self.problem(column, f"'{self.label(column)}' is required here", hint)
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
    """Cauchy-Schwarz: sum of squares >= sum^2 / n, else the sums cannot come from data.

    Checked scale-free as sqrt(Q / n) >= |S| / n (root mean square >= |mean|), so
    sums like 1e200 whose square overflows are judged, not waved through."""
    rms = math.sqrt(squares / n) if n and squares >= 0 else 0.0
    mean = abs(total) / n if n else 0.0
    if squares < 0 or rms < mean * (1 - _RELATIVE_SLACK) - 1e-300:
        floor = mean * mean * n
        row.problem(
            column,
            f"{squares:g} is impossible: with n = {n} and sum = {total:g} it must be "
            f">= sum^2 / n = {floor:g} (the variance would be negative)",
            "the column must hold the sum of each customer's value squared (=SUMSQ(range)), "
            "not the square of the sum, a variance or a standard deviation",
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
        hint = None
        if 0 < total < 1 and n > 1:
            # 0.09 for "9 %": a rate where the count belongs
            hint = (
                f"{total:g} looks like a rate: 'sum' is the number of converted units "
                f"(here {total:g} x {n:,} = {total * n:,.0f}), not their share"
            )
        elif 1 < total <= 100 and total != int(total) and n > 100:
            hint = (
                f"{total:g} looks like a percentage: 'sum' is the number of converted "
                f"units (here {total:g} % of {n:,} = {total * n / 100:,.0f})"
            )
        row.problem("sum", f"converted units must be a whole number within [0, n = {n}]", hint)
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


def _header_problems(
    file: str, header: list[str], names: Mapping[str, str], has_metric: bool
) -> list[Problem]:
    """Unknown and missing columns, named as the CSV names them (``names``: ``--map``)."""
    known = (*COLUMNS, *IGNORED)
    problems = [
        Problem(
            Location(file, row=1, field=names.get(column, column)),
            f"unknown column '{names.get(column, column)}'",
            suggestion(column, known, what="columns")
            + "; or name what it holds with --map (e.g. --map n=shown)",
            code="summary_invalid",
        )
        for column in header
        if column not in known
    ]
    needed = PER_UNIT if "value" in header else REQUIRED
    problems += [
        Problem(
            Location(file, row=1, field=names.get(column, column)),
            f"missing column '{names.get(column, column)}'"
            + (f" (--map {column}={names[column]})" if column in names else ""),
            f"the header needs {', '.join(REQUIRED)} (sums per variant), or "
            f"{', '.join(PER_UNIT)} (one row per customer); --map CANONICAL=YOUR_COLUMN "
            "names a column your spreadsheet calls differently",
            code="summary_invalid",
        )
        for column in needed
        if column not in header and (column != "metric" or has_metric)
    ]
    return problems


def _mapping_problems(file: str, header: list[str], columns: Mapping[str, str]) -> list[Problem]:
    """``--map`` keys must be summary columns and its values columns of the CSV."""
    problems = []
    for canonical, source in columns.items():
        if canonical not in COLUMNS:
            problems.append(
                Problem(
                    Location(file, row=1, field=source),
                    f"--map {canonical}={source}: '{canonical}' is not a summary column",
                    suggestion(canonical, COLUMNS, what="column"),
                    code="summary_invalid",
                )
            )
        elif source not in header:
            problems.append(
                Problem(
                    Location(file, row=1, field=source),
                    f"--map {canonical}={source}: the CSV has no column '{source}'",
                    suggestion(source, header, what="column"),
                    code="summary_invalid",
                )
            )
    return problems


def _per_unit_stats(
    values: dict[str, dict[str, list[float]]], resolved: ResolvedExperiment
) -> dict[str, dict[str, MetricStats]]:
    """Per-customer values -> sums centred on the metric's pooled mean (so no
    cancellation: ``SampleStats(n, sum(y - m), sum((y - m)^2), shift=m)``)."""
    out: dict[str, dict[str, MetricStats]] = {}
    for metric, by_variant in values.items():
        pooled = [y for ys in by_variant.values() for y in ys]
        centre = math.fsum(pooled) / len(pooled) if pooled else 0.0
        binary = resolved.metrics[metric].type in BINARY
        for variant, ys in by_variant.items():
            if binary:
                out.setdefault(metric, {})[variant] = SampleStats.from_proportion(
                    len(ys), round(sum(ys))
                )
                continue
            offsets = [y - centre for y in ys]
            out.setdefault(metric, {})[variant] = SampleStats(
                len(ys),
                math.fsum(offsets),
                math.fsum(d * d for d in offsets),
                shift=centre,
            )
    return out


Tally = tuple[str, int, float]
"""One day's row of a daily tally: (day as written, n, sum)."""


def _read_rows(
    file: str,
    text: str,
    resolved: ResolvedExperiment,
    problems: list[Problem],
    columns: Mapping[str, str] | None = None,
    series: dict[tuple[str, str], list[Tally]] | None = None,
    days: dict[str, dict[str, dict[str, MetricStats]]] | None = None,
) -> tuple[dict[str, dict[str, MetricStats]], dict[tuple[str, str], int]]:
    """Parse every data row; returns stats per metric and variant and the line of each pair.
    ``columns`` maps canonical column names to the CSV's (``--map``); ``series`` receives
    each (variant, metric)'s daily rows when the CSV has a day column, ``days`` each
    metric's rows by day (as written) and variant."""
    series = {} if series is None else series
    experiment = resolved.experiment
    variants = [v.id for v in experiment.variants]
    names = list(resolved.metrics)
    reader = csv.DictReader(io.StringIO(text))
    raw_header = [h.strip() for h in reader.fieldnames or []]
    mapping = dict(columns or {})
    problems += _mapping_problems(file, raw_header, mapping)
    if problems:
        return {}, {}
    canonical_of = {source: canonical for canonical, source in mapping.items()}
    header = [canonical_of.get(h, h) for h in raw_header]
    reader.fieldnames = header
    csv_names = {canonical: source for source, canonical in canonical_of.items()}
    has_metric = "metric" in header
    problems += _header_problems(file, header, csv_names, has_metric)
    stats: dict[str, dict[str, MetricStats]] = {}
    seen: dict[tuple[str, str], int] = {}
    per_unit = "value" in header and "n" not in header
    values: dict[str, dict[str, list[float]]] = {}
    if problems:
        return stats, seen
    day_column = next((c for c in IGNORED if c in header), None)
    first_of: dict[tuple[str, ...], tuple[int, str]] = {}
    """(unit id or day, metric) -> (line, variant) of its first row: repeats are refused."""
    for cells in reader:
        row = _Row(
            file,
            reader.line_num,
            {k: v for k, v in cells.items() if k is not None},
            problems,
            csv_names,
        )
        if not any((v or "").strip() for v in row.cells.values()):
            continue
        if not has_metric:
            row.cells["metric"] = experiment.metrics.primary
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
        seen.setdefault((variant, metric), reader.line_num)
        if _repeated(row, variant, metric, per_unit, day_column, first_of):
            continue
        metric_type = resolved.metrics[metric].type
        if per_unit:
            y = row.number("value")
            if y is None:
                continue
            if metric_type is MetricType.ratio:
                row.problem("value", "a ratio metric needs its sums, not one value per customer")
                continue
            if metric_type in BINARY and y not in (0.0, 1.0):
                row.problem("value", f"'{y:g}' must be 0 or 1 for a {metric_type.value} metric")
                continue
            values.setdefault(metric, {}).setdefault(variant, []).append(y)
            continue
        value = _stats(row, metric_type)
        if value is None:
            continue
        if day_column is not None:
            day = (row.cells.get(day_column) or "").strip()
            series.setdefault((variant, metric), []).append(
                (day, value.n, float(getattr(value, "sum", 0.0)))
            )
            if days is not None:
                days.setdefault(metric, {}).setdefault(day, {})[variant] = value
        # several rows for one variant and metric (daily tallies) add up: the sums are
        # additive over disjoint sets of units
        current = stats.setdefault(metric, {}).get(variant)
        stats[metric][variant] = value if current is None else current + value  # type: ignore[operator]
    if per_unit:
        stats = _per_unit_stats(values, resolved)
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


def _repeated(
    row: _Row,
    variant: str,
    metric: str,
    per_unit: bool,
    day_column: str | None,
    first_of: dict[tuple[str, ...], tuple[int, str]],
) -> bool:
    """A row that would count something twice: the same customer (``unit_id``) twice for
    one metric (in two variants: a customer the event path would exclude), or the same
    day's tally twice for one variant and metric (a copy-paste). Rows are otherwise added,
    so a repeat silently doubles units and sums; it is refused, naming both rows."""
    unit = (row.cells.get("unit_id") or "").strip() if per_unit else ""
    if unit:
        key: tuple[str, ...] = ("unit", unit, metric)
    elif day_column is not None and not per_unit:
        day = (row.cells.get(day_column) or "").strip()
        if not day:
            return False
        key = ("day", day, variant, metric)
    else:
        return False
    if key not in first_of:
        first_of[key] = (row.line, variant)
        return False
    line, first_variant = first_of[key]
    if unit and first_variant != variant:
        row.problem(
            "unit_id",
            f"customer '{unit}' has a value for {metric} in variant '{first_variant}' (row "
            f"{line}) and in '{variant}' here",
            "a customer seen in two variants cannot count for either: drop both rows",
        )
    elif unit:
        row.problem(
            "unit_id",
            f"customer '{unit}' already has a value for {metric} (row {line})",
            "give one row per customer and metric (sum the customer's values first)",
        )
    else:
        row.problem(
            day_column or "day",
            f"the tally of {variant} for {metric} on {key[1]} was already given (row {line})",
            "give each day's tally once (a repeated row would count its customers twice)",
        )
    return True


def read_summary(
    path: str | Path, resolved: ResolvedExperiment, columns: Mapping[str, str] | None = None
) -> ExperimentData:
    """Parse ``path`` into :class:`ExperimentData` for ``resolved`` (module docstring);
    ``columns``: canonical column -> the CSV's name for it."""
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        problem = Problem(Location(file=file), f"cannot read the summary: {error}")
        raise InputError([problem]) from error
    return parse_summary(text, resolved, file, columns)


def parse_summary(
    text: str,
    resolved: ResolvedExperiment,
    file: str,
    columns: Mapping[str, str] | None = None,
) -> ExperimentData:
    """The same as :func:`read_summary` on CSV ``text`` already in memory (a DataFrame
    written with ``to_csv``); ``file`` names the input in error locations."""
    problems: list[Problem] = []
    series: dict[tuple[str, str], list[Tally]] = {}
    by_day: dict[str, dict[str, dict[str, MetricStats]]] = {}
    stats, _ = _read_rows(file, text, resolved, problems, columns, series, by_day)
    if problems:
        raise InputError(problems)
    if not stats:
        raise InputError([Problem(Location(file), "the summary has no data rows")])
    experiment = resolved.experiment
    variants = [v.id for v in experiment.variants]
    has_metric = "metric" in (columns or {}) or _has_metric_column(text)
    assumed = f"{file} has no metric column: every row was read as {experiment.metrics.primary}"
    first_day, last_day = _tally_days(text)
    return ExperimentData(
        experiment_id=experiment.id,
        first_exposure=first_day,
        last_exposure=last_day,
        origin=f"summary CSV {file}",
        input_notes=() if has_metric else (assumed,),
        running_totals=running_totals(series),
        metrics={
            m: MetricData(
                metric=m,
                by_variant=stats[m],
                daily=cumulative_days(by_day.get(m, {}), variants) if first_day else [],
            )
            for m in resolved.metrics
            if m in stats
        },
        quality=QualitySummary(
            exposures_by_variant=_units(stats, experiment.metrics.primary, variants),
            configured_weights={v.id: v.weight for v in experiment.variants},
        ),
    )


def cumulative_days(
    by_day: Mapping[str, Mapping[str, MetricStats]], variants: list[str]
) -> list[DailyStats]:
    """Daily tallies (ISO days, each day's units) as the cumulative series the decision
    reads its planned look from (:mod:`upsell_ab.decision.horizon`): from the first day
    every variant has a row, the running sums as of the end of each day (the sums are
    additive over disjoint days)."""
    running: dict[str, MetricStats] = {}
    out: list[DailyStats] = []
    for written in sorted(by_day, key=lambda d: date.fromisoformat(d[:10])):
        for variant, value in by_day[written].items():
            current = running.get(variant)
            running[variant] = value if current is None else current + value  # type: ignore[operator]
        if all(v in running for v in variants):
            day = date.fromisoformat(written[:10])
            if out and out[-1].day == day:
                out[-1] = DailyStats(day=day, by_variant=dict(running))
            else:
                out.append(DailyStats(day=day, by_variant=dict(running)))
    return out


RUNNING_TOTAL_DAYS = 7
"""Days of ever-growing tallies in every series that read as running totals."""


def running_totals(series: dict[tuple[str, str], list[Tally]]) -> str | None:
    """A sentence when the daily tallies look like running totals (cumulative to date),
    else None: every (variant, metric) has at least :data:`RUNNING_TOTAL_DAYS` days, and
    in each, ordered by day, ``n`` grows strictly and ``sum`` never falls. Added up, running
    totals count each customer once per later day (~days/2 times), so every interval
    would be far too narrow. Daily tallies of real traffic fluctuate: iid days give a
    strictly increasing run of 7 with probability 1/7! = 0.0002 per series, and every
    series must show it; a ramp-up grows for a few days, then levels off."""
    if not series:
        return None
    for rows in series.values():
        ordered = sorted(rows, key=lambda row: row[0])
        if len(ordered) < RUNNING_TOTAL_DAYS:
            return None
        for (_, n0, s0), (_, n1, s1) in pairwise(ordered):
            if n1 <= n0 or s1 < s0:
                return None
    (variant, metric), rows = min(series.items())
    ordered = sorted(rows, key=lambda row: row[0])
    shown = ", ".join(f"{n:,}" for _, n, _ in ordered[:3])
    return (
        f"every daily tally only grows, in every variant and metric ({variant}, {metric}: "
        f"n {shown}, ... {ordered[-1][1]:,} over {len(ordered)} days): these look like "
        "running totals, and adding them counts each customer once per later day"
    )


def _tally_days(text: str) -> tuple[date | None, date | None]:
    """First and last day of a daily tally's ``day``/``date`` column (ISO dates), so the
    decision knows whether the tallies reach the spec's end (its final look); (None,
    None) without such a column or when a cell is not an ISO date."""
    reader = csv.DictReader(io.StringIO(text))
    names = {(h or "").strip(): h for h in reader.fieldnames or []}
    column = next((names[c] for c in IGNORED if c in names), None)
    if column is None:
        return None, None
    days: list[date] = []
    for cells in reader:
        cell = (cells.get(column) or "").strip()
        if not cell:
            continue
        try:
            days.append(date.fromisoformat(cell[:10]))
        except ValueError:
            return None, None
    return (min(days), max(days)) if days else (None, None)


def _has_metric_column(text: str) -> bool:
    header = next(csv.reader(io.StringIO(text)), [])
    return "metric" in (h.strip() for h in header)


def _units(
    stats: dict[str, dict[str, MetricStats]], primary: str, variants: list[str]
) -> dict[str, int]:
    """Units per variant for the SRM check: the primary metric's n (else the largest n)."""
    if primary in stats:
        return {v: stats[primary][v].n for v in variants}
    return {v: max(by_variant[v].n for by_variant in stats.values()) for v in variants}
