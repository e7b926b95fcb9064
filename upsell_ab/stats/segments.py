"""Per-segment breakdown of the confirmatory metrics: exploratory, never a decision.

For each exposure attribute listed in ``analysis.segments`` and each of its
values, the primary metric (and the decision metric when it differs) is
analysed inside the segment with the same per-metric code as the whole
experiment (:func:`.analysis.analyze_metric`): the engines the spec runs,
two-sided, fixed-horizon. Multiplicity: the spec's correction (Holm by
default) *within the segment family* = every value of one attribute x every
treatment, per metric. That controls the error rate inside one breakdown, not
across breakdowns or with the main result, which is why segments are labelled
exploratory and the decision never reads them (a subgroup that "wins" after a
whole-experiment null is the classic forking-paths trap; Gelman & Loken 2013).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from upsell_ab.metrics.aggregates import ExperimentData, MetricData
from upsell_ab.stats.multiplicity import adjust_p_values
from upsell_ab.stats.results import MetricResult, SegmentResult

if TYPE_CHECKING:
    from upsell_ab.spec.models import Analysis, MetricDefinition
    from upsell_ab.spec.resolve import ResolvedExperiment

MetricAnalyser = Callable[..., MetricResult]
"""``analysis.analyze_metric`` (passed in: this module sits beside it, not above it)."""


def segment_results(
    resolved: ResolvedExperiment, data: ExperimentData, analyse: MetricAnalyser
) -> list[SegmentResult]:
    """Every (metric, attribute, value) of the confirmatory metrics with segment data,
    sorted by metric (primary first), attribute, value."""
    experiment = resolved.experiment
    settings: Analysis = experiment.analysis.model_copy(
        update={"sequential": experiment.analysis.sequential.model_copy(update={"enabled": False})}
    )
    variants = [v.id for v in experiment.variants]
    names = list(dict.fromkeys([experiment.metrics.primary, resolved.decision_metric]))
    out: list[SegmentResult] = []
    for name in names:
        metric_data = data.metrics.get(name)
        definition: MetricDefinition | None = resolved.metrics.get(name)
        if metric_data is None or definition is None or not metric_data.by_segment:
            continue
        family: list[SegmentResult] = []
        for attribute, value in sorted(metric_data.by_segment):
            result = analyse(
                name,
                definition,
                resolved.roles.get(name, "primary"),
                MetricData(metric=name, by_variant=dict(metric_data.by_segment[attribute, value])),
                variants=variants,
                control=experiment.control.id,
                settings=settings,
            )
            family.append(
                SegmentResult(
                    metric=name,
                    attribute=attribute,
                    value=value,
                    variants=result.variants,
                    comparisons=result.comparisons,
                    notes=result.notes,
                )
            )
        out += _adjust_within(family, settings.correction.value)
    return out


def _adjust_within(family: list[SegmentResult], correction: str) -> list[SegmentResult]:
    """Adjusted p-values per attribute: all values x treatments of one breakdown."""
    out: list[SegmentResult] = []
    for attribute in dict.fromkeys(s.attribute for s in family):
        members = [s for s in family if s.attribute == attribute]
        flat = [
            c.frequentist.p_value if c.frequentist is not None else None
            for s in members
            for c in s.comparisons
        ]
        adjusted = iter(adjust_p_values(flat, correction))
        out += [
            replace(
                s, comparisons=[replace(c, p_value_adjusted=next(adjusted)) for c in s.comparisons]
            )
            for s in members
        ]
    return out
