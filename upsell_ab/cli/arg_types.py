"""Argument types for numbers given on the command line: finite, and positive where it
matters. ``float("inf")``, ``nan`` and ``1e400`` parse as floats in Python, so a bare
``type=float`` lets ``--daily-units inf`` plan a zero-day experiment; these refuse them
as a usage error (exit 1)."""

from __future__ import annotations

import argparse
import math


def finite_float(text: str) -> float:
    """A finite number (``inf``, ``nan``, ``1e400`` refused)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def positive_float(text: str) -> float:
    """A finite number > 0."""
    value = finite_float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be greater than 0")
    return value
