"""Exit codes of ``upsell-ab`` (documented in the README; CI depends on them)."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    """Done."""
    INVALID_INPUT = 1
    """An invalid spec, input file or argument."""
    DATA_QUALITY = 2
    """A data-quality failure (SRM, too many multiple exposures) with ``--fail-on quality``."""
    GUARDRAIL = 3
    """A guardrail breached, with ``--fail-on guardrail``."""
