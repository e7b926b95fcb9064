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

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any, Protocol

from upsell_ab.spec.models import Direction, MetricType

if TYPE_CHECKING:
    from upsell_ab.decision.model import Outcome
    from upsell_ab.metrics.aggregates import ExperimentData
    from upsell_ab.spec.models import Experiment, MetricDefinition, Offer
    from upsell_ab.stats.results import (
        Comparison,
        ExperimentAnalysis,
        MetricResult,
    )

SCHEMA_VERSION = "1.0"
"""Bumped on any change to the JSON shape: minor for added keys, major for removed/renamed."""


class ResolvedLike(Protocol):
    """What the report needs from ``spec.resolve.ResolvedExperiment`` (read-only)."""

    @property
    def experiment(self) -> Experiment: ...

    @property
    def metrics(self) -> Mapping[str, MetricDefinition]: ...

    @property
    def roles(self) -> Mapping[str, str]: ...


def _finite(value: float | None) -> float | None:
    """NaN/inf are not numbers a reader can use: they become None (JSON null)."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


# ------------------------------------------------------------------- offers
@dataclass(frozen=True)
class ItemReport:
    sku: str
    name: str | None
    price: float | None
    currency: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"sku": self.sku, "name": self.name, "price": self.price, "currency": self.currency}


@dataclass(frozen=True)
class OfferReport:
    """What the customer sees: the levers the experiment varies (domain.md)."""

    tactic: str
    moment: str
    delay: str | None
    wording: str | None
    discount: str
    """Plain words: "none", "10% off", "JPY 200 off + free shipping", "... (limited 48h)"."""
    discount_percent: float | None
    discount_amount: float | None
    free_shipping: bool
    items: list[ItemReport]
    cadence: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "tactic": self.tactic,
            "timing": {"moment": self.moment, "delay": self.delay},
            "wording": self.wording,
            "discount": {
                "text": self.discount,
                "percent": self.discount_percent,
                "amount": self.discount_amount,
                "free_shipping": self.free_shipping,
            },
            "items": [item.to_dict() for item in self.items],
            "cadence": self.cadence,
        }


@dataclass(frozen=True)
class VariantReport:
    id: str
    name: str | None
    control: bool
    weight: float
    offer: OfferReport | None
    """None for a 'no offer' control."""

    @property
    def label(self) -> str:
        return f"{self.name} ({self.id})" if self.name else self.id

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "control": self.control,
            "weight": self.weight,
            "offer": self.offer.to_dict() if self.offer else None,
        }


# ------------------------------------------------------------------ metrics
@dataclass(frozen=True)
class DailyLift:
    """Cumulative lift of ``variant`` over the baseline as of the end of ``day``,
    with its interval (an anytime-valid confidence sequence when sequential
    monitoring is on). Filled by the workflow, which calls the stats engines
    once per day on ``MetricData.daily``; the report only draws it."""

    day: date
    variant: str
    lift: float | None
    ci_low: float | None
    ci_high: float | None
    kind: str = "relative"
    """'relative' (fraction, 0.05 = +5 %) or 'absolute' (metric units)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "day": self.day.isoformat(),
            "variant": self.variant,
            "lift": _finite(self.lift),
            "ci_low": _finite(self.ci_low),
            "ci_high": _finite(self.ci_high),
            "kind": self.kind,
        }


@dataclass(frozen=True)
class VariantStat:
    variant: str
    n: int
    mean: float | None

    def to_dict(self) -> dict[str, Any]:
        return {"variant": self.variant, "n": self.n, "mean": _finite(self.mean)}


@dataclass(frozen=True)
class BayesianReport:
    method: str
    status: str
    relative_lift: float | None
    ci_low: float | None
    ci_high: float | None
    relative_ci_low: float | None
    relative_ci_high: float | None
    ci_level: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "status": self.status,
            "relative_lift": _finite(self.relative_lift),
            "ci_low": _finite(self.ci_low),
            "ci_high": _finite(self.ci_high),
            "relative_ci_low": _finite(self.relative_ci_low),
            "relative_ci_high": _finite(self.relative_ci_high),
            "ci_level": self.ci_level,
        }


@dataclass(frozen=True)
class NonInferiorityReport:
    margin: float
    margin_kind: str
    p_value: float | None
    passed: bool | None
    bound: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "margin": self.margin,
            "margin_kind": self.margin_kind,
            "p_value": _finite(self.p_value),
            "passed": self.passed,
            "bound": _finite(self.bound),
        }


