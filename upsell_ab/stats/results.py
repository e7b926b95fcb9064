"""Typed results of the statistics engines.

A value that cannot be computed is ``None`` with a ``status`` saying why; it
is never dressed up as a number (no p = 1 or chance 0.5 for "could not tell").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Status(StrEnum):
    ok = "ok"
    no_data = "no_data"
    """A variant has no units."""
    too_few_units = "too_few_units"
    """Fewer than 2 units in a variant: no variance estimate."""
    zero_variance = "zero_variance"
    """Both arms constant (e.g. nobody converted): no test statistic."""
    zero_baseline = "zero_baseline"
    """Control mean is 0: relative lift undefined (absolute results still given)."""
    out_of_range = "out_of_range"
    """Sums beyond double precision (overflowed, or squares underflowed to 0): no test."""


@dataclass(frozen=True)
class Interval:
    low: float | None
    high: float | None
    level: float
    """Coverage, e.g. 0.95."""


@dataclass(frozen=True)
class FrequentistComparison:
    """Treatment against baseline for one metric."""

    method: str
    """e.g. 'pooled z-test', 'fisher exact', 'welch t-test', 'delta method ratio', 'cuped welch'."""
    status: Status
    alternative: str
    absolute_lift: float | None
    relative_lift: float | None
    absolute_ci: Interval
    relative_ci: Interval
    statistic: float | None = None
    p_value: float | None = None
    sequential: bool = False
    """True when the intervals are anytime-valid confidence sequences."""
    variance_reduction: float | None = None
    """CUPED: 1 - Var(adjusted) / Var(unadjusted) of the lift estimate."""
    interval_method: str | None = None
    """How ``absolute_ci`` was formed, e.g. 'Wald', 'Newcombe hybrid score'."""
    relative_interval_method: str | None = None
    """How ``relative_ci`` was formed: 'delta method' or 'log ratio' (Katz)."""


@dataclass(frozen=True)
class BayesianComparison:
    method: str
    """e.g. 'beta-binomial', 'gaussian relative lift'."""
    status: Status
    prob_beat_baseline: float | None
    expected_loss: float | None
    """E[max(baseline - variant, 0)] in metric units for a higher-is-better metric."""
    relative_lift: float | None
    absolute_ci: Interval
    relative_ci: Interval


@dataclass(frozen=True)
class NonInferiority:
    """One-sided test that the treatment is not worse than baseline by more than the margin."""

    margin: float
    margin_kind: str
    p_value: float | None
    passed: bool | None
    """None when it cannot be computed (then the guardrail is not proven)."""
    bound: float | None = None
    """Worst plausible change at the one-sided level, in the margin's kind."""


@dataclass(frozen=True)
class VariantSummary:
    variant: str
    n: int
    mean: float | None
    """Mean per unit (proportion for 0/1 metrics, ratio for ratio metrics); None if n == 0."""


@dataclass(frozen=True)
class Comparison:
    variant: str
    baseline: str
    frequentist: FrequentistComparison | None = None
    bayesian: BayesianComparison | None = None
    p_value_adjusted: float | None = None
    non_inferiority: NonInferiority | None = None


@dataclass(frozen=True)
class MetricResult:
    metric: str
    role: str
    """primary, secondary, guardrail or decision."""
    variants: list[VariantSummary]
    comparisons: list[Comparison]
    prob_best: dict[str, float] | None = None
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SrmResult:
    """Chi-square goodness of fit of unit counts against configured weights."""

    observed: dict[str, int]
    expected: dict[str, float]
    statistic: float | None
    df: int
    p_value: float | None
    flagged: bool


@dataclass(frozen=True)
class ArmEstimate:
    """One arm's point estimate and the variance *of that estimate* (not of a
    unit), ready for either engine: ratio arms come from the delta method,
    CUPED arms are already adjusted. Arms are independent."""

    n: int
    mean: float
    variance: float
    """Var(mean estimate), e.g. s^2 / n for a plain mean."""
    unit_variance: float | None = None
    """Per-unit variance s^2 (for power and sample-size statements)."""
    shift: float = 0.0
    offset: float | None = None
    """``mean = shift + offset`` when the arm's sums were centred on ``shift`` (the
    metric's overall mean, shared by every arm): differences between arms are then
    taken on the offsets, exactly, not on two means of 1e9 that agree in 9 digits."""


def difference(control: ArmEstimate, treatment: ArmEstimate) -> float:
    """``mu_T - mu_C``, from the offsets when both arms share a centring shift."""
    if (
        control.offset is not None
        and treatment.offset is not None
        and control.shift == treatment.shift
    ):
        return treatment.offset - control.offset
    return treatment.mean - control.mean


@dataclass(frozen=True)
class SequentialStatus:
    """What sequential monitoring says about stopping."""

    method: str
    """'confidence_sequence', 'obrien_fleming' or 'pocock'."""
    may_stop: bool
    reason: str


@dataclass(frozen=True)
class SegmentResult:
    """One metric inside one segment (exposure attribute = value): exploratory.

    Comparisons hold whichever engines the spec runs; ``p_value_adjusted`` is
    adjusted within the segment family (every value of this attribute x
    treatments, for this metric) with the spec's correction."""

    metric: str
    attribute: str
    value: str
    variants: list[VariantSummary]
    comparisons: list[Comparison]
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ExperimentAnalysis:
    """Everything the statistics layer says about one experiment."""

    experiment_id: str
    metrics: list[MetricResult]
    srm: SrmResult
    sequential: SequentialStatus | None = None
    notes: list[str] = field(default_factory=list)
    segments: list[SegmentResult] = field(default_factory=list)
    """Per-segment breakdown of the primary (and decision) metric; empty unless
    segments were computed (``analyze --segments``)."""

    def metric(self, name: str) -> MetricResult:
        for result in self.metrics:
            if result.metric == name:
                return result
        raise KeyError(name)
