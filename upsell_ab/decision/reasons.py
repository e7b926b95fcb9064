"""Plain-word sentences for decisions: what a number means, with its interval.

Kept apart from the rules so the wording can change without touching the
logic. Proportions are phrased in percentage points (pp), value metrics in
their display unit; a chance to beat control is called a Bayesian
probability, never 1 - p.
"""

from __future__ import annotations

from upsell_ab.spec.models import MetricDefinition, MetricType
from upsell_ab.stats.results import BayesianComparison, FrequentistComparison

_RATE_TYPES = (MetricType.proportion, MetricType.retention)

CORRECTION_LABEL = {"holm": "Holm-adjusted", "benjamini_hochberg": "BH-adjusted", "none": ""}


def metric_label(name: str, definition: MetricDefinition | None) -> str:
    """``take_rate`` -> ``take rate`` (metric ids are written for machines)."""
    return name.replace("_", " ")


def amount(value: float, definition: MetricDefinition | None) -> str:
    """A difference in the metric's natural unit: pp for rates, else value + unit.
    A non-zero value too small for the shown digits reads "< 0.1 pp", never "0.0 pp"."""
    unit = definition.unit if definition is not None and definition.unit else ""
    if (definition is not None and definition.type in _RATE_TYPES) or unit == "%":
        if value != 0 and abs(value) < 0.0005:
            return "< 0.1 pp"
        return f"{value * 100:.1f} pp"
    digits = 0 if abs(value) >= 100 or unit in ("JPY", "yen", "円") else 2
    if value != 0 and abs(value) < 0.5 * 10**-digits:
        return f"< {10**-digits:g} {unit}".strip()
    text = f"{value:,.{digits}f}"
    return f"{text} {unit}".strip()


def chance(p: float) -> str:
    """A probability as a percentage that never rounds to a certain 0 or 100 %."""
    if p > 0.999:
        return "> 99.9 %"
    if p < 0.001:
        return "< 0.1 %"
    return f"{p * 100:.1f} %"


def p_text(p: float) -> str:
    if p < 0.0001:
        return "< 0.0001"
    if p < 0.001:
        return f"{p:.4f}"
    return f"{p:.3f}"


def p_clause(p: float) -> str:
    """'p = 0.012', or 'p < 0.0001' (never 'p = < 0.0001')."""
    return f"p = {p_text(p)}".replace("= <", "<")


def effect_sentence(
    variant: str,
    name: str,
    definition: MetricDefinition | None,
    frequentist: FrequentistComparison,
    p_adjusted: float | None,
    correction: str,
) -> str | None:
    """'Variant b raised the take rate by 4.1 pp (95 % CI 2.0 to 6.2 pp,
    Holm-adjusted p = 0.0003).' None when there is no estimate."""
    lift = frequentist.absolute_lift
    ci = frequentist.absolute_ci
    if lift is None:
        return None
    verb = "raised" if lift > 0 else "lowered"
    parts: list[str] = []
    if ci.low is not None and ci.high is not None:
        kind = "confidence sequence" if frequentist.sequential else "CI"
        level = f"{ci.level * 100:g} %"
        parts.append(
            f"{level} {kind} {amount(ci.low, definition)} to {amount(ci.high, definition)}"
        )
    p = p_adjusted if p_adjusted is not None else frequentist.p_value
    if p is not None:
        label = CORRECTION_LABEL.get(correction, "") if p_adjusted is not None else ""
        parts.append(f"{label + ' ' if label else ''}p = {p_text(p)}".replace("= <", "<"))
    detail = f" ({', '.join(parts)})" if parts else ""
    relative = ""
    if frequentist.relative_lift is not None:
        relative = f", {frequentist.relative_lift * 100:+.1f} % relative"
    if lift == 0:
        return (
            f"Variant {variant} and control have the same {metric_label(name, definition)} "
            f"(no difference){detail}."
        )
    return (
        f"Variant {variant} {verb} the {metric_label(name, definition)} by "
        f"{amount(abs(lift), definition)}{relative}{detail}."
    )


def bayes_sentence(
    variant: str,
    bayesian: BayesianComparison,
    prob_best: float | None,
    definition: MetricDefinition | None = None,
) -> str | None:
    """Chance to beat control and expected loss, with what they mean."""
    if bayesian.prob_beat_baseline is None:
        return None
    text = (
        f"Chance that {variant} beats control: {chance(bayesian.prob_beat_baseline)} "
        "(a Bayesian posterior probability, not 1 - p)"
    )
    if prob_best is not None:
        text += f"; chance to be the best variant: {chance(prob_best)}"
    if bayesian.expected_loss is not None:
        text += f"; expected loss if shipped: {amount(bayesian.expected_loss, definition)} per unit"
    return text + "."
