"""An export that rewrote variant ids ('Control ', 'pairing-deal') is named as such."""

from __future__ import annotations

from upsell_ab.stats.analysis import variant_lookalikes


def test_case_blanks_and_separators_are_lookalikes() -> None:
    found = variant_lookalikes(
        ["Control ", "PAIRING-DEAL", "pairing deal", "legacy", "bundle2"],
        ["control", "pairing_deal", "bundle"],
    )
    assert sorted(found) == [
        ("Control ", "control"),
        ("PAIRING-DEAL", "pairing_deal"),
        ("pairing deal", "pairing_deal"),
    ]


def test_no_lookalike_for_distinct_ids() -> None:
    assert variant_lookalikes(["legacy", "treatment"], ["control", "pairing"]) == []
