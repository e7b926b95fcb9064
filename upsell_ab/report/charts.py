"""Hand-written inline SVG charts for the HTML report.

Why not matplotlib (design.md's first idea): its SVG embeds every glyph as a
path (tens of KB per chart; our 5-experiment report would exceed 300 KB), it
has no CJK glyphs by default (Japanese wording renders as boxes), importing it
costs about a second, and its output carries ids and metadata that change
between runs. Plain SVG with ``<text>`` lets the browser's fonts (CJK
included) draw labels, is a few KB per chart, deterministic, and escapes
every label with ``html.escape``. See docs/report.md for measurements.

Charts take already-decided numbers (estimates and interval bounds); the only
arithmetic here is geometry, plus the normal density curve drawn for a
posterior given as mean and standard deviation.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from html import escape
from statistics import NormalDist

PALETTE = ("#4c566a", "#2e7d32", "#c62828", "#1565c0", "#ef6c00", "#6a1b9a", "#00838f")
"""Colour per variant position: the control first (neutral grey)."""

WIDTH = 560
_LEFT_MIN, _LEFT_MAX = 60, 240
"""Forest-plot label column width (px), sized to the longest label within these bounds."""
_RIGHT = 20
_FONT = 'font-family="system-ui, -apple-system, Segoe UI, Noto Sans CJK JP, sans-serif"'

Formatter = Callable[[float], str]


def percent_tick(value: float) -> str:
    """Axis label of a relative lift: 0.1 -> "+10%"."""
    text = f"{value * 100:+.0f}%" if abs(value) >= 0.1 or value == 0 else f"{value * 100:+.1f}%"
    return "0%" if text.strip("+-") in ("0%", "0.0%") else text


def text_width(text: str, size: float = 12.0) -> float:
    """Rough rendered width in px: wide (CJK) characters ~1 em, others ~0.6 em."""
    import unicodedata

    return sum(size if unicodedata.east_asian_width(ch) in "WF" else 0.6 * size for ch in text)


def fit_label(text: str, width: float, size: float = 12.0) -> str:
    """Shorten ``text`` with an ellipsis so it fits ``width`` px (full text goes in a tooltip)."""
    if text_width(text, size) <= width:
        return text
    while text and text_width(text + "…", size) > width:
        text = text[:-1]
    return text + "…"


def _c(value: float) -> str:
    """Coordinates to 1 decimal: small, deterministic output."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values (1, 2, 5 x 10^k steps) covering [low, high]."""
    if not (math.isfinite(low) and math.isfinite(high)) or high <= low:
        return [low] if math.isfinite(low) else []
    raw = (high - low) / max(count - 1, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.ceil(low / step - 1e-9) * step
    ticks: list[float] = []
    value = first
    while value <= high + step * 1e-9:
        ticks.append(0.0 if abs(value) < step * 1e-9 else round(value, 12))
        value += step
    return ticks


def _padded_range(values: Sequence[float], include_zero: bool = True) -> tuple[float, float]:
    finite = [v for v in values if math.isfinite(v)]
    if include_zero:
        finite.append(0.0)
    low, high = min(finite), max(finite)
    if high - low < 1e-12:
        low, high = low - 0.01, high + 0.01
    pad = (high - low) * 0.08
    return low - pad, high + pad


class _Scale:
    def __init__(self, low: float, high: float, start: float, end: float) -> None:
        self.low, self.high, self.start, self.end = low, high, start, end

    def __call__(self, value: float) -> float:
        return self.start + (value - self.low) / (self.high - self.low) * (self.end - self.start)


def _svg_open(height: int, title: str) -> list[str]:
    safe = escape(title)
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" '
        f'aria-label="{safe}" {_FONT} font-size="12">',
        f"<title>{safe}</title>",
        f'<text x="8" y="16" font-weight="600" font-size="13">{safe}</text>',
    ]


