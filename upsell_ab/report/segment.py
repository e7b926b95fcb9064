"""Report view of the per-segment breakdown (exploratory; copied from ``stats.results``).

Each row is one metric inside one segment (exposure attribute = value) with the
same comparison fields as the whole-experiment metric, so the JSON shape of a
segment comparison is the documented comparison shape. Adjusted p-values are
within the segment family (one attribute x treatments, per metric); the
decision never reads segments.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from upsell_ab.report.metric import ComparisonReport, VariantStat, comparison_report

if TYPE_CHECKING:
    from upsell_ab.stats.results import SegmentResult

SEGMENT_NOTE = (
    "Segments are exploratory: p-values are adjusted only within each breakdown "
    "(one attribute's values x treatments); the decision never uses them."
)


@dataclass(frozen=True)
class SegmentReport:
    metric: str
    attribute: str
    value: str
    variants: list[VariantStat]
    comparisons: list[ComparisonReport]
    notes: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "attribute": self.attribute,
            "value": self.value,
            "variants": [v.to_dict() for v in self.variants],
            "comparisons": [c.to_dict() for c in self.comparisons],
            "notes": list(self.notes),
        }


def segment_report(result: SegmentResult) -> SegmentReport:
    return SegmentReport(
        metric=result.metric,
        attribute=result.attribute,
        value=result.value,
        variants=[VariantStat(v.variant, v.n, v.mean) for v in result.variants],
        comparisons=[comparison_report(c) for c in result.comparisons],
        notes=list(result.notes),
    )


SHOWN_PER_BREAKDOWN = 20
"""Segment values shown per breakdown (metric x attribute) by the text, Markdown and HTML
reports: the largest by units. JSON keeps them all."""


@dataclass(frozen=True)
class SegmentDisplay:
    """What a human-facing report shows of the segments: ``rows`` in their order, and one
    line per breakdown whose smaller values were left out."""

    rows: list[SegmentReport]
    hidden: list[str]


def _units(segment: SegmentReport) -> int:
    return sum(v.n or 0 for v in segment.variants)


def segments_to_show(
    segments: list[SegmentReport], limit: int = SHOWN_PER_BREAKDOWN
) -> SegmentDisplay:
    """At most ``limit`` values per (metric, attribute), the largest by units (ties by
    their order), each breakdown's rows in their order. A careless ``segments: [zip]``
    (3,000 values) otherwise printed 3,000 rows of groups of 3 to 8 customers, which no
    test can compare, and a 256 KB Markdown summary."""
    groups: dict[tuple[str, str], list[SegmentReport]] = {}
    for segment in segments:
        groups.setdefault((segment.metric, segment.attribute), []).append(segment)
    keep: set[int] = set()
    hidden: list[str] = []
    for (metric, attribute), members in groups.items():
        ranked = sorted(range(len(members)), key=lambda i: -_units(members[i]))
        kept, left = ranked[:limit], ranked[limit:]
        keep.update(id(members[i]) for i in kept)
        if left:
            largest_left = max(_units(members[i]) for i in left)
            hidden.append(
                f"{metric}, {attribute}: {len(left):,} more of its {len(members):,} values "
                f"not shown (the smallest, {largest_left:,} units or fewer each; --format "
                "json lists them all). An attribute with this many values splits the units "
                "into groups too small to compare: segment by a few groups (channel, device, "
                "new vs returning)."
            )
    return SegmentDisplay([s for s in segments if id(s) in keep], hidden)
