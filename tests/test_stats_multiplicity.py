"""Holm and Benjamini-Hochberg against statsmodels' multipletests."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from statsmodels.stats.multitest import multipletests

from upsell_ab.errors import StatsError
from upsell_ab.stats.multiplicity import adjust_p_values

SM_METHOD = {"holm": "holm", "benjamini_hochberg": "fdr_bh"}


@pytest.mark.parametrize("method", ["holm", "benjamini_hochberg"])
def test_matches_statsmodels_on_a_fixed_family(method: str) -> None:
    p = [0.01, 0.04, 0.03, 0.005, 0.2, 0.04]
    ours = adjust_p_values(p, method)
    theirs = multipletests(p, method=SM_METHOD[method])[1]
    assert ours == pytest.approx(list(theirs), abs=1e-12)


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.floats(min_value=0.0, max_value=1.0), min_size=1, max_size=12),
    st.sampled_from(["holm", "benjamini_hochberg"]),
)
def test_matches_statsmodels_property(p: list[float], method: str) -> None:
    ours = adjust_p_values(p, method)
    theirs = multipletests(np.array(p), method=SM_METHOD[method])[1]
    assert ours == pytest.approx(list(theirs), abs=1e-12)


def test_none_entries_are_left_out_of_the_family() -> None:
    ours = adjust_p_values([0.01, None, 0.04], "holm")
    theirs = multipletests([0.01, 0.04], method="holm")[1]
    assert ours[1] is None
    assert [ours[0], ours[2]] == pytest.approx(list(theirs))
    assert adjust_p_values([None, None], "benjamini_hochberg") == [None, None]
    assert adjust_p_values([], "holm") == []


def test_none_correction_and_errors() -> None:
    assert adjust_p_values([0.2, None], "none") == [0.2, None]
    with pytest.raises(StatsError):
        adjust_p_values([0.1], "bonferoni")
    with pytest.raises(StatsError):
        adjust_p_values([1.5], "holm")
