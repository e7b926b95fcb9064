"""Newcomer defaults: equal weights when none are given, an offer described in words."""

from __future__ import annotations

from pathlib import Path

import pytest

from upsell_ab.errors import SpecError
from upsell_ab.simulate.truth import default_variant_truth
from upsell_ab.spec.load import load_experiment

SPEC = """id: words
name: Words only
variants:
  - id: a
    control: true
    offer: {{wording: "Cake with that?"}}
  - id: b
    offer: {{wording: "A cheesecake for this coffee"}}
{extra}metrics:
  primary: upsell_take_rate
"""


def _load(tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "words.yaml"
    path.write_text(text, encoding="utf-8")
    return load_experiment(path).experiment


def test_no_weights_means_an_equal_split(tmp_path: Path) -> None:
    experiment = _load(tmp_path, SPEC.format(extra="  - id: c\n"))
    assert [v.weight for v in experiment.variants] == [pytest.approx(1 / 3)] * 3


def test_some_weights_missing_is_an_error(tmp_path: Path) -> None:
    text = SPEC.format(extra="").replace(
        "    control: true\n", "    control: true\n    weight: 0.5\n"
    )
    with pytest.raises(SpecError) as caught:
        _load(tmp_path, text)
    assert [str(p) for p in caught.value.problems] == [
        f"{tmp_path / 'words.yaml'}:8:5: variants[1].weight: missing required key 'weight' "
        "(give every variant a weight, or leave all of them out for an equal split)"
    ]


def test_offer_in_words_only_validates_and_simulates(tmp_path: Path) -> None:
    experiment = _load(tmp_path, SPEC.format(extra=""))
    offer = experiment.variants[1].offer
    assert offer is not None and offer.tactic is None and offer.timing is None
    truth = default_variant_truth(experiment.variants[1])
    assert truth.take_rate > 0
