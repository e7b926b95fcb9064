"""Simulated exposures and events with stated true effects (demos, tests, benchmarks)."""

from __future__ import annotations

from upsell_ab.simulate.generate import simulate, simulate_detailed
from upsell_ab.simulate.truth import Truth, VariantTruth, load_effects
from upsell_ab.simulate.world import World

__all__ = ["Truth", "VariantTruth", "World", "load_effects", "simulate", "simulate_detailed"]
