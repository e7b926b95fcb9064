"""Analysis settings of a spec: error rates, engines, corrections, priors, decision rule."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field

from upsell_ab.spec.base import Identifier, MarginKind, Model, Switch


class Engine(StrEnum):
    frequentist = "frequentist"
    bayesian = "bayesian"
    both = "both"


class Correction(StrEnum):
    holm = "holm"
    benjamini_hochberg = "benjamini_hochberg"
    none = "none"


class Alternative(StrEnum):
    two_sided = "two_sided"
    greater = "greater"
    less = "less"


class DecisionRule(StrEnum):
    frequentist = "frequentist"
    bayesian = "bayesian"
    both = "both"
    """Both engines must agree."""


class BetaPrior(Model):
    """Beta(alpha, beta) prior on conversion rates; Beta(1, 1) is flat."""

    alpha: Annotated[float, Field(gt=0.0)] = 1.0
    beta: Annotated[float, Field(gt=0.0)] = 1.0


class LiftPrior(Model):
    """Normal prior on the relative lift (GrowthBook's convention); ``proper:
    false`` means a flat prior."""

    proper: Switch = False
    mean: float = 0.0
    stddev: Annotated[float, Field(gt=0.0)] = 0.3


class Priors(Model):
    conversion: BetaPrior = BetaPrior()
    lift: LiftPrior = LiftPrior()


class Sequential(Model):
    """Anytime-valid confidence sequences (``confidence_sequence``, tuned by
    ``tuning_n`` = N*) or group-sequential boundaries for ``looks`` planned looks."""

    enabled: Switch = False
    method: Literal["confidence_sequence", "obrien_fleming", "pocock"] = "confidence_sequence"
    tuning_n: Annotated[float, Field(gt=0.0)] = 5000.0
    looks: Annotated[int, Field(ge=1)] = 1


class Decision(Model):
    rule: DecisionRule = DecisionRule.frequentist
    metric: Identifier | None = None
    """What decides the winner: None = the primary metric; or a profit metric of
    the catalogue to "decide on profit after discount cost"."""
    prob_best_threshold: Annotated[float, Field(gt=0.5, lt=1.0)] = 0.95
    expected_loss_threshold: Annotated[float, Field(gt=0.0)] | None = None
    """Maximum expected loss (in the decision metric's units) of shipping a variant."""
    min_profit_margin: float = 0.0
    """Profit rule: ship only if the lift in profit per unit exceeds this amount."""


class Analysis(Model):
    alpha: Annotated[float, Field(gt=0.0, lt=0.5)] = 0.05
    power: Annotated[float, Field(gt=0.5, lt=1.0)] = 0.8
    mde: Annotated[float, Field(gt=0.0)] = 0.1
    """Minimum detectable effect on the primary metric."""
    mde_kind: MarginKind = MarginKind.relative
    alternative: Alternative = Alternative.two_sided
    engine: Engine = Engine.both
    correction: Correction = Correction.holm
    sequential: Sequential = Sequential()
    priors: Priors = Priors()
    decision: Decision = Decision()
    srm_alpha: Annotated[float, Field(gt=0.0, lt=0.5)] = 0.001
    max_multiple_exposure_share: Annotated[float, Field(ge=0.0, le=1.0)] = 0.01
    min_units_per_arm: Annotated[int, Field(ge=2)] = 10
    """Units the control and the winning variant each need before "ship" (fewer: keep
    running, with the shortfall)."""
    outside_dates: Literal["exclude", "keep"] = "exclude"
    """Exposures outside the experiment's ``start``/``end`` days: ``exclude`` (the
    default: ignored and counted in the quality summary) or ``keep``."""
    daily_units: Annotated[int, Field(gt=0, le=10**9)] | None = None
    """Expected eligible units a day, for ``plan`` durations."""
    segments: list[str] = Field(default_factory=list)
    """Exposure attributes to break results down by."""
