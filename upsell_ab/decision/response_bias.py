"""Selective response: a score among respondents is only comparable when the arms
respond alike.

A satisfaction score from a post-purchase survey is a mean over the customers who
answered. If the pushier offer changes *who* answers (annoyed customers reply more
often, or stop replying), the arms' scores describe different people and their
difference is not the offer's effect (non-response bias: Groves 2006, "Nonresponse
rates and nonresponse bias in household surveys", Public Opinion Quarterly 70(5);
in online experiments the same trap is a metric conditioned on a post-treatment
event, Kohavi, Tang & Xu 2020, ch. 3 "Twyman's law" and "triggered" analyses).

So every metric whose catalogue entry names a ``response_rate`` (a 0/1 metric:
responded or not, per exposed customer) has that rate compared between each
treatment and the control with the two-proportion test used everywhere else
(:func:`upsell_ab.stats.frequentist.proportion_test`: pooled z, or Fisher's exact
test when an expected cell is under 10), two-sided, at the experiment's ``alpha``
and without multiplicity adjustment: for a bias check a missed difference is the
costly error, so it is deliberately not made more conservative.

- If the rates differ, the score's comparison is called biased: for the decision
  metric this blocks the verdict (``invalid``, with the rates and the p-value);
  for any other metric it is a headline warning.
- Either way the metric's own notes (:func:`upsell_ab.stats.response_rate.response_notes`)
  say the score is among respondents and give the rates: no difference found is not
  proof that the same customers answered.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from upsell_ab.decision.reasons import metric_label
from upsell_ab.stats.response_rate import ResponseCheck, response_checks

if TYPE_CHECKING:
    from upsell_ab.spec.resolve import ResolvedExperiment
    from upsell_ab.stats.results import ExperimentAnalysis


def response_bias_problems(resolved: ResolvedExperiment, analysis: ExperimentAnalysis) -> list[str]:
    """Blocking reasons: the decision metric is a score whose response rate differs."""
    decision = resolved.decision_metric
    biased = [c for c in response_checks(resolved, analysis) if c.metric == decision and c.differs]
    if not biased:
        return []
    rates = "; ".join(c.describe() for c in biased)
    return [
        f"The decision metric {metric_label(decision, None)} is a score among respondents, "
        f"and the arms responded at different rates ({rates}). The offer changed who "
        "answers, so the scores compare different customers and their difference is not "
        "the offer's effect. Decide on a metric over every exposed customer, or make the "
        "survey reach every arm alike."
    ]


def response_bias_warnings(resolved: ResolvedExperiment, analysis: ExperimentAnalysis) -> list[str]:
    """A headline line for every other score metric whose response rates differ."""
    decision = resolved.decision_metric
    by_metric: dict[str, list[ResponseCheck]] = {}
    for check in response_checks(resolved, analysis):
        if check.differs and check.metric != decision:
            by_metric.setdefault(check.metric, []).append(check)
    return [
        f"{metric_label(name, None)} is biased: it is a score among respondents and the "
        f"arms responded at different rates ({'; '.join(c.describe() for c in checks)}); "
        "its lift compares different customers, not the offer's effect."
        for name, checks in by_metric.items()
    ]
