"""Typed errors shared by every stage, each with a stable code.

Codes are documented in the README ("Error codes"); a test keeps the two in
sync. Errors carry *where* (file, line, column, row, field) and *how to fix*
so the CLI can print them without guessing.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Location:
    """Where a problem is: a file and, when known, line/column (1-based), row and field path."""

    file: str | None = None
    line: int | None = None
    column: int | None = None
    row: int | None = None
    field: str | None = None

    def __str__(self) -> str:
        parts: list[str] = []
        if self.file:
            parts.append(self.file)
        if self.line is not None:
            parts.append(str(self.line))
            if self.column is not None:
                parts.append(str(self.column))
        prefix = ":".join(parts)
        extras: list[str] = []
        if self.row is not None:
            extras.append(f"row {self.row}")
        if self.field:
            extras.append(self.field)
        if prefix and extras:
            return f"{prefix}: " + ", ".join(extras)
        return prefix or ", ".join(extras)


@dataclass(frozen=True)
class Problem:
    """One problem found in an input: where, what, and an optional hint."""

    location: Location
    message: str
    hint: str | None = None
    code: str = "invalid"

    def __str__(self) -> str:
        text = f"{self.location}: {self.message}" if str(self.location) else self.message
        if self.hint:
            text += f" ({self.hint})"
        return text


class UpsellAbError(Exception):
    """Base class: every error the package raises on purpose."""

    code: str = "error"


@dataclass
class SpecError(UpsellAbError):
    """A spec (or the metric catalogue) is invalid; ``problems`` lists every problem found."""

    problems: list[Problem] = field(default_factory=list)
    code: str = "spec_invalid"

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems)


@dataclass
class InputError(UpsellAbError):
    """An input file or frame (exposures, events, summaries, assignment input) is unusable."""

    problems: list[Problem] = field(default_factory=list)
    code: str = "input_invalid"

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems)


class StoreError(UpsellAbError):
    """The event store or a database engine failed or holds inconsistent data."""

    code = "store_error"


class TimestampKindError(StoreError):
    """A timestamp column of the wrong kind: ``numbers`` or ``text`` instead of times, or
    ``zones``: one side with a time zone, the other without. Typed, so that a layer which
    knows more (the frames a caller passed) can name the frame and column without
    matching the wording: ``finding`` says what is wrong, ``advice`` (which begins with
    ", so ...") what follows and how to fix it; for ``numbers`` and ``text``, ``holds``
    is the finding's predicate ("holds text, not times")."""

    def __init__(self, kind: str, finding: str, advice: str, holds: str = "") -> None:
        self.kind, self.finding, self.advice, self.holds = kind, finding, advice, holds
        super().__init__(finding + advice)

    def retold(self, finding: str) -> TimestampKindError:
        """The same error with a more precise finding (same kind, same advice)."""
        return TimestampKindError(self.kind, finding, self.advice, self.holds)


class StatsError(UpsellAbError):
    """A statistics routine was called with inputs it cannot handle (not raised for edge cases
    that have a well-defined answer; those return a result with a status)."""

    code = "stats_error"
