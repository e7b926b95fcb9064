"""One self-contained, offline HTML file: inline CSS, inline SVG, no script.

Every string that comes from a spec or from the data (names, wording, reasons,
notes) passes through ``html.escape`` exactly once, where it is written. A
Content-Security-Policy ``default-src 'none'`` meta tag is a second line of
defence: even if text slipped through unescaped, the browser would neither run
script nor fetch anything.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from html import escape

from upsell_ab.report import charts
from upsell_ab.report import format as fmt
from upsell_ab.report.failures import SpecFailure
from upsell_ab.report.labels import (
    ACTION_LABELS,
    LEGEND,
    decision_text,
    headlines,
    interval_name,
    ni_text,
    srm_text,
)
from upsell_ab.report.model import ExperimentReport, MetricReport, VariantReport
from upsell_ab.report.segment import SEGMENT_NOTE, segments_to_show

_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI","Noto Sans CJK JP",sans-serif;margin:0;
background:#f6f7f9;color:#1f2328;line-height:1.45}
main{max-width:1180px;margin:0 auto;padding:16px 24px}
h1{font-size:1.6em;margin:.4em 0}h2{margin:.2em 0;font-size:1.35em}h3{margin:1.2em 0 .4em}
h4{margin:.6em 0 .3em}code{background:#eef0f3;padding:0 .3em;border-radius:3px}
section.experiment{background:#fff;border:1px solid #d8dce1;border-radius:8px;padding:16px 20px;
margin:18px 0}
.decision{border-left:6px solid #888;padding:8px 12px;background:#f3f4f6;margin:10px 0}
.decision.ship{border-color:#2e7d32;background:#edf7ee}
.decision.keep_running{border-color:#ef6c00;background:#fff5e8}
.decision.invalid{border-color:#c62828;background:#fdecec}
.decision .action{font-weight:700;font-size:1.1em}
.flag{color:#c62828;font-weight:700}
table{border-collapse:collapse;margin:6px 0;font-size:.92em}
th,td{border:1px solid #d8dce1;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f0f2f5}td.num{text-align:right;white-space:nowrap}
.variants{display:flex;flex-wrap:wrap;gap:12px}
.variant{flex:1 1 260px;border:1px solid #d8dce1;border-radius:6px;padding:8px 12px;
border-top:5px solid var(--c)}
.variant blockquote{margin:6px 0;padding:4px 8px;background:#f6f7f9;border-left:3px solid #ccc;
white-space:pre-wrap;overflow-wrap:anywhere}
.charts{display:flex;flex-wrap:wrap;gap:8px;align-items:flex-start}
.chart{background:#fff;border:1px solid #eceef1;border-radius:4px;max-width:100%;height:auto}
dl.legend dt{font-weight:700}dl.legend dd{margin:0 0 .5em 1.2em}
nav ul{columns:2}
"""


def _variant_colors(report: ExperimentReport) -> dict[str, str]:
    return {v.id: charts.PALETTE[i % len(charts.PALETTE)] for i, v in enumerate(report.variants)}


def _variant_card(variant: VariantReport, color: str) -> str:
    title = escape(variant.label) + (" <small>(control)</small>" if variant.control else "")
    rows = [f"<div><b>Weight</b> {fmt.percent(variant.weight, decimals=0)}</div>"]
    offer = variant.offer
    if offer is None:
        rows.append("<div>No offer shown.</div>")
    else:
        timing = (offer.moment or "").replace("_", " ") + (
            f", after {offer.delay}" if offer.delay else ""
        )
        if offer.tactic:
            rows.append(f"<div><b>Tactic</b> {escape(offer.tactic.replace('_', ' '))}</div>")
        if timing:
            rows.append(f"<div><b>Timing</b> {escape(timing)}</div>")
        if offer.wording:
            rows.append(
                f"<div><b>Wording</b><blockquote>{escape(offer.wording)}</blockquote></div>"
            )
        rows.append(f"<div><b>Discount</b> {escape(offer.discount)}</div>")
        if offer.items:
            items = ", ".join(
                escape(i.name or i.sku)
                + (f" ({escape(fmt.money(i.price, i.currency or 'JPY'))})" if i.price else "")
                for i in offer.items
            )
            rows.append(f"<div><b>Items</b> {items}</div>")
        if offer.cadence:
            rows.append(f"<div><b>Cadence</b> every {escape(offer.cadence)}</div>")
    return f'<div class="variant" style="--c:{color}"><h4>{title}</h4>{"".join(rows)}</div>'


