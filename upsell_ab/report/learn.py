"""What ``upsell-ab learn`` prints: pooled effects by lever in text, Markdown, JSON, HTML.

Numbers are shown on the scale of the comparisons' ``estimate`` column (the pooling does
not transform them). JSON keeps full precision (rounded to 12 significant digits like
every report) and, for one pool, has the top-level keys ``estimate``, ``ci``, ``tau2``,
``i2``, ``prediction_interval`` and ``weights`` (per comparison, in row order); with
``--by`` each value of the lever is one entry of ``groups`` with the same keys.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from html import escape
from typing import Any

from upsell_ab.learn.pool import Pool
from upsell_ab.report.rounding import round_floats


def _interval(pair: tuple[float, float] | None) -> list[float] | None:
    return None if pair is None else [pair[0], pair[1]]


def pool_dict(pool: Pool) -> dict[str, Any]:
    r = pool.result
    shares = r.relative_weights
    return {
        "metric": pool.metric,
        "lever": pool.lever,
        "value": pool.value,
        "method": r.method,
        "hksj": r.hksj,
        "level": r.level,
        "k": r.k,
        "estimate": r.estimate,
        "se": r.se,
        "ci": _interval(r.ci),
        "tau2": r.tau2,
        "i2": r.i2,
        "q": r.q,
        "q_df": r.q_df,
        "q_p_value": r.q_p_value,
        "prediction_interval": _interval(r.prediction_interval),
        "converged": r.converged,
        "weights": list(shares),
        "comparisons": [
            {
                "experiment": c.experiment,
                "line": c.line,
                "levers": dict(c.levers),
                "estimate": c.estimate,
                "se": c.se,
                "weight": share,
                "n_control": c.n_control,
                "n_treatment": c.n_treatment,
            }
            for c, share in zip(pool.comparisons, shares, strict=True)
        ],
        "notes": list(pool.notes),
    }


def render_json(pools: Sequence[Pool]) -> str:
    if len(pools) == 1 and pools[0].lever is None:
        document: dict[str, Any] = pool_dict(pools[0])
    else:
        document = {
            "metric": pools[0].metric,
            "by": pools[0].lever,
            "groups": [pool_dict(p) for p in pools],
        }
    return json.dumps(round_floats(document), indent=2, ensure_ascii=False) + "\n"


def _method(pool: Pool) -> str:
    r = pool.result
    name = {"fe": "fixed effect", "dl": "random effects (DerSimonian-Laird)"}.get(
        r.method, "random effects (REML)"
    )
    return name + (", Hartung-Knapp interval" if r.hksj else "")


def _title(pool: Pool) -> str:
    group = f", {pool.lever} = {pool.value}" if pool.lever else ""
    return f"{pool.metric}{group}: {pool.result.k} comparisons, {_method(pool)}"


def _summary(pool: Pool) -> list[str]:
    r = pool.result
    level = f"{r.level:.0%}"
    lines = [
        f"pooled estimate {r.estimate:+.4f} ({level} CI {r.ci[0]:+.4f} to {r.ci[1]:+.4f})",
        f"between-experiment variance tau^2 {r.tau2:.4f}; I^2 {r.i2:.1%}; "
        + (
            f"Q {r.q:.2f} on {r.q_df} df (p = {r.q_p_value:.3g})"
            if r.q_p_value is not None
            else "Q not tested (one comparison)"
        ),
    ]
    if r.prediction_interval is not None:
        low, high = r.prediction_interval
        lines.append(
            f"the next experiment's true effect: {level} prediction {low:+.4f} to {high:+.4f}"
        )
    return lines + [f"note: {n}" for n in pool.notes]


def _rows(pool: Pool) -> list[list[str]]:
    return [
        [
            c.experiment,
            f"{c.estimate:+.4f}",
            f"{c.se:.4f}",
            f"{share:.1%}",
        ]
        for c, share in zip(pool.comparisons, pool.result.relative_weights, strict=True)
    ]


def render_text(pools: Sequence[Pool]) -> str:
    out: list[str] = []
    for pool in pools:
        out.append(_title(pool))
        rows = [["experiment", "estimate", "se", "weight"], *_rows(pool)]
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        for row in rows:
            out.append("  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
        out += [f"  {line}" for line in _summary(pool)]
        out.append("")
    return "\n".join(out)


def _md(text: str) -> str:
    from upsell_ab.report.markdown import escape as md_escape

    return md_escape(text)


def render_markdown(pools: Sequence[Pool]) -> str:
    out: list[str] = []
    for pool in pools:
        out += [f"### {_md(_title(pool))}", "", "| experiment | estimate | se | weight |"]
        out.append("|---|---:|---:|---:|")
        out += ["| " + " | ".join(_md(cell) for cell in row) + " |" for row in _rows(pool)]
        out.append("")
        out += [f"- {_md(line)}" for line in _summary(pool)]
        out.append("")
    return "\n".join(out)


def render_html(pools: Sequence[Pool]) -> str:
    from upsell_ab.report import charts

    sections = []
    for pool in pools:
        r = pool.result
        rows = [
            charts.ForestRow(
                c.experiment,
                c.estimate,
                c.estimate - 1.959963984540054 * c.se,
                c.estimate + 1.959963984540054 * c.se,
                charts.PALETTE[0],
            )
            for c in pool.comparisons
        ]
        rows.append(charts.ForestRow("pooled", r.estimate, r.ci[0], r.ci[1], charts.PALETTE[1]))
        if r.prediction_interval is not None:
            low, high = r.prediction_interval
            rows.append(
                charts.ForestRow("next experiment", r.estimate, low, high, charts.PALETTE[3])
            )
        chart = charts.forest_plot(
            rows, title=_title(pool), fmt=lambda x: f"{x:+.2f}", reference=None
        )
        table = "".join(
            "<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>"
            for row in _rows(pool)
        )
        summary = "".join(f"<li>{escape(line)}</li>" for line in _summary(pool))
        sections.append(
            f"<section><h2>{escape(_title(pool))}</h2>{chart}"
            "<table><thead><tr><th>experiment</th><th>estimate</th><th>se</th><th>weight</th>"
            f"</tr></thead><tbody>{table}</tbody></table><ul>{summary}</ul></section>"
        )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        "<title>upsell-ab learn</title></head><body>"
        "<p>Comparisons' own intervals are 95 % normal intervals from their standard errors; "
        "the pooled row is the meta-analysis' interval, 'next experiment' its prediction "
        "interval.</p>" + "".join(sections) + "</body></html>\n"
    )


RENDERERS = {
    "text": render_text,
    "markdown": render_markdown,
    "json": render_json,
    "html": render_html,
}
