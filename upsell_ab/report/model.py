"""The report model: one canonical, typed view of an experiment's results.

Every renderer (terminal, Markdown, JSON, HTML) reads this model and nothing
else, so all outputs say the same thing (tea-tasting's "one result, many
renderers"). ``build_report`` only *copies and labels* what earlier stages
computed; it never computes a statistic. A number an engine did not produce
stays ``None`` and is shown as "n/a" / ``null``, never as a made-up value.

``ExperimentReport.to_dict()`` is the stable JSON contract documented in
``docs/report.md`` and checked by ``docs/report.schema.json``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import date
from typing import TYPE_CHECKING, Any, Protocol

from upsell_ab.report.allocation import AllocationPeriodReport, allocation_report
from upsell_ab.report.metric import (
    BayesianReport,
    ComparisonReport,
    DailyLift,
    MetricReport,
    NonInferiorityReport,
    VariantStat,
    finite,
    metric_report,
)
from upsell_ab.report.offer import ItemReport, OfferReport, VariantReport, offer_report
from upsell_ab.report.segment import SegmentReport, segment_report

if TYPE_CHECKING:
    from upsell_ab.decision.model import Outcome
    from upsell_ab.metrics.aggregates import ExperimentData
    from upsell_ab.report.failures import SpecFailure
    from upsell_ab.spec.models import Experiment, MetricDefinition
    from upsell_ab.stats.results import ExperimentAnalysis

__all__ = [
    "SCHEMA_VERSION",
    "AnalysisSettings",
    "BayesianReport",
    "ComparisonReport",
    "DailyLift",
    "DecisionReport",
    "ExperimentReport",
    "ItemReport",
    "MetricReport",
    "NonInferiorityReport",
    "OfferReport",
    "QualityReport",
    "ResolvedLike",
    "SegmentReport",
    "SequentialReport",
    "VariantReport",
    "VariantStat",
    "build_report",
    "to_document",
]

SCHEMA_VERSION = "1.12"
"""Bumped on any change to the JSON shape: minor for added keys, major for removed/renamed.
1.1 added ``segments``; 1.2 added ``decision.warnings`` and the quality keys
``units_exposed_outside_dates``, ``exposure_periods`` and ``metric_events``; 1.3
added the top-level ``errors`` list and the decision action ``waiting_for_data``;
1.4 added the comparisons' ``interval_method`` and ``relative_interval_method``; 1.6
added the top-level ``programme`` (the whole programme against its long-term holdout)."""


class ResolvedLike(Protocol):
    """What the report needs from ``spec.resolve.ResolvedExperiment`` (read-only)."""

    @property
    def experiment(self) -> Experiment: ...

    @property
    def metrics(self) -> Mapping[str, MetricDefinition]: ...

    @property
    def roles(self) -> Mapping[str, str]: ...


# ------------------------------------------------------- decision, quality
@dataclass(frozen=True)
class DecisionReport:
    action: str
    variant: str | None
    reasons: list[str]
    additional_units_needed: int | None
    additional_days_needed: float | None
    guardrails_breached: list[str]
    warnings: list[str] = field(default_factory=list)
    """Data-quality warnings (and a fragility note) for the headline; the verdict stands."""
    planned_look: str | None = None
    """ISO day the verdict is held to (a running test past its planned sample), or None."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "variant": self.variant,
            "reasons": list(self.reasons),
            "additional_units_needed": self.additional_units_needed,
            "additional_days_needed": finite(self.additional_days_needed),
            "guardrails_breached": list(self.guardrails_breached),
            "warnings": list(self.warnings),
            "planned_look": self.planned_look,
        }


