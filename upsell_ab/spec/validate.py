"""Validate many specs at once: each file, its catalogue, and rules across a folder.

What ``upsell-ab validate`` runs. Beyond per-file checks, experiments in one
folder must have distinct ids (the store keys results by id) and, when they
share a namespace name, disjoint namespace ranges (GrowthBook namespaces:
overlapping ranges would put one customer in two competing offers).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from upsell_ab.errors import Location, Problem, SpecError
from upsell_ab.spec.load import (
    CATALOGUE_NAME,
    DEFAULT_CATALOGUE,
    Parsed,
    check_references,
    discover,
    find_catalogue,
    parse_file,
)
from upsell_ab.spec.locate import problem_at, sorted_unique
from upsell_ab.spec.models import Catalogue, Experiment
from upsell_ab.spec.yaml_marks import parse_marked

if TYPE_CHECKING:
    from upsell_ab.spec.changes import AssignmentChange
    from upsell_ab.spec.plan_changes import PlanChange

    Located = AssignmentChange | PlanChange


AMENDED = "plan_amended"
"""The code of an analysis-plan change recorded in ``amendments``: a notice, not a problem."""


@dataclass
class ValidationReport:
    """Files looked at and every problem found (sorted by file and position)."""

    specs: list[Path] = field(default_factory=list)
    catalogues: list[Path] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    notices: list[Problem] = field(default_factory=list)
    """Accepted changes a reviewer should see (an amended analysis plan: code
    ``plan_amended``); they do not make the specs invalid."""

    def files_with_problems(self, files: Iterable[Path]) -> int:
        named = {p.location.file for p in self.problems}
        return sum(1 for f in files if str(f) in named)

    @property
    def valid(self) -> bool:
        return not self.problems


def _namespace(value: Any) -> tuple[str, float, float] | None:
    population = value.get("population") if isinstance(value, Mapping) else None
    space = population.get("namespace") if isinstance(population, Mapping) else None
    if not isinstance(space, Mapping):
        return None
    name, bounds = space.get("name"), space.get("range")
    if not isinstance(name, str) or not isinstance(bounds, list) or len(bounds) != 2:
        return None
    if not all(isinstance(b, int | float) and not isinstance(b, bool) for b in bounds):
        return None
    return name, float(bounds[0]), float(bounds[1])


def folder_problems(parsed: list[Parsed]) -> list[Problem]:
    """Duplicate experiment ids and overlapping namespace ranges among files of one folder."""
    problems: list[Problem] = []
    ids: dict[str, Path] = {}
    spaces: list[tuple[Parsed, str, float, float]] = []
    for item in parsed:
        value = item.document.value
        if not isinstance(value, Mapping):
            continue
        file = str(item.path)
        exp_id = value.get("id")
        if isinstance(exp_id, str):
            if exp_id in ids:
                problems.append(
                    problem_at(
                        item.document,
                        file,
                        ("id",),
                        f"experiment id '{exp_id}' is also used by {ids[exp_id].name}",
                        "give every experiment its own id",
                        "duplicate_id",
                    )
                )
            else:
                ids[exp_id] = item.path
        space = _namespace(value)
        if space is None:
            continue
        name, start, end = space
        for other, other_name, other_start, other_end in spaces:
            if other_name == name and start < other_end and other_start < end:
                problems.append(
                    problem_at(
                        item.document,
                        file,
                        ("population", "namespace", "range"),
                        f"namespace '{name}' range [{start:g}, {end:g}] overlaps "
                        f"[{other_start:g}, {other_end:g}] of {other.path.name}",
                        "give experiments sharing a namespace disjoint ranges",
                        "namespace_overlap",
                    )
                )
        spaces.append((item, name, start, end))
    return problems


def validate_report(paths: Iterable[str | Path], *, against: str | None = None) -> ValidationReport:
    """Validate every spec named by ``paths`` and the catalogues they use; with
    ``against`` (a git revision) also refuse edits that move units already assigned in
    an experiment that has started (:mod:`upsell_ab.spec.changes`)."""
    report = ValidationReport()
    path_list = [Path(p) for p in paths]
    try:
        report.specs = discover(path_list)
    except SpecError as error:
        report.problems += error.problems
        report.specs = discover(p for p in path_list if p.exists())
    for folder in (p for p in path_list if p.is_dir()):
        if not discover([folder]):
            report.problems.append(
                Problem(
                    Location(file=str(folder)),
                    "no spec files (*.yaml, *.yml) in this folder",
                    "check the path; metrics.yaml alone is not a spec",
                    "not_found",
                )
            )
    explicit = [p for p in path_list if p.is_file() and p.name == CATALOGUE_NAME]
    catalogues: dict[Path, Parsed] = {p.resolve(): parse_file(p, Catalogue) for p in explicit}
    by_folder: dict[Path, list[Parsed]] = {}
    users: dict[Path, list[Parsed]] = {}
    for spec in report.specs:
        parsed = parse_file(spec, Experiment)
        catalogue_path = find_catalogue(spec)
        key = catalogue_path.resolve()
        if key not in catalogues:
            catalogues[key] = parse_file(_relative(catalogue_path), Catalogue)
        users.setdefault(key, []).append(parsed)
        catalogue = catalogues[key].model
        if catalogue is not None:
            check_references(parsed, catalogue, builtin=key == DEFAULT_CATALOGUE.resolve())
        if parsed.model is not None and not parsed.problems:
            from upsell_ab.spec.source_files import source_file_problems

            parsed.problems += source_file_problems(parsed)
            parsed.problems += _concluded_problems(parsed)
            if against is not None:
                parsed.problems += _against_problems(parsed, against)
        report.problems += parsed.problems
        by_folder.setdefault(spec.resolve().parent, []).append(parsed)
    for group in by_folder.values():
        report.problems += folder_problems(group)
    report.catalogues = sorted(c.path for c in catalogues.values())
    for key, catalogue_parsed in catalogues.items():
        report.problems += catalogue_parsed.problems
        if against is not None and key != DEFAULT_CATALOGUE.resolve():
            report.problems += _catalogue_against(catalogue_parsed, users.get(key, []), against)
    report.problems += _program_problems(path_list, report.specs, by_folder, against)
    report.notices = sorted_unique([p for p in report.problems if p.code == AMENDED])
    report.problems = sorted_unique([p for p in report.problems if p.code != AMENDED])
    return report


def _against_problems(parsed: Parsed, revision: str) -> list[Problem]:
    """Edits of a spec since ``revision`` that move assigned units, or that change the
    analysis plan of a started experiment without an amendment (:mod:`.plan_changes`)."""
    from upsell_ab.spec.changes import assignment_changes
    from upsell_ab.spec.plan_changes import plan_changes

    def both(old: Experiment, new: Experiment) -> list[tuple[Located, str]]:
        moved: list[tuple[Located, str]] = [
            (c, "assignment_changed") for c in assignment_changes(old, new)
        ]
        planned: list[tuple[Located, str]] = [
            (c, "plan_changed" if c.amended is None else AMENDED) for c in plan_changes(old, new)
        ]
        return moved + planned

    return _changes_since(parsed, revision, Experiment, both)


def _base_model(current: Parsed, revision: str, root: type[Any]) -> tuple[Any, list[Problem]]:
    """(the file's model at ``revision``, []) or (None, why not: the revision cannot be
    read; nothing for a file new since then or a base that did not validate, which
    leaves nothing trustworthy to compare with)."""
    from upsell_ab.spec.git_base import BaseUnavailable, base_text
    from upsell_ab.spec.load import check_document

    try:
        text = base_text(current.path, revision)
    except BaseUnavailable as error:
        return None, [error.problem]
    if text is None:
        return None, []
    return check_document(Parsed(current.path, parse_marked(text)), root).model, []


def _catalogue_against(current: Parsed, specs: list[Parsed], revision: str) -> list[Problem]:
    """Definitions changed since ``revision`` of metrics that judge a started experiment
    (:func:`upsell_ab.spec.plan_changes.catalogue_changes`), located at the metric in the
    catalogue, unless the experiment records the change in its ``amendments``."""
    from upsell_ab.spec.models import Status
    from upsell_ab.spec.plan_changes import catalogue_amendment, catalogue_changes, judged_roles

    if current.model is None:
        return []
    started = [p for p in specs if p.model is not None and p.model.status is not Status.draft]
    if not started:
        return []
    base, problems = _base_model(current, revision, Catalogue)
    if base is None:
        return problems
    changed = catalogue_changes(base, current.model)
    for name, fields in sorted(changed.items()):
        judged = [
            (p, role)
            for p in started
            for role in [judged_roles(p.model).get(name)]
            if role is not None
        ]
        reasons = {p.model.id: catalogue_amendment(p.model, name) for p, _ in judged}
        for p, _ in judged:
            reason = reasons[p.model.id]
            if reason is not None:
                problems.append(
                    problem_at(
                        current.document,
                        str(current.path),
                        ("metrics", name),
                        f"the definition of {name} changed ({', '.join(fields)}; compared "
                        f"with {revision}), recorded by {p.model.id} as an amendment: {reason}",
                        None,
                        AMENDED,
                    )
                )
        judged = [(p, role) for p, role in judged if reasons[p.model.id] is None]
        if not judged:
            continue
        whom = ", ".join(f"{p.model.id} ({role}, {p.path.name})" for p, role in judged)
        problems.append(
            problem_at(
                current.document,
                str(current.path),
                ("metrics", name),
                f"the definition of {name} changed ({', '.join(fields)}; compared with "
                f"{revision}) and it judges started experiment(s) {whom}: what they measure "
                "changes after their results could be seen",
                f"undo the edit, define the new version under a new metric name, or record "
                f"it in each experiment: amendments: [{{field: catalogue.{name}, reason: '...'}}]",
                "plan_changed",
            )
        )
    return problems


def _changes_since(
    current: Parsed,
    revision: str,
    root: type[Any],
    changes: Callable[[Any, Any], list[tuple[Located, str]]],
) -> list[Problem]:
    """``changes(base, current)`` for the file's version at ``revision``, located in the
    current file; nothing for a file new since then or a base that did not validate."""
    base, unavailable = _base_model(current, revision, root)
    if base is None:
        return unavailable
    return [
        problem_at(
            current.document,
            str(current.path),
            change.path,
            f"{change.message} (compared with {revision})"
            + (
                f"; recorded as an amendment: {getattr(change, 'amended', '')}"
                if code == AMENDED
                else ""
            ),
            None if code == AMENDED else change.hint,
            code,
        )
        for change, code in changes(base, current.model)
    ]


def _concluded_problems(parsed: Parsed) -> list[Problem]:
    """A spec marked ``concluded`` must have its result record (``upsell-ab conclude``),
    and the record must be of this spec: same hash (status aside)."""
    experiment = parsed.model
    if experiment.status.value != "concluded":
        return []
    from upsell_ab.archive.record import spec_hash
    from upsell_ab.archive.store import latest, results_dir

    folder = results_dir(parsed.path)
    record = latest(folder, experiment.id)
    if record is None:
        return [
            problem_at(
                parsed.document,
                str(parsed.path),
                ("status",),
                f"{experiment.id} is concluded but has no result record in "
                f"{folder / experiment.id}",
                f"run `upsell-ab conclude {parsed.path}` before marking it concluded",
                "concluded",
            )
        ]
    if record.get("spec_sha256") != spec_hash(experiment):
        return [
            problem_at(
                parsed.document,
                str(parsed.path),
                ("status",),
                f"the spec changed after it was concluded (v{record.get('version')} was "
                "analysed with another spec)",
                "undo the edit, or re-run `upsell-ab conclude --force` to archive a new version",
                "concluded",
            )
        ]
    return []


def _program_problems(
    paths: list[Path],
    specs: list[Path],
    by_folder: dict[Path, list[Parsed]],
    against: str | None = None,
) -> list[Problem]:
    """Every ``program.yaml`` the specs obey (or named explicitly), checked once: its own
    fields, and its holdout seed against every experiment it governs."""
    from upsell_ab.spec.holdout_models import PROGRAM_NAME
    from upsell_ab.spec.program import find_program, program_problems

    programs: dict[Path, list[Experiment]] = {
        p.resolve(): [] for p in paths if p.is_file() and p.name == PROGRAM_NAME
    }
    for spec in specs:
        found = find_program(spec)
        if found is None:
            continue
        governed = programs.setdefault(found.resolve(), [])
        for parsed in by_folder.get(spec.resolve().parent, []):
            if parsed.path.resolve() == spec.resolve() and parsed.model is not None:
                governed.append(parsed.model)
    problems: list[Problem] = []
    for program, experiments in programs.items():
        problems += program_problems(_relative(program), experiments)
        if against is not None:
            problems += _holdout_against(_relative(program), against)
    return problems


def _holdout_against(path: Path, revision: str) -> list[Problem]:
    """Edits of ``program.yaml``'s holdout since ``revision`` that move customers between
    holdout and programme (:func:`upsell_ab.spec.changes.holdout_changes`)."""
    from upsell_ab.spec.changes import holdout_changes
    from upsell_ab.spec.holdout_models import Program

    current = parse_file(path, Program)
    if current.model is None:
        return []
    return _changes_since(
        current,
        revision,
        Program,
        lambda old, new: [
            (c, "assignment_changed") for c in holdout_changes(old.holdout, new.holdout)
        ],
    )


def _relative(path: Path) -> Path:
    """``path`` relative to the working directory when inside it (shorter messages)."""
    try:
        return path.relative_to(Path.cwd())
    except ValueError:
        return path


def validate_paths(paths: Iterable[str | Path]) -> list[Problem]:
    """Every problem in the specs named by ``paths`` (empty when all are valid)."""
    return validate_report(paths).problems
