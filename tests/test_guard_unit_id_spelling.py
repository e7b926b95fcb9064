"""Events whose unit ids an export spelt differently are found, never read as a lost arm.

Found by trying the Python API on ``cake_wording``: an export that added a trailing
blank to the unit ids of one arm's events (or upper-cased them) made those events
orphans, and the verdict was "Keep control: every variant did significantly worse than
control" (-100 %), with only the orphan-share warning. Now, when the orphan share is
over the warning threshold, the orphan events whose id matches an exposed unit once
case, end blanks and leading zeros are ignored are counted per arm; over 1 % of the
metrics' events the experiment is invalid, naming an example pair and the arms.
The expected counts are made in pandas from the mangled rows themselves.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from cake_support import SPEC, cake_exposures, cake_purchases

import upsell_ab


@pytest.fixture(autouse=True)
def _after_the_end(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UPSELL_AB_TODAY", "2026-04-05")


def _log(n: int = 5000, seed: int = 11) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    exposures = cake_exposures(rng, n, days=27, ids="c{:06d}")
    variant = exposures["variant"].to_numpy()
    took = rng.uniform(size=n) < np.where(variant == "pairing", 0.22, 0.20)
    return exposures, cake_purchases(exposures, took)


def _arm_of(events: pd.DataFrame, exposures: pd.DataFrame) -> pd.Series:
    arm = exposures.set_index("unit_id")["variant"]
    return events["unit_id"].map(arm)


def _quality(result: upsell_ab.Result) -> dict[str, object]:
    quality: dict[str, object] = json.loads(result.to_json())["experiments"][0]["quality"]
    return quality


def test_one_arms_ids_with_a_trailing_blank_make_the_experiment_invalid() -> None:
    exposures, events = _log()
    pairing = (_arm_of(events, exposures) == "pairing").to_numpy()
    mangled = events.assign(unit_id=np.where(pairing, events["unit_id"] + " ", events["unit_id"]))
    result = upsell_ab.load(SPEC).analyze(exposures=exposures, events=mangled, daily=False)
    assert result.decision.action == "invalid"
    text = " ".join(result.decision.reasons)
    assert "significantly worse" not in text
    assert f"{int(pairing.sum()):,} of the metrics' {len(events):,} events" in text
    assert f": {int(pairing.sum()):,} in pairing." in text
    first = sorted(events["unit_id"][pairing])[0]
    assert f"the events' '{first} ' for the exposures' '{first}'" in text
    near = _quality(result)["unit_id_near_misses"]
    assert near == {
        "rows_by_variant": {"pairing": int(pairing.sum())},
        "example": [first + " ", first],
    }


def test_dropped_leading_zeros_are_found_and_another_prefix_is_not() -> None:
    exposures, events = _log(seed=12)
    arm = _arm_of(events, exposures).to_numpy()
    ids = events["unit_id"].to_numpy(dtype=object)
    # exposures '000123'; pairing's events '123' (a spreadsheet dropped the zeros), which
    # normalise alike; generic's events 'C000123', another prefix, which do not
    exposures = exposures.assign(unit_id=exposures["unit_id"].str.replace("c", "", regex=False))
    events = events.assign(
        unit_id=[
            u.upper() if a == "generic" else str(int(u[1:])) for u, a in zip(ids, arm, strict=True)
        ]
    )
    result = upsell_ab.load(SPEC).analyze(exposures=exposures, events=events, daily=False)
    near = _quality(result)["unit_id_near_misses"]
    assert isinstance(near, dict)
    assert near["rows_by_variant"] == {"pairing": int((arm == "pairing").sum())}
    assert result.decision.action == "invalid"


def test_a_sixth_of_one_arms_events_misspelt_in_a_shops_whole_export_is_found() -> None:
    """A shop's export of every order (a third of them from customers outside the
    experiment: the orphan check runs) in which pairing's mobile orders (a sixth of
    that arm's) carry upper-cased ids: pairing would read ~16 % lower."""
    exposures, events = _log(seed=15)
    pairing = (_arm_of(events, exposures) == "pairing").to_numpy()
    rng = np.random.default_rng(3)
    hit = pairing & (rng.uniform(size=len(events)) < 0.16)
    mangled = events.assign(unit_id=np.where(hit, events["unit_id"].str.upper(), events["unit_id"]))
    strangers = events.assign(unit_id=[f"s{i:06d}" for i in range(len(events))]).iloc[::2]
    mangled = pd.concat([mangled, strangers], ignore_index=True)
    result = upsell_ab.load(SPEC).analyze(exposures=exposures, events=mangled, daily=False)
    assert 0.04 < hit.sum() / len(mangled) < 0.20
    assert _quality(result)["unit_id_near_misses"] is not None
    assert result.decision.action == "invalid"
    assert f": {int(hit.sum()):,} in pairing." in " ".join(result.decision.reasons)


def test_a_few_misspelt_ids_among_true_orphans_are_a_warning() -> None:
    exposures, events = _log(seed=13)
    rng = np.random.default_rng(2)
    # a shop's export: orders of customers never exposed (30 % of the rows) ...
    strangers = events.sample(frac=0.45, random_state=1).assign(
        unit_id=[f"s{i:06d}" for i in range(round(len(events) * 0.45))]
    )
    # ... and 5 of the experiment's orders with an upper-cased id (0.3 % of the events)
    picked = rng.choice(len(events), 5, replace=False)
    upper = events.iloc[picked].assign(unit_id=lambda f: f["unit_id"].str.upper())
    rest = events.drop(events.index[picked])
    mixed = pd.concat([rest, strangers, upper], ignore_index=True)
    result = upsell_ab.load(SPEC).analyze(exposures=exposures, events=mixed, daily=False)
    assert result.decision.action != "invalid"
    expected = _arm_of(events.iloc[picked], exposures).value_counts().to_dict()
    near = _quality(result)["unit_id_near_misses"]
    assert isinstance(near, dict) and near["rows_by_variant"] == expected
    (said,) = [w for w in result.decision.warnings if "letter case" in w]
    assert said.startswith(f"5 of the metrics' {len(mixed):,} events")


def test_true_orphans_alone_are_not_near_misses() -> None:
    exposures, events = _log(seed=14)
    strangers = events.assign(unit_id=[f"s{i:06d}" for i in range(len(events))])
    result = upsell_ab.load(SPEC).analyze(
        exposures=exposures, events=pd.concat([events, strangers]), daily=False
    )
    assert _quality(result)["unit_id_near_misses"] is None
    assert not [w for w in result.decision.warnings if "letter case" in w]