@dataclass(frozen=True)
class QualityReport:
    """SRM result (from stats) plus data-quality counts (from the data layer;
    None when the report was built without ``ExperimentData``)."""

    srm_p_value: float | None
    srm_flagged: bool
    srm_statistic: float | None
    srm_df: int
    observed: dict[str, int]
    expected: dict[str, float]
    total_units: int
    multiple_exposure_units: int | None = None
    multiple_exposure_share: float | None = None
    orphan_events: int | None = None
    events_before_exposure: int | None = None
    events_outside_window: int | None = None
    duplicates_dropped: int | None = None
    unknown_variants: dict[str, int] | None = None
    first_exposure: date | None = None
    last_exposure: date | None = None
    units_exposed_outside_dates: int | None = None
    exposure_periods: dict[str, tuple[date, date]] | None = None
    metric_events: int | None = None
    exposure_rows_without_time: int | None = None
    exposure_rows_without_unit: int | None = None
    event_rows_without_time: int | None = None
    event_rows_at_midnight: int | None = None
    negative_values: dict[str, int] | None = None
    """"event_type.column" -> events with a negative amount (sources read in place)."""
    unit_id_near_misses: dict[str, Any] | None = None
    """Events whose unit id matches an exposed unit only in another spelling:
    {"rows_by_variant": {...}, "example": [event's id, exposure's id]}, or None."""
    event_type_lookalikes: dict[str, Any] | None = None
    """Events of exposed units whose type is a metric's in another spelling:
    {type: {"meant": metric's type, "rows_by_variant": {...}}}, or None."""
    repeated_events: dict[str, Any] | None = None
    """Events repeating the unit's previous one of their type within 2 s at the same
    amount: {"sampled_one_in": k, "counts": {variant: {event_type: {"events", "repeats", "units",
    "units_with_repeats"}}}},
    or None when no metric sums events."""
    covariates_dropped: list[dict[str, Any]] | None = None
    """CUPED covariates left out for an arm imbalance (``stats.cuped``): metric, variant,
    control_mean, variant_mean, p_value."""
    srm_unit: str = "units"
    """What ``observed`` counts: "units", or "slots" for a switchback spec (renderers only;
    the JSON keeps its keys, docs/switchback.md)."""

    def to_dict(self) -> dict[str, Any]:
        periods = self.exposure_periods
        return {
            "srm_p_value": finite(self.srm_p_value),
            "srm_flagged": self.srm_flagged,
            "srm_statistic": finite(self.srm_statistic),
            "srm_df": self.srm_df,
            "observed": dict(self.observed),
            "expected": {k: finite(v) for k, v in self.expected.items()},
            "total_units": self.total_units,
            "multiple_exposure_units": self.multiple_exposure_units,
            "multiple_exposure_share": finite(self.multiple_exposure_share),
            "orphan_events": self.orphan_events,
            "events_before_exposure": self.events_before_exposure,
            "events_outside_window": self.events_outside_window,
            "duplicates_dropped": self.duplicates_dropped,
            "unknown_variants": (
                None if self.unknown_variants is None else dict(self.unknown_variants)
            ),
            "first_exposure": self.first_exposure.isoformat() if self.first_exposure else None,
            "last_exposure": self.last_exposure.isoformat() if self.last_exposure else None,
            "units_exposed_outside_dates": self.units_exposed_outside_dates,
            "exposure_periods": (
                None
                if periods is None
                else {v: [a.isoformat(), b.isoformat()] for v, (a, b) in periods.items()}
            ),
            "metric_events": self.metric_events,
            "exposure_rows_without_time": self.exposure_rows_without_time,
            "exposure_rows_without_unit": self.exposure_rows_without_unit,
            "event_rows_without_time": self.event_rows_without_time,
            "event_rows_at_midnight": self.event_rows_at_midnight,
            "negative_values": (
                None if self.negative_values is None else dict(self.negative_values)
            ),
            "unit_id_near_misses": self.unit_id_near_misses,
            "event_type_lookalikes": self.event_type_lookalikes,
            "repeated_events": self.repeated_events,
            "covariates_dropped": (
                None
                if self.covariates_dropped is None
                else [
                    {k: finite(v) if isinstance(v, float) else v for k, v in item.items()}
                    for item in self.covariates_dropped
                ]
            ),
        }


@dataclass(frozen=True)
class SequentialReport:
    method: str
    may_stop: bool
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "may_stop": self.may_stop, "reason": self.reason}


@dataclass(frozen=True)
class AnalysisSettings:
    """The spec's analysis settings a reader needs to interpret the numbers."""

    alpha: float
    engine: str
    decision_rule: str
    correction: str
    sequential_method: str | None
    prob_best_threshold: float
    expected_loss_threshold: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "alpha": self.alpha,
            "engine": self.engine,
            "decision_rule": self.decision_rule,
            "correction": self.correction,
            "sequential_method": self.sequential_method,
            "prob_best_threshold": self.prob_best_threshold,
            "expected_loss_threshold": self.expected_loss_threshold,
        }


