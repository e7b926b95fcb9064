"""Bulk assignment, step one: one outcome byte per id, from the C accelerator or numpy.

An outcome code is what the hash alone decides for a unit: the variant index
(``0 .. k-1``), :data:`CODE_COVERAGE` (hash outside every range),
:data:`CODE_NAMESPACE` (outside the namespace range) or :data:`CODE_MISSING`
(``""``, None or NaN id). Everything that does not depend on the unit is in a
:class:`BulkPlan` built once per experiment; the Assigner then applies status,
targeting and overrides to the codes with a few vectorised numpy operations.

Input rules (identical on both paths, and to the Python scalar path): str ids
hash as their UTF-16 code units; integers (Python or numpy) as their decimal
string (JavaScript's ``String(n)``); floats are refused, because ``1.0`` hashes
differently in Python and JS; anything else raises TypeError.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any

from upsell_ab.assignment.hashing import fnv1a32

if TYPE_CHECKING:
    from typing import TypeAlias

    import numpy as np
    import pandas as pd

    UnitIds: TypeAlias = Sequence[str | int | float | None] | np.ndarray | pd.Series
    """What bulk assignment accepts (floats only as NaN = missing; see the module doc)."""

CODE_COVERAGE = 255
CODE_NAMESPACE = 254
CODE_MISSING = 253
MAX_VARIANTS = 253
"""Variant indexes must stay below the special codes to fit one byte."""


@dataclass(frozen=True)
class BulkPlan:
    """``table[k]``: outcome code of v2 bucket ``k``; ``ns_table[k]``: 1 when v1
    bucket ``k`` is inside the namespace range (None: no namespace);
    ``overrides``: unit id -> forced variant index."""

    seed: str
    table: bytes
    ns_seed: str | None
    ns_table: bytes | None
    overrides: Mapping[str, int]


@dataclass(frozen=True)
class Outcomes:
    """uint8 ``codes`` per id; rows whose id is an override key and their variant index."""

    codes: np.ndarray
    override_rows: np.ndarray
    override_variants: np.ndarray


def outcome_codes(
    unit_ids: UnitIds,
    plan: BulkPlan,
    extension: ModuleType | None,
) -> Outcomes:
    """Outcome codes for every id, through ``extension`` (``_fnv``) when given."""
    import numpy as np

    ids = _normalise(unit_ids)
    if extension is None:
        return _outcomes_numpy(ids, plan)
    codes = np.empty(len(ids), dtype=np.uint8)
    arguments = (
        fnv1a32(plan.seed),
        plan.table,
        plan.ns_seed,
        plan.ns_table,
        dict(plan.overrides) or None,
        codes,
    )
    try:
        rows, values = extension.assign_codes(ids, *arguments)
    except TypeError:
        # ids the extension does not read (NumPy integers in a list): as text, once;
        # unit_text refuses what no path accepts (floats, booleans) in its own words
        rows, values = extension.assign_codes([unit_text(v) for v in ids], *arguments)
    return Outcomes(codes, np.asarray(rows, dtype=np.int64), np.asarray(values, dtype=np.int64))


def _normalise(unit_ids: UnitIds) -> list[Any] | np.ndarray:
    """A list, a 1-d contiguous object array, or an int64 / uint64 array.

    Non-list input goes through ``np.asarray`` first (so a tuple of ints and
    strings becomes strings, as before); numpy text arrays become lists of str."""
    import numpy as np

    values = getattr(unit_ids, "to_numpy", lambda: unit_ids)()
    if isinstance(values, list):
        return values
    array = np.asarray(values)
    if array.ndim != 1:
        raise TypeError(f"unit ids must be a one-dimensional sequence, got shape {array.shape}")
    kind = array.dtype.kind
    if kind == "i":
        return np.ascontiguousarray(array, dtype=np.int64)
    if kind == "u":
        return np.ascontiguousarray(array, dtype=np.uint64)
    if kind == "f":
        raise TypeError("unit ids must be strings or integers, not floats (1.0 vs '1')")
    if kind == "O":
        return np.ascontiguousarray(array)
    return list(array.tolist())


def _outcomes_numpy(ids: list[Any] | np.ndarray, plan: BulkPlan) -> Outcomes:
    """The fallback: encode to one code-unit buffer, hash column-wise (hashing_bulk)."""
    import numpy as np

    from upsell_ab.assignment.hashing_bulk import CodeUnits, hash_v1_buckets, hash_v2_buckets

    if isinstance(ids, np.ndarray) and ids.dtype.kind in "iu":
        strings: list[str] = ids.astype(str).tolist()
        missing = np.zeros(len(strings), dtype=bool)
    else:
        strings, missing = _as_strings(ids if isinstance(ids, list) else ids.tolist())
    units = CodeUnits.from_strings(strings)
    table = np.frombuffer(plan.table, dtype=np.uint8)
    codes = table[hash_v2_buckets(plan.seed, units)]
    if plan.ns_seed is not None and plan.ns_table is not None:
        inside = np.frombuffer(plan.ns_table, dtype=np.uint8)[
            hash_v1_buckets(plan.ns_seed, units)
        ].astype(bool)
        codes[~inside] = CODE_NAMESPACE
    codes[missing] = CODE_MISSING
    rows: list[int] = []
    values: list[int] = []
    if plan.overrides:
        for row, unit in enumerate(strings):
            forced = plan.overrides.get(unit)
            if forced is not None:
                rows.append(row)
                values.append(forced)
    return Outcomes(codes, np.asarray(rows, dtype=np.int64), np.asarray(values, dtype=np.int64))


def unit_text(value: object) -> str:
    """One unit id as the hash reads it: text as it is, an integer (Python's or NumPy's)
    as its decimal digits, as GrowthBook's SDKs read a numeric id; "" (missing) for None
    and NaN. Floats and booleans are refused: ``1.0`` would hash as "1.0", not as the
    customer "1", and a stray ``True`` is no id."""
    if isinstance(value, str):
        return value
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, bool) or type(value).__name__ in ("bool_", "bool"):
        raise TypeError(f"unit ids must be strings or integers, got {value!r}")
    if isinstance(value, int) or hasattr(value, "__index__"):
        return str(operator.index(value))
    if isinstance(value, float):
        raise TypeError("unit ids must be strings or integers, not floats (1.0 vs '1')")
    raise TypeError(f"unit ids must be strings or integers, got {value!r}")


def _as_strings(items: list[Any]) -> tuple[list[str], np.ndarray]:
    """Ids as str ("" where missing: None, NaN, or equal to "") and the missing mask."""
    import numpy as np

    if all(type(s) is str for s in items):
        missing = np.fromiter((not s for s in items), dtype=bool, count=len(items))
        return items, missing
    ids = [unit_text(value) for value in items]
    return ids, np.fromiter((not s for s in ids), dtype=bool, count=len(ids))
