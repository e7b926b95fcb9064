"""Event types that no metric of an experiment reads (``ingest --spec``).

Metrics select events by exact type, so ``Order`` or ``purchase`` beside the
catalogue's ``order`` silently vanish from every metric. After an ingest with
``--spec``, the event types of the new batches are compared with the types the
experiment's metrics use (``event``, ``numerator.event``,
``denominator.event``); the others are reported with their row counts and a
did-you-mean when a used type is close (case-insensitive, or by spelling).
"""

from __future__ import annotations

from difflib import get_close_matches
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from upsell_ab.events.store import EventStore
    from upsell_ab.spec.resolve import ResolvedExperiment


def used_event_types(resolved: ResolvedExperiment) -> set[str]:
    """Event types read by the experiment's metrics."""
    used: set[str] = set()
    for definition in resolved.metrics.values():
        for side in (definition, definition.numerator, definition.denominator):
            event = getattr(side, "event", None) if side is not None else None
            if event:
                used.add(str(event))
    return used


def unused_event_types(
    resolved: ResolvedExperiment, store: EventStore, batches: list[int]
) -> list[str]:
    """One warning per event type of ``batches`` that no metric uses (empty when all are)."""
    if not batches:
        return []
    used = used_event_types(resolved)
    placeholders = ", ".join("?" for _ in batches)
    rows = store.connection.execute(
        f"SELECT event_type, count(*) FROM events WHERE ingest_id IN ({placeholders}) "
        "GROUP BY 1 ORDER BY 2 DESC, 1",
        batches,
    ).fetchall()
    experiment = resolved.experiment.id
    notes: list[str] = []
    for event_type, count in rows:
        name = str(event_type)
        if name in used:
            continue
        close = suggest_type(name, used)
        hint = f"; did you mean {close!r}? fix the export or the metric's event" if close else ""
        notes.append(
            f"event type {name!r} ({int(count):,} rows) is used by no metric of {experiment}{hint}"
        )
    return notes


def suggest_type(name: str, used: set[str]) -> str | None:
    """A used type that ``name`` probably means (same letters ignoring case and
    separators, else a close spelling)."""
    folded = {_fold(u): u for u in used}
    if _fold(name) in folded:
        return folded[_fold(name)]
    close = get_close_matches(name.lower(), [u.lower() for u in used], n=1, cutoff=0.75)
    if close:
        return next(u for u in used if u.lower() == close[0])
    return None


def _fold(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())
