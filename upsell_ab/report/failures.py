"""A spec or an experiment that could not be reported, shown as its own block.

One bad spec must not blank a CI summary: ``report`` renders every other
experiment and gives the failure an error block (Markdown), a red line
(terminal, HTML) and an entry in the JSON's ``errors`` list. The workflow
fills this from the spec loader's or the data layer's typed error; the report
only shows it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class SpecFailure:
    """``file`` (and the experiment id when the spec could be read) failed at ``stage``
    ('spec': it does not load or validate; 'data': its metrics could not be computed)."""

    file: str
    stage: str
    problems: list[str] = field(default_factory=list)
    """One line each, ``FILE:LINE:COL: field: message (hint)`` where known."""
    experiment: str | None = None

    @property
    def title(self) -> str:
        return self.experiment or self.file

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "experiment": self.experiment,
            "stage": self.stage,
            "problems": list(self.problems),
        }
