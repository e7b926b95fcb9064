"""The report's programme section: "what has our whole upsell programme done to customers?"
(issue 15 part 3).

When the reported specs obey a ``program.yaml`` holdout, ``report`` (and ``demo``) run
the programme-vs-holdout analysis (:mod:`upsell_ab.spec.holdout_analysis`: the ordinary
analysis of the programme exposures logged under the holdout's id) and show, per holdout
metric, the holdout's mean (no offers at all), the programme's, and the difference with
its 95 % interval: what the programme gained (upsell revenue) and what it cost (late
repeat purchases, unsubscribes, satisfaction, LTV). Nothing is recomputed here: the
numbers are the analysis' comparisons. A metric "gained" or "lost" only when its
interval excludes zero (each interval on its own, not adjusted for the number of
metrics); otherwise "no clear difference".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

from upsell_ab.report.format import MISSING, MetricFormat, p_value, percent, relative_interval
from upsell_ab.report.metric import finite

if TYPE_CHECKING:
    from upsell_ab.report.model import ExperimentReport
    from upsell_ab.spec.holdout_models import Holdout

TITLE = "What has our whole upsell programme done to customers?"
GAINED, LOST, UNCLEAR = "gained", "lost", "no clear difference"
NOT_JUDGED = "not judged"
"""The verdict of every metric when the holdout comparison itself is invalid (a
sample-ratio mismatch between holdout and programme, broken logging ...)."""
RATE_TYPES = ("proportion", "retention")


@dataclass(frozen=True)
class ProgrammeMetric:
    """One holdout metric: programme against holdout, copied from the comparison."""

    name: str
    type: str
    direction: str
    unit: str | None
    holdout_mean: float | None
    programme_mean: float | None
    absolute_lift: float | None
    ci_low: float | None
    ci_high: float | None
    relative_lift: float | None
    relative_ci_low: float | None
    relative_ci_high: float | None
    p_value: float | None
    verdict: str
    """``gained`` (the interval is on the good side of zero), ``lost``, ``no clear
    difference``, or ``not judged`` (the comparison is invalid)."""

    @property
    def format(self) -> MetricFormat:
        return MetricFormat(is_rate=self.type in RATE_TYPES, unit=self.unit)

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.name,
            "direction": self.direction,
            "holdout_mean": finite(self.holdout_mean),
            "programme_mean": finite(self.programme_mean),
            "absolute_lift": finite(self.absolute_lift),
            "ci_low": finite(self.ci_low),
            "ci_high": finite(self.ci_high),
            "relative_lift": finite(self.relative_lift),
            "relative_ci_low": finite(self.relative_ci_low),
            "relative_ci_high": finite(self.relative_ci_high),
            "p_value": finite(self.p_value),
            "verdict": self.verdict,
        }


@dataclass(frozen=True)
class ProgrammeSection:
    """The programme against its long-term holdout, for every report format."""

    holdout: str
    name: str
    share: float
    start: date | None
    window_days: int
    units_holdout: int
    units_programme: int
    srm_p_value: float | None
    metrics: list[ProgrammeMetric] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """Data warnings and metric notes (e.g. a survey response rate that differs)."""
    invalid: str | None = None
    """Why the holdout comparison cannot be trusted (the decision's data gate, e.g. a
    sample-ratio mismatch): then no metric is judged gained or lost."""

    @property
    def waiting_for_data(self) -> bool:
        return self.units_holdout + self.units_programme == 0

    def named(self, verdict: str) -> list[str]:
        return [m.name for m in self.metrics if m.verdict == verdict]

    def summary(self) -> str:
        """One sentence: what was gained, what was lost."""
        if self.waiting_for_data:
            return (
                f"No programme exposure under '{self.holdout}' yet: log one per customer "
                "with variant holdout or programme (HoldoutGate.group)."
            )
        if self.invalid is not None:
            return (
                "Not judged: the programme-against-holdout comparison is invalid "
                f"({self.invalid.rstrip('.')}), so no gain or loss is claimed."
            )
        parts = []
        if self.named(GAINED):
            parts.append("gained " + ", ".join(self.named(GAINED)))
        if self.named(LOST):
            parts.append("lost " + ", ".join(self.named(LOST)))
        if self.named(UNCLEAR):
            parts.append("no clear difference on " + ", ".join(self.named(UNCLEAR)))
        return "Against no offers at all, the programme " + "; ".join(parts) + "."

    def to_dict(self) -> dict[str, Any]:
        return {
            "holdout": self.holdout,
            "name": self.name,
            "share": self.share,
            "start": self.start.isoformat() if self.start else None,
            "window_days": self.window_days,
            "units": {"holdout": self.units_holdout, "programme": self.units_programme},
            "srm_p_value": finite(self.srm_p_value),
            "summary": self.summary(),
            "metrics": [m.to_dict() for m in self.metrics],
            "notes": list(self.notes),
            "invalid": self.invalid,
        }


def _verdict(direction: str, low: float | None, high: float | None) -> str:
    if low is None or high is None:
        return UNCLEAR
    if low > 0 or high < 0:
        up = low > 0
        return GAINED if up == (direction != "lower_is_better") else LOST
    return UNCLEAR


def build_section(holdout: Holdout, report: ExperimentReport) -> ProgrammeSection:
    """The section from the programme-vs-holdout experiment report (control = holdout)."""
    from upsell_ab.spec.holdout_analysis import HOLDOUT_VARIANT, PROGRAMME_VARIANT

    metrics = []
    notes = list(report.decision.warnings)
    # an SRM between holdout and programme (or broken logging) voids every comparison:
    # the holdout's own decision says so, and the section must not claim gains anyway
    invalid = report.decision.reasons[0] if report.decision.action == "invalid" else None
    wanted = set(holdout.metrics)
    for metric in report.metrics:
        if metric.name not in wanted:
            continue
        means = {v.variant: v.mean for v in metric.variants}
        comparison = next((c for c in metric.comparisons if c.variant == PROGRAMME_VARIANT), None)
        if comparison is None:
            continue
        metrics.append(
            ProgrammeMetric(
                name=metric.name,
                type=metric.type,
                direction=metric.direction,
                unit=metric.unit,
                holdout_mean=means.get(HOLDOUT_VARIANT),
                programme_mean=means.get(PROGRAMME_VARIANT),
                absolute_lift=comparison.absolute_lift,
                ci_low=comparison.ci_low,
                ci_high=comparison.ci_high,
                relative_lift=comparison.relative_lift,
                relative_ci_low=comparison.relative_ci_low,
                relative_ci_high=comparison.relative_ci_high,
                p_value=comparison.p_value,
                verdict=NOT_JUDGED
                if invalid is not None
                else _verdict(metric.direction, comparison.ci_low, comparison.ci_high),
            )
        )
        notes += [f"{metric.name}: {note}" for note in metric.notes]
    observed = report.quality.observed
    return ProgrammeSection(
        holdout=holdout.id,
        name=report.name,
        share=holdout.share,
        start=holdout.start,
        window_days=holdout.window.days,
        units_holdout=int(observed.get(HOLDOUT_VARIANT, 0)),
        units_programme=int(observed.get(PROGRAMME_VARIANT, 0)),
        srm_p_value=report.quality.srm_p_value,
        metrics=metrics,
        notes=notes,
        invalid=invalid,
    )


def load_programme(
    paths: Iterable[str | Path], store: str | Path | None
) -> ProgrammeSection | None:
    """The section for the ``program.yaml`` the reported ``paths`` obey (the first found),
    analysed on ``store``; None without a holdout."""
    from upsell_ab.spec.holdout_analysis import programme_spec
    from upsell_ab.spec.program import find_program, load_program
    from upsell_ab.workflow import run_experiment

    for raw in paths:
        found = find_program(raw)
        if found is None:
            continue
        holdout = load_program(found).holdout
        if holdout is None:
            return None
        run = run_experiment(programme_spec(holdout, found), store=store, daily=False)
        return build_section(holdout, run.report())
    return None


# ------------------------------------------------------------------ renderers
def _row_cells(m: ProgrammeMetric) -> tuple[str, str, str, str, str, str]:
    fmt = m.format
    change = fmt.change(m.absolute_lift)
    interval = (
        MISSING
        if m.ci_low is None or m.ci_high is None
        else f"[{fmt.change(m.ci_low)}, {fmt.change(m.ci_high)}]"
    )
    relative = percent(m.relative_lift, sign=True)
    if relative != MISSING:
        relative += " " + relative_interval(m.relative_ci_low, m.relative_ci_high)
    return (
        m.name,
        fmt.value(m.holdout_mean),
        fmt.value(m.programme_mean),
        f"{change} {interval}",
        relative,
        m.verdict,
    )


HEADER = (
    "metric",
    "holdout (no offers)",
    "programme",
    "difference [95% CI]",
    "relative [95% CI]",
    "verdict",
)


def _lead(section: ProgrammeSection) -> str:
    since = f" since {section.start.isoformat()}" if section.start else ""
    return (
        f"Long-term holdout {section.holdout}: {section.share:.0%} of customers see no "
        f"upsell offer at all{since}; outcomes over {section.window_days} days. "
        f"{section.units_programme:,} programme customers against "
        f"{section.units_holdout:,} held out (sample ratio p = {p_value(section.srm_p_value)})."
    )


FOOTER = (
    "Programme = every customer not held out, offered or not (intention to treat). "
    "Gained/lost: the 95 % interval excludes zero (each metric on its own, not adjusted "
    "for the number of metrics)."
)


def programme_text(section: ProgrammeSection | None) -> str:
    if section is None:
        return ""
    lines = [TITLE, "  " + section.summary()]
    if not section.waiting_for_data:
        lines.append("  " + _lead(section))
        rows = [HEADER, *(_row_cells(m) for m in section.metrics)]
        widths = [max(len(r[i]) for r in rows) for i in range(len(HEADER))]
        for row in rows:
            cells = "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True))
            lines.append("  " + cells.rstrip())
        lines += [f"  note: {n}" for n in section.notes]
        lines.append("  " + FOOTER)
    return "\n".join(lines) + "\n"


def programme_markdown(section: ProgrammeSection | None) -> str:
    if section is None:
        return ""
    from upsell_ab.report.markdown import escape as md

    lines = [f"## {TITLE}", "", md(section.summary()), ""]
    if not section.waiting_for_data:
        lines += [md(_lead(section)), ""]
        lines.append("| " + " | ".join(HEADER) + " |")
        lines.append("|" + "---|" * len(HEADER))
        for m in section.metrics:
            name, *cells = _row_cells(m)  # metric names are identifiers: a code span
            lines.append(f"| `{name}` | " + " | ".join(md(c) for c in cells) + " |")
        lines.append("")
        lines += [f"- {md(n)}" for n in section.notes]
        lines += ["", md(FOOTER)]
    return "\n".join(lines) + "\n"


def programme_html(section: ProgrammeSection | None) -> str:
    if section is None:
        return ""
    body = f"<p>{escape(section.summary())}</p>"
    if not section.waiting_for_data:
        head = "".join(f"<th>{escape(h)}</th>" for h in HEADER)
        rows = "".join(
            f'<tr class="{escape(m.verdict.replace(" ", "-"))}">'
            + "".join(f"<td>{escape(c)}</td>" for c in _row_cells(m))
            + "</tr>"
            for m in section.metrics
        )
        notes = "".join(f"<li>{escape(n)}</li>" for n in section.notes)
        body += (
            f"<p>{escape(_lead(section))}</p><table><thead><tr>{head}</tr></thead>"
            f"<tbody>{rows}</tbody></table>"
            + (f"<ul>{notes}</ul>" if notes else "")
            + f"<p><small>{escape(FOOTER)}</small></p>"
        )
    return f'<section class="programme"><h2>{escape(TITLE)}</h2>{body}</section>'