def _x_axis(
    scale: _Scale, ticks: Sequence[float], top: float, bottom: float, fmt: Formatter
) -> list[str]:
    parts = []
    for tick in ticks:
        x = _c(scale(tick))
        stroke = "#888" if tick == 0 else "#e3e3e3"
        parts.append(
            f'<line x1="{x}" y1="{_c(top)}" x2="{x}" y2="{_c(bottom)}" stroke="{stroke}"/>'
        )
        parts.append(
            f'<text x="{x}" y="{_c(bottom + 14)}" text-anchor="middle" fill="#555">'
            f"{escape(fmt(tick))}</text>"
        )
    return parts


# ------------------------------------------------------------------ forest
@dataclass(frozen=True)
class ForestRow:
    label: str
    estimate: float | None
    low: float | None
    high: float | None
    color: str = PALETTE[1]


def forest_plot(
    rows: Sequence[ForestRow],
    *,
    title: str,
    fmt: Formatter = percent_tick,
    reference: float | None = None,
    reference_label: str = "",
) -> str:
    """Each variant's lift with its interval; a vertical line at no change and
    an optional dashed ``reference`` (e.g. a guardrail's -margin)."""
    values = [v for r in rows for v in (r.estimate, r.low, r.high) if v is not None]
    if reference is not None:
        values.append(reference)
    if not values:
        return ""
    lo, hi = _padded_range(values)
    row_h, top = 26, 30
    bottom = top + row_h * len(rows) + 6
    height = int(bottom + 22)
    longest = max(text_width(r.label) for r in rows)
    left = min(max(longest + 16, _LEFT_MIN), _LEFT_MAX)
    scale = _Scale(lo, hi, left, WIDTH - _RIGHT)
    parts = _svg_open(height, title)
    parts += _x_axis(scale, nice_ticks(lo, hi), top, bottom, fmt)
    if reference is not None:
        x = _c(scale(reference))
        parts.append(
            f'<line x1="{x}" y1="{_c(top)}" x2="{x}" y2="{_c(bottom)}" stroke="#c62828" '
            f'stroke-dasharray="4 3"><title>{escape(reference_label)}</title></line>'
        )
    for index, row in enumerate(rows):
        y = top + row_h * index + row_h / 2
        parts.append(
            f'<text x="{_c(left - 8)}" y="{_c(y + 4)}" text-anchor="end">'
            f"<title>{escape(row.label)}</title>{escape(fit_label(row.label, left - 12))}</text>"
        )
        if row.low is not None and row.high is not None:
            x1, x2 = _c(scale(row.low)), _c(scale(row.high))
            parts.append(
                f'<line x1="{x1}" y1="{_c(y)}" x2="{x2}" y2="{_c(y)}" stroke="{row.color}" '
                f'stroke-width="3" stroke-linecap="round"/>'
            )
        if row.estimate is not None:
            tip = f"{fmt(row.estimate)}"
            if row.low is not None and row.high is not None:
                tip += f" [{fmt(row.low)}, {fmt(row.high)}]"
            parts.append(
                f'<circle cx="{_c(scale(row.estimate))}" cy="{_c(y)}" r="5" fill="{row.color}" '
                f'stroke="#fff"><title>{escape(tip)}</title></circle>'
            )
        else:
            parts.append(f'<text x="{_c(left + 6)}" y="{_c(y + 4)}" fill="#888">n/a</text>')
    parts.append("</svg>")
    return "\n".join(parts)


# ----------------------------------------------------------------- density
@dataclass(frozen=True)
class DensityCurve:
    """A normal posterior N(mean, sd^2) of the lift, drawn as a curve."""

    label: str
    mean: float
    sd: float
    color: str = PALETTE[1]


def normal_from_interval(
    estimate: float | None, low: float | None, high: float | None, level: float
) -> tuple[float, float] | None:
    """Mean and sd of the normal whose central ``level`` interval is [low, high]
    (the Gaussian posterior of the relative lift in GrowthBook's engine is
    exactly this; for Beta-Binomial it is the usual normal approximation)."""
    if low is None or high is None or not (0 < level < 1) or not high > low:
        return None
    z = NormalDist().inv_cdf(0.5 + level / 2)
    mean = estimate if estimate is not None else (low + high) / 2
    return mean, (high - low) / (2 * z)


