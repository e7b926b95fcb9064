"""Per-segment breakdown: analysis on hand-made statistics, report in every format.

Oracles: statsmodels' pooled two-proportion z-test on each segment's counts,
statsmodels' Holm adjustment over the breakdown's family, the JSON Schema, and
the whole-experiment result (segments must not change it)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportions_ztest

from upsell_ab.decision.rules import decide
from upsell_ab.metrics.aggregates import ExperimentData, MetricData, QualitySummary
from upsell_ab.metrics.sufficient import SampleStats
from upsell_ab.report.model import build_report
from upsell_ab.report.render import render
from upsell_ab.spec.models import Analysis, Experiment, MetricDefinition, MetricRoles, Variant
from upsell_ab.spec.resolve import ResolvedExperiment
from upsell_ab.stats.analysis import analyze

SCHEMA = Path(__file__).resolve().parents[1] / "docs" / "report.schema.json"
VARIANTS = ("control", "a", "b")
SEGMENTS = {
    ("channel", "app"): {"control": (1000, 200), "a": (500, 130), "b": (500, 105)},
    ("channel", "in_store"): {"control": (1000, 180), "a": (500, 95), "b": (500, 92)},
    ("channel", "<b>web</b>"): {"control": (200, 40), "a": (100, 21), "b": (100, 30)},
}


def _resolved(engine: str = "both") -> ResolvedExperiment:
    rule = {"both": "frequentist", "frequentist": "frequentist", "bayesian": "bayesian"}[engine]
    experiment = Experiment(
        id="seg",
        name="Segments",
        variants=[
            Variant(id="control", weight=0.5, control=True),
            Variant(id="a", weight=0.25),
            Variant(id="b", weight=0.25),
        ],
        metrics=MetricRoles(primary="take_rate", secondary=["aov_proxy"]),
        analysis=Analysis(engine=engine, decision={"rule": rule}, segments=["channel"]),
    )
    metrics = {
        "take_rate": MetricDefinition(type="proportion", event="upsell_purchase"),
        "aov_proxy": MetricDefinition(type="proportion", event="order"),
    }
    return ResolvedExperiment(
        experiment=experiment,
        metrics=metrics,
        roles={"take_rate": "primary", "aov_proxy": "secondary"},
    )


def _data(with_segments: bool = True) -> ExperimentData:
    by_segment = {
        key: {v: SampleStats.from_proportion(n, x) for v, (n, x) in arms.items()}
        for key, arms in SEGMENTS.items()
    }
    totals = {
        v: SampleStats.from_proportion(
            sum(arms[v][0] for arms in SEGMENTS.values()),
            sum(arms[v][1] for arms in SEGMENTS.values()),
        )
        for v in VARIANTS
    }
    units = {v: s.n for v, s in totals.items()}
    metrics = {
        "take_rate": MetricData(
            "take_rate", by_variant=totals, by_segment=by_segment if with_segments else {}
        ),
        "aov_proxy": MetricData(
            "aov_proxy", by_variant=totals, by_segment=by_segment if with_segments else {}
        ),
    }
    return ExperimentData(
        experiment_id="seg",
        metrics=metrics,
        quality=QualitySummary(
            exposures_by_variant=units, configured_weights={"control": 0.5, "a": 0.25, "b": 0.25}
        ),
    )


def test_each_segment_matches_statsmodels_and_holm_is_within_the_breakdown() -> None:
    analysis = analyze(_resolved(), _data())
    # only the primary (= decision) metric is broken down, never the secondary
    assert {s.metric for s in analysis.segments} == {"take_rate"}
    assert [s.value for s in analysis.segments] == sorted(v for _, v in SEGMENTS)
    p_values: list[float] = []
    adjusted: list[float | None] = []
    for segment in analysis.segments:
        arms = SEGMENTS[segment.attribute, segment.value]
        assert {v.variant: v.n for v in segment.variants} == {v: n for v, (n, _) in arms.items()}
        for c in segment.comparisons:
            assert c.frequentist is not None and c.frequentist.p_value is not None
            counts = [arms[c.variant][1], arms["control"][1]]
            nobs = [arms[c.variant][0], arms["control"][0]]
            _, expected = proportions_ztest(counts, nobs)
            assert c.frequentist.p_value == pytest.approx(expected, rel=1e-6)
            assert c.bayesian is not None and 0.0 <= (c.bayesian.prob_beat_baseline or -1) <= 1
            p_values.append(c.frequentist.p_value)
            adjusted.append(c.p_value_adjusted)
    holm = multipletests(p_values, method="holm")[1]
    assert adjusted == pytest.approx(list(holm), rel=1e-9)


def test_segments_do_not_change_the_whole_experiment_result_or_decision() -> None:
    resolved = _resolved()
    with_segments = analyze(resolved, _data())
    without = analyze(resolved, _data(with_segments=False))
    assert without.segments == []
    assert with_segments.metrics == without.metrics
    assert decide(resolved, with_segments) == decide(resolved, without)


@pytest.mark.parametrize("engine", ["frequentist", "bayesian"])
def test_segment_comparisons_carry_only_the_engines_the_spec_runs(engine: str) -> None:
    analysis = analyze(_resolved(engine), _data())
    comparisons = [c for s in analysis.segments for c in s.comparisons]
    assert comparisons
    if engine == "frequentist":
        assert all(c.bayesian is None and c.frequentist is not None for c in comparisons)
    else:
        assert all(c.frequentist is None and c.p_value_adjusted is None for c in comparisons)
        assert all(c.bayesian is not None for c in comparisons)


def _report(with_segments: bool = True):  # type: ignore[no-untyped-def]
    resolved = _resolved()
    analysis = analyze(resolved, _data(with_segments))
    return build_report(resolved, analysis, decide(resolved, analysis))


def test_json_has_segments_valid_against_the_schema_and_null_when_not_asked() -> None:
    jsonschema = pytest.importorskip("jsonschema", reason="jsonschema validates the contract")
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text(encoding="utf-8")))
    document = json.loads(render([_report()], "json"))
    validator.validate(document)
    segments = document["experiments"][0]["segments"]
    assert [s["value"] for s in segments] == sorted(v for _, v in SEGMENTS)
    app = next(s for s in segments if s["value"] == "app")
    a = next(c for c in app["comparisons"] if c["variant"] == "a")
    assert a["relative_lift"] == pytest.approx((130 / 500 - 0.2) / 0.2)
    assert a["p_value_adjusted"] is not None and a["prob_beat_baseline"] is not None
    plain = json.loads(render([_report(with_segments=False)], "json"))
    validator.validate(plain)
    assert plain["experiments"][0]["segments"] is None


def test_markdown_folds_segments_labelled_exploratory_and_escapes_values() -> None:
    markdown = render([_report()], "markdown")
    start = markdown.index("<details><summary>Segments (exploratory)</summary>")
    block = markdown[start : markdown.index("</details>", start)]
    assert "exploratory" in block and "channel = in\\_store" in block
    assert "&lt;b&gt;web&lt;/b&gt;" in block and "<b>web</b>" not in block
    # 3 segments x 2 treatments = 6 data rows
    assert sum(1 for line in block.splitlines() if line.startswith("| `take_rate`")) == 6
    assert "Segments (exploratory)" not in render([_report(with_segments=False)], "markdown")


def test_text_and_html_show_a_segment_table() -> None:
    text = render([_report()], "text")
    assert "Segments (exploratory)" in text and "channel = app" in text
    html = render([_report()], "html")
    assert "<h3>Segments (exploratory)</h3>" in html
    assert "&lt;b&gt;web&lt;/b&gt;" in html and "<b>web</b>" not in html
    assert "Segments (exploratory)" not in render([_report(with_segments=False)], "html")
