"""Spec validation: every rule reports the exact (line, column, field) list, all at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from upsell_ab.errors import Problem, SpecError
from upsell_ab.spec.load import DEFAULT_CATALOGUE, load_catalogue, load_experiment, load_spec

CATALOGUE = Path(__file__).resolve().parents[1] / "experiments" / "metrics.yaml"

HEAD = """id: demo
name: Demo
"""
VARIANTS = """variants:
  - id: control
    control: true
    weight: 0.5
  - id: treatment
    weight: 0.5
"""
METRICS = """metrics:
  primary: upsell_take_rate
"""


def problems_of(tmp_path: Path, text: str, name: str = "spec.yaml") -> list[Problem]:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    try:
        load_experiment(path, CATALOGUE)
    except SpecError as error:
        return error.problems
    return []


def located(problems: list[Problem]) -> list[tuple[int | None, int | None, str | None]]:
    return [(p.location.line, p.location.column, p.location.field) for p in problems]


def test_valid_minimal_spec_loads(tmp_path: Path) -> None:
    assert problems_of(tmp_path, HEAD + VARIANTS + METRICS) == []


def test_every_problem_in_a_file_is_reported_at_once(tmp_path: Path) -> None:
    text = """id: demo
name: Demo
status: runing
start: 2026-03-31
end: 2026-03-01
population:
  coverage: 1.5
  namespace: {name: checkout, range: [0.2, 1.4]}
variants:
  - id: control
    control: true
    wieght: 0.5
  - id: control
    weight: 0.6
    control: true
metrics:
  primary: upsell_take_rat
