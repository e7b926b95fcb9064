"""Markdown for GitHub job summaries (``>> $GITHUB_STEP_SUMMARY``).

GitHub refuses a step summary over 1 MiB, so the output is built experiment by
experiment under a byte budget (``--max-bytes``): full blocks first, then
headline-only blocks, then a note naming what was left out. An overview table
(one row per experiment) comes first, then an error block per spec that could
not be reported, then per experiment a headline stating the reason for the
decision on the metric that decided it (:mod:`upsell_ab.report.headline`) and
its details folded in ``<details>``. Text from specs is escaped for both
Markdown (pipes, emphasis) and the HTML GitHub renders inside Markdown.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from upsell_ab.report import format as fmt
from upsell_ab.report.failures import SpecFailure
from upsell_ab.report.headline import lead, overview
from upsell_ab.report.labels import (
    ACTION_ICONS,
    LEGEND,
    Headline,
    interval_name,
    ni_text,
    srm_text,
)
from upsell_ab.report.model import ExperimentReport, MetricReport
from upsell_ab.report.segment import SEGMENT_NOTE, segments_to_show

MAX_BYTES = 1_000_000
"""Default budget: under GitHub's 1 MiB (1,048,576 bytes) summary limit, with room to spare."""

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]|~])")


def escape(text: str) -> str:
    """Make spec text inert in Markdown: HTML entities for &, <, >, backslash
    before Markdown punctuation, line breaks as spaces (they would end a table row)."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = re.sub(r"[\r\n]+", " ", text)
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """A GitHub table; cells must already be escaped (a raw '|' would split a cell)."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _lift_facts(report: ExperimentReport, metric: str, role: str, lifts: list[Headline]) -> str:
    parts = []
    for h in lifts:
        parts.append(
            f"**{escape(h.variant)}** **{h.lift}** ({h.interval_name} {h.interval})"
            + (f", chance to beat control {h.chance}" if h.has_chance else "")
            + (f", {h.p_label} {h.p_value}" if h.has_p else "")
        )
    facts = "; ".join(parts) if parts else "no result"
    return f"- `{metric}` ({escape(role)}): {facts}"


def _headline(report: ExperimentReport) -> list[str]:
    """Decision, the reason for it, then the deciding metric's lifts (see report.headline)."""
    head = lead(report)
    lines = [
        f"### {head.icon} {escape(report.name)} (`{report.experiment}`)",
        "",
        f"**Decision: {escape(head.decision)}**" + (f": {escape(head.why)}" if head.why else ""),
        "",
    ]
    # data-quality warnings first (decision.gates): the verdict stands, but read it with care
    facts = [f"- ⚠️ **warning:** {escape(w)}" for w in report.decision.warnings]
    if head.withheld is not None:
        facts.append(f"- `{head.metric}`: {escape(head.withheld)}")
    else:
        facts.append(_lift_facts(report, head.metric, head.metric_role, head.lifts))
        if head.primary is not None:
            facts.append(_lift_facts(report, head.primary, "primary", head.primary_lifts))
    guard = escape(head.guardrails)
    facts.append(f"- guardrails: {'**' + guard + '**' if head.guardrails_failed else guard}")
    quality = escape(head.quality)
    facts.append(f"- data quality: {'**' + quality + '**' if head.quality_failed else quality}")
    return [*lines, *facts, ""]


def _overview(reports: Sequence[ExperimentReport]) -> list[str]:
    """One row per experiment, before any detail (report.headline.overview)."""
    headers = (
        "Experiment",
        "Decision",
        "Deciding metric",
        "Lift [interval]",
        "Guardrails",
        "Data quality",
        "Days",
    )
    rows = [
        [
            f"`{row.experiment}`",
            f"{row.icon} {escape(row.decision)}",
            f"`{row.metric}`",
            escape(row.lift),
            ("❌ " if row.guardrails_failed else "") + escape(row.guardrails),
            ("❌ " if row.quality_failed else "") + escape(row.quality),
            row.days,
        ]
        for row in overview(list(reports))
    ]
    return [*_table(headers, rows), ""]


