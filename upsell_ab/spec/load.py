"""Load experiment specs and the metric catalogue, reporting every problem at once.

Pipeline per file: read UTF-8 text -> :func:`~upsell_ab.spec.yaml_marks.parse_marked`
(safe compose, line marks, YAML 1.1 traps refused) -> whole-spec rules on the
raw values (:mod:`upsell_ab.spec.rules`) -> pydantic models -> catalogue
references (:mod:`upsell_ab.spec.resolve`). Problems from all steps are merged,
de-duplicated and sorted, then raised together in one :class:`SpecError`,
each printed as ``FILE:LINE:COL: field.path: message (how to fix)``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from upsell_ab.errors import Location, Problem, SpecError
from upsell_ab.spec.holdout_models import PROGRAM_NAME
from upsell_ab.spec.locate import (
    finding_problems,
    issue_problem,
    problem_at,
    sorted_unique,
    validation_problems,
)
from upsell_ab.spec.models import Catalogue, Experiment
from upsell_ab.spec.resolve import ResolvedExperiment, reference_findings, resolve
from upsell_ab.spec.rules import experiment_findings
from upsell_ab.spec.yaml_guard import SpecTooLarge, read_spec_bytes, too_large_issue
from upsell_ab.spec.yaml_marks import MarkedDocument, parse_marked

CATALOGUE_NAME = "metrics.yaml"
"""The metric catalogue's file name, looked up next to a spec, then in its parents."""
SPEC_SUFFIXES = (".yaml", ".yml")
DEFAULT_CATALOGUE = Path(__file__).with_name("default_metrics.yaml")
"""The standard upsell metrics, used when no ``metrics.yaml`` is found (``init`` copies it)."""


@dataclass
class Parsed:
    """One file after loading: the model when valid, the marks, and its problems."""

    path: Path
    document: MarkedDocument
    model: Any = None
    problems: list[Problem] = field(default_factory=list)


def _file_problem(path: Path, message: str, hint: str | None, code: str) -> Problem:
    return Problem(Location(file=str(path)), message, hint, code)


def parse_file(path: Path, root: type[BaseModel]) -> Parsed:
    """Read and validate ``path`` against ``root`` without raising; problems are collected."""
    file = str(path)
    try:
        text = read_spec_bytes(path).decode("utf-8-sig")
    except SpecTooLarge:
        return Parsed(path, MarkedDocument(None), problems=[issue_problem(too_large_issue(), file)])
    except FileNotFoundError:
        problem = _file_problem(path, "no such file", "check the path", "not_found")
        return Parsed(path, MarkedDocument(None), problems=[problem])
    except UnicodeDecodeError as error:
        problem = _file_problem(
            path, f"not UTF-8 text ({error.reason})", "save as UTF-8", "encoding"
        )
        return Parsed(path, MarkedDocument(None), problems=[problem])
    except IsADirectoryError:
        problem = _file_problem(
            path,
            "is a directory, not a spec file",
            "name one spec (experiments/cake_wording.yaml); 'upsell-ab report DIR' and "
            "'upsell-ab validate DIR' take a whole directory",
            "not_found",
        )
        return Parsed(path, MarkedDocument(None), problems=[problem])
    except OSError as error:
        problem = _file_problem(path, f"cannot read: {error.strerror}", None, "not_found")
        return Parsed(path, MarkedDocument(None), problems=[problem])
    document = parse_marked(text)
    parsed = Parsed(path, document, problems=[issue_problem(i, file) for i in document.issues])
    if document.value is None and document.issues:
        return parsed
    return check_document(parsed, root)


def check_document(parsed: Parsed, root: type[BaseModel]) -> Parsed:
    """Validate ``parsed.document.value`` against ``root``: whole-spec rules, then the
    models; problems are added to ``parsed`` (a document without marks, such as a
    dict built in Python, gets field paths without lines)."""
    document, file = parsed.document, str(parsed.path)
    if not isinstance(document.value, dict):
        kind = type(document.value).__name__
        parsed.problems.append(
            problem_at(
                document,
                file,
                (),
                f"expected a mapping of keys, got a {kind}",
                "write the spec as key: value lines",
                "invalid_value",
            )
        )
        return parsed
    if root is Experiment:
        parsed.problems += finding_problems(experiment_findings(document.value), document, file)
    try:
        parsed.model = root.model_validate(document.value)
    except ValidationError as error:
        parsed.problems += validation_problems(error, document, file, root)
    if parsed.problems:
        parsed.model = None
    return parsed


