"""Statistical and structural properties on 1M ids (bulk path, so fast).

Oracles: scipy's chi-square tests (fixed ids, so the p-values are fixed; the
threshold 1e-4 only guards against a broken hash), set algebra, and a second
Python process with a different PYTHONHASHSEED.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from typing import Any

import numpy as np
from scipy import stats

from upsell_ab.assignment import Assigner
from upsell_ab.spec.models import Experiment

N = 1_000_000
IDS = [f"cust-{i}" for i in range(N)]


def make(exp_id: str, weights: list[float], **population: Any) -> Experiment:
    return Experiment.model_validate(
        {
            "id": exp_id,
            "name": exp_id,
            "status": "running",
            "population": population,
            "variants": [
                {"id": f"v{i}", "weight": w, "control": i == 0} for i, w in enumerate(weights)
            ],
            "metrics": {"primary": "take_rate"},
        }
    )


def counts(variants: np.ndarray, k: int) -> np.ndarray:
    return np.array([(variants == f"v{i}").sum() for i in range(k)])


def test_split_matches_weights() -> None:
    weights = [0.2, 0.3, 0.5]
    observed = counts(Assigner(make("split", weights)).assign_many(IDS), 3)
    assert observed.sum() == N
    assert stats.chisquare(observed, np.array(weights) * N).pvalue > 1e-4


def test_two_seeds_are_independent() -> None:
    a = Assigner(make("first", [0.5, 0.5])).assign_many(IDS)
    b = Assigner(make("second", [0.5, 0.5])).assign_many(IDS)
    table = np.array([[((a == f"v{i}") & (b == f"v{j}")).sum() for j in range(2)] for i in (0, 1)])
    assert stats.chi2_contingency(table, correction=False).pvalue > 1e-4


def test_raising_coverage_moves_nobody() -> None:
    low = Assigner(make("cov", [0.5, 0.5], coverage=0.1)).assign_many(IDS)
    high = Assigner(make("cov", [0.5, 0.5], coverage=0.5)).assign_many(IDS)
    was_in = low != None  # noqa: E711 - elementwise on an object array
    assert (low[was_in] == high[was_in]).all()
    assert abs(was_in.mean() - 0.1) < 0.003
    assert abs((high != None).mean() - 0.5) < 0.003  # noqa: E711


def test_namespaces_never_overlap() -> None:
    left = make("left", [0.5, 0.5], namespace={"name": "checkout", "range": [0.0, 0.4]})
    right = make("right", [0.5, 0.5], namespace={"name": "checkout", "range": [0.4, 1.0]})
    in_left = Assigner(left).assign_many(IDS) != None  # noqa: E711
    in_right = Assigner(right).assign_many(IDS) != None  # noqa: E711
    assert not (in_left & in_right).any()
    assert (in_left | in_right).all()  # full coverage: every unit in exactly one
    assert abs(in_left.mean() - 0.4) < 0.003


DIGEST_SCRIPT = """
import hashlib, sys
from tests.test_assignment_properties import IDS, make
from upsell_ab.assignment import Assigner
v = Assigner(make("digest", [0.2, 0.3, 0.5], coverage=0.9)).assign_many(IDS[:100000])
print(hashlib.sha256("|".join(map(str, v.tolist())).encode()).hexdigest())
"""


def test_identical_across_processes() -> None:
    variants = Assigner(make("digest", [0.2, 0.3, 0.5], coverage=0.9)).assign_many(IDS[:100000])
    here = hashlib.sha256("|".join(map(str, variants.tolist())).encode()).hexdigest()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": root}
    out = subprocess.run(
        [sys.executable, "-c", DIGEST_SCRIPT],
        capture_output=True,
        text=True,
        env=env,
        cwd=root,
        check=True,
    )
    assert out.stdout.strip() == here
