"""Located findings: how a model validator says *where* inside itself a rule failed.

Pydantic reports a model validator's error at the model's own location, which
is too coarse for ``FILE:LINE:COL: field.path``. Our validators therefore
raise :func:`raise_findings`, carrying each finding's path relative to the
model; the loader appends it to the pydantic location and looks up the mark.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NoReturn

from pydantic_core import PydanticCustomError

FINDINGS_ERROR = "cross_field"
"""The pydantic error type of a located cross-field finding."""

FindingPath = tuple[str | int, ...]


@dataclass(frozen=True)
class Finding:
    """A rule that failed: where (path relative to the checked object), what, how to fix."""

    path: FindingPath
    message: str
    hint: str | None = None
    code: str = "cross_field"


def raise_findings(findings: Sequence[Finding]) -> NoReturn:
    """Raise one pydantic error holding every finding (its message joins them)."""
    summary = "; ".join(f.message for f in findings)
    raise PydanticCustomError(
        FINDINGS_ERROR, "{summary}", {"summary": summary, "findings": list(findings)}
    )


def check(findings: Sequence[Finding]) -> None:
    """Raise when there is anything to report; for use at the end of a model validator."""
    if findings:
        raise_findings(findings)
