"""Adaptive allocation: Thompson-sampling weights, the allocation history, sticky assignment.

The weights are data: :mod:`.history` keeps every update in the store, the
assigner reads the current weights from there (through its caller), and
:mod:`.thompson` computes the next ones from the Bayesian engine's posteriors.
"""

from __future__ import annotations

from upsell_ab.allocation.history import (
    AllocationPeriod,
    AllocationRecord,
    load_allocation_periods,
)

__all__ = ["AllocationPeriod", "AllocationRecord", "load_allocation_periods"]
