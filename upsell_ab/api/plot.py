"""matplotlib figures of a result, for users who style their own charts.

The HTML report draws its charts as hand-written SVG (README design notes);
these figures draw the same numbers with matplotlib (an optional dependency,
imported only here) and are built with ``matplotlib.figure.Figure`` directly,
so no pyplot state or GUI backend is involved.

- ``forest``: per treatment, the relative lift and its interval (the
  frequentist interval, or the credible interval when only the Bayesian engine
  runs), one panel per metric.
- ``posterior``: the Gaussian posterior of the relative lift, recovered from
  its reported mean and central credible interval: sd = (high - low) / (2 z),
  z = Phi^-1((1 + level) / 2).
"""

from __future__ import annotations

from statistics import NormalDist
from typing import TYPE_CHECKING, Any

from upsell_ab.errors import InputError, Location, Problem

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from upsell_ab.report.model import ExperimentReport

PALETTE = ("#2e7d32", "#c62828", "#1565c0", "#ef6c00", "#6a1b9a", "#00838f")


def _figure(rows: int, height: float) -> tuple[Figure, list[Any]]:
    try:
        from matplotlib.figure import Figure
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise InputError(
            [
                Problem(
                    Location(field="plot"),
                    "plots need matplotlib",
                    "pip install matplotlib (or 'upsell_ab[plot]')",
                )
            ]
        ) from error
    figure = Figure(figsize=(7.0, max(1.8, height * rows)), layout="constrained")
    axes = figure.subplots(rows, 1, squeeze=False)[:, 0]
    return figure, list(axes)


def forest(report: ExperimentReport, metric: str | None = None) -> Figure:
    """Relative lift with its interval per treatment, one panel per metric."""
    metrics = [m for m in report.metrics if metric is None or m.name == metric]
    if not metrics:
        raise KeyError(f"no metric {metric!r} in the result")
    figure, axes = _figure(len(metrics), 0.5 + 0.45 * max(len(m.comparisons) for m in metrics))
    for ax, m in zip(axes, metrics, strict=True):
        labels: list[str] = []
        for i, c in enumerate(m.comparisons):
            lift, low, high = c.shown_relative
            labels.append(c.variant)
            if lift is None:
                continue
            color = PALETTE[i % len(PALETTE)]
            if low is not None and high is not None:
                ax.hlines(i, low, high, color=color, linewidth=2.5)
            ax.plot([lift], [i], "o", color=color)
        ax.axvline(0.0, color="#888", linewidth=1, linestyle="--")
        ax.set_yticks(range(len(labels)), labels)
        ax.set_ylim(-0.7, len(labels) - 0.3)
        ax.invert_yaxis()
        ax.xaxis.set_major_formatter(lambda x, _: f"{x * 100:+.0f}%")
        ax.set_title(f"{m.name} ({m.role}): relative lift vs {report.control.id}", loc="left")
    return figure


def posterior(report: ExperimentReport, metric: str) -> Figure:
    """Posterior density of the relative lift of every treatment on ``metric``."""
    found = report.metric(metric)
    if found is None:
        raise KeyError(f"no metric {metric!r} in the result")
    figure, (ax,) = _figure(1, 3.0)
    drawn = 0
    for i, c in enumerate(found.comparisons):
        b = c.bayesian
        if b is None or None in (b.relative_lift, b.relative_ci_low, b.relative_ci_high):
            continue
        assert b.relative_lift is not None and b.relative_ci_low is not None
        assert b.relative_ci_high is not None
        z = NormalDist().inv_cdf((1.0 + b.ci_level) / 2.0)
        sd = (b.relative_ci_high - b.relative_ci_low) / (2.0 * z)
        if sd <= 0:
            continue
        dist = NormalDist(b.relative_lift, sd)
        xs = [b.relative_lift + sd * (k / 25.0 - 4.0) for k in range(201)]
        color = PALETTE[i % len(PALETTE)]
        ax.plot(xs, [dist.pdf(x) for x in xs], color=color, label=c.variant)
        ax.fill_between(xs, [dist.pdf(x) for x in xs], alpha=0.15, color=color)
        drawn += 1
    if not drawn:
        raise InputError(
            [
                Problem(
                    Location(field="plot"),
                    f"no Bayesian posterior for {metric!r}",
                    "run the Bayesian engine (analysis.engine: bayesian or both)",
                )
            ]
        )
    ax.axvline(0.0, color="#888", linewidth=1, linestyle="--")
    ax.xaxis.set_major_formatter(lambda x, _: f"{x * 100:+.0f}%")
    ax.set_yticks([])
    ax.legend(frameon=False)
    ax.set_title(f"{metric}: posterior of the relative lift vs {report.control.id}", loc="left")
    return figure
