"""Bundled example specs, the metric catalogue contract, resolution and the JSON Schema."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

from upsell_ab.spec.load import discover, find_catalogue, load_catalogue, load_experiment
from upsell_ab.spec.models import Direction, MetricType, Moment, Status, Tactic
from upsell_ab.spec.schema import FILE_NAMES, render
from upsell_ab.spec.yaml_marks import parse_marked

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENTS = ROOT / "experiments"
SPECS = discover([EXPERIMENTS])

CATALOGUE_CONTRACT = {
    # name: (type, event or None, window end days, direction)
    "upsell_take_rate": ("proportion", "upsell_purchase", 7, "higher_is_better"),
    "upsell_revenue_per_customer": ("mean", "upsell_purchase", 7, "higher_is_better"),
    "revenue_per_customer": ("mean", "order", 7, "higher_is_better"),
    "revenue_per_order": ("ratio", None, 7, "higher_is_better"),
    "items_per_order": ("ratio", None, 7, "higher_is_better"),
    "median_order_value": ("quantile", "order", 7, "higher_is_better"),
    "orders_per_customer": ("count", "order", 7, "higher_is_better"),
    "repeat_purchase_30d": ("retention", "order", 30, "higher_is_better"),
    "repeat_purchase_61_90d": ("retention", "order", 90, "higher_is_better"),
    "subscription_start_rate": ("proportion", "subscription_start", 14, "higher_is_better"),
    "subscription_cancel_rate": ("proportion", "subscription_cancel", 30, "lower_is_better"),
    "profit_per_customer": ("profit", "order", 7, "higher_is_better"),
    "refund_rate": ("proportion", "refund", 30, "lower_is_better"),
    "unsubscribe_rate": ("proportion", "unsubscribe", 14, "lower_is_better"),
    "complaint_rate": ("proportion", "complaint", 14, "lower_is_better"),
    "survey_response_rate": ("proportion", "survey_response", 14, "higher_is_better"),
    "satisfaction_score": ("ratio", None, 14, "higher_is_better"),
    "customer_ltv_90d": ("ltv", "order", 90, "higher_is_better"),
}


def test_catalogue_has_exactly_the_agreed_metrics() -> None:
    catalogue = load_catalogue(EXPERIMENTS / "metrics.yaml")
    assert set(catalogue.metrics) == set(CATALOGUE_CONTRACT)
    for name, (kind, event, days, direction) in CATALOGUE_CONTRACT.items():
        metric = catalogue.metrics[name]
        assert (
            metric.type.value,
            metric.event,
            metric.window.end.days,
            metric.direction.value,
        ) == (
            kind,
            event,
            days,
            direction,
        ), name
    rpc = catalogue.metrics["revenue_per_customer"]
    assert rpc.capping is not None and rpc.capping.value == 0.99
    assert rpc.cuped is not None and rpc.cuped.lookback.days == 28
    assert catalogue.metrics["profit_per_customer"].margin == 0.3
    assert catalogue.metrics["repeat_purchase_30d"].window.start.days == 1
    assert catalogue.metrics["repeat_purchase_61_90d"].window.start.days == 61
    ratio = catalogue.metrics["items_per_order"]
    assert ratio.numerator is not None and ratio.numerator.value == "quantity"
    assert ratio.denominator is not None and ratio.denominator.value == "count"


def test_at_least_five_examples_all_valid_and_mostly_running() -> None:
    names = {p.stem for p in SPECS}
    assert {
        "cake_wording",
        "offer_timing",
        "discount_depth",
        "subscription_upgrade",
        "laptop_bundle",
    } <= names
    resolved = [load_experiment(p) for p in SPECS]
    assert sum(r.experiment.status is Status.running for r in resolved) >= 4
    assert any(r.experiment.analysis.sequential.enabled for r in resolved)
    for path in SPECS:
        first = path.read_text(encoding="utf-8").splitlines()[0]
        assert first == "# yaml-language-server: $schema=../schema/experiment.schema.json"


def test_examples_cover_the_tactics_described() -> None:
    cake = load_experiment(EXPERIMENTS / "cake_wording.yaml").experiment
    assert cake.control.offer is not None and cake.control.offer.wording == "ケーキもいかがですか?"
    pairing = cake.treatments[0].offer
    assert pairing is not None and pairing.tactic is Tactic.cross_sell
    assert pairing.timing.moment is Moment.at_checkout

    timing = load_experiment(EXPERIMENTS / "offer_timing.yaml")
    moments = [v.offer.timing for v in timing.experiment.variants if v.offer]
    assert [t.moment for t in moments] == [
        Moment.at_checkout,
        Moment.post_purchase,
        Moment.follow_up_email,
    ]
    assert moments[2].delay is not None and moments[2].delay.days == 3
    assert timing.roles["unsubscribe_rate"] == "guardrail"

    depth = load_experiment(EXPERIMENTS / "discount_depth.yaml")
    assert depth.decision_metric == "profit_per_customer"
    assert depth.metrics["profit_per_customer"].type is MetricType.profit
    assert list(depth.metrics) == [
        "upsell_take_rate",
        "revenue_per_customer",
        "refund_rate",
        "profit_per_customer",
    ]
    assert depth.roles["profit_per_customer"] == "decision"
    assert depth.guardrail("refund_rate").direction is Direction.lower_is_better

    sub = load_experiment(EXPERIMENTS / "subscription_upgrade.yaml")
    cadences = [
        v.offer.cadence.days for v in sub.experiment.treatments if v.offer and v.offer.cadence
    ]
    assert cadences == [14, 28]
    assert sub.roles == {
        "subscription_start_rate": "primary",
        "repeat_purchase_30d": "secondary",
        "subscription_cancel_rate": "guardrail",
    }

    laptop = load_experiment(EXPERIMENTS / "laptop_bundle.yaml").experiment
    assert laptop.population.namespace is not None
    assert timing.experiment.population.namespace is not None
    assert laptop.population.namespace.name == timing.experiment.population.namespace.name


def test_find_catalogue_walks_up(tmp_path: Path) -> None:
    (tmp_path / "metrics.yaml").write_text("metrics: {}\n", encoding="utf-8")
    nested = tmp_path / "team" / "q2"
    nested.mkdir(parents=True)
    assert find_catalogue(nested / "spec.yaml") == (tmp_path / "metrics.yaml").resolve()
    assert find_catalogue(EXPERIMENTS / "cake_wording.yaml") == EXPERIMENTS / "metrics.yaml"


@pytest.mark.parametrize("name", ["experiment", "metrics"])
def test_checked_in_schema_matches_the_models(name: str) -> None:
    checked_in = (ROOT / "schema" / FILE_NAMES[name]).read_text(encoding="utf-8")  # type: ignore[index]
    assert checked_in == render(name), "run: upsell-ab schema [--catalogue] -o schema/..."  # type: ignore[arg-type]


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, date | datetime):
        return value.isoformat()
    return value


def test_examples_validate_against_the_json_schema() -> None:
    """Independent oracle: a JSON Schema validator accepts what editors will check."""
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((ROOT / "schema" / "experiment.schema.json").read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(schema)
    for path in SPECS:
        document = parse_marked(path.read_text(encoding="utf-8"))
        errors = list(validator.iter_errors(_jsonable(document.value)))
        assert errors == [], (path.name, [e.message for e in errors])
    metrics_schema = json.loads((ROOT / "schema" / "metrics.schema.json").read_text("utf-8"))
    catalogue = parse_marked((EXPERIMENTS / "metrics.yaml").read_text(encoding="utf-8")).value
    assert list(jsonschema.Draft202012Validator(metrics_schema).iter_errors(catalogue)) == []


def test_json_schema_rejects_what_the_loader_rejects() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((ROOT / "schema" / "experiment.schema.json").read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(schema)
    bad = {
        "id": "x",
        "name": "X",
        "variants": [{"id": "a", "weight": 0.5, "wieght": 1}],
        "metrics": {"primary": "m"},
        "analysis": {"engine": "bayes"},
    }
    messages = " ".join(e.message for e in validator.iter_errors(bad))
    assert "wieght" in messages and "bayes" in messages
