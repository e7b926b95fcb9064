"""Headline when control's mean is 0 (absolute lift instead of "n/a") and the variants
still in contention when the decision is to keep running."""

from __future__ import annotations

from dataclasses import replace

from upsell_ab.report.labels import contenders, decision_text, headlines
from upsell_ab.report.markdown import render_markdown
from upsell_ab.report.model import ExperimentReport
from upsell_ab.report.sample import sample_report


def _with_primary(report: ExperimentReport, **changes: object) -> ExperimentReport:
    metrics = []
    for metric in report.metrics:
        if metric.name == report.primary_metric:
            comparisons = [replace(c, **changes) for c in metric.comparisons]  # type: ignore[arg-type]
            metric = replace(metric, comparisons=comparisons)
        metrics.append(metric)
    return replace(report, metrics=metrics)


def test_zero_control_shows_the_absolute_lift() -> None:
    report = _with_primary(
        sample_report(),
        relative_lift=None,
        relative_ci_low=None,
        relative_ci_high=None,
        absolute_lift=0.0125,
        ci_low=0.004,
        ci_high=0.021,
        bayesian=None,
    )
    (line,) = headlines(report)
    assert line.lift == "+1.25 pp absolute (control is 0)"
    assert line.interval == "[+0.40 pp, +2.10 pp]"
    text = render_markdown([report]).split("<details>")[0]
    # headline (report/headline.py): "**B** **<lift>** (<interval name> <interval>)"
    assert "**+1.25 pp absolute (control is 0)** (95% confidence sequence" in text
    assert "n/a" not in text.split("\n- guardrails")[0]
    # the overview row shows the same absolute lift, not "n/a"
    assert "| B +1.25 pp absolute (control is 0) \\[+0.40 pp, +2.10 pp\\] |" in text


def test_keep_running_names_the_variants_in_contention() -> None:
    report = sample_report()
    assert contenders(report) == ["Generic (A) (control)", "Specific benefit (B)"]
    worse = _with_primary(report, ci_low=-0.05, ci_high=-0.01)
    assert worse.decision_metric == worse.primary_metric
    assert contenders(worse) == ["Generic (A) (control)"]
    assert decision_text(worse).endswith("still in contention: Generic (A) (control)")
