"""One arm's events under another spelling of their type never yield a verdict.

A second app or export writes ``Upsell_Purchase`` for ``upsell_purchase``: no metric
counts those rows, and when they are one arm's, that arm's conversions vanish
(``cake_wording`` read "pairing lowered the take rate by 24.3 pp, -100 %" with no
warning). The expected counts are made in pandas from the rows themselves.
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


def _log(seed: int = 3) -> tuple[pd.DataFrame, pd.DataFrame]:
    """4,000 customers, a quarter take a cake (both arms alike), and an order each."""
    rng = np.random.default_rng(seed)
    exposures = cake_exposures(rng, 4000)
    took = rng.random(4000) < 0.25
    cakes = cake_purchases(exposures, took)
    orders = cake_purchases(exposures, np.ones(4000, dtype=bool)).assign(event_type="order")
    return exposures, pd.concat([cakes, orders], ignore_index=True)


def _arm_of(exposures: pd.DataFrame, events: pd.DataFrame) -> pd.Series:
    return events["unit_id"].map(exposures.set_index("unit_id")["variant"])


def _quality(result: upsell_ab.Result) -> dict[str, object]:
    quality: dict[str, object] = json.loads(result.to_json())["experiments"][0]["quality"]
    return quality


def test_one_arms_type_in_another_case_makes_the_test_invalid() -> None:
    exposures, events = _log()
    renamed = (events["event_type"] == "upsell_purchase") & (
        _arm_of(exposures, events) == "pairing"
    )
    events.loc[renamed, "event_type"] = "Upsell_Purchase"
    result = upsell_ab.load(SPEC).analyze(exposures=exposures, events=events, daily=False)
    expected = int(renamed.sum())
    assert expected > 400
    assert result.decision.action == "invalid"
    (reason,) = [r for r in result.decision.reasons if "'Upsell_Purchase'" in r]
    assert f"'Upsell_Purchase' for 'upsell_purchase' (0 in generic, {expected:,} in pairing)" in (
        reason
    )
    assert _quality(result)["event_type_lookalikes"] == {
        "Upsell_Purchase": {"meant": "upsell_purchase", "rows_by_variant": {"pairing": expected}}
    }


def test_separators_and_blanks_are_look_alikes_too() -> None:
    exposures, events = _log(seed=4)
    arm = _arm_of(exposures, events)
    first = (events["event_type"] == "upsell_purchase") & (arm == "generic")
    events.loc[first[first].index[:300], "event_type"] = "upsell-purchase "
    result = upsell_ab.load(SPEC).analyze(exposures=exposures, events=events, daily=False)
    assert result.decision.action == "invalid"
    assert any(
        "'upsell-purchase ' for 'upsell_purchase' (300 in generic" in r
        for r in result.decision.reasons
    )


def test_a_few_are_a_warning() -> None:
    exposures, events = _log(seed=5)
    cakes = events.index[events["event_type"] == "upsell_purchase"][:5]
    events.loc[cakes, "event_type"] = "UPSELL_PURCHASE"
    result = upsell_ab.load(SPEC).analyze(exposures=exposures, events=events, daily=False)
    assert not [r for r in result.decision.reasons if "UPSELL_PURCHASE" in r]
    (said,) = [w for w in result.decision.warnings if "only in case" in w]
    assert "they are not counted" in said
    rows = _quality(result)["event_type_lookalikes"]
    assert isinstance(rows, dict)
    assert sum(rows["UPSELL_PURCHASE"]["rows_by_variant"].values()) == 5


def test_other_types_are_not_look_alikes() -> None:
    exposures, events = _log(seed=6)
    views = events.assign(event_type="page_view")
    purchases = events.assign(event_type="upsell_purchased")  # a word apart: not a spelling
    both = pd.concat([events, views, purchases], ignore_index=True)
    result = upsell_ab.load(SPEC).analyze(exposures=exposures, events=both, daily=False)
    assert _quality(result)["event_type_lookalikes"] is None
    said = [*result.decision.reasons, *result.decision.warnings]
    assert not [line for line in said if "only in case" in line]