"""
    problems = problems_of(tmp_path, text)
    assert located(problems) == [
        (3, 9, "status"),
        (5, 6, "end"),
        (7, 13, "population.coverage"),
        (8, 44, "population.namespace.range[1]"),
        (10, 5, "variants[0].weight"),
        (12, 5, "variants[0].wieght"),
        (13, 9, "variants[1].id"),
        (15, 14, "variants[1].control"),
        (17, 12, "metrics.primary"),
    ]
    by_field = {p.location.field: p for p in problems}
    assert by_field["status"].hint == "did you mean 'running'?"
    assert by_field["variants[0].wieght"].hint == "did you mean 'weight'?"
    assert by_field["metrics.primary"].hint == "did you mean 'upsell_take_rate'?"
    assert by_field["variants[0].weight"].code == "missing"
    assert all(p.hint for p in problems), "every problem says how to fix it"
    first = str(problems[0])
    assert first.startswith(f"{tmp_path / 'spec.yaml'}:3:9: status: 'runing' is not one of")


@pytest.mark.parametrize(
    ("variants", "expected", "fragment"),
    [
        pytest.param(
            "variants:\n  - id: a\n    control: true\n    weight: 0.5\n"
            "  - id: b\n    weight: 0.4\n",
            [(3, 1, "variants")],
            "weights sum to 0.9",
            id="weights-sum",
        ),
        pytest.param(
            "variants:\n  - id: a\n    weight: 0.5\n  - id: b\n    weight: 0.5\n",
            [(3, 1, "variants")],
            "no variant is marked as the control",
            id="no-control",
        ),
        pytest.param(
            "variants:\n  - id: a\n    control: true\n    weight: 0.5\n"
            "  - id: b\n    control: true\n    weight: 0.5\n",
            [(8, 14, "variants[1].control")],
            "second control",
            id="two-controls",
        ),
        pytest.param(
            "variants:\n  - id: a\n    control: true\n    weight: 0.5\n"
            "  - id: a\n    weight: 0.5\n",
            [(7, 9, "variants[1].id")],
            "variant id 'a' is also used",
            id="duplicate-id",
        ),
        pytest.param(
            "variants:\n  - id: a\n    control: true\n    weight: 1.0\n",
            [(3, 1, "variants")],
            "at least 2 items",
            id="one-variant",
        ),
        pytest.param(
            "variants:\n  - id: a\n    control: yes\n    weight: 0.5\n  - id: b\n    weight: 0.5\n",
            [(5, 14, "variants[0].control"), (3, 1, "variants")],
            "reads `yes` as true",
            id="yes-trap",
        ),
    ],
)
def test_variant_rules(
    tmp_path: Path, variants: str, expected: list[tuple[int, int, str]], fragment: str
) -> None:
    problems = problems_of(tmp_path, HEAD + variants + METRICS)
    assert sorted(located(problems)) == sorted(expected)
    assert fragment in problems[0].message or fragment in problems[-1].message


def _offer_spec(offer: str) -> str:
    return (
        HEAD
        + "variants:\n  - id: a\n    control: true\n    weight: 0.5\n"
        + "  - id: b\n    weight: 0.5\n    offer:\n"
        + offer
        + METRICS
    )


@pytest.mark.parametrize(
    ("offer", "expected", "hint"),
    [
        pytest.param(
            "      tactic: upsel\n      timing: at_checkout\n",
            [(10, 15, "variants[1].offer.tactic")],
            "did you mean 'upsell'?",
            id="tactic-enum",
        ),
        pytest.param(
            "      tactic: upsell\n      timing: at_chekout\n",
            [(11, 15, "variants[1].offer.timing")],
            "did you mean 'at_checkout'?",
            id="timing-shorthand-enum",
        ),
        pytest.param(
            "      tactic: upsell\n      timing: {moment: at_checkout, delay: 3d}\n",
            [(11, 44, "variants[1].offer.timing.delay")],
            "remove 'delay' or use moment follow_up_email / follow_up_call",
            id="delay-without-follow-up",
        ),
        pytest.param(
            "      tactic: upsell\n      timing: cart\n      discount: {percent: 120}\n",
            [(12, 27, "variants[1].offer.discount.percent")],
            "write a number inside the allowed range",
            id="percent-range",
        ),
        pytest.param(
            "      tactic: upsell\n      timing: cart\n      discount: {amount: 900}\n"
            "      items: [{sku: a, price: 500}, {sku: b, price: 300}]\n",
            [(12, 26, "variants[1].offer.discount.amount")],
            "a discount must leave a positive price; lower the amount",
            id="amount-above-price",
        ),
        pytest.param(
            "      tactic: upsell\n      timing: cart\n      discount: {percent: 10, amount: 5}\n",
            [(12, 39, "variants[1].offer.discount.amount")],
            "remove one of them",
            id="percent-and-amount",
        ),
        pytest.param(
            "      tactic: upsell\n      timing: cart\n      cadence: 2w\n",
            [(12, 16, "variants[1].offer.cadence")],
            "remove 'cadence' or set tactic: subscription_upgrade",
            id="cadence-needs-subscription",
        ),
    ],
)
def test_offer_rules(
    tmp_path: Path, offer: str, expected: list[tuple[int, int, str]], hint: str
) -> None:
    problems = problems_of(tmp_path, _offer_spec(offer))
    assert located(problems) == expected
    assert problems[0].hint == hint


@pytest.mark.parametrize(
    ("population", "expected"),
    [
        pytest.param("population:\n  coverage: 0\n", [(4, 13, "population.coverage")], id="zero"),
        pytest.param(
            "population:\n  namespace: {name: ns, range: [0.6, 0.4]}\n",
            [(4, 25, "population.namespace.range")],
            id="range-order",
        ),
        pytest.param(
            "population:\n  namespace: {name: ns, range: [-0.1, 0.4]}\n",
            [(4, 33, "population.namespace.range[0]")],
            id="range-below-0",
        ),
        pytest.param(
            "population:\n  targeting:\n    - {attribute: past_orders, op: gte, value: '3'}\n",
            [(5, 48, "population.targeting[0].value")],
            id="comparison-needs-number",
        ),
        pytest.param(
            "population:\n  targeting:\n    - {attribute: segment, op: in, value: new}\n",
            [(5, 7, "population.targeting[0].values"), (5, 43, "population.targeting[0].value")],
            id="in-needs-values",
        ),
        pytest.param("population:\n  seed: 012\n", [(4, 9, "population.seed")], id="octal-trap"),
    ],
)
def test_population_rules(
    tmp_path: Path, population: str, expected: list[tuple[int, int, str]]
) -> None:
    problems = problems_of(tmp_path, HEAD + population + VARIANTS + METRICS)
    assert located(problems) == expected


def test_namespace_range_order_message(tmp_path: Path) -> None:
    text = HEAD + "population:\n  namespace: {name: ns, range: [0.6, 0.4]}\n" + VARIANTS + METRICS
    (problem,) = problems_of(tmp_path, text)
    assert problem.message == "namespace range must have start < end, got [0.6, 0.4]"


@pytest.mark.parametrize(
    ("metrics", "expected", "hint"),
    [
        pytest.param(
            "metrics:\n  primary: upsell_take_rate\n  secondary: [revenue_per_custmer]\n",
            [(11, 15, "metrics.secondary[0]")],
            "did you mean 'revenue_per_customer'?",
            id="secondary-typo",
        ),
        pytest.param(
            "metrics:\n  primary: upsell_take_rate\n  guardrails:\n"
            "    - {metric: refund_rat, margin: 0.1}\n",
            [(12, 16, "metrics.guardrails[0].metric")],
            "did you mean 'refund_rate'?",
            id="guardrail-typo",
        ),
        pytest.param(
            "metrics:\n  primary: upsell_take_rate\n  secondary: [upsell_take_rate]\n",
            [(11, 15, "metrics.secondary[0]")],
            "give each metric one role: primary, secondary or guardrail",
            id="two-roles",
        ),
        pytest.param(
            "metrics:\n  primary: zzz_unknown\n",
            [(10, 12, "metrics.primary")],
            "add it to metrics.yaml or use one of:",
            id="unknown-no-suggestion",
        ),
        pytest.param(
            "metrics:\n  primary: upsell_take_rate\n"
            "analysis:\n  decision: {metric: proft_per_customer}\n",
            [(12, 22, "analysis.decision.metric")],
            "did you mean 'profit_per_customer'?",
            id="decision-metric",
        ),
        pytest.param(
            "metrics:\n  primary: upsell_take_rate\nanalysis:\n  engine: bayes\n",
            [(12, 11, "analysis.engine")],
            "did you mean 'bayesian'?",
            id="engine-enum",
        ),
        pytest.param(
            "metrics:\n  primry: upsell_take_rate\n",
            [(10, 3, "metrics.primary"), (10, 3, "metrics.primry")],
            "add 'primary: ...'",
            id="misspelt-required-key",
        ),
    ],
)
def test_metric_rules(
    tmp_path: Path, metrics: str, expected: list[tuple[int, int, str]], hint: str
) -> None:
    problems = problems_of(tmp_path, HEAD + VARIANTS + metrics)
    assert located(problems) == expected
    assert problems[0].hint is not None and problems[0].hint.startswith(hint)


def test_unknown_top_level_key_suggests_the_field(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, HEAD + "hypotesis: more cake\n" + VARIANTS + METRICS)
    assert located(problems) == [(3, 1, "hypotesis")]
    assert problems[0].hint == "did you mean 'hypothesis'?"
    assert problems[0].code == "unknown_key"


def test_unknown_key_without_close_match_lists_allowed_keys(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, HEAD + VARIANTS + METRICS + "zzzzqqq: 1\n")
    assert located(problems) == [(11, 1, "zzzzqqq")]
    assert problems[0].hint is not None
    assert problems[0].hint.startswith("allowed keys: id, name, hypothesis, owner, status")


def test_missing_required_keys_point_at_the_parent_mapping(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, "# a comment\nname: Demo\n" + VARIANTS)
    assert located(problems) == [(2, 1, "id"), (2, 1, "metrics")]


def test_overrides_must_name_a_variant(tmp_path: Path) -> None:
    text = HEAD + VARIANTS + METRICS + "overrides:\n  '0042': treatmnt\n"
    problems = problems_of(tmp_path, text)
    assert located(problems) == [(12, 11, "overrides.0042")]
    assert problems[0].hint == "did you mean 'treatment'?"


def test_load_spec_without_catalogue_and_typed_values(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(HEAD + "start: 2026-01-05\n" + VARIANTS + METRICS, encoding="utf-8")
    spec = load_spec(path)
    assert spec.id == "demo" and spec.control.id == "control" and spec.seed == "demo"
    assert [v.id for v in spec.treatments] == ["treatment"]


def test_not_a_mapping_and_unreadable_files(tmp_path: Path) -> None:
    path = tmp_path / "list.yaml"
    path.write_text("- a\n- b\n", encoding="utf-8")
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    assert located(caught.value.problems) == [(1, 1, None)]
    with pytest.raises(SpecError) as missing:
        load_spec(tmp_path / "nope.yaml")
    assert [p.code for p in missing.value.problems] == ["not_found"]
    binary = tmp_path / "latin1.yaml"
    binary.write_bytes("name: caf\xe9\n".encode("latin-1"))
    with pytest.raises(SpecError) as encoding:
        load_spec(binary)
    assert [p.code for p in encoding.value.problems] == ["encoding"]


@pytest.mark.parametrize(
    ("metric", "expected", "hint"),
    [
        pytest.param(
            "  aov:\n    type: ratio\n    numerator: {event: order}\n",
            [(4, 11, "metrics.aov.type")],
            "add denominator: {event: order, value: value}",
            id="ratio-needs-denominator",
        ),
        pytest.param(
            "  take:\n    type: proportion\n    evnt: order\n",
            [(5, 5, "metrics.take.evnt")],
            "did you mean 'event'?",
            id="misspelt-event",
        ),
        pytest.param(
            "  profit:\n    type: profit\n    event: order\n",
            [(4, 11, "metrics.profit.type")],
            "add margin: 0.3 (gross margin on revenue, 0..1)",
            id="profit-needs-margin",
        ),
        pytest.param(
            "  again:\n    type: retention\n    event: order\n    window: {end: 30d}\n",
            [(6, 5, "metrics.again.window")],
            "e.g. window: {start: 1d, end: 30d}",
            id="retention-window",
        ),
        pytest.param(
            "  9lives:\n    type: count\n    event: order\n",
            [(3, 3, "metrics.9lives")],
            "ids start with a letter, then letters, digits, '_' or '-'",
            id="metric-name-pattern",
        ),
        pytest.param(
            "  rev:\n    type: mean\n    event: order\n"
            "    capping: {kind: percentile, value: 99}\n",
            [(6, 40, "metrics.rev.capping.value")],
            "0.99 caps at the 99th percentile",
            id="percentile-cap",
        ),
    ],
)
def test_catalogue_rules(
    tmp_path: Path, metric: str, expected: list[tuple[int, int, str]], hint: str
) -> None:
    path = tmp_path / "metrics.yaml"
    path.write_text("# catalogue\nmetrics:\n" + metric, encoding="utf-8")
    with pytest.raises(SpecError) as caught:
        load_catalogue(path)
    assert located(caught.value.problems) == expected
    assert caught.value.problems[0].hint == hint


def test_without_a_catalogue_the_shipped_one_is_used(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(HEAD + VARIANTS + METRICS, encoding="utf-8")
    resolved = load_experiment(path)
    assert resolved.catalogue_file == DEFAULT_CATALOGUE
    assert resolved.metrics[resolved.primary_metric].type.value == "proportion"
    path.write_text(HEAD + "status: runing\n" + VARIANTS + METRICS, encoding="utf-8")
    with pytest.raises(SpecError) as caught:
        load_experiment(path)
    assert [p.code for p in caught.value.problems] == ["invalid_choice"]
