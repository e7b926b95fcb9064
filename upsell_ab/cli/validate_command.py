"""``upsell-ab validate PATH...``: check specs like code, every problem at once.

Problems go to stdout as ``FILE:LINE:COL: field.path: message (how to fix)``
(or JSON with ``--format json``), a one-line summary to stderr; exit 0 when
every spec is valid, 1 otherwise. Only pydantic and PyYAML are imported on
this path, so it finishes in well under half a second.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from upsell_ab.cli.exit_codes import ExitCode
from upsell_ab.safe_text import escape_control, escape_json_text

if TYPE_CHECKING:
    from upsell_ab.errors import Problem


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "validate",
        help="validate experiment specs (files or folders)",
        description="Validate experiment specs and the metric catalogue they use. Prints every "
        "problem as FILE:LINE:COL: field.path: message. Exit 0 when all are valid, 1 otherwise.",
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="spec files or folders")
    parser.add_argument(
        "--format",
        choices=("text", "json", "github"),
        default="text",
        help="text (FILE:LINE:COL: ...), json, or github: '::error file=,line=,col=::' "
        "workflow commands that GitHub Actions shows on the pull request's diff",
    )
    parser.add_argument(
        "--explain",
        action="store_true",
        help="also compile each valid spec's metric SQL (all dialects) and EXPLAIN it on an "
        "empty in-memory DuckDB store with the canonical tables (imports DuckDB: slower)",
    )
    parser.add_argument(
        "--against",
        metavar="REV",
        help="also compare each spec with its version at git revision REV (a pull "
        "request's base, e.g. origin/main): once an experiment has started, an edit that "
        "moves assigned units (weights, variants, seed, hashed unit, lower coverage, "
        "namespace, switchback slots) is a problem; raising coverage is not",
    )
    parser.set_defaults(run=run)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def summary(problems: int, bad_specs: int, specs: int, bad_catalogues: int) -> str:
    """ "3 specs valid" or "2 problems in 1 of 6 specs" (plus catalogue problems)."""
    if problems == 0:
        return f"{_plural(specs, 'spec')} valid"
    text = f"{_plural(problems, 'problem')} in {bad_specs} of {_plural(specs, 'spec')}"
    if bad_catalogues:
        text += f" and {_plural(bad_catalogues, 'metric catalogue')}"
    return text


def github_annotation(problem: Problem, level: str = "error") -> str:
    """``::error file=F,line=L,col=C,title=upsell-ab validate (code)::field: message (hint)``,
    escaped as GitHub's runner requires (upsell_ab.cli.annotations)."""
    from upsell_ab.cli.annotations import command

    loc = problem.location
    message = problem.message + (f" ({problem.hint})" if problem.hint else "")
    where = ", ".join(
        part for part in (f"row {loc.row}" if loc.row is not None else "", loc.field or "") if part
    )
    text = escape_control(f"{where}: {message}" if where else message)  # untrusted spec text
    return command(
        level,
        text,
        file=loc.file,
        line=loc.line,
        col=loc.column,
        title=f"upsell-ab validate ({problem.code})",
    )


def _as_json(problem: Problem, *, hint: bool = True) -> dict[str, object]:
    """One problem (or notice: no hint) of ``--format json``."""
    loc = problem.location
    found: dict[str, object] = {
        "file": loc.file,
        "line": loc.line,
        "column": loc.column,
        "field": loc.field,
        "message": problem.message,
    }
    if hint:
        found["hint"] = problem.hint
    found["code"] = problem.code
    return found


def run(args: argparse.Namespace) -> int:
    from upsell_ab.spec.validate import validate_report

    report = validate_report(args.paths, against=getattr(args, "against", None))
    if getattr(args, "explain", False) and report.valid:
        from upsell_ab.cli.explain import explain_problems

        report.problems.extend(explain_problems(report.specs))
    bad_specs = report.files_with_problems(report.specs)
    bad_catalogues = report.files_with_problems(report.catalogues)
    line = summary(len(report.problems), bad_specs, len(report.specs), bad_catalogues)
    if args.format == "json":
        payload = {
            "valid": report.valid,
            "specs": [str(p) for p in report.specs],
            "catalogues": [str(p) for p in report.catalogues],
            "summary": line,
            "problems": [_as_json(p) for p in report.problems],
            "notices": [_as_json(p, hint=False) for p in report.notices],
        }
        print(escape_json_text(json.dumps(payload, indent=2, ensure_ascii=False)))
    elif args.format == "github":
        for problem in report.problems:
            print(github_annotation(problem))
        for notice in report.notices:  # amendments: shown on the diff for the reviewer
            print(github_annotation(notice, "notice"))
    else:
        for problem in report.problems:
            print(escape_control(str(problem), keep_newlines=False))  # spec text is untrusted
        for notice in report.notices:
            print(escape_control(f"notice: {notice}", keep_newlines=False))
    print(line, file=sys.stderr)
    return int(ExitCode.OK if report.valid else ExitCode.INVALID_INPUT)
