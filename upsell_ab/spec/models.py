"""Typed, frozen models of an experiment spec and of the metric catalogue.

Raw YAML is checked against these models (pydantic v2, ``extra='forbid'`` so a
misspelt key is an error, never silently dropped). Cross-field rules that need
the whole spec (weights sum to 1, one control, dates in order ...) are model
validators here; rules that need the catalogue live in ``spec.resolve``.
Field names are the YAML keys. Durations are written ``"7d"``, ``"48h"``,
``"30m"`` and become :class:`datetime.timedelta`.

The spec's parts live in sibling modules (``base``, ``population_models``,
``offer_models``, ``analysis_models``, ``data_models``, ``catalogue_models``)
and are re-exported here, so ``from upsell_ab.spec.models import X`` works
for every model.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field, model_validator

from upsell_ab.spec.allocation_models import Allocation, AllocationKind, BurnIn, StopRule
from upsell_ab.spec.allocation_rules import allocation_findings
from upsell_ab.spec.analysis_models import (
    Alternative,
    Analysis,
    BetaPrior,
    Correction,
    Decision,
    DecisionRule,
    Engine,
    LiftPrior,
    Priors,
    Sequential,
)
from upsell_ab.spec.base import (
    IDENTIFIER_PATTERN,
    Direction,
    Duration,
    Identifier,
    MarginKind,
    Model,
    Share,
    Switch,
    format_duration,
    parse_duration,
)
from upsell_ab.spec.catalogue_models import (
    Aggregate,
    Capping,
    Catalogue,
    Cuped,
    MetricDefinition,
    MetricType,
    ValueSource,
    Window,
)
from upsell_ab.spec.data_models import (
    ColumnRef,
    Constant,
    DataSource,
    EventColumns,
    ExposureColumns,
    SourceKind,
    Table,
)
from upsell_ab.spec.findings import Finding, check
from upsell_ab.spec.offer_models import (
    Discount,
    Item,
    Moment,
    Offer,
    Tactic,
    Timing,
    Variant,
)
from upsell_ab.spec.population_models import (
    Condition,
    Namespace,
    Operator,
    Population,
    Scalar,
)
from upsell_ab.spec.quantile_models import QuantileOf, QuantileSettings
from upsell_ab.spec.randomization_models import Randomization
from upsell_ab.spec.rules import WEIGHT_TOLERANCE, experiment_findings, role_findings

__all__ = [
    "IDENTIFIER_PATTERN",
    "WEIGHT_TOLERANCE",
    "Aggregate",
    "Allocation",
    "AllocationKind",
    "Alternative",
    "Analysis",
    "BetaPrior",
    "BurnIn",
    "Capping",
    "Catalogue",
    "ColumnRef",
    "Condition",
    "Constant",
    "Correction",
    "Cuped",
    "DataSource",
    "Decision",
    "DecisionRule",
    "Direction",
    "Discount",
    "Duration",
    "Engine",
    "EventColumns",
    "Experiment",
    "ExposureColumns",
    "Guardrail",
    "Identifier",
    "Item",
    "LiftPrior",
    "MarginKind",
    "MetricDefinition",
    "MetricRoles",
    "MetricType",
    "Model",
    "Moment",
    "Namespace",
    "Offer",
    "Operator",
    "Population",
    "Priors",
    "QuantileOf",
    "QuantileSettings",
    "Scalar",
    "Sequential",
    "Share",
    "SourceKind",
    "Status",
    "StopRule",
    "Switch",
    "Table",
    "Tactic",
    "Timing",
    "ValueSource",
    "Variant",
    "Window",
    "format_duration",
    "parse_duration",
]


# --------------------------------------------------------------------- identity
class Status(StrEnum):
    draft = "draft"
    running = "running"
    stopped = "stopped"
    concluded = "concluded"


# ---------------------------------------------------------------------- metrics
class Guardrail(Model):
    """A metric that must not get worse by more than ``margin`` (one-sided
    non-inferiority test). Direction defaults to the catalogue's."""

    metric: Identifier
    margin: Annotated[float, Field(ge=0.0)]
    margin_kind: MarginKind = MarginKind.relative
    direction: Direction | None = None


class MetricRoles(Model):
    primary: Identifier
    secondary: list[Identifier] = Field(default_factory=list)
    guardrails: list[Guardrail] = Field(default_factory=list)

    @model_validator(mode="after")
    def _distinct(self) -> MetricRoles:
        """:func:`upsell_ab.spec.rules.role_findings` (shared with the raw-YAML pass)."""
        check(role_findings(self.model_dump(mode="python")))
        return self