@dataclass(frozen=True)
class ComparisonReport:
    """One treatment against the baseline. Estimates, intervals and p-values
    come from the frequentist engine; ``prob_beat_baseline`` and
    ``expected_loss`` from the Bayesian engine; each is None when its engine
    did not run or could not compute it."""

    variant: str
    baseline: str
    method: str | None
    status: str | None
    absolute_lift: float | None
    relative_lift: float | None
    ci_low: float | None
    ci_high: float | None
    relative_ci_low: float | None
    relative_ci_high: float | None
    ci_level: float | None
    statistic: float | None
    p_value: float | None
    p_value_adjusted: float | None
    sequential: bool | None
    variance_reduction: float | None
    prob_beat_baseline: float | None
    expected_loss: float | None
    bayesian: BayesianReport | None
    non_inferiority: NonInferiorityReport | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "variant": self.variant,
            "baseline": self.baseline,
            "method": self.method,
            "status": self.status,
            "absolute_lift": _finite(self.absolute_lift),
            "relative_lift": _finite(self.relative_lift),
            "ci_low": _finite(self.ci_low),
            "ci_high": _finite(self.ci_high),
            "relative_ci_low": _finite(self.relative_ci_low),
            "relative_ci_high": _finite(self.relative_ci_high),
            "ci_level": self.ci_level,
            "statistic": _finite(self.statistic),
            "p_value": _finite(self.p_value),
            "p_value_adjusted": _finite(self.p_value_adjusted),
            "sequential": self.sequential,
            "variance_reduction": _finite(self.variance_reduction),
            "prob_beat_baseline": _finite(self.prob_beat_baseline),
            "expected_loss": _finite(self.expected_loss),
            "bayesian": self.bayesian.to_dict() if self.bayesian else None,
            "non_inferiority": self.non_inferiority.to_dict() if self.non_inferiority else None,
        }


@dataclass(frozen=True)
class MetricReport:
    name: str
    role: str
    type: str
    """Catalogue metric type: proportion, mean, count, ratio, retention, profit."""
    direction: str
    unit: str | None
    description: str | None
    variants: list[VariantStat]
    comparisons: list[ComparisonReport]
    prob_best: dict[str, float] | None
    notes: list[str] = field(default_factory=list)
    daily_lifts: list[DailyLift] = field(default_factory=list)

    @property
    def is_rate(self) -> bool:
        """0/1 metrics: means are shares, absolute lifts are percentage points."""
        return self.type in (MetricType.proportion.value, MetricType.retention.value)

    @property
    def higher_is_better(self) -> bool:
        return self.direction == Direction.higher_is_better.value

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "role": self.role,
            "type": self.type,
            "direction": self.direction,
            "unit": self.unit,
            "description": self.description,
            "variants": [v.to_dict() for v in self.variants],
            "comparisons": [c.to_dict() for c in self.comparisons],
            "prob_best": (
                None
                if self.prob_best is None
                else {k: _finite(v) for k, v in self.prob_best.items()}
            ),
            "notes": list(self.notes),
            "daily_lifts": [d.to_dict() for d in self.daily_lifts],
        }


# ------------------------------------------------------- decision, quality
@dataclass(frozen=True)
class DecisionReport:
    action: str
    variant: str | None
    reasons: list[str]
    additional_units_needed: int | None
    additional_days_needed: float | None
    guardrails_breached: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "variant": self.variant,
            "reasons": list(self.reasons),
            "additional_units_needed": self.additional_units_needed,
            "additional_days_needed": _finite(self.additional_days_needed),
            "guardrails_breached": list(self.guardrails_breached),
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

    def to_dict(self) -> dict[str, Any]:
        return {
            "srm_p_value": _finite(self.srm_p_value),
            "srm_flagged": self.srm_flagged,
            "srm_statistic": _finite(self.srm_statistic),
            "srm_df": self.srm_df,
            "observed": dict(self.observed),
            "expected": {k: _finite(v) for k, v in self.expected.items()},
            "total_units": self.total_units,
            "multiple_exposure_units": self.multiple_exposure_units,
            "multiple_exposure_share": _finite(self.multiple_exposure_share),
            "orphan_events": self.orphan_events,
            "events_before_exposure": self.events_before_exposure,
            "events_outside_window": self.events_outside_window,
            "duplicates_dropped": self.duplicates_dropped,
            "unknown_variants": (
                None if self.unknown_variants is None else dict(self.unknown_variants)
            ),
            "first_exposure": self.first_exposure.isoformat() if self.first_exposure else None,
            "last_exposure": self.last_exposure.isoformat() if self.last_exposure else None,
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

    @property
    def control(self) -> VariantReport:
        return next(v for v in self.variants if v.control)

    def variant(self, variant_id: str) -> VariantReport | None:
        return next((v for v in self.variants if v.id == variant_id), None)

    def metric(self, name: str) -> MetricReport | None:
        return next((m for m in self.metrics if m.name == name), None)

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
        }


# -------------------------------------------------------------- building
def _discount_text(offer: Offer) -> str:
    discount = offer.discount
    parts: list[str] = []
    if discount.percent is not None:
        parts.append(f"{discount.percent:g}% off")
    if discount.amount is not None:
        currency = next((i.currency for i in offer.items if i.currency), None) or "JPY"
        parts.append(f"{currency} {discount.amount:,.0f} off")
    if discount.free_shipping:
        parts.append("free shipping")
    text = " + ".join(parts) if parts else "none"
    if discount.limited_time is not None:
        from upsell_ab.spec.models import format_duration

        text += f" (limited {format_duration(discount.limited_time)})"
    return text


