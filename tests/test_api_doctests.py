"""The examples in the public API's docstrings run and print what they say (doctest).

They use the bundled specs by relative path, as a user in a clone of the repository
would, so they run from the repository root.
"""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODULES = ("upsell_ab", "upsell_ab.api.experiment", "upsell_ab.api.result")


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    module = importlib.import_module(name)
    outcome = doctest.testmod(module, optionflags=doctest.ELLIPSIS, verbose=False)
    assert outcome.failed == 0
    if name != "upsell_ab":
        assert outcome.attempted > 5, "the examples disappeared"