def density_plot(
    curves: Sequence[DensityCurve],
    *,
    title: str,
    fmt: Formatter = percent_tick,
    better_above: bool = True,
) -> str:
    """Posterior densities; the area on the 'better' side of zero shaded
    (above zero for higher-is-better metrics, below for lower-is-better)."""
    curves = [c for c in curves if c.sd > 0 and math.isfinite(c.mean) and math.isfinite(c.sd)]
    if not curves:
        return ""
    lo, hi = _padded_range([v for c in curves for v in (c.mean - 3.5 * c.sd, c.mean + 3.5 * c.sd)])
    top, bottom = 30, 150
    legend_y = bottom + 34
    height = legend_y + 16 * len(curves) + 4
    scale = _Scale(lo, hi, 40, WIDTH - _RIGHT)
    peak = max(1 / (c.sd * math.sqrt(2 * math.pi)) for c in curves)
    y_scale = _Scale(0, peak * 1.05, bottom, top)
    parts = _svg_open(height, title)
    parts += _x_axis(scale, nice_ticks(lo, hi), top, bottom, fmt)
    steps = 80
    for curve in curves:
        dist = NormalDist(curve.mean, curve.sd)
        xs = [lo + (hi - lo) * i / steps for i in range(steps + 1)]
        points = [(scale(x), y_scale(dist.pdf(x))) for x in xs]
        line = " ".join(f"{_c(px)},{_c(py)}" for px, py in points)
        side = [x for x in xs if (x >= 0 if better_above else x <= 0)]
        edge = [0.0] if lo < 0 < hi else []
        side = sorted(set(side + edge))
        right = [(scale(x), y_scale(dist.pdf(x))) for x in side]
        if right:
            area = [(right[0][0], bottom), *right, (right[-1][0], bottom)]
            shade = " ".join(f"{_c(px)},{_c(py)}" for px, py in area)
            parts.append(f'<polygon points="{shade}" fill="{curve.color}" fill-opacity="0.15"/>')
        parts.append(
            f'<polyline points="{line}" fill="none" stroke="{curve.color}" stroke-width="2"/>'
        )
    for index, curve in enumerate(curves):
        y = legend_y + 16 * index
        parts.append(
            f'<rect x="40" y="{y - 9}" width="12" height="4" fill="{curve.color}"/>'
            f'<text x="58" y="{y}">{escape(curve.label)}</text>'
        )
    parts.append("</svg>")
    return "\n".join(parts)


# -------------------------------------------------------------- timeseries
@dataclass(frozen=True)
class SeriesPoint:
    day: date
    value: float | None
    low: float | None
    high: float | None


@dataclass(frozen=True)
class Series:
    label: str
    color: str
    points: list[SeriesPoint] = field(default_factory=list)


