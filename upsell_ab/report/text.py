"""Terminal rendering with rich: a decision line and one table per experiment.

rich measures East Asian wide characters as two cells, so Japanese wording
wraps inside its column instead of breaking the table. Colour is opt-in
(``color=True`` when stdout is a TTY); the default output is plain text that
pipes and logs read cleanly.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import TYPE_CHECKING

from upsell_ab.report import format as fmt
from upsell_ab.report.labels import decision_text, ni_text, srm_text, test_name
from upsell_ab.report.model import ExperimentReport, MetricReport
from upsell_ab.report.segment import SEGMENT_NOTE, SegmentDisplay, segments_to_show

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

_ACTION_STYLES = {
    "ship": "bold green",
    "keep_control": "bold",
    "keep_running": "bold yellow",
    "invalid": "bold red",
    "waiting_for_data": "dim",
}


def _metric_table(report: ExperimentReport, metric: MetricReport) -> Table:
    """One table per metric: the variants as rows, the comparison in columns."""
    from rich import box
    from rich.table import Table

    direction = "higher is better" if metric.higher_is_better else "lower is better"
    title = f"{metric.name} ({metric.role}, {direction})"
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("Variant", overflow="fold")
    table.add_column("Units", justify="right", no_wrap=True)
    table.add_column("Mean", justify="right", no_wrap=True)
    table.add_column("Lift [interval]", no_wrap=True)
    freq, bayes = report.has_frequentist, report.has_bayesian
    if freq:
        table.add_column("p / adj.", justify="right", no_wrap=True)
    if bayes:
        table.add_column("Beat ctrl", justify="right", no_wrap=True)
        table.add_column("Exp. loss", justify="right")
    blank = [""] * (1 + int(freq) + 2 * int(bayes))
    comparisons = {c.variant: c for c in metric.comparisons}
    for stat in metric.variants:
        c = comparisons.get(stat.variant)
        mean = fmt.metric_value(stat.mean, is_rate=metric.is_rate, unit=metric.unit)
        if c is None:
            table.add_row(stat.variant, fmt.count(stat.n), mean, *blank)
            continue
        shown, low, high = c.shown_relative
        lift = fmt.percent(shown, sign=True)
        span = fmt.relative_interval(low, high)
        p = fmt.p_value(c.p_value)
        if c.p_value_adjusted is not None:
            p += f" / {fmt.p_value(c.p_value_adjusted)}"
        loss = fmt.absolute_change(c.expected_loss, is_rate=metric.is_rate, unit=metric.unit)
        cells = [lift if span == fmt.MISSING else f"{lift} {span}"]
        cells += [p] if freq else []
        cells += [fmt.probability(c.prob_beat_baseline), loss.lstrip("+")] if bayes else []
        table.add_row(stat.variant, fmt.count(stat.n), mean, *cells)
    return table


def _segment_table(report: ExperimentReport, display: SegmentDisplay) -> Table:
    """The exploratory per-segment breakdown: one row per segment and treatment."""
    from rich import box
    from rich.table import Table

    table = Table(
        title="Segments (exploratory)", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False
    )
    for header in ("Metric", "Segment", "Variant"):
        table.add_column(header, overflow="fold")
    table.add_column("Units", justify="right", no_wrap=True)
    table.add_column("Lift [interval]", no_wrap=True)
    if report.has_frequentist:
        table.add_column("p / adj.", justify="right", no_wrap=True)
    if report.has_bayesian:
        table.add_column("Beat ctrl", justify="right", no_wrap=True)
    for segment in display.rows:
        units = {v.variant: v.n for v in segment.variants}
        for c in segment.comparisons:
            lift, low, high = c.shown_relative
            cells = [
                segment.metric,
                f"{segment.attribute} = {segment.value}",
                c.variant,
                f"{fmt.count(units.get(c.variant))} / {fmt.count(units.get(c.baseline))}",
                f"{fmt.percent(lift, sign=True)} {fmt.relative_interval(low, high)}",
            ]
            if report.has_frequentist:
                cells.append(f"{fmt.p_value(c.p_value)} / {fmt.p_value(c.p_value_adjusted)}")
            if report.has_bayesian:
                cells.append(fmt.probability(c.prob_beat_baseline))
            table.add_row(*cells)
    return table


def _print_experiment(console: Console, report: ExperimentReport) -> None:
    from rich.table import Table
    from rich.text import Text

    style = _ACTION_STYLES.get(report.decision.action, "bold")
    console.print(Text(f"{report.name} [{report.experiment}]", style="bold underline"))
    console.print(Text.assemble(("Decision: ", "bold"), (decision_text(report), style)))
    for warning in report.decision.warnings:
        console.print(Text(f"  WARNING: {warning}", style="yellow"))
    for reason in report.decision.reasons:
        console.print(Text(f"  - {reason}"))
    if report.decision.guardrails_breached:
        console.print(
            Text("Guardrails breached: " + ", ".join(report.decision.guardrails_breached))
        )
    quality = (
        srm_text(report) + f"; {fmt.count(report.quality.total_units)} {report.quality.srm_unit}"
    )
    console.print(Text(quality, style="red" if report.quality.srm_flagged else ""))

    variants = Table(title="Variants", title_justify="left", expand=False)
    for header in ("Variant", "Weight", "Timing", "Wording", "Discount"):
        variants.add_column(header, overflow="fold")
    for v in report.variants:
        offer = v.offer
        variants.add_row(
            v.label + (" (control)" if v.control else ""),
            fmt.percent(v.weight, decimals=0),
            (
                ((offer.moment or "") + (f" +{offer.delay}" if offer.delay else ""))
                if offer
                else "no offer"
            ),
            (offer.wording or "") if offer else "",
            offer.discount if offer else "",
        )
    console.print(variants)
    if report.allocation:
        allocation = Table(
            title="Allocation by period (adaptive: weight, units)", title_justify="left"
        )
        ids = [v.id for v in report.variants]
        for header in ("From", *ids, "Units"):
            allocation.add_column(header, overflow="fold")
        for period in report.allocation:
            allocation.add_row(
                period.label,
                *(
                    f"{fmt.percent(period.weights.get(v, 0.0), decimals=0)} "
                    f"({fmt.count(period.units.get(v, 0))})"
                    for v in ids
                ),
                fmt.count(sum(period.units.values())),
            )
        console.print(allocation)

    for metric in report.metrics:
        console.print(_metric_table(report, metric))
        for c in metric.comparisons:
            if c.method is None:
                continue
            tests = f"  test {c.variant}: {test_name(c.method)}"
            if c.interval_method:
                tests += f"; interval: {c.interval_method}"
            if c.relative_interval_method:
                tests += f"; relative interval: {c.relative_interval_method}"
            console.print(Text(tests))
        verdicts = [c for c in metric.comparisons if c.non_inferiority is not None]
        for c in verdicts:
            console.print(Text(f"  guardrail {c.variant}: {ni_text(c)}"))
        for note in metric.notes:
            console.print(Text(f"  {note}"))
        if verdicts or metric.notes:
            console.print()
    if report.segments:
        display = segments_to_show(report.segments)
        console.print(_segment_table(report, display))
        console.print(Text(f"  {SEGMENT_NOTE}"))
        for line in display.hidden:
            console.print(Text(f"  {line}"))
        console.print()
    for note in report.notes:
        console.print(Text(f"note: {note}"))
    console.print()


def render_text(
    reports: Sequence[ExperimentReport], *, color: bool = False, width: int = 120
) -> str:
    """The terminal report of every experiment as a string (ANSI colour only
    when ``color``). ``width`` is in terminal cells."""
    from rich.console import Console

    buffer = io.StringIO()
    console = Console(
        file=buffer,
        width=width,
        force_terminal=color,
        color_system="standard" if color else None,
        no_color=not color,
        highlight=False,
        emoji=False,
        soft_wrap=False,
    )
    for report in reports:
        _print_experiment(console, report)
    if reports:
        console.print(
            "Chance to beat control is a Bayesian probability, not 1 - p. "
            "n/a = not computed (never a zero)."
        )
    return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines()) + "\n"