MAX_PROBLEMS_SHOWN = 20
"""Per failed spec; the rest are counted (``upsell-ab validate`` lists all)."""


def _failure(failure: SpecFailure) -> list[str]:
    """An error block for a spec that could not be reported; the others still are."""
    what = "invalid spec" if failure.stage == "spec" else "data could not be read"
    lines = [f"### ❌ {escape(failure.title)}: {what}", ""]
    lines += [f"- {escape(problem)}" for problem in failure.problems[:MAX_PROBLEMS_SHOWN]]
    hidden = len(failure.problems) - MAX_PROBLEMS_SHOWN
    if hidden > 0:
        lines.append(f"- … and {hidden:,} more (run `upsell-ab validate {escape(failure.file)}`)")
    return [*lines, ""]


def _metric_section(report: ExperimentReport, metric: MetricReport) -> list[str]:
    direction = "higher is better" if metric.higher_is_better else "lower is better"
    title = f"**`{metric.name}`** ({metric.role}, {direction})"
    if metric.description:
        title += f": {escape(metric.description)}"
    rows = []
    comparisons = {c.variant: c for c in metric.comparisons}
    for stat in metric.variants:
        c = comparisons.get(stat.variant)
        variant = report.variant(stat.variant)
        label = escape(variant.label if variant else stat.variant)
        mean = fmt.metric_value(stat.mean, is_rate=metric.is_rate, unit=metric.unit)
        if c is None:
            rows.append([label, fmt.count(stat.n), mean, "control", "", "", "", "", "", ""])
            continue
        unit = fmt.MetricFormat(metric.is_rate, metric.unit)
        lift, low, high = c.shown_relative
        rows.append(
            [
                label,
                fmt.count(stat.n),
                mean,
                unit.change(c.absolute_lift),
                fmt.percent(lift, sign=True),
                fmt.relative_interval(low, high)
                + (f" ({interval_name(c)})" if c.shown_level is not None else ""),
                f"{fmt.p_value(c.p_value)} / {fmt.p_value(c.p_value_adjusted)}",
                fmt.probability(c.prob_beat_baseline),
                unit.loss(c.expected_loss),
                escape(ni_text(c)) or "",
            ]
        )
    headers: tuple[str, ...] = (
        "Variant",
        "Units",
        "Mean",
        "Abs. lift",
        "Rel. lift",
        "Rel. interval",
        "p / p adj.",
        "Chance to beat control",
        "Expected loss",
        "Guardrail",
    )
    keep = [
        i
        for i, h in enumerate(headers)
        if (report.has_frequentist or h != "p / p adj.")
        and (report.has_bayesian or h not in ("Chance to beat control", "Expected loss"))
    ]
    headers = tuple(headers[i] for i in keep)
    rows = [[row[i] for i in keep] for row in rows]
    lines = [title, "", *_table(headers, rows), ""]
    if metric.prob_best:
        best = ", ".join(f"{escape(k)} {fmt.probability(v)}" for k, v in metric.prob_best.items())
        lines += [f"Chance to be best: {best}", ""]
    lines += [f"> note: {escape(note)}" for note in metric.notes]
    if metric.notes:
        lines.append("")
    return lines