def timeseries_plot(series: Sequence[Series], *, title: str, fmt: Formatter = percent_tick) -> str:
    """Cumulative lift per day with its (anytime-valid) interval as a band."""
    days = sorted({p.day for s in series for p in s.points})
    values = [
        v for s in series for p in s.points for v in (p.value, p.low, p.high) if v is not None
    ]
    if len(days) < 1 or not values:
        return ""
    lo, hi = _padded_range(values)
    top, bottom = 30, 190
    legend_y = bottom + 34
    height = legend_y + 16 * len(series) + 4
    first = days[0].toordinal()
    span = max(days[-1].toordinal() - first, 1)
    x_scale = _Scale(0, span, 50, WIDTH - _RIGHT)
    y_scale = _Scale(lo, hi, bottom, top)
    parts = _svg_open(height, title)
    for tick in nice_ticks(lo, hi):
        y = _c(y_scale(tick))
        stroke = "#888" if tick == 0 else "#e3e3e3"
        parts.append(f'<line x1="50" y1="{y}" x2="{WIDTH - _RIGHT}" y2="{y}" stroke="{stroke}"/>')
        parts.append(
            f'<text x="46" y="{_c(y_scale(tick) + 4)}" text-anchor="end" fill="#555">'
            f"{escape(fmt(tick))}</text>"
        )
    label_days = [(days[0], "start"), (days[-1], "end")] if len(days) > 1 else [(days[0], "start")]
    for day, anchor in label_days:
        x = _c(x_scale(day.toordinal() - first))
        parts.append(
            f'<text x="{x}" y="{bottom + 14}" text-anchor="{anchor}" fill="#555">'
            f"{day.isoformat()}</text>"
        )
    for s in series:
        pts = sorted(s.points, key=lambda p: p.day)
        band = [
            (x_scale(p.day.toordinal() - first), y_scale(p.low), y_scale(p.high))
            for p in pts
            if p.low is not None and p.high is not None
        ]
        if len(band) >= 2:
            upper = [(x, high) for x, _, high in band]
            lower = [(x, low) for x, low, _ in band]
            poly = " ".join(f"{_c(x)},{_c(y)}" for x, y in upper + lower[::-1])
            parts.append(f'<polygon points="{poly}" fill="{s.color}" fill-opacity="0.15"/>')
        line = [
            (x_scale(p.day.toordinal() - first), y_scale(p.value))
            for p in pts
            if p.value is not None
        ]
        if len(line) >= 2:
            coords = " ".join(f"{_c(x)},{_c(y)}" for x, y in line)
            parts.append(
                f'<polyline points="{coords}" fill="none" stroke="{s.color}" stroke-width="2"/>'
            )
        for last_x, last_y in line[-1:]:
            parts.append(f'<circle cx="{_c(last_x)}" cy="{_c(last_y)}" r="3" fill="{s.color}"/>')
    for index, s in enumerate(series):
        legend = legend_y + 16 * index
        parts.append(
            f'<rect x="50" y="{legend - 9}" width="12" height="4" fill="{s.color}"/>'
            f'<text x="68" y="{legend}">{escape(s.label)}</text>'
        )
    parts.append("</svg>")
    return "\n".join(parts)


# ----------------------------------------------------------------- allocation
@dataclass(frozen=True)
class WeightRow:
    """One allocation period: its label and each variant's (label, weight, colour)."""

    label: str
    shares: Sequence[tuple[str, float, str]]


def weights_chart(rows: Sequence[WeightRow], *, title: str) -> str:
    """The bandit's weights over time: one 100 % bar per allocation period, split by
    variant (the control first), with the weight as a tooltip and, when wide enough,
    as text inside its segment."""
    if not rows:
        return ""
    row_h, top = 22, 30
    longest = max(text_width(r.label) for r in rows)
    left = min(max(longest + 16, _LEFT_MIN), _LEFT_MAX)
    legend_y = top + row_h * len(rows) + 16
    height = int(legend_y + 18)
    scale = _Scale(0.0, 1.0, left, WIDTH - _RIGHT)
    parts = _svg_open(height, title)
    for index, row in enumerate(rows):
        y = top + row_h * index
        parts.append(
            f'<text x="{_c(left - 8)}" y="{_c(y + row_h / 2 + 4)}" text-anchor="end">'
            f"<title>{escape(row.label)}</title>{escape(fit_label(row.label, left - 12))}</text>"
        )
        start = 0.0
        for name, weight, color in row.shares:
            x1, x2 = scale(start), scale(start + weight)
            tip = f"{name}: {weight:.1%}"
            parts.append(
                f'<rect x="{_c(x1)}" y="{_c(y + 2)}" width="{_c(max(x2 - x1, 0.0))}" '
                f'height="{_c(row_h - 4)}" fill="{color}"><title>{escape(tip)}</title></rect>'
            )
            if x2 - x1 >= 36:
                parts.append(
                    f'<text x="{_c((x1 + x2) / 2)}" y="{_c(y + row_h / 2 + 4)}" '
                    f'text-anchor="middle" fill="#fff">{weight:.0%}</text>'
                )
            start += weight
    x = float(left)
    for name, _, color in rows[0].shares:
        parts.append(
            f'<rect x="{_c(x)}" y="{_c(legend_y - 9)}" width="10" height="10" fill="{color}"/>'
        )
        label = fit_label(name, 140)
        parts.append(f'<text x="{_c(x + 14)}" y="{_c(legend_y)}">{escape(label)}</text>')
        x += 14 + text_width(label) + 16
    parts.append("</svg>")
    return "\n".join(parts)