@dataclass(frozen=True)
class ExperimentReport:
    experiment: str
    name: str
    status: str
    hypothesis: str | None
    owner: str | None
    start: date | None
    end: date | None
    primary_metric: str
    decision_metric: str
    settings: AnalysisSettings
    variants: list[VariantReport]
    decision: DecisionReport
    quality: QualityReport
    metrics: list[MetricReport]
    sequential: SequentialReport | None = None
    notes: list[str] = field(default_factory=list)
    segments: list[SegmentReport] | None = None
    """Exploratory per-segment breakdown; None when segments were not computed."""
    allocation: list[AllocationPeriodReport] | None = None
    """Weights and units per allocation period of an adaptive (bandit) experiment; None
    for a fixed split."""

    @property
    def control(self) -> VariantReport:
        return next(v for v in self.variants if v.control)

    def variant(self, variant_id: str) -> VariantReport | None:
        return next((v for v in self.variants if v.id == variant_id), None)

    def metric(self, name: str) -> MetricReport | None:
        return next((m for m in self.metrics if m.name == name), None)

    @property
    def has_frequentist(self) -> bool:
        """The spec's engine setting runs the frequentist engine: p-value columns shown."""
        return self.settings.engine in ("frequentist", "both")

    @property
    def has_bayesian(self) -> bool:
        """The spec's engine setting runs the Bayesian engine: chance/loss columns shown."""
        return self.settings.engine in ("bayesian", "both")

    @property
    def primary(self) -> MetricReport | None:
        return self.metric(self.primary_metric)

    def to_dict(self) -> dict[str, Any]:
        """The documented JSON shape (docs/report.md); keys in a fixed order."""
        return {
            "schema_version": SCHEMA_VERSION,
            "experiment": self.experiment,
            "name": self.name,
            "status": self.status,
            "hypothesis": self.hypothesis,
            "owner": self.owner,
            "start": self.start.isoformat() if self.start else None,
            "end": self.end.isoformat() if self.end else None,
            "primary_metric": self.primary_metric,
            "decision_metric": self.decision_metric,
            "analysis": self.settings.to_dict(),
            "variants": [v.to_dict() for v in self.variants],
            "decision": self.decision.to_dict(),
            "quality": self.quality.to_dict(),
            "sequential": self.sequential.to_dict() if self.sequential else None,
            "metrics": [m.to_dict() for m in self.metrics],
            "notes": list(self.notes),
            "segments": (None if self.segments is None else [s.to_dict() for s in self.segments]),
            "allocation": (
                None if self.allocation is None else [a.to_dict() for a in self.allocation]
            ),
        }


_ROLE_ORDER = {"primary": 0, "decision": 1, "secondary": 2, "guardrail": 3, "check": 4}


def _unverified(metric: MetricReport, names: Sequence[str]) -> MetricReport:
    """A guardrail whose events the source lacks: its non-inferiority test ran on
    all-zero arms and "passed" trivially; the decision does not count it as held, so
    the report says "not computable" too (one verdict in every renderer)."""
    if metric.role != "guardrail" or metric.name not in names:
        return metric
    comparisons = [
        replace(c, non_inferiority=replace(c.non_inferiority, passed=None))
        if c.non_inferiority is not None
        else c
        for c in metric.comparisons
    ]
    return replace(metric, comparisons=comparisons)


def _lookalikes(data: ExperimentData) -> dict[str, Any] | None:
    """The JSON shape of :class:`~upsell_ab.metrics.aggregates.LookalikeEvents`."""
    found = data.lookalike_events
    if found is None:
        return None
    return {
        alike: {
            "meant": meant,
            "rows_by_variant": {v: n for (v, t), n in sorted(found.rows.items()) if t == alike},
        }
        for alike, meant in sorted(found.meant.items())
    }


def _repeated_events(data: ExperimentData) -> dict[str, Any] | None:
    """The JSON shape of :class:`~upsell_ab.metrics.aggregates.RepeatedEvents`."""
    repeated = data.repeated_events
    if repeated is None:
        return None
    counts: dict[str, dict[str, dict[str, int]]] = {}
    for (variant, event), count in sorted(repeated.counts.items()):
        counts.setdefault(variant, {})[event] = {
            "events": count.events,
            "repeats": count.repeats,
            "units": count.units,
            "units_with_repeats": count.units_repeating,
        }
    return {"sampled_one_in": repeated.sampled_one_in, "counts": counts}