def _segments(report: ExperimentReport) -> list[str]:
    """The exploratory per-segment breakdown, folded in its own ``<details>``."""
    if not report.segments:
        return []
    headers = ["Metric", "Segment", "Variant", "Units (variant / control)", "Rel. lift [interval]"]
    headers += ["p / p adj. (within breakdown)"] if report.has_frequentist else []
    headers += ["Chance to beat control"] if report.has_bayesian else []
    rows = []
    display = segments_to_show(report.segments)
    for segment in display.rows:
        units = {v.variant: v.n for v in segment.variants}
        for c in segment.comparisons:
            lift, low, high = c.shown_relative
            row = [
                f"`{segment.metric}`",
                f"{escape(segment.attribute)} = {escape(segment.value)}",
                escape(c.variant),
                f"{fmt.count(units.get(c.variant))} / {fmt.count(units.get(c.baseline))}",
                f"{fmt.percent(lift, sign=True)} {fmt.relative_interval(low, high)}",
            ]
            if report.has_frequentist:
                row.append(f"{fmt.p_value(c.p_value)} / {fmt.p_value(c.p_value_adjusted)}")
            if report.has_bayesian:
                row.append(fmt.probability(c.prob_beat_baseline))
            rows.append(row)
    return [
        "<details><summary>Segments (exploratory)</summary>",
        "",
        f"> {escape(SEGMENT_NOTE)}",
        "",
        *_table(headers, rows),
        "",
        *(f"> {escape(line)}\n" for line in display.hidden),
        "</details>",
        "",
    ]


def _offers(report: ExperimentReport) -> list[str]:
    rows = []
    for v in report.variants:
        offer = v.offer
        label = escape(v.label) + (" (control)" if v.control else "")
        if offer is None:
            rows.append([label, fmt.percent(v.weight, decimals=0), "no offer", "", "", "", ""])
            continue
        timing = (offer.moment or "") + (f" +{offer.delay}" if offer.delay else "")
        items = ", ".join(escape(i.name or i.sku) for i in offer.items)
        rows.append(
            [
                label,
                fmt.percent(v.weight, decimals=0),
                escape(offer.tactic or ""),
                escape(timing),
                escape(offer.wording or ""),
                escape(offer.discount),
                items,
            ]
        )
    headers = ("Variant", "Weight", "Tactic", "Timing", "Wording", "Discount", "Items")
    return ["**Offers**", "", *_table(headers, rows), ""]


def _allocation(report: ExperimentReport) -> list[str]:
    """Weights and units per allocation period of a bandit experiment."""
    if not report.allocation:
        return []
    variants = [v.id for v in report.variants]
    headers = ["weights from", *(escape(v) for v in variants), "units"]
    rows = [
        [
            escape(period.label),
            *(f"{period.weights.get(v, 0.0):.0%} ({period.units.get(v, 0):,})" for v in variants),
            f"{sum(period.units.values()):,}",
        ]
        for period in report.allocation
    ]
    return [
        "**Allocation by period** (adaptive: weight, and units first exposed in the period)",
        "",
        *_table(headers, rows),
        "",
    ]


def _quality(report: ExperimentReport) -> list[str]:
    q = report.quality
    observed = ", ".join(
        f"{escape(k)} {fmt.count(v)} (expected {fmt.number(q.expected.get(k))})"
        for k, v in q.observed.items()
    )
    lines = [
        "**Data quality**",
        "",
        f"- {escape(srm_text(report))}: {observed}",
    ]
    counts = (
        ("units exposed to several variants (excluded)", q.multiple_exposure_units),
        ("events of units never exposed", q.orphan_events),
        ("events before first exposure", q.events_before_exposure),
        ("events outside every window", q.events_outside_window),
        ("duplicate events dropped", q.duplicates_dropped),
    )
    lines += [f"- {label}: {fmt.count(value)}" for label, value in counts if value is not None]
    if q.unknown_variants:
        unknown = ", ".join(f"{escape(k)} ({v:,})" for k, v in q.unknown_variants.items())
        lines.append(f"- exposures naming unknown variants: {unknown}")
    if q.first_exposure and q.last_exposure:
        lines.append(f"- exposures from {q.first_exposure} to {q.last_exposure}")
    return [*lines, ""]


def _details(report: ExperimentReport) -> list[str]:
    lines = ["<details><summary>Details: reasons, metrics, offers, data quality</summary>", ""]
    if report.decision.reasons:
        lines += ["**Reasons**", ""]
        lines += [f"- {escape(reason)}" for reason in report.decision.reasons]
        lines.append("")
    if report.hypothesis:
        lines += [f"**Hypothesis:** {escape(report.hypothesis)}", ""]
    for metric in report.metrics:
        lines += _metric_section(report, metric)
    lines += _segments(report)
    lines += _offers(report)
    lines += _allocation(report)
    lines += _quality(report)
    if report.sequential is not None:
        s = report.sequential
        stop = "may stop" if s.may_stop else "keep monitoring"
        lines += [f"**Sequential ({escape(s.method)}):** {stop}: {escape(s.reason)}", ""]
    lines += [f"> note: {escape(note)}" for note in report.notes]
    if lines[-1] != "":
        lines.append("")
    return [*lines, "</details>", ""]


