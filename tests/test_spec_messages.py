# ruff: noqa: E501  (the expected messages are kept on one line each, as printed)
"""The messages a newcomer sees for the most common spec mistakes, word for word.

Each case changes one line of a valid spec; every message must say where, what,
and how to fix it, without repeating the value or a generic type hint."""

from __future__ import annotations

from pathlib import Path

import pytest

from upsell_ab.errors import SpecError
from upsell_ab.spec.load import load_experiment

CATALOGUE = Path(__file__).resolve().parents[1] / "experiments" / "metrics.yaml"

BASE = """id: t
name: T
start: 2026-03-02
end: 2026-03-30
population:
  unit: customer_id
variants:
  - id: a
    control: true
    weight: 0.5
    offer: {tactic: cross_sell, timing: at_checkout}
  - id: b
    weight: 0.5
    offer: {tactic: cross_sell, timing: at_checkout}
metrics:
  primary: upsell_take_rate
  guardrails:
    - {metric: complaint_rate, margin: 0.005, margin_kind: absolute}
analysis:
  alpha: 0.05
  mde: 0.15
"""

# name: (text in the valid spec, replacement, the one expected message line)
MISTAKES: dict[str, tuple[str, str, str]] = {
    "discount": (
        "timing: at_checkout}\n  - id: b",
        "timing: at_checkout, discount: 10%}\n  - id: b",
        "spec.yaml:11:64: variants[0].offer.discount: a discount needs its kind, got '10%' (write discount: {percent: 10} for 10% off)",
    ),
    "weight_percent": (
        "    weight: 0.5\n    offer: {tactic: cross_sell, timing: at_checkout}\nmetrics",
        "    weight: 50%\n    offer: {tactic: cross_sell, timing: at_checkout}\nmetrics",
        "spec.yaml:13:13: variants[1].weight: '50%' is not a number (write 0.50 (a share) or 50 with the field's unit)",
    ),
    "alpha_percent": (
        "alpha: 0.05",
        "alpha: 5%",
        "spec.yaml:20:10: analysis.alpha: '5%' is not a number (write 0.05 (a share) or 5 with the field's unit)",
    ),
    "typo_key": (
        "    offer: {tactic: cross_sell, timing: at_checkout}\nmetrics",
        "    offer: {tactic: cross_sell, timng: at_checkout}\nmetrics",
        "spec.yaml:14:33: variants[1].offer.timng: unknown key 'timng' (did you mean 'timing'?)",
    ),
    "typo_choice": (
        "{tactic: cross_sell, timing: at_checkout}\n  - id: b",
        "{tactic: cross_sel, timing: at_checkout}\n  - id: b",
        "spec.yaml:11:21: variants[0].offer.tactic: 'cross_sel' is not one of: upsell, cross_sell, subscription_upgrade, bundle (did you mean 'cross_sell'?)",
    ),
    "missing_moment": (
        "    offer: {tactic: cross_sell, timing: at_checkout}\nmetrics",
        "    offer: {tactic: cross_sell, timing: {delay: 3d}}\nmetrics",
        "spec.yaml:14:41: variants[1].offer.timing.moment: missing required key 'moment' (add 'moment: product_page' (one of: product_page, cart, at_checkout, post_purchase, follow_up_email, follow_up_call, renewal, usage_threshold, none))",
    ),
    "end_before_start": (
        "end: 2026-03-30",
        "end: 2026-02-27",
        "spec.yaml:4:6: end: 2026-02-27 is not after start (2026-03-02) (fix the dates, or drop 'end' while the experiment runs open-ended)",
    ),
    "weights_sum": (
        "    weight: 0.5\n    offer: {tactic: cross_sell, timing: at_checkout}\nmetrics",
        "    weight: 0.6\n    offer: {tactic: cross_sell, timing: at_checkout}\nmetrics",
        "spec.yaml:7:1: variants: variant weights sum to 1.1, not 1 (make them add up to 1, e.g. 0.5/0.5, or leave all weights out for an equal split)",
    ),
    "guardrail_primary": (
        "metric: complaint_rate",
        "metric: upsell_take_rate",
        "spec.yaml:18:16: metrics.guardrails[0].metric: 'upsell_take_rate' is already the primary metric (give each metric one role: primary, secondary or guardrail; drop this guardrail entry)",
    ),
    "margin_percent": (
        "margin: 0.005, margin_kind: absolute",
        "margin: 5",
        "spec.yaml:18:40: metrics.guardrails[0].margin: a relative margin of 5 lets the metric get 500 % worse (write 0.05 for 5 %, or set margin_kind: absolute)",
    ),
    "mde_percent": (
        "mde: 0.15",
        "mde: 15",
        "spec.yaml:21:8: analysis.mde: a relative MDE of 15 means a lift of 1,500 % (write 0.15 for 15 %, or set mde_kind: absolute)",
    ),
    "mapping": (
        "population:\n  unit: customer_id",
        "population: customer_id",
        "spec.yaml:5:13: population: expected a mapping of keys, got 'customer_id' (write a mapping with the keys unit, seed, coverage, targeting, namespace)",
    ),
    "unknown_metric": (
        "primary: upsell_take_rate",
        "primary: upsell_takerate",
        "spec.yaml:16:12: metrics.primary: primary metric 'upsell_takerate' is not in the catalogue (did you mean 'upsell_take_rate'?)",
    ),
}


def _problems(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "spec.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        load_experiment(path, CATALOGUE)
    except SpecError as error:
        return [str(p).replace(str(path), "spec.yaml") for p in error.problems]
    return []


def test_base_spec_is_valid(tmp_path: Path) -> None:
    assert _problems(tmp_path, BASE) == []


@pytest.mark.parametrize("name", sorted(MISTAKES))
def test_exact_message(tmp_path: Path, name: str) -> None:
    old, new, expected = MISTAKES[name]
    assert old in BASE
    assert _problems(tmp_path, BASE.replace(old, new, 1)) == [expected]


def test_every_mistake_in_one_run_one_message_each(tmp_path: Path) -> None:
    """Field problems and cross-field problems (dates, weights, roles) in the same run."""
    text = BASE
    for key in ("discount", "alpha_percent", "end_before_start", "weights_sum", "guardrail_primary",
                "mde_percent", "typo_key"):  # fmt: skip
        old, new, _ = MISTAKES[key]
        text = text.replace(old, new, 1)
    found = _problems(tmp_path, text)
    wanted = {MISTAKES[k][2].split(": ", 2)[1] for k in ("discount", "alpha_percent",
              "end_before_start", "guardrail_primary", "mde_percent", "typo_key")}  # fmt: skip
    fields = [line.split(": ", 2)[1] for line in found]
    assert wanted <= set(fields)
    assert "variants" in fields  # the weights rule, although a weight elsewhere is fine
    assert len(fields) == len(set(fields)), found  # one message per problem
