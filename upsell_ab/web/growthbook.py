"""Specs -> the GrowthBook SDK payload (``{"features": {...}}``) a web page evaluates.

One feature per running experiment, keyed by the experiment id. Its value is
what the page renders: ``{"experiment", "variant", "offer"}`` with the offer's
tactic, timing, wording, discount and items (``offer`` is null for a
'no offer' control). Rules, in GrowthBook's order of evaluation:

1. QA overrides: one force rule per forced variant, condition
   ``{unit: {"$in": [ids]}}`` (our :class:`~upsell_ab.assignment.Assigner`
   checks overrides before anything else, so they come first).
2. The experiment rule: ``key`` = experiment id, ``variations`` in spec order,
   ``weights`` (the spec's, or the current weights a caller passes, e.g. a
   bandit's), ``coverage``, ``hashAttribute`` = the spec's unit (``time_slot``, the
   slot key, for a switchback spec), ``seed``,
   ``hashVersion`` 2, ``namespace`` ``[name, start, end]`` and the targeting
   translated by :mod:`upsell_ab.web.conditions`. With a programme holdout
   (``program.yaml``) the rule gets ``filters`` instead of ``namespace``
   (:func:`holdout_filters`).

Why the SDK then picks what :class:`Assigner` picks: both hash
``fnv1a32(str(fnv1a32(seed + id))) % 10000 / 10000`` over UTF-16 code units,
both build ranges ``[c_i, c_i + coverage * w_i)`` from cumulative weights, both
test namespaces with the v1 hash of ``"__" + name`` (see
:mod:`upsell_ab.assignment.allocate`). A unit not in the experiment gets the
feature's default value, null: the page shows no offer and records nothing.

Reference: GrowthBook SDK payload and feature rules,
https://docs.growthbook.io/lib/build-your-own (FeatureRule, Experiment).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from upsell_ab.errors import Location, Problem, SpecError
from upsell_ab.spec.holdout_models import Holdout
from upsell_ab.spec.models import Experiment, Status, Variant
from upsell_ab.web.conditions import (
    OBJECT_PROTOTYPE_NAMES,
    Inexpressible,
    attribute_name_problem,
    translate_targeting,
)

SLOT_ATTRIBUTE = "time_slot"
"""The hash attribute of a switchback spec's rule: the slot key (``2026-12-04T10``,
``2026-12-04`` or ``dow-5``), which :class:`~upsell_ab.assignment.Assigner` hashes as the
unit id (:mod:`upsell_ab.assignment.switchback`)."""
HASH_VERSION = 2
WEIGHT_TOLERANCE = 0.01
"""GrowthBook replaces weights summing outside [0.99, 1.01] by equal weights."""


@dataclass
class ExportError(SpecError):
    """A running experiment cannot be exported exactly; ``problems`` name the spec lines."""

    problems: list[Problem] = field(default_factory=list)
    code: str = "not_exportable"


@dataclass(frozen=True)
class Refusal:
    """Where (path inside the spec) and why an experiment cannot be exported."""

    path: tuple[str | int, ...]
    message: str
    hint: str


def offer_value(experiment: Experiment, variant: Variant) -> dict[str, Any]:
    """The feature value for one variant: what the page renders and records."""
    offer = variant.offer
    return {
        "experiment": experiment.id,
        "variant": variant.id,
        "offer": None if offer is None else offer.model_dump(mode="json", exclude_none=True),
    }


def experiment_feature(
    experiment: Experiment,
    weights: Sequence[float] | None = None,
    holdout: Holdout | None = None,
) -> dict[str, Any]:
    """The GrowthBook feature definition for one experiment (raises :class:`Inexpressible`
    or :class:`ValueError` through :func:`refusals` first; call that to get located errors).
    ``holdout``: the programme's long-term holdout, as a rule ``filters`` entry
    (:func:`holdout_filters`)."""
    found = refusals(experiment, weights)
    if found:
        raise ValueError(found[0].message)
    population = experiment.population
    # a switchback hashes the time slot: the page passes the slot key (the shop's local
    # hour, day or weekday, as `upsell-ab assign --at` prints it) as this attribute
    switchback = experiment.randomization.is_switchback
    unit = SLOT_ATTRIBUTE if switchback else population.unit
    if switchback:
        holdout = None  # the programme holdout does not apply to slots
    variations = [offer_value(experiment, v) for v in experiment.variants]
    rules: list[dict[str, Any]] = []
    forced: dict[str, list[str]] = {}
    for unit_id, variant_id in experiment.overrides.items():
        forced.setdefault(variant_id, []).append(unit_id)
    for index, variant in enumerate(experiment.variants):
        if variant.id in forced:
            rules.append(
                {
                    "id": f"{experiment.id}:override:{variant.id}",
                    "condition": {unit: {"$in": sorted(forced[variant.id])}},
                    "force": variations[index],
                }
            )
    current = list(weights) if weights is not None else [v.weight for v in experiment.variants]
    rule: dict[str, Any] = {
        "id": f"{experiment.id}:experiment",
        "key": experiment.id,
        "name": experiment.name,
        "variations": variations,
        "weights": current,
        "coverage": population.coverage,
        "hashAttribute": unit,
        "seed": experiment.seed,
        "hashVersion": HASH_VERSION,
        "meta": [{"key": v.id, "name": v.name or v.id} for v in experiment.variants],
    }
    condition = translate_targeting(population.targeting)
    if condition is not None:
        rule["condition"] = condition
    if holdout is not None:
        rule["filters"] = holdout_filters(experiment, holdout)
    elif population.namespace is not None:
        start, end = population.namespace.range
        rule["namespace"] = [population.namespace.name, start, end]
    rules.append(rule)
    return {"defaultValue": None, "rules": rules}


def holdout_filters(experiment: Experiment, holdout: Holdout) -> list[dict[str, Any]]:
    """The long-term holdout as GrowthBook ``filters``: a unit passes a filter when the
    hash of its ``attribute`` under ``seed`` falls in one of ``ranges`` (the SDKs'
    ``isFilteredOut``). The holdout keeps the v2 hash in ``[0, share)`` out, so the rule
    lets ``[share, 1)`` through, which is exactly :class:`~upsell_ab.assignment.holdout.
    HoldoutGate`. The SDKs ignore ``namespace`` when ``filters`` are present, so the
    namespace becomes a second filter with the same test ``inNamespace`` makes (v1 hash
    of the unit under ``"__" + name``, range ``[start, end)``)."""
    filters: list[dict[str, Any]] = [
        {
            "seed": holdout.hash_seed,
            "ranges": [[holdout.share, 1.0]],
            "hashVersion": 2,
            "attribute": holdout.unit,
        }
    ]
    namespace = experiment.population.namespace
    if namespace is not None:
        start, end = namespace.range
        filters.append(
            {
                "seed": f"__{namespace.name}",
                "ranges": [[start, end]],
                "hashVersion": 1,
                "attribute": experiment.population.unit,
            }
        )
    return filters


def refusals(experiment: Experiment, weights: Sequence[float] | None = None) -> list[Refusal]:
    """Everything in ``experiment`` a GrowthBook SDK would not evaluate exactly as we do."""
    found: list[Refusal] = []
    if experiment.id in OBJECT_PROTOTYPE_NAMES:
        found.append(
            Refusal(
                ("id",),
                f"experiment id {experiment.id!r} is a member of every JavaScript object; "
                "the SDK would treat it as a forced variation",
                "rename the experiment",
            )
        )
    population = experiment.population
    problem = attribute_name_problem(population.unit)
    if problem is not None:
        found.append(Refusal(("population", "unit"), problem, "rename the unit attribute"))
    if population.seed == "":
        found.append(
            Refusal(
                ("population", "seed"),
                "an empty seed: GrowthBook SDKs replace it by the experiment id",
                "remove 'seed' (the experiment id is the default) or write a non-empty seed",
            )
        )
    for index, condition in enumerate(population.targeting):
        try:
            translate_targeting([condition])
        except Inexpressible as error:
            path: tuple[str | int, ...] = ("population", "targeting", index)
            leaf = error.field.split("[")[0]
            found.append(Refusal((*path, leaf), error.message, error.hint))
    count = len(experiment.variants)
    if weights is not None:
        total = sum(weights)
        if len(weights) != count or any(w < 0 for w in weights):
            found.append(
                Refusal(
                    ("variants",),
                    f"{len(weights)} current weights for {count} variants",
                    "pass one non-negative weight per variant, in spec order",
                )
            )
        elif abs(total - 1.0) > WEIGHT_TOLERANCE:
            found.append(
                Refusal(
                    ("variants",),
                    f"current weights sum to {total:g}; GrowthBook would use equal weights",
                    "normalise the weights to sum to 1",
                )
            )
    return found


def running(experiments: Iterable[Experiment]) -> list[Experiment]:
    return [e for e in experiments if e.status is Status.running]


def features_payload(
    experiments: Iterable[Experiment],
    weights: Mapping[str, Sequence[float]] | None = None,
    holdouts: Mapping[str, Holdout] | None = None,
) -> dict[str, Any]:
    """``{"features": {experiment id: feature}}`` for every running experiment
    (``weights``: current weights by experiment id, e.g. a bandit's; ``holdouts``: the
    programme holdout each experiment obeys)."""
    weights = weights or {}
    holdouts = holdouts or {}
    features: dict[str, Any] = {}
    for experiment in sorted(running(experiments), key=lambda e: e.id):
        features[experiment.id] = experiment_feature(
            experiment, weights.get(experiment.id), holdouts.get(experiment.id)
        )
    return {"features": features}


def export_paths(
    paths: Iterable[str | Path], weights: Mapping[str, Sequence[float]] | None = None
) -> dict[str, Any]:
    """Load every spec under ``paths`` and build the payload; one :class:`SpecError`
    (or :class:`ExportError`) lists every problem, located in the spec text."""
    from upsell_ab.spec.load import discover, parse_file
    from upsell_ab.spec.locate import problem_at, sorted_unique
    from upsell_ab.spec.program import holdout_for

    experiments: list[Experiment] = []
    holdouts: dict[str, Holdout] = {}
    problems: list[Problem] = []
    refused: list[Problem] = []
    seen: dict[str, Path] = {}
    for path in discover(paths):
        parsed = parse_file(path, Experiment)
        if parsed.problems:
            problems += parsed.problems
            continue
        experiment: Experiment = parsed.model
        if experiment.status is not Status.running:
            continue
        if experiment.id in seen:
            refused.append(
                Problem(
                    Location(file=str(path), field="id"),
                    f"experiment id {experiment.id!r} is also running in {seen[experiment.id]}",
                    "feature keys must be unique: give each spec its own id",
                    "not_exportable",
                )
            )
            continue
        seen[experiment.id] = path
        holdout = holdout_for(path)
        if holdout is not None:
            holdouts[experiment.id] = holdout
        current = (weights or {}).get(experiment.id)
        for refusal in refusals(experiment, current):
            refused.append(
                problem_at(
                    parsed.document,
                    str(path),
                    refusal.path,
                    f"cannot export to GrowthBook exactly: {refusal.message}",
                    refusal.hint,
                    "not_exportable",
                )
            )
        experiments.append(experiment)
    for unknown in sorted(set(weights or {}) - set(seen)):
        refused.append(
            Problem(
                Location(field=unknown),
                f"current weights given for {unknown!r}, which is not a running experiment here",
                "remove it from the weights file or check the experiment id",
                "not_exportable",
            )
        )
    if problems:
        raise SpecError(sorted_unique(problems))
    if refused:
        raise ExportError(sorted_unique(refused))
    return features_payload(experiments, weights, holdouts)


def read_weights(path: str | Path) -> dict[str, list[float]]:
    """``{"experiment_id": [w1, w2, ...]}`` from a JSON file (current weights, spec order)."""
    from upsell_ab.errors import InputError

    def refuse(message: str) -> InputError:
        hint = 'write {"experiment_id": [0.6, 0.4]}, one weight per variant in spec order'
        return InputError([Problem(Location(file=str(path)), message, hint, "invalid")])

    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise refuse(f"cannot read: {error.strerror}") from None
    except (ValueError, UnicodeDecodeError) as error:
        raise refuse(f"not JSON: {error}") from None
    if not isinstance(data, dict):
        raise refuse("expected an object of experiment ids")
    weights: dict[str, list[float]] = {}
    for key, values in data.items():
        if not isinstance(values, list) or not all(
            isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
            for v in values
        ):
            raise refuse(f"weights of {key!r} must be a list of numbers")
        weights[str(key)] = [float(v) for v in values]
    return weights


def dumps(payload: Mapping[str, Any]) -> str:
    """Stable JSON text (sorted keys, UTF-8 kept): the same specs give the same bytes."""
    return json.dumps(payload, ensure_ascii=False, sort_keys=True, indent=2) + "\n"