def _legend() -> list[str]:
    lines = ["#### What the numbers mean", ""]
    lines += [f"- **{escape(term)}**: {escape(meaning)}" for term, meaning in LEGEND]
    return [*lines, ""]


def _size(lines: Sequence[str]) -> int:
    return len("\n".join(lines).encode("utf-8")) + 1


def render_markdown(
    reports: Sequence[ExperimentReport],
    *,
    max_bytes: int = MAX_BYTES,
    title: str | None = None,
    failures: Sequence[SpecFailure] = (),
) -> str:
    """Overview table, error blocks of specs that failed, then a headline +
    folded details per experiment, then the legend, in at most ``max_bytes``
    UTF-8 bytes. Over budget: later experiments lose their details (every
    headline is kept while possible), then are left out, then the legend and
    overview rows go; a note says what was left out and where to look."""
    head = [f"## {escape(title or 'Upsell experiments')}", ""]
    if not reports and not failures:
        head += ["No experiments to report.", ""]
    counts: dict[str, int] = {}
    for report in reports:
        counts[report.decision.action] = counts.get(report.decision.action, 0) + 1
    parts = [
        f"{ACTION_ICONS.get(a, '')} {fmt.count(n)} {a.replace('_', ' ')}" for a, n in counts.items()
    ]
    if failures:
        parts.append(f"❌ {len(failures):,} could not be reported")
    if parts:
        total = len(reports) + len(failures)
        head += [f"{total:,} experiment{'s' if total != 1 else ''}: {', '.join(parts)}", ""]
    reserve = 400  # room for the truncation note
    errors = [line for failure in failures for line in _failure(failure)]
    table = _overview(reports) if reports else []
    tail = _legend()
    if _size([*head, *errors, *table, *tail]) + reserve > max_bytes:
        tail = []  # the legend goes before any result does
    dropped_rows = 0
    while table and _size([*head, *errors, *table]) + reserve > max_bytes:
        if len(table) <= 3:  # header, separator, blank: no row fits
            dropped_rows += len(reports) - dropped_rows
            table = []
            break
        table = [*table[:-2], ""]
        dropped_rows += 1
    while errors and _size([*head, *errors]) + reserve > max_bytes:
        errors = [*errors[:-2], ""]
    head += errors + table
    budget = max_bytes - _size(head) - _size(tail) - reserve
    # Headlines first (every decision visible), then details in order while they fit.
    shorts = [_headline(report) for report in reports]
    kept: list[int] = []
    used = 0
    for index, short in enumerate(shorts):
        if used + _size(short) > budget:
            break
        kept.append(index)
        used += _size(short)
    omitted = len(reports) - len(kept)
    folded = 0
    body: list[str] = []
    for index in kept:
        details = _details(reports[index])
        if used + _size(details) <= budget:
            body += [*shorts[index], *details]
            used += _size(details)
        else:
            body += shorts[index]
            folded += 1
    note: list[str] = []
    if folded or omitted or dropped_rows:
        left = []
        if folded:
            left.append(f"details of {folded:,} experiments left out")
        if omitted:
            left.append(f"{omitted:,} experiments left out entirely")
        if dropped_rows:
            left.append(f"{dropped_rows:,} overview rows left out")
        note = [
            f"> **Truncated to stay under the {max_bytes:,}-byte summary budget:** "
            f"{'; '.join(left)}. The JSON and HTML reports (`--format json|html`) have everything.",
            "",
        ]
    return "\n".join([*head, *note, *body, *tail]).rstrip("\n") + "\n"
