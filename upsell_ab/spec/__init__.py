"""Experiment specs: typed models, YAML loading with located errors, catalogue resolution.

Public API (imported lazily so ``import upsell_ab.spec`` stays cheap):
``load_spec``, ``load_catalogue``, ``find_catalogue``, ``load_experiment``,
``discover``, ``validate_paths`` (from :mod:`upsell_ab.spec.load`) and
``ResolvedExperiment`` (from :mod:`upsell_ab.spec.resolve`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from upsell_ab.spec.load import (
        discover,
        find_catalogue,
        load_catalogue,
        load_experiment,
        load_spec,
        validate_paths,
    )
    from upsell_ab.spec.resolve import ResolvedExperiment

_EXPORTS = {
    "load_spec": "upsell_ab.spec.load",
    "load_catalogue": "upsell_ab.spec.load",
    "find_catalogue": "upsell_ab.spec.load",
    "load_experiment": "upsell_ab.spec.load",
    "discover": "upsell_ab.spec.load",
    "validate_paths": "upsell_ab.spec.load",
    "ResolvedExperiment": "upsell_ab.spec.resolve",
}

__all__ = [
    "ResolvedExperiment",
    "discover",
    "find_catalogue",
    "load_catalogue",
    "load_experiment",
    "load_spec",
    "validate_paths",
]


def __getattr__(name: str) -> Any:
    """Import on first use (PEP 562) so submodules load only what they need."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'upsell_ab.spec' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
