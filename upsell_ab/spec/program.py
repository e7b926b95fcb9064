"""Find, load and check ``program.yaml`` (the programme spec with the long-term holdout).

Looked up like ``metrics.yaml``: in the spec's folder, then its parents. No
file means no holdout. Problems are located (file, line, column) like every
other spec problem, and a holdout seed equal to an experiment's seed is
refused: membership would then be the same hash as the variant split.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from upsell_ab.errors import Problem, SpecError
from upsell_ab.spec.holdout_models import PROGRAM_NAME, Holdout, Program
from upsell_ab.spec.locate import problem_at, sorted_unique
from upsell_ab.spec.models import Experiment


def find_program(spec_path: str | Path) -> Path | None:
    """``program.yaml`` in the spec's folder (or the folder given), else the nearest parent."""
    start = Path(spec_path).resolve()
    folder = start if start.is_dir() else start.parent
    for candidate in (folder, *folder.parents):
        program = candidate / PROGRAM_NAME
        if program.is_file():
            return program
    return None


def program_problems(path: Path, experiments: Iterable[Experiment] = ()) -> list[Problem]:
    """Every problem in ``program.yaml`` at ``path``, plus seed collisions with ``experiments``."""
    from upsell_ab.spec.load import parse_file

    parsed = parse_file(path, Program)
    problems = list(parsed.problems)
    program: Program | None = parsed.model
    if program is not None and program.holdout is not None:
        seed = program.holdout.hash_seed
        for experiment in experiments:
            if experiment.seed == seed:
                problems.append(
                    problem_at(
                        parsed.document,
                        str(path),
                        ("holdout", "seed") if program.holdout.seed else ("holdout", "id"),
                        f"the holdout's hash seed {seed!r} is also experiment "
                        f"{experiment.id!r}'s seed: holdout membership would follow its variants",
                        "give the holdout its own seed (the default is holdout:<id>)",
                        "invalid_value",
                    )
                )
    return sorted_unique(problems)


def load_program(path: str | Path) -> Program:
    """Parse and validate ``program.yaml``; :class:`SpecError` lists every problem."""
    problems = program_problems(Path(path))
    if problems:
        raise SpecError(problems)
    from upsell_ab.spec.load import parse_file

    model: Program = parse_file(Path(path), Program).model
    return model


def holdout_for(spec_path: str | Path) -> Holdout | None:
    """The holdout every experiment under ``spec_path`` obeys (None without program.yaml)."""
    found = find_program(spec_path)
    return load_program(found).holdout if found is not None else None


def holdout_of(source_file: str | Path | None) -> Holdout | None:
    """The holdout of a spec loaded from ``source_file`` (None for a spec built in Python)."""
    return holdout_for(source_file) if source_file is not None else None