# ------------------------------------------------------------------- experiment
class Amendment(Model):
    """A recorded change of the analysis plan after launch (``validate --against``
    refuses an unrecorded one: :mod:`upsell_ab.spec.plan_changes`). Reports list it."""

    field: Annotated[str, Field(min_length=1)]
    """The changed field as a dotted path (``metrics.primary``, ``analysis.alpha``);
    a prefix (``metrics.guardrails``) covers everything under it."""
    reason: Annotated[str, Field(min_length=10)]
    """Why, in words a reviewer can judge (at least 10 characters)."""
    when: date | None = None
    """The day the plan changed (optional)."""


class Experiment(Model):
    """One experiment spec (``experiments/<id>.yaml``)."""

    id: Identifier
    name: Annotated[str, Field(min_length=1)]
    hypothesis: str | None = None
    owner: str | None = None
    status: Status = Status.draft
    start: date | None = None
    end: date | None = None
    population: Population = Population()
    variants: Annotated[list[Variant], Field(min_length=2)]
    metrics: MetricRoles
    analysis: Analysis = Analysis()
    data: DataSource = DataSource()
    allocation: Allocation = Allocation()
    """How traffic is split over time: fixed spec weights (default) or a bandit."""
    randomization: Randomization = Randomization()
    """What is hashed: the population's unit (default) or time slots (switchback)."""
    overrides: dict[str, Identifier] = Field(default_factory=dict)
    """QA: unit id -> forced variant id."""
    amendments: list[Amendment] = Field(default_factory=list)
    """Changes of the analysis plan made after launch, each with its reason."""

    @model_validator(mode="before")
    @classmethod
    def _equal_weights(cls, data: Any) -> Any:
        """No ``weight`` on any variant: split the traffic equally."""
        variants = data.get("variants") if isinstance(data, dict) else None
        if (
            isinstance(variants, list)
            and variants
            and all(isinstance(v, dict) and "weight" not in v for v in variants)
        ):
            share = 1.0 / len(variants)
            return {**data, "variants": [{**v, "weight": share} for v in variants]}
        return data

    @model_validator(mode="after")
    def _cross_field(self) -> Experiment:
        """Rules in :mod:`upsell_ab.spec.rules` (shared with the raw-YAML pass)."""
        plain = {
            "variants": [
                {"id": v.id, "weight": v.weight, "control": v.control} for v in self.variants
            ],
            "start": self.start,
            "end": self.end,
            "overrides": dict(self.overrides),
            "analysis": {
                "engine": self.analysis.engine.value,
                # only a rule written in the file, so both passes locate the same key
                "decision": (
                    {"rule": self.analysis.decision.rule.value}
                    if "rule" in self.analysis.decision.model_fields_set
                    else {}
                ),
            },
        }
        findings = experiment_findings(plain)
        if self.randomization.is_switchback and self.analysis.sequential.enabled:
            findings.append(
                Finding(
                    ("analysis", "sequential"),
                    "sequential monitoring is not available for a switchback (time-slot) "
                    "design: the slot analysis is fixed-horizon",
                    "remove analysis.sequential and analyse once, at the planned number of "
                    "slots (upsell-ab plan --slot-sd S --units-per-slot M)",
                )
            )
        if self.allocation.is_bandit:
            findings += allocation_findings(self._allocation_plain())
            if self.randomization.is_switchback:
                findings.append(
                    Finding(
                        ("randomization", "unit"),
                        "a bandit cannot allocate time slots yet",
                        "use allocation kind: fixed with unit: time_slot",
                    )
                )
        check(findings)
        return self

    def _allocation_plain(self) -> dict[str, Any]:
        """What :func:`allocation_findings` reads, from typed values."""
        return {
            "variants": [v.id for v in self.variants],
            "start": self.start,
            "metrics": self.metrics.model_dump(mode="python"),
            "analysis": {"decision": {"metric": self.analysis.decision.metric}},
            "allocation": self.allocation.model_dump(mode="python"),
        }

    @property
    def seed(self) -> str:
        return self.population.seed if self.population.seed is not None else self.id

    @property
    def control(self) -> Variant:
        return next(v for v in self.variants if v.control)

    @property
    def treatments(self) -> list[Variant]:
        return [v for v in self.variants if not v.control]

    def variant(self, variant_id: str) -> Variant:
        for v in self.variants:
            if v.id == variant_id:
                return v
        raise KeyError(variant_id)
