"""Deterministic, GrowthBook-compatible assignment of units to variants."""

from __future__ import annotations

from upsell_ab.assignment.assigner import (
    REASON_CODES,
    Assigner,
    Assignment,
    BulkAssignment,
    Reason,
)

__all__ = ["REASON_CODES", "Assigner", "Assignment", "BulkAssignment", "Reason"]
