"""Who is in an experiment: the randomisation unit, coverage, targeting
conditions and the namespace that keeps concurrent experiments disjoint.

Re-exported by :mod:`upsell_ab.spec.models`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field, model_validator

from upsell_ab.spec.base import Identifier, Model, Share
from upsell_ab.spec.findings import Finding, check

__all__ = ["Condition", "Namespace", "Operator", "Population", "Scalar"]


class Operator(StrEnum):
    """Targeting operators on one customer attribute."""

    eq = "eq"
    ne = "ne"
    in_ = "in"
    not_in = "not_in"
    gt = "gt"
    gte = "gte"
    lt = "lt"
    lte = "lte"
    exists = "exists"


Scalar = str | int | float | bool


class Condition(Model):
    """``segment in [new, returning]``, ``past_orders gte 1``, ``channel eq web``.

    ``in``/``not_in`` take ``values``; ``exists`` takes neither; the others take
    ``value``. Comparisons ``gt``..``lte`` need a number.
    """

    attribute: Annotated[str, Field(min_length=1)]
    op: Operator
    value: Scalar | None = None
    values: list[Scalar] | None = None

    @model_validator(mode="after")
    def _operands(self) -> Condition:
        op = self.op.value
        found: list[Finding] = []
        if self.op in (Operator.in_, Operator.not_in):
            if not self.values:
                found.append(
                    Finding(
                        ("values",),
                        f"operator '{op}' needs a non-empty list",
                        "write values: [a, b]",
                    )
                )
            if self.value is not None:
                found.append(
                    Finding(
                        ("value",),
                        f"operator '{op}' takes 'values', not 'value'",
                        "write values: [a, b]",
                    )
                )
        elif self.op is Operator.exists:
            if self.value is not None or self.values is not None:
                found.append(
                    Finding(("op",), "operator 'exists' takes no value", "remove 'value'/'values'")
                )
        else:
            if self.values is not None:
                found.append(
                    Finding(
                        ("values",),
                        f"operator '{op}' takes 'value', not 'values'",
                        "use op: in for a list",
                    )
                )
            elif self.value is None:
                found.append(Finding(("op",), f"operator '{op}' needs a 'value'", "add value: ..."))
            if self.op in (Operator.gt, Operator.gte, Operator.lt, Operator.lte) and (
                self.value is not None
                and (isinstance(self.value, bool) or not isinstance(self.value, int | float))
            ):
                found.append(
                    Finding(
                        ("value",),
                        f"operator '{op}' compares numbers; got {self.value!r}",
                        "write a number without quotes",
                    )
                )
        check(found)
        return self


class Namespace(Model):
    """Experiments sharing a namespace ``name`` with disjoint ``range`` s never
    see the same unit (GrowthBook namespaces: hash of unit with the namespace
    name as seed, version 1, must fall in [start, end))."""

    name: Identifier
    range: tuple[Share, Share]

    @model_validator(mode="after")
    def _ordered(self) -> Namespace:
        if not self.range[0] < self.range[1]:
            check(
                [
                    Finding(
                        ("range",),
                        f"namespace range must have start < end, got {list(self.range)}",
                        "write range: [start, end] inside [0, 1], e.g. [0, 0.5]",
                    )
                ]
            )
        return self


class Population(Model):
    unit: Annotated[str, Field(min_length=1)] = "customer_id"
    """Which customer attribute is hashed (the unit of randomisation)."""
    seed: str | None = None
    """Hash seed; defaults to the experiment id."""
    coverage: Annotated[float, Field(gt=0.0, le=1.0)] = 1.0
    """Share of eligible traffic in the experiment, in (0, 1]."""
    targeting: list[Condition] = Field(default_factory=list)
    """All conditions must hold (AND)."""
    namespace: Namespace | None = None
