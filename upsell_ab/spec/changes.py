"""What an edit to an experiment that has started does to its assignment.

Units are assigned by ``hash(seed, unit id) -> bucket -> variant range`` (GrowthBook's
``getBucketRanges``: variant ``i`` owns ``[c_i, c_i + coverage * w_i)``). Once an
experiment has run, an edit to anything in that chain (the hashed attribute, the seed,
the variants' ids, order or weights, a lower coverage, the namespace, a switchback's
slots) moves units already exposed to another variant or out of the experiment. Their
exposures then mix two splits, and the sample-ratio test compares the new weights with
traffic split by the old ones: a weight edit can even hide a real SRM (observed 60/40,
spec edited to 0.6/0.4). GrowthBook starts a new phase with re-randomisation for such
edits and Jetstream treats them as a new experiment; here ``validate --against REF``
refuses them, naming the field and the share of assigned units that would move.

Safe edits stay free here: raising coverage (ranges grow in place, nobody moves),
targeting, dates, metrics, wording. (Dates and metrics are the analysis plan, which
:mod:`upsell_ab.spec.plan_changes` guards.) An edit with a new experiment id is a new
experiment.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from upsell_ab.spec.holdout_models import Holdout
from upsell_ab.spec.models import Experiment, Status

FieldPath = tuple[str | int, ...]


@dataclass(frozen=True)
class AssignmentChange:
    """One edit of the assignment chain, located at ``path`` in the new spec."""

    path: FieldPath
    message: str
    hint: str


NEW_EXPERIMENT = (
    "to change it, stop this experiment and start a new one under a new id; the data so far "
    "stays under the old id"
)


def moved_share(
    old_ids: Sequence[str],
    old_weights: Sequence[float],
    old_coverage: float,
    new_ids: Sequence[str],
    new_weights: Sequence[float],
    new_coverage: float,
) -> float:
    """Share of the units assigned under the old ranges whose variant differs under the
    new ones (another variant, or none), counted exactly over the hash's 10,000 buckets
    with the assigner's own float comparisons. Variants are matched by id."""
    from upsell_ab.assignment.allocate import NOT_ASSIGNED, bucket_ranges, choose_variation
    from upsell_ab.assignment.hashing import V2_BUCKETS

    old_ranges = bucket_ranges(old_weights, old_coverage)
    new_ranges = bucket_ranges(new_weights, new_coverage)
    assigned = moved = 0
    for bucket in range(V2_BUCKETS):
        n = bucket / V2_BUCKETS
        before = choose_variation(n, old_ranges)
        if before == NOT_ASSIGNED:
            continue
        assigned += 1
        after = choose_variation(n, new_ranges)
        if after == NOT_ASSIGNED or new_ids[after] != old_ids[before]:
            moved += 1
    return moved / assigned if assigned else 0.0


def _has_run(experiment: Experiment) -> bool:
    return experiment.status is not Status.draft


def assignment_changes(old: Experiment, new: Experiment) -> list[AssignmentChange]:
    """The edits from ``old`` (the base version) to ``new`` that move assigned units.
    Nothing when the base was a draft (nobody assigned yet) or the id changed (a new
    experiment)."""
    if not _has_run(old) or old.id != new.id:
        return []
    was = f"(the base version is {old.status.value})"
    changes: list[AssignmentChange] = []
    if not _has_run(new):
        changes.append(
            AssignmentChange(
                ("status",),
                f"status went back to draft {was}: a draft's assignment is not protected, "
                "so the next edit could move the units already exposed",
                f"keep the status (stopped ends it); {NEW_EXPERIMENT}",
            )
        )
    if old.population.unit != new.population.unit:
        changes.append(
            AssignmentChange(
                ("population", "unit"),
                f"the hashed attribute changed from {old.population.unit!r} to "
                f"{new.population.unit!r} {was}: every unit is assigned anew",
                NEW_EXPERIMENT,
            )
        )
    if old.population.seed != new.population.seed:
        changes.append(
            AssignmentChange(
                ("population", "seed"),
                f"the hash seed changed from {old.population.seed or old.id!r} to "
                f"{new.population.seed or new.id!r} {was}: every unit is hashed anew and "
                "about half move to another variant",
                NEW_EXPERIMENT,
            )
        )
    if old.population.namespace != new.population.namespace:
        changes.append(
            AssignmentChange(
                ("population", "namespace"),
                f"the namespace changed {was}: units leave the experiment or join it "
                "mid-run, and its mutual exclusion with other experiments changes",
                NEW_EXPERIMENT,
            )
        )
    if old.randomization != new.randomization:
        changes.append(
            AssignmentChange(
                ("randomization",),
                f"the randomisation (unit, slot, time zone or burn-in) changed {was}: "
                "slots and their arms are drawn anew",
                NEW_EXPERIMENT,
            )
        )
    changes += _variant_changes(old, new, was)
    return changes


