"""Robustness: any YAML document gives an Experiment or a SpecError, never a crash.

Property-based (hypothesis): mutate one leaf of a real example spec, or write
arbitrary nested data, and check that loading either succeeds or raises
:class:`SpecError` whose problems all carry a line and column.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from upsell_ab.errors import SpecError
from upsell_ab.spec.codes import PROBLEM_CODES
from upsell_ab.spec.load import load_experiment
from upsell_ab.spec.yaml_marks import parse_marked

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = parse_marked((ROOT / "experiments" / "offer_timing.yaml").read_text("utf-8")).value

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.floats(allow_nan=False, allow_infinity=False, min_value=-2, max_value=2),
    st.sampled_from(["", "no", "on", "012", "1:30", "at_checkout", "7d", "upsell_take_rate"]),
    st.text(max_size=6),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(["id", "weight", "x", "op", "value"]), inner, max_size=3)
    ),
    max_leaves=6,
)


def _leaves(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _leaves(v, (*path, k))] or [path]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _leaves(v, (*path, i))] or [path]
    return [path]


LEAVES = _leaves(EXAMPLE)


def _load(tmp_path: Path, document: Any) -> None:
    path = tmp_path / "fuzz.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    try:
        load_experiment(path, ROOT / "experiments" / "metrics.yaml")
    except SpecError as error:
        assert error.problems
        for problem in error.problems:
            assert problem.location.line is not None and problem.location.column is not None
            assert problem.code in PROBLEM_CODES


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(leaf=st.sampled_from(LEAVES), value=values)
def test_mutating_one_leaf_never_crashes(tmp_path: Path, leaf: tuple[Any, ...], value: Any) -> None:
    document = copy.deepcopy(EXAMPLE)
    target = document
    for step in leaf[:-1]:
        target = target[step]
    target[leaf[-1]] = value
    _load(tmp_path, document)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(document=values)
def test_arbitrary_documents_never_crash(tmp_path: Path, document: Any) -> None:
    _load(tmp_path, document)
