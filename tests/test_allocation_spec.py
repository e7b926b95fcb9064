"""The ``allocation`` spec field: defaults, bandit rules, located errors (issue 14)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from upsell_ab.errors import Problem, SpecError
from upsell_ab.spec.load import load_experiment
from upsell_ab.spec.models import AllocationKind, Experiment

CATALOGUE = Path(__file__).resolve().parents[1] / "experiments" / "metrics.yaml"

BASE = """id: demo
name: Demo
start: 2026-03-02
variants:
  - {id: a, control: true}
  - {id: b}
  - {id: c}
metrics:
  primary: upsell_take_rate
  secondary: [upsell_revenue_per_customer]
"""


def problems_of(tmp_path: Path, text: str) -> list[Problem]:
    path = tmp_path / "spec.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        load_experiment(path, CATALOGUE)
    except SpecError as error:
        return error.problems
    return []


def located(problems: list[Problem]) -> list[tuple[int | None, int | None, str | None]]:
    return [(p.location.line, p.location.column, p.location.field) for p in problems]


def test_default_is_fixed_allocation(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(BASE, encoding="utf-8")
    allocation = load_experiment(path, CATALOGUE).experiment.allocation
    assert allocation.kind is AllocationKind.fixed
    assert not allocation.is_bandit
    assert allocation.update_every == timedelta(days=1)
    assert allocation.floor == 0.05


def test_valid_bandit_loads_with_every_setting(tmp_path: Path) -> None:
    text = BASE + (
        "allocation:\n  kind: bandit\n  metric: upsell_revenue_per_customer\n"
        "  update_every: 12h\n  burn_in: {days: 3, units: 40}\n  floor: 0.1\n"
        "  stop: {prob_best: 0.95, expected_loss: 0.5}\n"
    )
    path = tmp_path / "spec.yaml"
    path.write_text(text, encoding="utf-8")
    allocation = load_experiment(path, CATALOGUE).experiment.allocation
    assert allocation.is_bandit
    assert allocation.metric == "upsell_revenue_per_customer"
    assert allocation.update_every == timedelta(hours=12)
    assert (allocation.burn_in.days, allocation.burn_in.units) == (3, 40)
    assert allocation.stop is not None and allocation.stop.prob_best == 0.95


def test_unmeetable_floor_is_refused_at_its_line(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, BASE + "allocation:\n  kind: bandit\n  floor: 0.4\n")
    assert located(problems) == [(13, 10, "allocation.floor")]
    assert "0.4 for 3 arms needs 1.2" in problems[0].message
    assert problems[0].hint is not None and "0.3333" in problems[0].hint


def test_floor_exactly_one_over_arms_is_allowed(tmp_path: Path) -> None:
    text = BASE.replace("  - {id: c}\n", "") + "allocation: {kind: bandit, floor: 0.5}\n"
    assert problems_of(tmp_path, text) == []


def test_metric_the_experiment_does_not_measure_is_refused(tmp_path: Path) -> None:
    problems = problems_of(
        tmp_path, BASE + "allocation:\n  kind: bandit\n  metric: upsell_take_rte\n"
    )
    assert located(problems) == [(13, 11, "allocation.metric")]
    assert problems[0].hint is not None and "did you mean 'upsell_take_rate'" in problems[0].hint


def test_bandit_needs_a_start_date(tmp_path: Path) -> None:
    text = BASE.replace("start: 2026-03-02\n", "") + "allocation:\n  kind: bandit\n"
    problems = problems_of(tmp_path, text)
    assert located(problems) == [(11, 9, "allocation.kind")]
    assert "start date" in problems[0].message


def test_bandit_with_one_arm_is_refused(tmp_path: Path) -> None:
    text = BASE.replace("  - {id: b}\n  - {id: c}\n", "") + "allocation: {kind: bandit}\n"
    fields = [p.location.field for p in problems_of(tmp_path, text)]
    assert "allocation.kind" in fields  # our rule, beside the model's "at least 2 variants"


def test_bad_values_are_located(tmp_path: Path) -> None:
    text = BASE + (
        "allocation:\n  kind: bandits\n  update_every: 0d\n  floor: 1.5\n"
        "  burn_in: {days: -1}\n  stop: {prob_best: 0.3}\n"
    )
    fields = sorted(str(p.location.field) for p in problems_of(tmp_path, text))
    assert fields == [
        "allocation.burn_in.days",
        "allocation.floor",
        "allocation.kind",
        "allocation.stop.prob_best",
        "allocation.update_every",
    ]


def test_typed_construction_applies_the_same_rules() -> None:
    data = {
        "id": "demo",
        "name": "Demo",
        "start": "2026-03-02",
        "variants": [{"id": "a", "control": True}, {"id": "b"}],
        "metrics": {"primary": "upsell_take_rate"},
        "allocation": {"kind": "bandit", "floor": 0.6},
    }
    with pytest.raises(ValueError, match=r"floor of 0\.6 for 2 arms"):
        Experiment.model_validate(data)
    data["allocation"] = {"kind": "bandit", "floor": 0.5}
    assert Experiment.model_validate(data).allocation.floor == 0.5
