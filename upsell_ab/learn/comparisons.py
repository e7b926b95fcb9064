"""A CSV of comparisons from any source, read into typed rows with located problems.

``upsell-ab learn --comparisons FILE.csv`` pools effect sizes an analyst already has:
experiments run before upsell_ab or in another tool, or published results. One row per
comparison (a treatment against its control in one experiment)::

    experiment,timing,metric,estimate,se,n_control,n_treatment
    cafe_2025_03,post_purchase vs at_checkout,take_rate,0.18,0.06,1200,1180

Required: ``experiment``, ``metric``, ``estimate`` and ``se`` or ``variance`` (both are
accepted when they agree: variance = se^2 to 1e-6 relative). Optional: ``n_control``,
``n_treatment`` (shown, not used: the variance already carries the precision). Every
other column is a *lever* (tactic, timing, wording_style, discount ...) whose values
``--by`` groups on. ``estimate`` is pooled as given: use one scale throughout (a
relative lift, or better its log ratio, with the matching standard error).

Problems are located like every other input of this project: file, line, column and
data row, with the fix, all at once (:class:`~upsell_ab.errors.InputError`).
"""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass, field
from difflib import get_close_matches
from pathlib import Path

from upsell_ab.errors import InputError, Location, Problem

REQUIRED = ("experiment", "metric", "estimate")
PRECISION = ("se", "variance")
COUNTS = ("n_control", "n_treatment")
SYNONYMS = {
    "std_error": "se",
    "standard_error": "se",
    "stderr": "se",
    "var": "variance",
    "lift": "estimate",
    "effect": "estimate",
    "yi": "estimate",
    "vi": "variance",
    "sei": "se",
    "study": "experiment",
}
MAX_PROBLEMS = 20
_THOUSANDS = re.compile(r"[+-]?\d{1,3}(,\d{3})+(\.\d*)?")
"""1,200 or 12,345.5: commas that group thousands (read without them)."""


@dataclass(frozen=True)
class Comparison:
    """One treatment-versus-control effect with its sampling variance."""

    experiment: str
    metric: str
    estimate: float
    variance: float
    levers: dict[str, str] = field(default_factory=dict)
    n_control: int | None = None
    n_treatment: int | None = None
    line: int = 0
    """Line of the CSV (header = 1), to point at the row in messages."""

    @property
    def se(self) -> float:
        return math.sqrt(self.variance)


def read_comparisons(path: str | Path) -> list[Comparison]:
    """Every row of ``path``; one :class:`InputError` lists every problem, located."""
    file = str(path)
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle)
            rows = [(reader.line_num, row) for row in reader]
    except FileNotFoundError:
        raise InputError(
            [Problem(Location(file=file), "no such file", "check the path of --comparisons")]
        ) from None
    except UnicodeDecodeError as error:
        raise InputError(
            [Problem(Location(file=file), f"not UTF-8 text ({error.reason})", "save as UTF-8 CSV")]
        ) from None
    except csv.Error as error:
        raise InputError([Problem(Location(file=file), f"not a CSV file: {error}", None)]) from None
    rows = [(line, row) for line, row in rows if any(cell.strip() for cell in row)]
    if not rows:
        raise InputError(
            [Problem(Location(file=file), "the file is empty", "write a header row and rows")]
        )
    header_line, header = rows[0]
    names = [h.strip() for h in header]
    problems = _header_problems(file, header_line, names)
    if problems:
        raise InputError(problems)
    index = {name: i for i, name in enumerate(names)}
    levers = [n for n in names if n not in (*REQUIRED, *PRECISION, *COUNTS)]
    out: list[Comparison] = []
    for row_number, (line, row) in enumerate(rows[1:], start=1):
        found = _row(file, line, row_number, row, names, index, levers)
        if isinstance(found, Comparison):
            out.append(found)
        else:
            problems += found
        if len(problems) >= MAX_PROBLEMS:
            problems.append(Problem(Location(file=file), "more problems not listed", None))
            break
    problems += _repeated_rows(file, out)
    if problems:
        raise InputError(problems)
    if not out:
        raise InputError(
            [Problem(Location(file=file, line=header_line), "a header but no rows", "add rows")]
        )
    return out


def _repeated_rows(file: str, rows: list[Comparison]) -> list[Problem]:
    """A row equal to an earlier one in every field (experiment, metric, estimate, its
    variance, levers): a copy pasted twice, which the pool would count twice (its
    weight doubled). Two arms of one experiment differ in their estimates."""
    seen: dict[tuple[object, ...], int] = {}
    problems: list[Problem] = []
    for row in rows:
        key = (
            row.experiment,
            row.metric,
            row.estimate,
            row.variance,
            tuple(sorted(row.levers.items())),
        )
        if key in seen:
            problems.append(
                Problem(
                    Location(file=file, line=row.line),
                    f"repeats line {seen[key]} (experiment {row.experiment}, estimate "
                    f"{row.estimate:g}): the pool would count this comparison twice",
                    "remove one of the two rows",
                )
            )
        else:
            seen[key] = row.line
    return problems