def _offer_report(offer: Offer | None) -> OfferReport | None:
    if offer is None:
        return None
    from upsell_ab.spec.models import format_duration

    return OfferReport(
        tactic=offer.tactic.value,
        moment=offer.timing.moment.value,
        delay=format_duration(offer.timing.delay) if offer.timing.delay is not None else None,
        wording=offer.wording,
        discount=_discount_text(offer),
        discount_percent=offer.discount.percent,
        discount_amount=offer.discount.amount,
        free_shipping=offer.discount.free_shipping,
        items=[ItemReport(i.sku, i.name, i.price, i.currency) for i in offer.items],
        cadence=format_duration(offer.cadence) if offer.cadence is not None else None,
    )


def _comparison_report(comparison: Comparison) -> ComparisonReport:
    freq = comparison.frequentist
    bayes = comparison.bayesian
    ni = comparison.non_inferiority
    return ComparisonReport(
        variant=comparison.variant,
        baseline=comparison.baseline,
        method=freq.method if freq else None,
        status=freq.status.value if freq else None,
        absolute_lift=freq.absolute_lift if freq else None,
        relative_lift=freq.relative_lift if freq else None,
        ci_low=freq.absolute_ci.low if freq else None,
        ci_high=freq.absolute_ci.high if freq else None,
        relative_ci_low=freq.relative_ci.low if freq else None,
        relative_ci_high=freq.relative_ci.high if freq else None,
        ci_level=freq.absolute_ci.level if freq else None,
        statistic=freq.statistic if freq else None,
        p_value=freq.p_value if freq else None,
        p_value_adjusted=comparison.p_value_adjusted,
        sequential=freq.sequential if freq else None,
        variance_reduction=freq.variance_reduction if freq else None,
        prob_beat_baseline=bayes.prob_beat_baseline if bayes else None,
        expected_loss=bayes.expected_loss if bayes else None,
        bayesian=(
            BayesianReport(
                method=bayes.method,
                status=bayes.status.value,
                relative_lift=bayes.relative_lift,
                ci_low=bayes.absolute_ci.low,
                ci_high=bayes.absolute_ci.high,
                relative_ci_low=bayes.relative_ci.low,
                relative_ci_high=bayes.relative_ci.high,
                ci_level=bayes.relative_ci.level,
            )
            if bayes
            else None
        ),
        non_inferiority=(
            NonInferiorityReport(ni.margin, ni.margin_kind, ni.p_value, ni.passed, ni.bound)
            if ni
            else None
        ),
    )


def _metric_report(
    result: MetricResult,
    resolved: ResolvedLike,
    daily_lifts: Sequence[DailyLift],
) -> MetricReport:
    definition = resolved.metrics.get(result.metric)
    direction = definition.direction if definition else Direction.higher_is_better
    for guardrail in resolved.experiment.metrics.guardrails:
        if guardrail.metric == result.metric and guardrail.direction is not None:
            direction = guardrail.direction
    return MetricReport(
        name=result.metric,
        role=result.role,
        type=definition.type.value if definition else "mean",
        direction=direction.value,
        unit=definition.unit if definition else None,
        description=definition.description if definition else None,
        variants=[VariantStat(v.variant, v.n, v.mean) for v in result.variants],
        comparisons=[_comparison_report(c) for c in result.comparisons],
        prob_best=dict(result.prob_best) if result.prob_best is not None else None,
        notes=list(result.notes),
        daily_lifts=sorted(daily_lifts, key=lambda d: (d.day, d.variant)),
    )


_ROLE_ORDER = {"primary": 0, "decision": 1, "secondary": 2, "guardrail": 3}


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
    decision_metric = getattr(resolved, "decision_metric", None) or (
        analysis_spec.decision.metric or experiment.metrics.primary
    )
    daily = daily_lifts or {}
    metrics = sorted(
        (_metric_report(r, resolved, daily.get(r.metric, ())) for r in analysis.metrics),
        key=lambda m: _ROLE_ORDER.get(m.role, 9),
    )
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
        }
    quality = QualityReport(
        srm_p_value=srm.p_value,
        srm_flagged=srm.flagged,
        srm_statistic=srm.statistic,
        srm_df=srm.df,
        observed=dict(srm.observed),
        expected=dict(srm.expected),
        total_units=sum(srm.observed.values()),
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
            VariantReport(v.id, v.name, v.control, v.weight, _offer_report(v.offer))
            for v in experiment.variants
        ],
        decision=DecisionReport(
            action=outcome.action.value,
            variant=outcome.variant,
            reasons=list(outcome.reasons),
            additional_units_needed=outcome.additional_units_needed,
            additional_days_needed=outcome.additional_days_needed,
            guardrails_breached=list(outcome.guardrails_breached),
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
    )


def to_document(reports: Sequence[ExperimentReport]) -> dict[str, Any]:
    """The top-level JSON document: version, generator and every experiment."""
    from upsell_ab import __version__

    return {
        "schema_version": SCHEMA_VERSION,
        "generator": f"upsell_ab {__version__}",
        "experiments": [r.to_dict() for r in reports],
    }