def _raise(problems: Sequence[Problem]) -> None:
    if problems:
        raise SpecError(sorted_unique(problems))


def load_spec(path: str | Path) -> Experiment:
    """Parse and validate one spec (without catalogue checks); :class:`SpecError` lists all."""
    parsed = parse_file(Path(path), Experiment)
    _raise(parsed.problems)
    model: Experiment = parsed.model
    return model


def load_catalogue(path: str | Path) -> Catalogue:
    """Parse and validate ``metrics.yaml``; :class:`SpecError` lists every problem."""
    parsed = parse_file(Path(path), Catalogue)
    _raise(parsed.problems)
    model: Catalogue = parsed.model
    return model


def find_catalogue(spec_path: str | Path) -> Path:
    """``metrics.yaml`` in the spec's folder, else the nearest parent folder that has one,
    else the standard catalogue shipped with the package (:data:`DEFAULT_CATALOGUE`)."""
    start = Path(spec_path).resolve()
    folder = start if start.is_dir() else start.parent
    for candidate in (folder, *folder.parents):
        catalogue = candidate / CATALOGUE_NAME
        if catalogue.is_file():
            return catalogue
    return DEFAULT_CATALOGUE


def check_references(parsed: Parsed, catalogue: Catalogue, *, builtin: bool = False) -> None:
    """Add unknown-metric problems (on raw values, so they join the other problems);
    ``builtin``: the catalogue is the shipped one (no metrics.yaml was found)."""
    if isinstance(parsed.document.value, dict):
        findings = reference_findings(parsed.document.value, catalogue, builtin=builtin)
        if findings:
            parsed.problems += finding_problems(findings, parsed.document, str(parsed.path))
            parsed.model = None


def load_experiment(
    path: str | Path, catalogue_path: str | Path | None = None
) -> ResolvedExperiment:
    """Parse, validate and resolve one spec against its catalogue; one error lists everything."""
    spec_path = Path(path)
    parsed = parse_file(spec_path, Experiment)
    catalogue_file = Path(catalogue_path) if catalogue_path else find_catalogue(spec_path)
    catalogue_parsed = parse_file(catalogue_file, Catalogue)
    if catalogue_parsed.model is not None:
        builtin = catalogue_file.resolve() == DEFAULT_CATALOGUE.resolve()
        check_references(parsed, catalogue_parsed.model, builtin=builtin)
    _raise([*parsed.problems, *catalogue_parsed.problems])
    return resolve(
        parsed.model, catalogue_parsed.model, source_file=spec_path, catalogue_file=catalogue_file
    )


def discover(paths: Iterable[str | Path]) -> list[Path]:
    """Spec files named by ``paths`` (files, or folders searched one level), sorted, without
    ``metrics.yaml``, ``program.yaml`` and hidden files. A missing path raises
    :class:`SpecError`."""
    found: set[Path] = set()
    missing: list[Problem] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            candidates = [p for p in path.iterdir() if p.is_file()]
        elif path.is_file():
            candidates = [path]
        else:
            missing.append(
                _file_problem(path, "no such file or folder", "check the path", "not_found")
            )
            continue
        for candidate in candidates:
            if (
                candidate.suffix in SPEC_SUFFIXES
                and candidate.name not in (CATALOGUE_NAME, PROGRAM_NAME)
                and not candidate.name.startswith(".")
            ):
                found.add(candidate)
    _raise(missing)
    return sorted(found)


def validate_paths(paths: Iterable[str | Path]) -> list[Problem]:
    """Every problem in the specs (files or folders) named by ``paths``; empty when valid."""
    from upsell_ab.spec.validate import validate_paths as run

    return run(paths)