def _header_problems(file: str, line: int, names: list[str]) -> list[Problem]:
    problems: list[Problem] = []
    seen: set[str] = set()
    for column, name in enumerate(names, start=1):
        if not name:
            problems.append(
                Problem(
                    Location(file=file, line=line, column=column), "an empty column name", "name it"
                )
            )
        elif name in seen:
            problems.append(
                Problem(
                    Location(file=file, line=line, column=column),
                    f"column {name!r} appears twice",
                    "keep one",
                )
            )
        seen.add(name)
    wanted = [*REQUIRED, "se or variance"]
    for need in wanted:
        options = PRECISION if need == "se or variance" else (need,)
        if any(o in seen for o in options):
            continue
        hint = f"add a column {need!r}"
        renamed = [n for n in names if SYNONYMS.get(n.lower()) in options]
        close = get_close_matches(options[0], names, n=1, cutoff=0.75)
        if renamed:
            hint = f"rename {renamed[0]!r} to {SYNONYMS[renamed[0].lower()]!r}"
        elif close:
            hint = f"did you mean {close[0]!r}? rename it to {options[0]!r}"
        problems.append(
            Problem(Location(file=file, line=line), f"no column {need!r}", hint, "unknown_column")
        )
    return problems


def _row(
    file: str,
    line: int,
    row_number: int,
    row: list[str],
    names: list[str],
    index: dict[str, int],
    levers: list[str],
) -> Comparison | list[Problem]:
    problems: list[Problem] = []

    def where(name: str) -> Location:
        return Location(file=file, line=line, column=index[name] + 1, row=row_number)

    def cell(name: str) -> str:
        position = index.get(name)
        return row[position].strip() if position is not None and position < len(row) else ""

    if len(row) != len(names):
        return [
            Problem(
                Location(file=file, line=line, row=row_number),
                f"{len(row)} fields for {len(names)} columns",
                "quote values that contain commas; one value per column",
            )
        ]
    for name in ("experiment", "metric"):
        if not cell(name):
            problems.append(Problem(where(name), f"empty {name}", f"name the {name}"))

    def number(name: str) -> float | None:
        text = cell(name)
        if "," in text and not _THOUSANDS.fullmatch(text):
            # "0,18" is a decimal comma: dropping it would read 18
            problems.append(
                Problem(
                    where(name),
                    f"{name} {text!r} has a decimal comma",
                    f"write {text.replace(',', '.')!r}, with a point as decimal mark",
                )
            )
            return None
        try:
            value = float(text.replace(",", "")) if text else math.nan
        except ValueError:
            problems.append(
                Problem(where(name), f"{name} {text!r} is not a number", "write e.g. 0.12")
            )
            return None
        if not math.isfinite(value):
            if text:
                problems.append(Problem(where(name), f"{name} {text!r} is not finite", None))
            return None
        return value

    estimate = number("estimate")
    if estimate is None and not cell("estimate"):
        problems.append(Problem(where("estimate"), "empty estimate", "write the effect size"))
    se = number("se") if "se" in index and cell("se") else None
    variance = number("variance") if "variance" in index and cell("variance") else None
    if se is not None and se <= 0:
        problems.append(Problem(where("se"), f"se {se:g} must be > 0", "a standard error"))
        se = None
    if variance is not None and variance <= 0:
        problems.append(
            Problem(where("variance"), f"variance {variance:g} must be > 0", "se squared")
        )
        variance = None
    if se is None and variance is None and not problems:
        name = "se" if "se" in index else "variance"
        problems.append(Problem(where(name), f"empty {name}", "give se or variance per row"))
    if se is not None and variance is not None and abs(se * se - variance) > 1e-6 * variance:
        problems.append(
            Problem(
                where("variance"),
                f"variance {variance:g} is not se^2 = {se * se:g}",
                "give one of them, or make them agree",
            )
        )
    counts: dict[str, int | None] = {}
    for name in COUNTS:
        text = cell(name) if name in index else ""
        if not text:
            counts[name] = None
            continue
        if not text.isdigit():
            problems.append(Problem(where(name), f"{name} {text!r} is not a count", "e.g. 1200"))
            counts[name] = None
        else:
            counts[name] = int(text)
    if problems or estimate is None:
        return problems
    return Comparison(
        experiment=cell("experiment"),
        metric=cell("metric"),
        estimate=estimate,
        variance=variance if variance is not None else (se or 0.0) ** 2,
        levers={name: cell(name) for name in levers},
        n_control=counts["n_control"],
        n_treatment=counts["n_treatment"],
        line=line,
    )
