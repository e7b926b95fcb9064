"""`upsell-ab plan` for a switchback spec: it counts slots, not customers (issue 14).

Customers of one slot share its arm and its circumstances, so the plan asks for the
spread of the slot effect (``--slot-sd``, in the primary metric's units) and the
customers in a slot (``--units-per-slot``) and calls
:func:`upsell_ab.stats.switchback.slots_needed` for the primary metric at the spec's MDE
(equal split; every treatment against control at the same number of slots).
"""

from __future__ import annotations

import argparse
import json
import math
from typing import Any

from upsell_ab.cli.exit_codes import ExitCode
from upsell_ab.errors import StatsError


def plan_switchback(args: argparse.Namespace, resolved: Any, primary_input: Any) -> int:
    """Print the slots the primary metric needs (text or JSON)."""
    from upsell_ab.stats.switchback import slots_needed

    experiment = resolved.experiment
    randomization = experiment.randomization
    if args.slot_sd is None or args.units_per_slot is None:
        raise StatsError(
            "this spec randomises time slots (randomization.unit: time_slot): the plan counts "
            "slots, so give --slot-sd S (sd of the slot effect on "
            f"'{primary_input.name}', in its units) and --units-per-slot M (customers a slot)"
        )
    baseline = primary_input.baseline
    if primary_input.kind == "proportion":
        assert baseline is not None
        within = math.sqrt(baseline * (1 - baseline))
    else:
        within = float(primary_input.std)
    if primary_input.effect_kind == "relative":
        if baseline is None:
            raise StatsError(
                f"a relative MDE on '{primary_input.name}' needs --baseline (control mean)"
            )
        mde = primary_input.effect * abs(baseline)
    else:
        mde = primary_input.effect
    settings = experiment.analysis
    plan = slots_needed(
        within_sd=within,
        between_slot_sd=args.slot_sd,
        customers_per_slot=args.units_per_slot,
        mde=mde,
        alpha=settings.alpha,
        power=settings.power,
    )
    arms = len(experiment.variants)
    total = plan.slots_per_arm * arms
    slot = randomization.slot.value
    notes = [
        f"switchback design: each {slot} in {randomization.timezone} gets one arm; the slot "
        "is the unit, so customers within a slot are not independent information "
        f"(design effect {plan.design_effect:.2f})"
    ]
    if slot == "day_of_week" and total > 7:
        notes.append(
            "infeasible: day_of_week gives only 7 slots (every Monday is one slot); "
            "randomise by hour or day instead"
        )
    if args.format == "json":
        print(
            json.dumps(
                {
                    "experiment": experiment.id,
                    "design": "switchback",
                    "slot": slot,
                    "metric": primary_input.name,
                    "mde_absolute": mde,
                    "slots_per_arm": plan.slots_per_arm,
                    "slots": total,
                    "units_per_slot": args.units_per_slot,
                    "design_effect": plan.design_effect,
                    "notes": notes,
                }
            )
        )
        return int(ExitCode.OK)
    print(
        f"{experiment.id}: {total:,} {slot} slots ({plan.slots_per_arm:,} per arm x {arms} "
        f"arms) to detect {mde:.4g} on {primary_input.name} at alpha {settings.alpha:g}, "
        f"power {settings.power:g}, with {args.units_per_slot:g} customers a slot and a slot "
        f"sd of {args.slot_sd:g}"
    )
    for note in notes:
        print(f"  note: {note}")
    return int(ExitCode.OK)
