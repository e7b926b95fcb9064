"""Events whose type is a metric's type in another spelling: no verdict when many are lost.

A second app, a tag manager or a spreadsheet writes the event type otherwise
(``Upsell_Purchase``, ``upsell-purchase``, ``upsell_purchase `` for ``upsell_purchase``).
No metric counts those rows, and when one arm's events all come through that path
(a variant built in the new app), that arm's conversions vanish: ``cake_wording`` with
pairing's purchases typed ``Upsell_Purchase`` read "pairing lowered the take rate by
24.3 pp, -100 %" with no warning at all.

After the experiment query, the source's most frequent event types
(:func:`upsell_ab.metrics.sql_values.event_types_sql`) are compared with the metrics'
types under :func:`upsell_ab.lookalike.lookalike_key` (case, blanks, ``-`` and ``_``
ignored); for each look-alike, the exposed units' events of that type are counted per
arm (:func:`upsell_ab.metrics.sql_values.lookalike_events_sql`). Over
``LOOKALIKE_SHARE`` (1 %) of the metrics' events: **invalid**, naming the types and the
arms; below it, a warning. A metric type the source holds no row of at all is left to
the absent-event gate, which already names the look-alike.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from upsell_ab.metrics.aggregates import ExperimentData, LookalikeEvents
    from upsell_ab.spec.resolve import ResolvedExperiment

LOOKALIKE_SHARE = 0.01
"""Above this share of the metrics' events, look-alike events of the exposed units stop a
verdict (the same bar as unit ids in another spelling)."""


def _counted(data: ExperimentData) -> LookalikeEvents | None:
    """The look-alikes of types the source does hold (absent ones have their own gate)."""
    from upsell_ab.metrics.aggregates import LookalikeEvents

    found = data.lookalike_events
    if found is None:
        return None
    meant = {t: m for t, m in found.meant.items() if data.event_type_rows.get(m, 1) > 0}
    rows = {(v, t): n for (v, t), n in found.rows.items() if t in meant and n > 0}
    return LookalikeEvents(meant, rows) if rows else None


def _sentence(resolved: ResolvedExperiment, found: LookalikeEvents, data: ExperimentData) -> str:
    arms = [v.id for v in resolved.experiment.variants]
    parts = []
    for alike in sorted({t for _, t in found.rows}):
        per_arm = ", ".join(f"{found.rows.get((arm, alike), 0):,} in {arm}" for arm in arms)
        parts.append(f"'{alike}' for '{found.meant[alike]}' ({per_arm})")
    return (
        f"{found.total:,} events of the experiment's customers have a type the metrics do "
        f"not count but that differs from theirs only in case, blanks, '-' or '_': "
        f"{'; '.join(parts)}, beside the {data.quality.metric_events:,} events the metrics "
        "do count"
    )


def _finding(resolved: ResolvedExperiment, data: ExperimentData | None) -> tuple[bool, str] | None:
    """(blocking, sentence) for the look-alike events of the data, or None."""
    found = _counted(data) if data is not None else None
    if data is None or found is None:
        return None
    blocking = found.total > LOOKALIKE_SHARE * max(data.quality.metric_events, 1)
    return blocking, _sentence(resolved, found, data)


def lookalike_event_problems(
    resolved: ResolvedExperiment, data: ExperimentData | None
) -> list[str]:
    """The blocking reason when look-alike events pass :data:`LOOKALIKE_SHARE`."""
    finding = _finding(resolved, data)
    if finding is None or not finding[0]:
        return []
    return [
        f"{finding[1]}. One app or export writes the type otherwise, and an arm whose "
        "events come through it loses them, so it reads worse. Write the event type "
        "exactly as metrics.yaml does (or rename it when loading) and analyse again."
    ]


def lookalike_event_warnings(
    resolved: ResolvedExperiment, data: ExperimentData | None
) -> list[str]:
    """A headline line for look-alike events up to :data:`LOOKALIKE_SHARE`."""
    finding = _finding(resolved, data)
    if finding is None or finding[0]:
        return []
    return [f"{finding[1]}: they are not counted; check the event types."]
