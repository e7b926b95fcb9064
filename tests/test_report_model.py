"""build_report copies, never computes; to_dict follows the documented JSON
contract (docs/report.schema.json) and its null rules."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from upsell_ab.decision.model import Action, Outcome
from upsell_ab.report.json_format import render_json
from upsell_ab.report.model import SCHEMA_VERSION, build_report
from upsell_ab.report.sample import (
    CATALOGUE,
    SampleResolved,
    sample_analysis,
    sample_experiment,
    sample_outcome,
    sample_report,
)
from upsell_ab.stats.results import (
    Comparison,
    FrequentistComparison,
    Interval,
    MetricResult,
    Status,
    VariantSummary,
)

ROOT = Path(__file__).resolve().parents[1]
SCHEMA_PATH = ROOT / "docs" / "report.schema.json"


def _validator() -> Any:
    jsonschema = pytest.importorskip("jsonschema", reason="jsonschema validates the JSON contract")
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


def _resolved() -> SampleResolved:
    return SampleResolved(sample_experiment(), CATALOGUE)


def _bare_analysis() -> Any:
    """The sample analysis with the primary metric's engines stripped: only a
    frequentist result that failed (zero variance, NaN statistic)."""
    analysis = sample_analysis("cake_wording")
    failed = FrequentistComparison(
        method="pooled z-test",
        status=Status.zero_variance,
        alternative="two_sided",
        absolute_lift=0.0,
        relative_lift=None,
        absolute_ci=Interval(None, None, 0.95),
        relative_ci=Interval(None, None, 0.95),
        statistic=math.nan,
        p_value=None,
    )
    primary = MetricResult(
        metric="take_rate",
        role="primary",
        variants=[VariantSummary("A", 10, 0.0), VariantSummary("B", 0, None)],
        comparisons=[
            Comparison("B", "A", frequentist=failed),
            Comparison("C", "A"),  # neither engine ran
        ],
        prob_best=None,
    )
    return replace(analysis, metrics=[primary, *analysis.metrics[1:]])


def test_sample_document_validates_against_the_shipped_schema() -> None:
    validator = _validator()
    document = json.loads(render_json([sample_report(0), sample_report(1)]))
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.path))
    assert errors == []
    assert document["schema_version"] == SCHEMA_VERSION
    assert [e["experiment"] for e in document["experiments"]] == ["cake_wording", "cake_wording_1"]


def test_values_are_copied_from_the_typed_inputs() -> None:
    analysis = sample_analysis("cake_wording")
    report = build_report(_resolved(), analysis, sample_outcome())
    source = analysis.metric("take_rate").comparisons[0]
    comparison = report.to_dict()["metrics"][0]["comparisons"][0]
    assert source.frequentist is not None and source.bayesian is not None
    assert comparison["absolute_lift"] == source.frequentist.absolute_lift
    assert comparison["ci_low"] == source.frequentist.absolute_ci.low
    assert comparison["ci_high"] == source.frequentist.absolute_ci.high
    assert comparison["relative_ci_low"] == source.frequentist.relative_ci.low
    assert comparison["p_value"] == source.frequentist.p_value
    assert comparison["p_value_adjusted"] == source.p_value_adjusted
    assert comparison["prob_beat_baseline"] == source.bayesian.prob_beat_baseline
    assert comparison["expected_loss"] == source.bayesian.expected_loss
    assert comparison["bayesian"]["relative_ci_high"] == source.bayesian.relative_ci.high
    assert comparison["sequential"] is True


def test_absent_engines_and_non_numbers_become_null() -> None:
    validator = _validator()
    report = build_report(_resolved(), _bare_analysis(), sample_outcome())
    document = report.to_dict()
    assert (
        list(
            validator.iter_errors(
                {"schema_version": SCHEMA_VERSION, "generator": "t", "experiments": [document]}
            )
        )
        == []
    )
    primary = document["metrics"][0]
    failed, missing = primary["comparisons"]
    # the frequentist engine ran but could not compute: its status says why
    assert failed["status"] == "zero_variance"
    assert failed["statistic"] is None  # NaN is not a number a reader can use
    assert failed["p_value"] is None and failed["ci_low"] is None
    assert failed["absolute_lift"] == 0.0  # a real zero stays a zero
    # the Bayesian engine did not run: nulls, never 0.5 or 0
    assert failed["prob_beat_baseline"] is None and failed["expected_loss"] is None
    assert failed["bayesian"] is None
    # neither engine ran
    for key in (
        "method",
        "status",
        "absolute_lift",
        "relative_lift",
        "p_value",
        "sequential",
        "ci_level",
        "prob_beat_baseline",
        "non_inferiority",
    ):
        assert missing[key] is None, key
    assert primary["prob_best"] is None
    assert primary["variants"][1] == {"variant": "B", "n": 0, "mean": None}


def test_quality_counts_are_null_without_data_and_copied_with_it() -> None:
    without = build_report(_resolved(), sample_analysis("x"), sample_outcome()).to_dict()
    assert without["quality"]["orphan_events"] is None
    assert without["quality"]["first_exposure"] is None
    assert without["quality"]["observed"] == {"A": 5012, "B": 4988}
    assert without["quality"]["total_units"] == 5012 + 4988
    with_data = sample_report().to_dict()["quality"]
    assert with_data["orphan_events"] == 3
    assert with_data["duplicates_dropped"] == 12
    assert with_data["multiple_exposure_units"] == 7
    assert with_data["multiple_exposure_share"] == pytest.approx(7 / (10000 + 7))
    assert with_data["first_exposure"] == "2024-05-01"


def test_decision_roles_direction_and_offers() -> None:
    outcome = Outcome(Action.ship, "B", ["B wins"], guardrails_breached=["refund_rate"])
    document = build_report(_resolved(), sample_analysis("x"), outcome).to_dict()
    assert document["decision"] == {
        "action": "ship",
        "variant": "B",
        "reasons": ["B wins"],
        "additional_units_needed": None,
        "additional_days_needed": None,
        "guardrails_breached": ["refund_rate"],
        "warnings": [],
        "planned_look": None,
    }
    assert [m["role"] for m in document["metrics"]] == ["primary", "secondary", "guardrail"]
    assert document["metrics"][2]["direction"] == "lower_is_better"
    assert document["metrics"][2]["comparisons"][0]["non_inferiority"]["passed"] is False
    offer_b = document["variants"][1]["offer"]
    assert offer_b["timing"] == {"moment": "post_purchase", "delay": None}
    assert offer_b["discount"]["amount"] == 100.0
    assert offer_b["discount"]["text"] == "JPY 100 off (limited 2d)"
    assert document["variants"][0]["control"] is True
    assert document["analysis"]["sequential_method"] == "confidence_sequence"


def test_daily_lifts_are_sorted_and_serialised() -> None:
    document = sample_report().to_dict()
    daily = document["metrics"][0]["daily_lifts"]
    assert len(daily) == 14
    assert [d["day"] for d in daily] == sorted(d["day"] for d in daily)
    assert daily[0]["kind"] == "relative"


def test_json_text_is_strict_and_keeps_japanese_readable() -> None:
    text = render_json([sample_report()])
    assert "NaN" not in text and "Infinity" not in text
    assert "ケーキ" in text  # not \\u escapes
    assert json.loads(text)["experiments"][0]["name"].startswith("ケーキ")


def test_real_resolved_experiment_fits_the_protocol() -> None:
    resolve = pytest.importorskip("upsell_ab.spec.resolve")
    resolved = resolve.ResolvedExperiment(
        experiment=sample_experiment(), metrics=dict(CATALOGUE), roles={}
    )
    report = build_report(resolved, sample_analysis("cake_wording"), sample_outcome())
    assert report.decision_metric == "take_rate"


def test_documentation_lists_every_key_of_the_schema() -> None:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    keys: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            keys.update(node.get("properties", {}))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    doc = (ROOT / "docs" / "report.md").read_text(encoding="utf-8")
    undocumented = sorted(k for k in keys if f"`{k}`" not in doc)
    assert undocumented == []


def test_probability_rounding_noise_is_clipped_but_real_errors_are_not() -> None:
    analysis = sample_analysis("x")
    primary = replace(analysis.metrics[0], prob_best={"A": -1e-15, "B": 1.0000000000050033})
    noisy = replace(analysis, metrics=[primary, *analysis.metrics[1:]])
    document = build_report(_resolved(), noisy, sample_outcome()).to_dict()
    assert document["metrics"][0]["prob_best"] == {"A": 0.0, "B": 1.0}
    broken = replace(primary, prob_best={"A": 0.2, "B": 1.3})
    document = build_report(
        _resolved(), replace(analysis, metrics=[broken, *analysis.metrics[1:]]), sample_outcome()
    ).to_dict()
    assert document["metrics"][0]["prob_best"]["B"] == 1.3  # left for the schema to flag
    errors = list(
        _validator().iter_errors(
            {"schema_version": SCHEMA_VERSION, "generator": "t", "experiments": [document]}
        )
    )
    assert len(errors) == 1