def build_report(
    resolved: ResolvedLike,
    analysis: ExperimentAnalysis,
    outcome: Outcome,
    data: ExperimentData | None = None,
    *,
    daily_lifts: Mapping[str, Sequence[DailyLift]] | None = None,
) -> ExperimentReport:
    """Assemble the report of one experiment from the earlier stages' typed
    outputs. ``data`` adds the data-quality counts and exposure dates;
    ``daily_lifts`` (metric name -> per-day lifts) feeds the time-series chart."""
    experiment = resolved.experiment
    analysis_spec = experiment.analysis
    decision_metric = (
        outcome.metric
        or getattr(resolved, "decision_metric", None)
        or analysis_spec.decision.metric
        or experiment.metrics.primary
    )
    daily = daily_lifts or {}
    metrics = sorted(
        (
            metric_report(
                r,
                resolved.metrics.get(r.metric),
                experiment.metrics.guardrails,
                daily.get(r.metric, ()),
            )
            for r in analysis.metrics
        ),
        key=lambda m: _ROLE_ORDER.get(m.role, 9),
    )
    if outcome.guardrails_unverifiable:
        metrics = [_unverified(m, outcome.guardrails_unverifiable) for m in metrics]
    srm = analysis.srm
    quality_kwargs: dict[str, Any] = {}
    if data is not None:
        q = data.quality
        quality_kwargs = {
            "multiple_exposure_units": q.multiple_exposure_units,
            "multiple_exposure_share": q.multiple_exposure_share,
            "orphan_events": q.orphan_events,
            "events_before_exposure": q.events_before_exposure,
            "events_outside_window": q.events_outside_window,
            "duplicates_dropped": q.duplicates_dropped,
            "unknown_variants": dict(q.unknown_variants),
            "first_exposure": data.first_exposure,
            "last_exposure": data.last_exposure,
            "units_exposed_outside_dates": q.units_exposed_outside_dates,
            "exposure_periods": dict(q.exposure_periods),
            "metric_events": q.metric_events,
            "exposure_rows_without_time": q.exposure_rows_without_time,
            "exposure_rows_without_unit": q.exposure_rows_without_unit,
            "event_rows_without_time": q.event_rows_without_time,
            "event_rows_at_midnight": q.event_rows_at_midnight,
            "negative_values": {f"{t}.{c}": n for (t, c), n in sorted(q.negative_values.items())},
            "unit_id_near_misses": (
                None
                if data.near_miss_units is None
                else {
                    "rows_by_variant": dict(data.near_miss_units.rows_by_variant),
                    "example": (
                        None
                        if data.near_miss_units.example is None
                        else list(data.near_miss_units.example)
                    ),
                }
            ),
            "event_type_lookalikes": _lookalikes(data),
            "repeated_events": _repeated_events(data),
            "covariates_dropped": [asdict(item) for item in data.covariate_imbalances],
        }
    quality = QualityReport(
        srm_p_value=srm.p_value,
        srm_flagged=srm.flagged,
        srm_statistic=srm.statistic,
        srm_df=srm.df,
        observed=dict(srm.observed),
        expected=dict(srm.expected),
        total_units=sum(srm.observed.values()),
        srm_unit="slots" if experiment.randomization.is_switchback else "units",
        **quality_kwargs,
    )
    sequential_spec = analysis_spec.sequential
    return ExperimentReport(
        experiment=experiment.id,
        name=experiment.name,
        status=experiment.status.value,
        hypothesis=experiment.hypothesis,
        owner=experiment.owner,
        start=experiment.start,
        end=experiment.end,
        primary_metric=experiment.metrics.primary,
        decision_metric=decision_metric,
        settings=AnalysisSettings(
            alpha=analysis_spec.alpha,
            engine=analysis_spec.engine.value,
            decision_rule=analysis_spec.decision.rule.value,
            correction=analysis_spec.correction.value,
            sequential_method=sequential_spec.method if sequential_spec.enabled else None,
            prob_best_threshold=analysis_spec.decision.prob_best_threshold,
            expected_loss_threshold=analysis_spec.decision.expected_loss_threshold,
        ),
        variants=[
            VariantReport(v.id, v.name, v.control, v.weight, offer_report(v.offer))
            for v in experiment.variants
        ],
        decision=DecisionReport(
            action=outcome.action.value,
            variant=outcome.variant,
            reasons=list(outcome.reasons),
            additional_units_needed=outcome.additional_units_needed,
            additional_days_needed=outcome.additional_days_needed,
            guardrails_breached=list(outcome.guardrails_breached),
            warnings=list(outcome.warnings),
            planned_look=outcome.planned_look.isoformat() if outcome.planned_look else None,
        ),
        quality=quality,
        metrics=metrics,
        sequential=(
            SequentialReport(
                analysis.sequential.method, analysis.sequential.may_stop, analysis.sequential.reason
            )
            if analysis.sequential
            else None
        ),
        notes=list(analysis.notes),
        segments=[segment_report(s) for s in analysis.segments] if analysis.segments else None,
        allocation=allocation_report(data.periods) if data is not None else None,
    )


def to_document(
    reports: Sequence[ExperimentReport], failures: Sequence[SpecFailure] = ()
) -> dict[str, Any]:
    """The top-level JSON document: version, generator, every experiment and the specs
    that could not be reported (``errors``); floats rounded to 12 significant digits
    (:mod:`upsell_ab.report.rounding`) so the same data gives the same document."""
    from upsell_ab import __version__
    from upsell_ab.report.rounding import round_floats

    document = {
        "schema_version": SCHEMA_VERSION,
        "generator": f"upsell_ab {__version__}",
        "experiments": [r.to_dict() for r in reports],
        "errors": [f.to_dict() for f in failures],
    }
    return dict(round_floats(document))
