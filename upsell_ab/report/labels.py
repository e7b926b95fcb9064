"""Words shared by every renderer: decision labels, the legend, headline facts.

Kept apart from the number formatter (format.py) because these are sentences,
and from the renderers so the terminal, Markdown and HTML say the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass

from upsell_ab.report import format as fmt
from upsell_ab.report.model import ComparisonReport, ExperimentReport, MetricReport

ACTION_LABELS = {
    "ship": "Ship",
    "keep_control": "Keep control",
    "keep_running": "Keep running",
    "invalid": "Invalid",
    "waiting_for_data": "Waiting for data",
}

ACTION_ICONS = {
    "ship": "✅",
    "keep_control": "↩️",
    "keep_running": "⏳",
    "invalid": "⚠️",
    "waiting_for_data": "💤",
}

LEGEND: tuple[tuple[str, str], ...] = (
    (
        "Lift",
        "relative change of the variant's mean over the control's: "
        "(variant - control) / control; absolute lifts of rates are in percentage points (pp).",
    ),
    (
        "Interval",
        "the frequentist confidence interval at the spec's level (an anytime-valid confidence "
        "sequence when sequential monitoring is on); it covers the true lift in that share "
        "of repeated experiments.",
    ),
    (
        "p / p adj.",
        "chance of a difference at least this large if the variant changed nothing; "
        "'adj.' is corrected for testing several variants (Holm or Benjamini-Hochberg).",
    ),
    (
        "Chance to beat control",
        "a Bayesian probability that the variant is truly better than the control, "
        "given the data and the prior. It is not 1 - p.",
    ),
    (
        "Expected loss",
        "if you ship the variant and it is actually worse, how much you lose on average, "
        "in the metric's own units: E[max(control - variant, 0)] (reversed for "
        "lower-is-better metrics).",
    ),
    (
        "SRM",
        "sample-ratio mismatch: a chi-square test of unit counts against the configured "
        "weights; flagged results cannot be trusted, so no winner is declared.",
    ),
    ("n/a", "the engine did not run or could not compute the value; it is never a zero."),
)


def decision_text(report: ExperimentReport) -> str:
    """'Ship B', 'Keep running (about 1,200 more units per variant, 5 days)'."""
    decision = report.decision
    text = ACTION_LABELS.get(decision.action, decision.action)
    if decision.action == "ship" and decision.variant:
        variant = report.variant(decision.variant)
        text += f" {variant.label if variant else decision.variant}"
    if decision.action == "keep_running":
        extra = []
        if decision.additional_units_needed is not None:
            extra.append(f"about {decision.additional_units_needed:,} more units per variant")
        if decision.additional_days_needed is not None:
            extra.append(fmt.days(decision.additional_days_needed))
        if extra:
            text += f" ({', '.join(extra)})"
        still = contenders(report)
        if still:
            text += "; still in contention: " + ", ".join(still)
    return text


def contenders(report: ExperimentReport) -> list[str]:
    """Variants that can still win on the decision metric: the control and every
    treatment not shown significantly worse than it (interval entirely on the losing
    side, or a Bayesian chance to beat control under 5 % when no interval exists)."""
    metric = report.metric(report.decision_metric) or report.primary
    if metric is None:
        return []
    out: list[str] = []
    control = next((v for v in report.variants if v.control), None)
    if control is not None:
        out.append(f"{control.label} (control)")
    for c in metric.comparisons:
        if c.ci_low is not None and c.ci_high is not None:
            worse = c.ci_high < 0 if metric.higher_is_better else c.ci_low > 0
        else:
            worse = c.prob_beat_baseline is not None and c.prob_beat_baseline < 0.05
        if not worse:
            variant = report.variant(c.variant)
            out.append(variant.label if variant else c.variant)
    return out


TEST_NAMES = {
    "fisher exact": "Fisher's exact test",
    "pooled z-test": "pooled two-proportion z-test",
    "welch t-test": "Welch's t-test",
    "student t-test": "Student's t-test",
    "delta method ratio": "delta-method t-test (ratio)",
}


def test_name(method: str) -> str:
    """The engine's method id in words ('fisher exact' -> "Fisher's exact test")."""
    return TEST_NAMES.get(method, method)