def _metric_table(report: ExperimentReport, metric: MetricReport) -> str:
    unit = fmt.MetricFormat(metric.is_rate, metric.unit)
    comparisons = {c.variant: c for c in metric.comparisons}
    freq, bayes = report.has_frequentist, report.has_bayesian
    headers = ["Variant", "Units", "Mean", "Abs. lift", "Rel. lift", "Interval (rel.)"]
    headers += ["p", "p adj."] if freq else []
    headers += ["Chance to beat control", "Expected loss"] if bayes else []
    head = "<tr>" + "".join(f"<th>{h}</th>" for h in [*headers, "Guardrail"]) + "</tr>"
    rows = []
    for stat in metric.variants:
        v = report.variant(stat.variant)
        label = escape(v.label if v else stat.variant)
        c = comparisons.get(stat.variant)
        cells = [
            f"<td>{label}</td>",
            f'<td class="num">{fmt.count(stat.n)}</td>',
            f'<td class="num">{escape(unit.value(stat.mean))}</td>',
        ]
        if c is None:
            cells.append(f'<td colspan="{len(headers) - 2}">baseline</td>')
        else:
            lift, low, high = c.shown_relative
            values = [
                unit.change(c.absolute_lift),
                fmt.percent(lift, sign=True),
                fmt.relative_interval(low, high)
                + (f" {interval_name(c)}" if c.shown_level is not None else ""),
            ]
            if freq:
                values += [fmt.p_value(c.p_value), fmt.p_value(c.p_value_adjusted)]
            if bayes:
                values += [fmt.probability(c.prob_beat_baseline), unit.loss(c.expected_loss)]
            cells += [f'<td class="num">{escape(value)}</td>' for value in values]
            cells.append(f"<td>{escape(ni_text(c))}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table>{head}{''.join(rows)}</table>"


def _relative_or_absolute(
    metric: MetricReport,
) -> tuple[bool, Callable[[float], str]]:
    """Charts use relative lifts; only when none exists, absolute ones in metric units."""
    relative = any(c.shown_relative[0] is not None for c in metric.comparisons) or not any(
        c.absolute_lift is not None for c in metric.comparisons
    )
    if relative:
        return True, charts.percent_tick

    def absolute(value: float) -> str:
        return fmt.absolute_change(value, is_rate=metric.is_rate, unit=metric.unit)

    return False, absolute


def _metric_charts(report: ExperimentReport, metric: MetricReport) -> str:
    colors = _variant_colors(report)
    relative, tick = _relative_or_absolute(metric)
    labels = {v.id: v.label for v in report.variants}
    rows = [
        charts.ForestRow(
            labels.get(c.variant, c.variant),
            c.shown_relative[0] if relative else c.absolute_lift,
            c.shown_relative[1] if relative else c.ci_low,
            c.shown_relative[2] if relative else c.ci_high,
            colors.get(c.variant, charts.PALETTE[1]),
        )
        for c in metric.comparisons
    ]
    reference, reference_label = None, ""
    margins = [c.non_inferiority for c in metric.comparisons if c.non_inferiority]
    if margins and relative and margins[0].margin_kind == "relative":
        sign = -1.0 if metric.higher_is_better else 1.0
        reference = sign * margins[0].margin
        reference_label = f"non-inferiority margin {fmt.percent(reference, sign=True)}"
    kind = "relative lift" if relative else "absolute lift"
    level = next((c.ci_level for c in metric.comparisons if c.ci_level is not None), None)
    parts = [
        charts.forest_plot(
            rows,
            title=f"{metric.name}: {kind} with {fmt.level(level)} interval".replace("  ", " "),
            fmt=tick,
            reference=reference,
            reference_label=reference_label,
        )
    ]
    curves = []
    for c in metric.comparisons:
        b = c.bayesian
        params = (
            charts.normal_from_interval(
                b.relative_lift, b.relative_ci_low, b.relative_ci_high, b.ci_level
            )
            if b
            else None
        )
        if params is not None:
            curves.append(
                charts.DensityCurve(
                    labels.get(c.variant, c.variant), params[0], params[1], colors[c.variant]
                )
            )
    parts.append(
        charts.density_plot(
            curves,
            title=f"{metric.name}: posterior of the relative lift (shaded: better)",
            better_above=metric.higher_is_better,
        )
    )
    if metric.daily_lifts:
        by_variant: dict[str, list[charts.SeriesPoint]] = {}
        for d in metric.daily_lifts:
            by_variant.setdefault(d.variant, []).append(
                charts.SeriesPoint(d.day, d.lift, d.ci_low, d.ci_high)
            )
        daily_relative = metric.daily_lifts[0].kind == "relative"
        series = [
            charts.Series(labels.get(v, v), colors.get(v, charts.PALETTE[1]), points)
            for v, points in by_variant.items()
        ]
        parts.append(
            charts.timeseries_plot(
                series,
                title=f"{metric.name}: cumulative lift by day with its interval",
                fmt=charts.percent_tick if daily_relative else _relative_or_absolute(metric)[1],
            )
        )
    return '<div class="charts">' + "".join(p for p in parts if p) + "</div>"


def _quality(report: ExperimentReport) -> str:
    q = report.quality
    srm_class = ' class="flag"' if q.srm_flagged else ""
    rows = "".join(
        f"<tr><td>{escape(k)}</td><td class='num'>{fmt.count(v)}</td>"
        f"<td class='num'>{escape(fmt.number(q.expected.get(k)))}</td></tr>"
        for k, v in q.observed.items()
    )
    items = [
        ("Units exposed to several variants (excluded)", q.multiple_exposure_units),
        ("Events of units never exposed", q.orphan_events),
        ("Events before first exposure", q.events_before_exposure),
        ("Events outside every window", q.events_outside_window),
        ("Duplicate events dropped", q.duplicates_dropped),
    ]
    counts = "".join(f"<li>{label}: {fmt.count(v)}</li>" for label, v in items if v is not None)
    if q.unknown_variants:
        unknown = ", ".join(f"{escape(k)} ({v:,})" for k, v in q.unknown_variants.items())
        counts += f"<li>Exposures naming unknown variants: {unknown}</li>"
    if q.first_exposure and q.last_exposure:
        counts += f"<li>Exposures from {q.first_exposure} to {q.last_exposure}</li>"
    return (
        f"<p{srm_class}>{escape(srm_text(report))}</p>"
        f"<table><tr><th>Variant</th><th>{q.srm_unit.capitalize()}</th><th>Expected</th></tr>"
        f"{rows}</table>"
        f"<ul>{counts}</ul>"
    )


def _segments(report: ExperimentReport) -> str:
    """The exploratory per-segment table (empty when segments were not computed)."""
    if not report.segments:
        return ""
    headers = ["Metric", "Segment", "Variant", "Units (variant / control)", "Rel. lift"]
    headers += ["Interval (rel.)"]
    headers += ["p", "p adj. (within breakdown)"] if report.has_frequentist else []
    headers += ["Chance to beat control"] if report.has_bayesian else []
    rows = []
    display = segments_to_show(report.segments)
    for segment in display.rows:
        units = {v.variant: v.n for v in segment.variants}
        for c in segment.comparisons:
            lift, low, high = c.shown_relative
            values = [
                f"{fmt.count(units.get(c.variant))} / {fmt.count(units.get(c.baseline))}",
                fmt.percent(lift, sign=True),
                fmt.relative_interval(low, high),
            ]
            if report.has_frequentist:
                values += [fmt.p_value(c.p_value), fmt.p_value(c.p_value_adjusted)]
            if report.has_bayesian:
                values.append(fmt.probability(c.prob_beat_baseline))
            cells = [
                f"<td><code>{escape(segment.metric)}</code></td>",
                f"<td>{escape(segment.attribute)} = {escape(segment.value)}</td>",
                f"<td>{escape(c.variant)}</td>",
                *(f'<td class="num">{escape(v)}</td>' for v in values),
            ]
            rows.append("<tr>" + "".join(cells) + "</tr>")
    head = "<tr>" + "".join(f"<th>{escape(h)}</th>" for h in headers) + "</tr>"
    return (
        f"<h3>Segments (exploratory)</h3><p><i>{escape(SEGMENT_NOTE)}</i></p>"
        f"<table>{head}{''.join(rows)}</table>"
        + "".join(f"<p><i>{escape(line)}</i></p>" for line in display.hidden)
    )


def _allocation(report: ExperimentReport) -> str:
    """The bandit's weights over time (chart) and the same figures as a table."""
    if not report.allocation:
        return ""
    colors = _variant_colors(report)
    labels = {v.id: v.label for v in report.variants}
    rows = [
        charts.WeightRow(
            period.label,
            [(labels.get(v, v), period.weights.get(v, 0.0), colors[v]) for v in colors],
        )
        for period in report.allocation
    ]
    head = "".join(f"<th>{escape(labels.get(v, v))}</th>" for v in colors)
    body = "".join(
        f"<tr><td>{escape(period.label)}</td>"
        + "".join(
            f"<td>{period.weights.get(v, 0.0):.0%} ({period.units.get(v, 0):,})</td>"
            for v in colors
        )
        + f"<td>{sum(period.units.values()):,}</td></tr>"
        for period in report.allocation
    )
    chart = charts.weights_chart(rows, title="Allocation weights by period (adaptive)")
    return (
        f"<h3>Allocation by period</h3>{chart}<table><thead><tr><th>weights from</th>{head}"
        f"<th>units</th></tr></thead><tbody>{body}</tbody></table>"
        "<p><i>weight (units first exposed in the period)</i></p>"
    )


def _experiment(report: ExperimentReport) -> str:
    d = report.decision
    reasons = "".join(f"<li>{escape(r)}</li>" for r in d.reasons)
    warned = "".join(f'<p class="flag">Warning: {escape(w)}</p>' for w in d.warnings)
    breached = (
        f'<p class="flag">Guardrails breached: {escape(", ".join(d.guardrails_breached))}</p>'
        if d.guardrails_breached
        else ""
    )
    facts = "".join(
        f"<li><b>{escape(h.variant)}</b> on <code>{escape(report.primary_metric)}</code>: lift "
        f"<b>{escape(h.lift)}</b> ({escape(h.interval_name)} {escape(h.interval)})"
        + (f", chance to beat control <b>{escape(h.chance)}</b>" if h.has_chance else "")
        + (f", {h.p_label} {escape(h.p_value)}" if h.has_p else "")
        + "</li>"
        for h in headlines(report)
    )
    colors = _variant_colors(report)
    cards = "".join(_variant_card(v, colors[v.id]) for v in report.variants)
    metrics = "".join(
        f"<div class='metric'><h4><code>{escape(m.name)}</code> ({escape(m.role)}, "
        f"{'higher' if m.higher_is_better else 'lower'} is better)"
        f"{': ' + escape(m.description) if m.description else ''}</h4>"
        f"{_metric_table(report, m)}{_metric_charts(report, m)}"
        + "".join(f"<p><i>note: {escape(n)}</i></p>" for n in m.notes)
        + "</div>"
        for m in report.metrics
    )
    hypothesis = (
        f"<p><b>Hypothesis:</b> {escape(report.hypothesis)}</p>" if report.hypothesis else ""
    )
    sequential = ""
    if report.sequential is not None:
        s = report.sequential
        sequential = (
            f"<p><b>Sequential ({escape(s.method)}):</b> "
            f"{'may stop' if s.may_stop else 'keep monitoring'}: {escape(s.reason)}</p>"
        )
    notes = "".join(f"<p><i>note: {escape(n)}</i></p>" for n in report.notes)
    return (
        f'<section class="experiment" id="exp-{escape(report.experiment)}">'
        f"<h2>{escape(report.name)} <code>{escape(report.experiment)}</code></h2>{hypothesis}"
        f'<div class="decision {escape(d.action)}"><div class="action">'
        f"{escape(decision_text(report))}</div>{warned}<ul>{reasons}</ul>{breached}</div>"
        f"<ul>{facts}<li>{escape(srm_text(report))}</li></ul>"
        f'<h3>Variants and offers</h3><div class="variants">{cards}</div>'
        f"{_allocation(report)}"
        f"<h3>Metrics</h3>{metrics}{_segments(report)}"
        f"<h3>Data quality</h3>{_quality(report)}{sequential}{notes}"
        "</section>"
    )


def _failures(failures: Sequence[SpecFailure]) -> str:
    """One red block per spec that could not be reported (the rest still are)."""
    blocks = []
    for f in failures:
        what = "invalid spec" if f.stage == "spec" else "data could not be read"
        items = "".join(f"<li>{escape(problem)}</li>" for problem in f.problems)
        blocks.append(
            f'<section class="flag"><h2>{escape(f.title)}: {what}</h2><ul>{items}</ul></section>'
        )
    return "".join(blocks)


def render_html(
    reports: Sequence[ExperimentReport],
    *,
    title: str = "Upsell experiments",
    failures: Sequence[SpecFailure] = (),
) -> str:
    """The whole report as one HTML document (UTF-8 text)."""
    toc = "".join(
        f'<li><a href="#exp-{escape(r.experiment)}">{escape(r.name)}</a>: '
        f"{escape(ACTION_LABELS.get(r.decision.action, r.decision.action))}</li>"
        for r in reports
    )
    legend = "".join(f"<dt>{escape(t)}</dt><dd>{escape(m)}</dd>" for t, m in LEGEND)
    body = _failures(failures) + (
        "".join(_experiment(r) for r in reports) or "<p>No experiments to report.</p>"
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_CSS}</style></head>"
        f"<body><main><h1>{escape(title)}</h1><nav><ul>{toc}</ul></nav>{body}"
        f'<h3>What the numbers mean</h3><dl class="legend">{legend}</dl></main></body></html>\n'
    )


def _scoped_css(scope: str) -> str:
    """The report's CSS with every selector inside ``scope`` (page-level rules dropped),
    so a report embedded in another page (a notebook) does not restyle it."""
    rules = []
    for rule in _CSS.replace("\n", "").split("}"):
        if "{" not in rule:
            continue
        selectors, body = rule.split("{", 1)
        kept = [
            f"{scope} {sel.strip()}"
            for sel in selectors.split(",")
            if sel.strip() not in ("body", "main", "nav ul")
        ]
        if kept:
            rules.append(f"{','.join(kept)}{{{body}}}")
    return "".join(rules)


def render_html_fragment(report: ExperimentReport) -> str:
    """One experiment's report as an HTML fragment with scoped styles (for notebooks'
    ``_repr_html_``): the same sections as :func:`render_html`, no document wrapper."""
    legend = "".join(f"<dt>{escape(t)}</dt><dd>{escape(m)}</dd>" for t, m in LEGEND)
    return (
        f'<div class="upsell-ab"><style>{_scoped_css(".upsell-ab")}</style>'
        f"{_experiment(report)}"
        f'<details><summary>What the numbers mean</summary><dl class="legend">{legend}</dl>'
        "</details></div>"
    )
