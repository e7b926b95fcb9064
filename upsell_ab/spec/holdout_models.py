"""The programme spec (``program.yaml``): what applies to every upsell experiment at once.

Today that is the long-term holdout: a stable share of customers who see no
upsell experiment and no offer for months, so the whole programme can be
compared with doing nothing (repeat purchase, unsubscribes, complaints, LTV
over long windows). A customer is held out when the GrowthBook v2 hash of
their id under the holdout's own seed falls below ``share``::

    held_out(id) = fnv1a32(str(fnv1a32(seed + id))) % 10000 / 10000 < share

The seed is never an experiment's seed (``validate`` refuses a collision), so
holdout membership is independent of every experiment's variant hash; the
assigner checks it for every experiment (single and bulk) and the GrowthBook
export emits it as an experiment ``filters`` entry the SDKs honour.
"""

from __future__ import annotations

from datetime import date, timedelta

from pydantic import Field

from upsell_ab.spec.base import Duration, Identifier, Model

PROGRAM_NAME = "program.yaml"
"""The programme spec's file name, looked up next to a spec, then in its parents."""
MAX_HOLDOUT_SHARE = 0.5
DEFAULT_WINDOW = timedelta(days=180)


class Holdout(Model):
    """Customers kept out of every upsell experiment and offer (a long-term holdout)."""

    id: Identifier
    name: str | None = None
    unit: str = Field(default="customer_id", min_length=1)
    """Attribute hashed for membership: the customer, whatever unit an experiment uses."""
    share: float = Field(gt=0.0, le=MAX_HOLDOUT_SHARE)
    """Fraction of customers held out (for example 0.05); at most 0.5."""
    seed: str | None = Field(default=None, min_length=1)
    """Hash seed; defaults to ``holdout:<id>`` (never an experiment's seed)."""
    start: date | None = None
    """First day of the holdout; the analysis window counts from it."""
    window: Duration = DEFAULT_WINDOW
    """How long outcomes are followed per customer (long: months)."""
    metrics: list[Identifier] = Field(default_factory=list)
    """Catalogue metrics for the long-view report (repeat purchase, unsubscribes, LTV...)."""

    @property
    def hash_seed(self) -> str:
        return self.seed if self.seed is not None else f"holdout:{self.id}"


class Program(Model):
    """``program.yaml``: programme-level settings that every experiment obeys."""

    holdout: Holdout | None = None