def srm_text(report: ExperimentReport) -> str:
    quality = report.quality
    if quality.srm_p_value is None and not quality.srm_flagged:
        # no units (waiting for data) or one arm: there was nothing to test
        return "SRM not tested (no units)" if quality.total_units == 0 else "SRM not tested"
    state = "SRM FLAGGED" if quality.srm_flagged else "SRM ok"
    over = " over slots" if quality.srm_unit == "slots" else ""  # a switchback's unit
    return f"{state}{over} (p = {fmt.p_value(quality.srm_p_value)})"


def interval_name(comparison: ComparisonReport) -> str:
    if comparison.method is None and comparison.bayesian is not None:
        return f"{fmt.level(comparison.bayesian.ci_level)} credible interval".strip()
    kind = "confidence sequence" if comparison.sequential else "CI"
    level = fmt.level(comparison.ci_level)
    return f"{level} {kind}".strip()


@dataclass(frozen=True)
class Headline:
    """The one-line facts about a treatment on the primary metric."""

    variant: str
    lift: str
    interval: str
    interval_name: str
    chance: str
    p_value: str
    p_label: str
    """'p adj.' when a multiplicity-adjusted p-value exists, else 'p'."""
    has_chance: bool = True
    """False when the Bayesian engine did not run: the chance is left out, not 'n/a'."""
    has_p: bool = True
    """False when the frequentist engine did not run: the p-value is left out."""


def headlines(report: ExperimentReport) -> list[Headline]:
    metric = report.primary
    if metric is None:
        return []
    return [headline(report, metric, c) for c in metric.comparisons]


def _absolute_shown(c: ComparisonReport) -> tuple[float | None, float | None, float | None]:
    """(lift, low, high) on the absolute scale: frequentist, else the Bayesian estimate."""
    if c.absolute_lift is not None:
        return c.absolute_lift, c.ci_low, c.ci_high
    return None, None, None


def headline(report: ExperimentReport, metric: MetricReport, c: ComparisonReport) -> Headline:
    variant = report.variant(c.variant)
    lift, low, high = c.shown_relative
    if lift is None and c.absolute_lift is not None:
        # control's mean is 0: a relative lift is undefined, the absolute one is not
        a_lift, a_low, a_high = _absolute_shown(c)
        unit = {"is_rate": metric.is_rate, "unit": metric.unit}
        return Headline(
            variant=variant.label if variant else c.variant,
            lift=fmt.absolute_change(a_lift, **unit) + " absolute (control is 0)",  # type: ignore[arg-type]
            interval=fmt.absolute_interval(a_low, a_high, **unit),  # type: ignore[arg-type]
            interval_name=interval_name(c),
            chance=fmt.probability(c.prob_beat_baseline),
            p_value=fmt.p_value(
                c.p_value_adjusted if c.p_value_adjusted is not None else c.p_value
            ),
            p_label="p adj." if c.p_value_adjusted is not None else "p",
            has_chance=report.has_bayesian,
            has_p=report.has_frequentist,
        )
    return Headline(
        variant=variant.label if variant else c.variant,
        lift=fmt.percent(lift, sign=True),
        interval=fmt.relative_interval(low, high),
        interval_name=interval_name(c),
        chance=fmt.probability(c.prob_beat_baseline),
        p_value=fmt.p_value(c.p_value_adjusted if c.p_value_adjusted is not None else c.p_value),
        p_label="p adj." if c.p_value_adjusted is not None else "p",
        has_chance=report.has_bayesian,
        has_p=report.has_frequentist,
    )


def ni_text(c: ComparisonReport) -> str:
    """Guardrail verdict in words."""
    ni = c.non_inferiority
    if ni is None:
        return ""
    margin = fmt.percent(ni.margin) if ni.margin_kind == "relative" else fmt.number(ni.margin)
    # passed=False means non-inferiority was not shown (yet), not that harm was proven
    verdict = {True: "passed", False: "not passed", None: "not computable"}[ni.passed]
    return f"{verdict} (margin {margin})"
