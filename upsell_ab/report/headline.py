"""What a reviewer reads first: the overview row and the reason-first headline.

Every renderer (Markdown, terminal, HTML) takes these from here so they agree:

- :func:`lead` gives one experiment's headline: the decision, *why* (the
  rule's own first reason), and the numbers on the metric that decided it
  (the spec's decision metric, e.g. profit, not always the primary). An
  invalid experiment leads with its data-quality reason and withholds lifts;
  one without exposures says it is waiting for data.
- :func:`overview` gives one row per experiment: decision, deciding metric
  and its lift with interval, guardrails, data quality, days running.

Nothing here computes a statistic: it selects and words what the report
model already holds. Days running count exposure dates (first to last,
inclusive), never today's date, so the same data renders the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

from upsell_ab.report import format as fmt
from upsell_ab.report.labels import (
    ACTION_ICONS,
    ACTION_LABELS,
    Headline,
    decision_text,
    headline,
    srm_text,
)
from upsell_ab.report.model import ExperimentReport, MetricReport


@dataclass(frozen=True)
class Lead:
    """One experiment's headline, in words and formatted numbers."""

    icon: str
    decision: str
    """'Ship Specific pairing line (pairing)', 'Keep running (about 1,200 more units ...)'."""
    why: str
    """The reason for the decision, in the rule's words (action prefix removed)."""
    metric: str
    """The deciding metric (the spec's decision metric, else the primary)."""
    metric_role: str
    lifts: list[Headline]
    """Every treatment on the deciding metric; empty when withheld."""
    withheld: str | None
    """Why lifts are not shown (invalid data, no data yet); None when they are."""
    primary: str | None
    """The primary metric when it is not the deciding one (its lifts follow as context)."""
    primary_lifts: list[Headline]
    guardrails: str
    guardrails_failed: bool
    quality: str
    quality_failed: bool
    days_running: int | None


def _strip_action(reason: str, action: str) -> str:
    """'Keep control: every variant ...' -> 'every variant ...' (the label is shown already)."""
    label = ACTION_LABELS.get(action, action)
    head, sep, rest = reason.partition(": ")
    if sep and (head == label or head.startswith(label + " ")):
        return rest[:1].upper() + rest[1:]
    return reason


def _lifts(report: ExperimentReport, metric: MetricReport | None) -> list[Headline]:
    if metric is None:
        return []
    return [headline(report, metric, c) for c in metric.comparisons]


def guardrail_summary(report: ExperimentReport) -> tuple[str, bool]:
    """('breached: complaint_rate', True), ('all hold (2)', False), ('1 of 2 not yet shown',
    False) or ('none', False). Breaches come from the decision, which judges
    guardrails also on invalid experiments."""
    breached = report.decision.guardrails_breached
    if report.decision.action == "waiting_for_data":
        return "no data yet", False
    if breached:
        return "breached: " + ", ".join(breached), True
    verdicts = [
        c.non_inferiority.passed
        for m in report.metrics
        for c in m.comparisons
        if c.non_inferiority is not None
    ]
    if not verdicts:
        return "none", False
    passed = sum(1 for v in verdicts if v is True)
    if passed == len(verdicts):
        return f"all hold ({passed})", False
    return f"{len(verdicts) - passed} of {len(verdicts)} not yet shown", False


def quality_summary(report: ExperimentReport) -> tuple[str, bool]:
    """('SRM ok (p = 0.41)', False), ('SRM FLAGGED (p = <0.001)', True),
    ('failed: see reason', True) or ('no data yet', False)."""
    action = report.decision.action
    if action == "waiting_for_data":
        return "no data yet", False
    if report.quality.srm_flagged:
        return srm_text(report), True
    if action == "invalid":
        return "failed: " + _first_words(report.decision.reasons), True
    return srm_text(report), False


def _first_words(reasons: list[str], limit: int = 60) -> str:
    text = reasons[0] if reasons else "see the reasons"
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def days_running(report: ExperimentReport) -> int | None:
    """Days with exposures, first to last inclusive (None without exposure dates)."""
    first, last = report.quality.first_exposure, report.quality.last_exposure
    if first is None or last is None:
        return None
    return (last - first).days + 1


def lead(report: ExperimentReport) -> Lead:
    """The headline of ``report`` (see the module docstring)."""
    action = report.decision.action
    reasons = report.decision.reasons
    why = _strip_action(reasons[0], action) if reasons else ""
    metric = report.metric(report.decision_metric)
    withheld: str | None = None
    if action == "waiting_for_data":
        withheld = "no units exposed yet"
    elif action == "invalid":
        withheld = "lifts withheld: the data failed a quality check (see Details)"
    primary = None
    primary_lifts: list[Headline] = []
    if report.primary_metric != report.decision_metric:
        primary = report.primary_metric
        primary_lifts = [] if withheld else _lifts(report, report.primary)
    guardrails, guardrails_failed = guardrail_summary(report)
    quality, quality_failed = quality_summary(report)
    return Lead(
        icon=ACTION_ICONS.get(action, ""),
        decision=decision_text(report),
        why=why,
        metric=report.decision_metric,
        metric_role=metric.role if metric is not None else "decision",
        lifts=[] if withheld else _lifts(report, metric),
        withheld=withheld,
        primary=primary,
        primary_lifts=primary_lifts,
        guardrails=guardrails,
        guardrails_failed=guardrails_failed,
        quality=quality,
        quality_failed=quality_failed,
        days_running=days_running(report),
    )


def lift_cell(report: ExperimentReport, withheld: str | None) -> str:
    """'pairing +30.0% [+17.9%, +42.1%]' per treatment on the deciding metric, by
    variant id, '; '-separated (plain text); 'n/a' when withheld."""
    metric = report.metric(report.decision_metric)
    if withheld is not None:
        return "n/a"
    if metric is None or not metric.comparisons:
        return "no result"
    cells = []
    for c in metric.comparisons:
        h = headline(report, metric, c)  # absolute lift when control is 0 (labels.headline)
        cells.append(f"{c.variant} {h.lift} {h.interval}")
    return "; ".join(cells)


@dataclass(frozen=True)
class OverviewRow:
    """One experiment in the overview table (plain text; renderers escape)."""

    experiment: str
    name: str
    icon: str
    decision: str
    metric: str
    lift: str
    guardrails: str
    guardrails_failed: bool
    quality: str
    quality_failed: bool
    days: str


def overview(reports: list[ExperimentReport]) -> list[OverviewRow]:
    """One :class:`OverviewRow` per report, in the reports' order."""
    rows = []
    for report in reports:
        head = lead(report)
        rows.append(
            OverviewRow(
                experiment=report.experiment,
                name=report.name,
                icon=head.icon,
                decision=ACTION_LABELS.get(report.decision.action, report.decision.action)
                + (
                    f" {report.decision.variant}"
                    if report.decision.action == "ship" and report.decision.variant
                    else ""
                ),
                metric=head.metric,
                lift=lift_cell(report, head.withheld),
                guardrails=head.guardrails,
                guardrails_failed=head.guardrails_failed,
                quality=head.quality,
                quality_failed=head.quality_failed,
                days=fmt.count(head.days_running) if head.days_running is not None else "n/a",
            )
        )
    return rows
