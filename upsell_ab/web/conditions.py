"""Spec targeting -> GrowthBook conditions (MongoDB-style), exactly or not at all.

Our targeting (:mod:`upsell_ab.assignment.targeting`) is strict: a missing
attribute (absent or null) fails every condition, types never coerce
(``"3"`` is not ``3``, ``true`` is not ``1``) and ``gt`` .. ``lte`` need a
number. GrowthBook's evaluator (``evalCondition`` in the JS SDK's
``mongrule.ts``; the Python SDK >= 4 mirrors it) is looser in three places,
so each operator gets the guard that makes the two agree on every JSON value:

* ``eq`` -> ``{"$eq": v}``: JavaScript ``===`` (no coercion; a bare value
  ``{"a": "x"}`` would coerce with ``value + ""`` and is never emitted).
* ``ne`` / ``not_in`` -> ``{"$exists": true, "$ne"/"$nin": ...}``: GrowthBook
  lets a missing attribute pass ``$ne`` / ``$nin``; we do not.
* ``gt`` .. ``lte`` -> ``{"$type": "number", "$gt": v}``: JavaScript ``>``
  coerces ``"5" > 3`` to true; we compare numbers only.
* ``in`` -> ``{"$in": [...]}`` (``Array.includes``: SameValueZero, strict);
  ``exists`` -> ``{"$exists": true}`` (``!= null``).

What cannot be expressed exactly is refused (:class:`Inexpressible`), never
approximated: attribute names with a dot (GrowthBook reads ``a.b`` as a nested
path) or a leading ``$`` (operators), names of ``Object.prototype`` members
(``constructor``, ``toString`` ...: JavaScript's ``in`` finds them on every
attributes object, so a missing attribute would look present), and integers
beyond 2**53 (JavaScript numbers are doubles, so ``eq`` would compare a
rounded value). Attribute values are JSON scalars: arrays and objects
(which GrowthBook's ``$in`` intersects) are outside our targeting model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from upsell_ab.spec.models import Condition, Operator

JS_SAFE_INTEGER = 2**53 - 1
"""``Number.MAX_SAFE_INTEGER``: larger integers do not survive ``JSON.parse`` exactly."""

OBJECT_PROTOTYPE_NAMES = frozenset(
    {
        "__proto__",
        "__defineGetter__",
        "__defineSetter__",
        "__lookupGetter__",
        "__lookupSetter__",
        "constructor",
        "hasOwnProperty",
        "isPrototypeOf",
        "propertyIsEnumerable",
        "toLocaleString",
        "toString",
        "valueOf",
    }
)
"""Members every JavaScript object inherits: ``name in attributes`` is true for them."""

_ORDER = {Operator.gt: "$gt", Operator.gte: "$gte", Operator.lt: "$lt", Operator.lte: "$lte"}


@dataclass(frozen=True)
class Inexpressible(Exception):
    """A condition (``index`` in the spec's list; ``field`` inside it) GrowthBook cannot
    evaluate exactly as we do; ``hint`` says how to rewrite it."""

    index: int | None
    field: str
    message: str
    hint: str

    def __str__(self) -> str:
        return self.message


def attribute_name_problem(name: str) -> str | None:
    """Why GrowthBook would not read attribute ``name`` as a plain key (None when it would)."""
    if "." in name:
        return f"attribute name {name!r} has a dot; GrowthBook reads it as a nested path"
    if name.startswith("$"):
        return f"attribute name {name!r} starts with '$'; GrowthBook reads it as an operator"
    if name in OBJECT_PROTOTYPE_NAMES:
        return (
            f"attribute name {name!r} is a member of every JavaScript object; "
            "GrowthBook would find it on customers without the attribute"
        )
    return None


def _operand(value: Any, index: int, field: str) -> Any:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > JS_SAFE_INTEGER:
        raise Inexpressible(
            index,
            field,
            f"integer {value} is beyond JavaScript's exact range (2**53)",
            "compare a string id instead, or a number below 9007199254740992",
        )
    return value


def translate_condition(condition: Condition, index: int) -> dict[str, Any]:
    """The GrowthBook operator object for one condition (without the attribute key)."""
    problem = attribute_name_problem(condition.attribute)
    if problem is not None:
        raise Inexpressible(
            index, "attribute", problem, "rename the attribute (letters, digits and '_')"
        )
    op = condition.op
    if op is Operator.exists:
        return {"$exists": True}
    if op in (Operator.in_, Operator.not_in):
        values = [_operand(v, index, f"values[{i}]") for i, v in enumerate(condition.values or ())]
        if op is Operator.in_:
            return {"$in": values}
        return {"$exists": True, "$nin": values}
    value = _operand(condition.value, index, "value")
    if op is Operator.eq:
        return {"$eq": value}
    if op is Operator.ne:
        return {"$exists": True, "$ne": value}
    return {"$type": "number", _ORDER[op]: value}


def translate_targeting(conditions: Sequence[Condition]) -> dict[str, Any] | None:
    """All conditions (AND) as one GrowthBook condition; None when there are none.

    One key per attribute when the attributes are distinct, else ``$and``
    (two operator objects on one key would overwrite each other)."""
    if not conditions:
        return None
    parts = [(c.attribute, translate_condition(c, index)) for index, c in enumerate(conditions)]
    names = [name for name, _ in parts]
    if len(set(names)) == len(names):
        return dict(parts)
    return {"$and": [{name: operator} for name, operator in parts]}
