"""Fisher's exact test without scipy.stats agrees with scipy.stats.fisher_exact."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from upsell_ab.stats.fisher import fisher_exact_p

SCIPY = {"two_sided": "two-sided", "greater": "greater", "less": "less"}


@pytest.mark.parametrize("alternative", ["two_sided", "greater", "less"])
def test_agrees_with_scipy_on_random_tables(alternative: str) -> None:
    rng = np.random.default_rng(17)
    for _ in range(300):
        n1, n2 = rng.integers(1, 400, size=2)
        a = int(rng.binomial(n1, rng.uniform(0, 0.2)))
        c = int(rng.binomial(n2, rng.uniform(0, 0.2)))
        table = [[a, int(n1) - a], [c, int(n2) - c]]
        expected = stats.fisher_exact(table, alternative=SCIPY[alternative]).pvalue
        assert fisher_exact_p(table, alternative) == pytest.approx(expected, rel=1e-9, abs=1e-15)


def test_published_tea_tasting_value() -> None:
    # Fisher's lady tasting tea: [[3, 1], [1, 3]], one-sided p = 17/70 = 0.2429
    assert fisher_exact_p([[3, 1], [1, 3]], "greater") == pytest.approx(17 / 70, rel=1e-12)
    assert fisher_exact_p([[3, 1], [1, 3]], "two_sided") == pytest.approx(34 / 70, rel=1e-12)


def test_large_margins_and_empty_tables() -> None:
    table = [[3, 999_997], [12, 999_988]]
    expected = stats.fisher_exact(table).pvalue
    assert fisher_exact_p(table) == pytest.approx(expected, rel=1e-9)
    assert fisher_exact_p([[0, 0], [0, 0]]) == 1.0
