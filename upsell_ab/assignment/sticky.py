"""Sticky assignment: a unit keeps the variant it was first given when the weights change.

A bandit moves the bucket boundaries of the hash, so without memory a customer near a
boundary would switch offers from one period to the next (and be excluded from the
analysis as exposed to two variants). GrowthBook solves this with "sticky bucketing": a
per-user record of the first variant, kept by the application (a cookie, Redis, its
database) through a small service interface. This module is ours: a two-method
:class:`StickyStore` protocol, an in-memory implementation for tests and single
processes, and one backed by the upsell_ab DuckDB store, and :class:`StickyAssigner`,
which asks the store first and remembers every new assignment.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from upsell_ab.assignment.assigner import Assigner, Assignment, Reason
from upsell_ab.assignment.outcomes import unit_text

if TYPE_CHECKING:
    import numpy as np


class StickyStore(Protocol):
    """Where first assignments are remembered, per experiment and unit."""

    def get_many(self, experiment: str, units: Sequence[str]) -> dict[str, str]:
        """The remembered variant of each unit that has one."""
        ...

    def put_many(self, experiment: str, assignments: Mapping[str, str]) -> None:
        """Remember first assignments (units already remembered keep their variant)."""
        ...


class MemorySticky:
    """A dict per experiment: for tests, scripts and one long-lived process."""

    def __init__(self) -> None:
        self._seen: dict[str, dict[str, str]] = {}

    def get_many(self, experiment: str, units: Sequence[str]) -> dict[str, str]:
        seen = self._seen.get(experiment, {})
        return {u: seen[u] for u in units if u in seen}

    def put_many(self, experiment: str, assignments: Mapping[str, str]) -> None:
        seen = self._seen.setdefault(experiment, {})
        for unit, variant in assignments.items():
            seen.setdefault(unit, variant)


class StoreSticky:
    """First assignments in the ``sticky_assignments`` table of a DuckDB store (one
    row per experiment and unit; inserts never overwrite: ``ON CONFLICT DO NOTHING``)."""

    TABLE = "sticky_assignments"

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)

    def _connect(self, read_only: bool) -> Any:
        from upsell_ab.events.store_open import open_store

        if read_only and not Path(self.path).exists():
            return None
        connection = open_store(self.path, read_only=read_only)
        if not read_only:
            connection.execute(
                f"CREATE TABLE IF NOT EXISTS {self.TABLE} (experiment VARCHAR NOT NULL, "
                "unit_id VARCHAR NOT NULL, variant VARCHAR NOT NULL, "
                "PRIMARY KEY (experiment, unit_id))"
            )
        return connection

    def get_many(self, experiment: str, units: Sequence[str]) -> dict[str, str]:
        import pandas as pd

        connection = self._connect(read_only=True)
        if connection is None:
            return {}
        try:
            tables = {r[0] for r in connection.execute("SHOW TABLES").fetchall()}
            if self.TABLE not in tables:
                return {}
            wanted = pd.DataFrame({"unit_id": list(units)})  # noqa: F841 (read by DuckDB)
            rows = connection.execute(
                f"SELECT s.unit_id, s.variant FROM {self.TABLE} s JOIN wanted w "
                "USING (unit_id) WHERE s.experiment = ?",
                [experiment],
            ).fetchall()
        finally:
            connection.close()
        return {str(u): str(v) for u, v in rows}

    def put_many(self, experiment: str, assignments: Mapping[str, str]) -> None:
        import pandas as pd

        if not assignments:
            return
        fresh = pd.DataFrame(  # noqa: F841 (read by DuckDB)
            {"unit_id": list(assignments), "variant": list(assignments.values())}
        )
        connection = self._connect(read_only=False)
        try:
            connection.execute(
                f"INSERT INTO {self.TABLE} SELECT ?, unit_id, variant FROM fresh "
                "ON CONFLICT DO NOTHING",
                [experiment],
            )
        finally:
            connection.close()


class StickyAssigner:
    """An :class:`Assigner` that answers a remembered unit with its first variant and
    remembers every new assignment. Overrides and a stopped experiment still win."""

    def __init__(self, assigner: Assigner, sticky: StickyStore) -> None:
        self.assigner, self.sticky = assigner, sticky
        self.experiment_id = assigner.experiment.id

    def assign(self, unit_id: str, attributes: Mapping[str, object] | None = None) -> Assignment:
        if type(unit_id) is not str:
            unit_id = unit_text(unit_id)
        if unit_id in self.assigner.experiment.overrides or not self.assigner.running:
            return self.assigner.assign(unit_id, attributes)
        remembered = self.sticky.get_many(self.experiment_id, [unit_id]).get(unit_id)
        if remembered is not None:
            return Assignment(True, remembered, Reason.assigned, "sticky: first assignment kept")
        fresh = self.assigner.assign(unit_id, attributes)
        if fresh.in_experiment and fresh.variant is not None:
            self.sticky.put_many(self.experiment_id, {unit_id: fresh.variant})
        return fresh

    def assign_many(self, unit_ids: Iterable[str], attributes: Any = None) -> np.ndarray:
        """Variant per unit (None where not in the experiment), remembered units first."""
        import numpy as np

        ids = [str(u) for u in unit_ids]
        variants = self.assigner.assign_many(np.asarray(ids, dtype=object), attributes)
        if not self.assigner.running:
            return variants
        remembered = self.sticky.get_many(self.experiment_id, ids)
        overrides = self.assigner.experiment.overrides
        new: dict[str, str] = {}
        for index, unit in enumerate(ids):
            if unit in overrides:
                continue
            kept = remembered.get(unit)
            if kept is not None:
                variants[index] = kept
            elif variants[index] is not None:
                new.setdefault(unit, str(variants[index]))
        self.sticky.put_many(self.experiment_id, new)
        return variants
