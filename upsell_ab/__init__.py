"""upsell_ab: experiments for upsell, cross-sell and subscription-upgrade offers.

For scripts and notebooks::

    import upsell_ab

    exp = upsell_ab.load("experiments/cake_wording.yaml")
    exp.assign("c-123", {"channel": "app"}).variant
    result = exp.analyze(exposures=exposures_df, events=events_df)
    result.decision, result.to_pandas()

The package follows the data path: ``spec`` -> ``assignment`` -> ``events`` ->
``metrics`` -> ``stats`` -> ``decision`` -> ``report``, with ``workflow``, the
public face ``api`` and ``cli`` on top. Each stage imports only from earlier
stages (and ``errors``). The names below are imported on first use (PEP 562),
so ``import upsell_ab`` stays light and ``validate``/``assign`` start fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from upsell_ab.api.experiment import Experiment, define, load
    from upsell_ab.api.result import FRAME_COLUMNS, Decision, Result
    from upsell_ab.errors import InputError, SpecError, StoreError, UpsellAbError

__version__ = "0.1.0"

_EXPORTS = {
    "load": "upsell_ab.api.experiment",
    "define": "upsell_ab.api.experiment",
    "Experiment": "upsell_ab.api.experiment",
    "Result": "upsell_ab.api.result",
    "Decision": "upsell_ab.api.result",
    "FRAME_COLUMNS": "upsell_ab.api.result",
    "UpsellAbError": "upsell_ab.errors",
    "SpecError": "upsell_ab.errors",
    "InputError": "upsell_ab.errors",
    "StoreError": "upsell_ab.errors",
}

__all__ = [
    "FRAME_COLUMNS",
    "Decision",
    "Experiment",
    "InputError",
    "Result",
    "SpecError",
    "StoreError",
    "UpsellAbError",
    "__version__",
    "define",
    "load",
]


def __getattr__(name: str) -> Any:
    """Import a public name on first use (PEP 562)."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'upsell_ab' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