def _variant_changes(old: Experiment, new: Experiment, was: str) -> list[AssignmentChange]:
    old_ids = [v.id for v in old.variants]
    new_ids = [v.id for v in new.variants]
    adaptive = old.allocation.kind.value != "fixed" or new.allocation.kind.value != "fixed"
    if adaptive and old_ids == new_ids:
        return []  # a bandit's weights come from `allocate`; the spec's are the start only
    old_weights = [v.weight for v in old.variants]
    new_weights = [v.weight for v in new.variants]
    if adaptive:  # ids edited on a bandit: judge the id edit alone
        new_weights = old_weights if len(old_weights) == len(new_weights) else new_weights
    share = moved_share(
        old_ids,
        old_weights,
        old.population.coverage,
        new_ids,
        new_weights,
        new.population.coverage,
    )
    if share == 0.0:
        return []  # e.g. coverage raised: ranges grow in place
    moved = f"{share:.1%} of the units already assigned would move to another variant or leave"
    if old_ids != new_ids:
        return [
            AssignmentChange(
                ("variants",),
                f"the variants changed from {old_ids} to {new_ids} {was}: {moved}",
                NEW_EXPERIMENT,
            )
        ]
    for index, (before, after) in enumerate(zip(old_weights, new_weights, strict=True)):
        if before != after:
            return [
                AssignmentChange(
                    ("variants", index, "weight"),
                    f"the weight of {new_ids[index]!r} changed from {before:g} to {after:g} "
                    f"{was}: {moved}, their exposures would mix two splits, and the "
                    "sample-ratio test would compare the new weights with traffic split by "
                    "the old ones",
                    f"keep the weights; {NEW_EXPERIMENT}",
                )
            ]
    return [
        AssignmentChange(
            ("population", "coverage"),
            f"coverage fell from {old.population.coverage:g} to {new.population.coverage:g} "
            f"{was}: {moved}",
            "keep the coverage (raising it is safe: nobody moves); " + NEW_EXPERIMENT,
        )
    ]


def holdout_changes(old: Holdout | None, new: Holdout | None) -> list[AssignmentChange]:
    """Edits of a long-term holdout in place that move customers between the holdout and
    the programme: a held-out customer who starts seeing offers (or the reverse) spoils
    the months-long comparison the holdout exists for. Membership is
    ``hash_v2(seed, unit) < share``; a new id with the default seed is a new holdout."""
    if old is None or new is None or old.id != new.id:
        return []
    changes: list[AssignmentChange] = []
    fresh = "to change it, start a new holdout under a new id and start date"
    if old.unit != new.unit:
        changes.append(
            AssignmentChange(
                ("holdout", "unit"),
                f"the hashed attribute changed from {old.unit!r} to {new.unit!r}: every "
                "customer's membership is drawn anew",
                fresh,
            )
        )
    if old.hash_seed != new.hash_seed:
        changes.append(
            AssignmentChange(
                ("holdout", "seed"),
                f"the hash seed changed from {old.hash_seed!r} to {new.hash_seed!r}: about "
                f"{old.share:.0%} of the held-out customers stay held out, the rest start "
                "seeing offers",
                fresh,
            )
        )
    if old.share != new.share:
        from upsell_ab.assignment.holdout import bucket_table

        before, after = bucket_table(old.share), bucket_table(new.share)
        moved = sum(b != a for b, a in zip(before, after, strict=True)) / len(before)
        direction = (
            "programme customers who have seen offers would join the holdout"
            if new.share > old.share
            else "held-out customers would start seeing offers"
        )
        changes.append(
            AssignmentChange(
                ("holdout", "share"),
                f"the share changed from {old.share:g} to {new.share:g}: {moved:.1%} of all "
                f"customers would switch group ({direction})",
                f"keep the share; {fresh}",
            )
        )
    return changes
