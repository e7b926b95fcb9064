"""The long-term holdout analysed like an experiment: "what has our whole upsell
programme done to customers?" (issue 15 part 3).

The shop logs one *programme exposure* per customer at their first visit after the
holdout's ``start``: experiment = the holdout's id, variant ``holdout`` for a held-out
customer and ``programme`` for everyone else
(:meth:`upsell_ab.assignment.holdout.HoldoutGate.group` says which). The analysis is then
an ordinary experiment built from ``program.yaml``: the holdout is the control (no offers,
weight = share), the programme the treatment, the holdout's ``metrics`` (repeat purchase,
unsubscribes, complaints, LTV ...; the first is primary, each with its catalogue window),
SRM against the holdout share, and every report format. "Ship programme" reads: the
programme beats doing nothing on the primary metric.
"""

from __future__ import annotations

from pathlib import Path

from upsell_ab.errors import Location, Problem, SpecError
from upsell_ab.spec.holdout_models import Holdout
from upsell_ab.spec.resolve import ResolvedExperiment

HOLDOUT_VARIANT = "holdout"
PROGRAMME_VARIANT = "programme"


def programme_spec(holdout: Holdout, program_file: Path) -> ResolvedExperiment:
    """The experiment spec of the programme-vs-holdout comparison, resolved against the
    catalogue next to ``program.yaml`` (or the shipped one)."""
    from upsell_ab.spec.load import find_catalogue, load_catalogue
    from upsell_ab.spec.models import Experiment
    from upsell_ab.spec.resolve import resolve

    if not holdout.metrics:
        raise SpecError(
            [
                Problem(
                    Location(file=str(program_file), field="holdout.metrics"),
                    "the holdout names no metric to compare",
                    "add metrics: [repeat_purchase_30d, unsubscribe_rate, customer_ltv_90d]",
                )
            ]
        )
    primary, *secondary = holdout.metrics
    spec = Experiment.model_validate(
        {
            "id": holdout.id,
            "name": holdout.name or f"Upsell programme against holdout {holdout.id}",
            "hypothesis": "the upsell programme as a whole helps customers and the shop, "
            "compared with no offers at all",
            "status": "running",
            "start": holdout.start,
            "population": {"unit": holdout.unit},
            "variants": [
                {"id": HOLDOUT_VARIANT, "control": True, "weight": holdout.share},
                {"id": PROGRAMME_VARIANT, "weight": 1.0 - holdout.share},
            ],
            "metrics": {"primary": primary, "secondary": secondary},
            "data": {"kind": "embedded"},
        }
    )
    catalogue_file = find_catalogue(program_file)
    return resolve(
        spec,
        load_catalogue(catalogue_file),
        source_file=program_file,
        catalogue_file=catalogue_file,
    )
