"""Exposure logs of the bundled ``cake_wording`` spec, for the careless-input tests.

Each test builds its events (and its mistake) on top; the exposures are the same shape
everywhere: ``n`` customers split at random between ``generic`` and ``pairing``, first
exposed uniformly over ``days`` days from 2026-03-02 (UTC), channel ``in_store``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

SPEC = Path(__file__).resolve().parent.parent / "experiments" / "cake_wording.yaml"


def cake_exposures(
    rng: np.random.Generator, n: int, *, days: int = 28, ids: str = "c{}"
) -> pd.DataFrame:
    """The exposure log (variants drawn first, then times, from ``rng``)."""
    units = np.array([ids.format(i) for i in range(n)])
    variant = rng.choice(["generic", "pairing"], n)
    start = pd.Timestamp("2026-03-02", tz="UTC")
    ts = start + pd.to_timedelta(rng.uniform(0, days * 86400, n), unit="s")
    return pd.DataFrame(
        {
            "experiment": "cake_wording",
            "variant": variant,
            "unit_id": units,
            "timestamp": ts,
            "channel": "in_store",
        }
    )


def cake_purchases(exposures: pd.DataFrame, took: np.ndarray) -> pd.DataFrame:
    """One 480-yen cake (``upsell_purchase``) two minutes after the exposure of each
    customer where ``took`` is true."""
    return pd.DataFrame(
        {
            "unit_id": exposures["unit_id"].to_numpy()[took],
            "event_type": "upsell_purchase",
            "timestamp": exposures["timestamp"][took] + pd.Timedelta(minutes=2),
            "value": 480.0,
        }
    )
