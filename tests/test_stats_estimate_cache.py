"""The arm-estimate memo keys on exact statistics (issue 17: the daily series)."""

from __future__ import annotations

import pytest

from upsell_ab.metrics.sufficient import SampleStats
from upsell_ab.stats.estimates import arm_estimate


def test_same_n_arms_do_not_fall_back_to_tolerance_comparisons(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """SampleStats hashes on n alone (its equality tolerates 1e-12 and other frames); the
    memo must not compare every cached arm with that n on each lookup."""
    calls = 0
    original = SampleStats.__eq__

    def counting(self: SampleStats, other: object) -> bool:
        nonlocal calls
        calls += 1
        return original(self, other)

    monkeypatch.setattr(SampleStats, "__eq__", counting)
    arms = [SampleStats(n=1000, sum=float(k), sum_squares=float(k) + 5000.0) for k in range(300)]
    means = [arm_estimate(s).mean for s in arms]
    assert means == [k / 1000 for k in range(300)]
    assert calls == 0
    # the same arm asked again is served from the memo, with the same result
    again = SampleStats(n=1000, sum=7.0, sum_squares=5007.0)
    assert arm_estimate(again) is arm_estimate(arms[7])
