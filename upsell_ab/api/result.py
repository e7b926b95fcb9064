"""What :meth:`Experiment.analyze` returns: the decision, the numbers, every renderer.

A :class:`Result` wraps the same :class:`~upsell_ab.workflow.ExperimentRun`
the CLI renders, so ``result.to_json()`` is byte-for-byte the text of
``upsell-ab analyze SPEC --format json`` on the same data, and the Markdown and
HTML are the CLI's too. ``to_pandas`` flattens the JSON document (never
recomputes), one row per metric x variant.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import cached_property
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

    from upsell_ab.report.metric import ComparisonReport, MetricReport
    from upsell_ab.report.model import ExperimentReport
    from upsell_ab.workflow import ExperimentRun

FRAME_COLUMNS: tuple[tuple[str, str], ...] = (
    ("experiment", "experiment id"),
    ("metric", "metric name (catalogue)"),
    ("role", "primary, decision, secondary or guardrail"),
    ("type", "proportion, mean, count, ratio, retention or profit"),
    ("direction", "higher_is_better or lower_is_better"),
    ("variant", "variant id"),
    ("is_control", "True on the baseline's own row (comparison columns empty)"),
    ("baseline", "the variant compared against (the control)"),
    ("n", "units analysed in the variant"),
    ("mean", "per-unit mean (a share for proportion/retention; ratio of sums for ratio)"),
    ("absolute_lift", "variant mean - baseline mean (frequentist; CUPED-adjusted when on)"),
    ("relative_lift", "absolute_lift / |baseline mean|"),
    ("ci_low", "lower bound of the interval of the absolute lift"),
    ("ci_high", "upper bound of the interval of the absolute lift"),
    ("relative_ci_low", "lower bound of the interval of the relative lift"),
    ("relative_ci_high", "upper bound of the interval of the relative lift"),
    ("ci_level", "coverage of the intervals, e.g. 0.95"),
    ("method", "frequentist test, e.g. 'pooled z-test', 'welch t-test', 'cuped welch'"),
    ("status", "ok, or why a number could not be computed"),
    ("statistic", "test statistic (z or t)"),
    ("p_value", "unadjusted p-value"),
    ("p_value_adjusted", "after the spec's multiple-testing correction (primary metric)"),
    ("sequential", "True when the intervals are anytime-valid confidence sequences"),
    ("variance_reduction", "CUPED: 1 - Var(adjusted)/Var(unadjusted) of the lift"),
    ("prob_beat_baseline", "Bayesian P(variant better than baseline)"),
    ("expected_loss", "Bayesian E[loss] of shipping the variant, metric units"),
    ("prob_best", "Bayesian P(best among all variants), on every row of the metric"),
    ("bayes_relative_lift", "posterior mean of the relative lift"),
    ("bayes_relative_ci_low", "credible interval of the relative lift, low"),
    ("bayes_relative_ci_high", "credible interval of the relative lift, high"),
    ("non_inferiority_passed", "guardrails: non-inferiority shown (None: not decidable)"),
    ("non_inferiority_p_value", "guardrails: one-sided p-value against the margin"),
)
"""Columns of :meth:`Result.to_pandas`, in order, with their meaning. Missing values
(an engine that did not run, the control's comparison) are NaN / None."""


@dataclass(frozen=True)
class Decision:
    """The spec's decision rule applied to the results."""

    action: str
    """``ship``, ``keep_control``, ``keep_running`` or ``invalid``."""
    winner: str | None
    """The variant to ship (``action == 'ship'``), else None."""
    reasons: list[str]
    """Plain-words reasons, the same lines every report prints."""
    additional_units_needed: int | None = None
    additional_days_needed: float | None = None
    guardrails_breached: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    """Data-quality warnings every report's headline shows (the verdict stands): time-zone
    slips, orphan events, a metric whose events the source never holds, ..."""
    planned_look: date | None = None
    """A running fixed-horizon test past its planned sample (no end date): the day its
    verdict is held to (docs/decision.md), else None."""


class Result:
    """The analysis of one experiment: decision, per-metric comparisons, renderers.

    Example:
        >>> import upsell_ab
        >>> exp = upsell_ab.load("experiments/cake_wording.yaml")
        >>> result = exp.analyze([
        ...     {"variant": "generic", "metric": "upsell_take_rate", "n": 2000, "sum": 180},
        ...     {"variant": "pairing", "metric": "upsell_take_rate", "n": 2000, "sum": 250},
        ...     {"variant": "generic", "metric": "complaint_rate", "n": 2000, "sum": 10},
        ...     {"variant": "pairing", "metric": "complaint_rate", "n": 2000, "sum": 8},
        ... ])
        >>> result.decision.action, result.decision.winner
        ('ship', 'pairing')
        >>> frame = result.to_pandas().set_index(["metric", "variant"])
        >>> row = frame.loc[("upsell_take_rate", "pairing")]
        >>> float(row["mean"]), round(float(row["absolute_lift"]), 3)
        (0.125, 0.035)
    """

    def __init__(self, run: ExperimentRun) -> None:
        self.run = run
        """The workflow's record (resolved spec, sufficient statistics, analysis, outcome)."""

    def __repr__(self) -> str:
        d = self.decision
        winner = f" {d.winner}" if d.winner else ""
        return f"<Result {self.report.experiment!r}: {d.action}{winner}>"

    @cached_property
    def report(self) -> ExperimentReport:
        """The typed report model every renderer reads."""
        return self.run.report()

    @property
    def decision(self) -> Decision:
        """Action, winner and reasons."""
        d = self.report.decision
        return Decision(
            action=d.action,
            winner=d.variant if d.action == "ship" else None,
            reasons=list(d.reasons),
            additional_units_needed=d.additional_units_needed,
            additional_days_needed=d.additional_days_needed,
            guardrails_breached=tuple(d.guardrails_breached),
            warnings=tuple(d.warnings),
            planned_look=date.fromisoformat(d.planned_look) if d.planned_look else None,
        )

    @property
    def metrics(self) -> list[MetricReport]:
        """Per-metric results (variants' means, comparisons, P(best)), primary first."""
        return list(self.report.metrics)

    def metric(self, name: str) -> MetricReport:
        """One metric's results; ``KeyError`` naming the metrics when unknown."""
        found = self.report.metric(name)
        if found is None:
            known = ", ".join(m.name for m in self.report.metrics)
            raise KeyError(f"no metric {name!r} in the result (metrics: {known})")
        return found

    def comparisons(self, metric: str | None = None) -> list[ComparisonReport]:
        """Treatment-vs-control comparisons of ``metric`` (default: the primary)."""
        return list(self.metric(metric or self.report.primary_metric).comparisons)

    @property
    def quality_failed(self) -> bool:
        """SRM flagged, too many multiple exposures or another blocking data gate (the
        decision is ``invalid``): what ``--fail-on quality`` checks."""
        return self.run.quality_failed

    @property
    def guardrail_breached(self) -> bool:
        """A guardrail is significantly worse (what ``--fail-on guardrail`` checks)."""
        return self.run.guardrail_breached

    # ----------------------------------------------------------------- renderers
    def to_dict(self) -> dict[str, Any]:
        """The JSON document of ``analyze --format json`` as Python values."""
        from upsell_ab.report.model import to_document

        return to_document([self.report])

    def to_json(self, *, indent: int | None = 2) -> str:
        """The exact text ``upsell-ab analyze SPEC --format json`` prints."""
        from upsell_ab.report.json_format import render_json
        from upsell_ab.safe_text import escape_json_text

        return escape_json_text(render_json([self.report], indent=indent))

    def to_markdown(self) -> str:
        """The Markdown report (as in a CI job summary)."""
        from upsell_ab.report.render import render

        return render([self.report], "markdown")

    def to_html(self) -> str:
        """The self-contained HTML report with its charts (one offline file)."""
        from upsell_ab.report.render import render

        return render([self.report], "html")

    def to_text(self, *, color: bool = False) -> str:
        """The terminal report."""
        from upsell_ab.report.render import render

        return render([self.report], "text", color=color)

    def render(self, fmt: str) -> str:
        """Any of ``text``, ``markdown``, ``json``, ``html`` (what ``--format`` takes)."""
        from upsell_ab.report.render import render

        return render([self.report], fmt)

    def _repr_html_(self) -> str:
        from upsell_ab.report.html import render_html_fragment
        from upsell_ab.safe_text import escape_strings

        # spec and data text is untrusted: control/bidi characters shown as escapes
        return render_html_fragment(escape_strings(self.report))

    def _repr_markdown_(self) -> str:
        return self.to_markdown()

    def to_pandas(self) -> pd.DataFrame:
        """One tidy row per metric x variant; columns in :data:`FRAME_COLUMNS`.

        Values are read from :meth:`to_dict`, so they equal the JSON numbers.
        """
        import pandas as pd

        from upsell_ab.api.frame import frame_rows

        names = [name for name, _ in FRAME_COLUMNS]
        return pd.DataFrame(frame_rows(self.to_dict()), columns=names)

    def plot(self, kind: str = "forest", *, metric: str | None = None) -> Figure:
        """A matplotlib figure: ``forest`` (relative lift and interval of every treatment,
        one panel per metric) or ``posterior`` (the Bayesian posterior of the relative
        lift of ``metric``, default the primary). Style it, or ``fig.savefig(...)``."""
        from upsell_ab.api.plot import forest, posterior

        if kind == "forest":
            return forest(self.report, metric)
        if kind == "posterior":
            return posterior(self.report, metric or self.report.primary_metric)
        raise ValueError(f"unknown plot kind {kind!r} (use 'forest' or 'posterior')")
