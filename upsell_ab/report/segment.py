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
