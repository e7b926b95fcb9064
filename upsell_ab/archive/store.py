"""Versioned, immutable record files: ``<results>/<experiment>/v<N>.json``.

``conclude`` writes ``v1``; concluding again with the same spec and data changes nothing
("unchanged"); with a different spec or data it is refused unless ``force``, and then
``v<N+1>`` is written beside the old record, which is never modified or removed. Files
are written atomically (:func:`upsell_ab.output_file.write_output`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from upsell_ab.errors import InputError, Location, Problem

RESULTS_DIR = "results"
"""Default archive folder, next to the specs (``experiments/results/``)."""
_VERSION = re.compile(r"^v(\d+)\.json$")


@dataclass(frozen=True)
class Written:
    path: Path
    version: int
    status: str
    """``written``, ``unchanged`` (same spec and data as the latest record)."""


def results_dir(spec_path: str | Path, override: str | Path | None = None) -> Path:
    return Path(override) if override is not None else Path(spec_path).parent / RESULTS_DIR


def versions(folder: Path, experiment: str) -> list[tuple[int, Path]]:
    """Existing records of ``experiment``, oldest first."""
    base = folder / experiment
    if not base.is_dir():
        return []
    found = []
    for path in base.iterdir():
        match = _VERSION.match(path.name)
        if match:
            found.append((int(match.group(1)), path))
    return sorted(found)


def read_record(path: Path) -> dict[str, Any]:
    try:
        record: dict[str, Any] = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as error:
        raise InputError(
            [Problem(Location(file=str(path)), f"unreadable result record: {error}", None)]
        ) from None
    return record


def latest(folder: Path, experiment: str) -> dict[str, Any] | None:
    found = versions(folder, experiment)
    return read_record(found[-1][1]) if found else None


def write_record(
    folder: Path, record_for: Any, experiment: str, *, spec_sha: str, data_sha: str, force: bool
) -> Written:
    """Write the next version (``record_for(version)`` builds it) unless it would only
    repeat the latest; refuse a different conclusion without ``force``."""
    from upsell_ab.output_file import write_output

    found = versions(folder, experiment)
    if found:
        number, path = found[-1]
        previous = read_record(path)
        same = previous.get("spec_sha256") == spec_sha and previous.get("data_sha256") == data_sha
        if same:
            return Written(path, number, "unchanged")
        if not force:
            what = "spec" if previous.get("spec_sha256") != spec_sha else "data"
            raise InputError(
                [
                    Problem(
                        Location(file=str(path)),
                        f"{experiment} was concluded as v{number} on another {what}; a record "
                        "is never replaced",
                        f"pass --force to write v{number + 1} beside it (v{number} is kept)",
                        "concluded",
                    )
                ]
            )
    number = found[-1][0] + 1 if found else 1
    target = folder / experiment / f"v{number}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(record_for(number), indent=2, ensure_ascii=False, sort_keys=False) + "\n"
    write_output(target, text)
    return Written(target, number, "written")
