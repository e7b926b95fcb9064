"""The demo's programme: the bundled examples run under a long-term holdout (issue 15).

The bundled ``experiments/`` folder has no ``program.yaml``: a holdout is a shop's
decision, and every assignment, export and analysis obeys it once the file exists. The
demo shows what a shop with one sees: when the spec folder obeys no ``program.yaml``, the
specs and the catalogue are copied to ``OUTPUT_DIR/experiments/`` with
:data:`DEMO_PROGRAM` beside them, and that folder is simulated and reported. 5 % of the
customers then see no offer at all, and the report ends with what the whole programme did
to customers (:mod:`upsell_ab.report.programme`).
"""

from __future__ import annotations

import shutil
from pathlib import Path

DEMO_PROGRAM = """\
# The demo's upsell programme (written by `upsell-ab demo`; see docs/holdout.md).
# A long-term holdout keeps 5 % of customers out of every experiment and offer, so the
# report can say what the programme as a whole did to customers.
holdout:
  id: upsell_2026
  name: No upsell offers at all in 2026
  share: 0.05
  start: 2026-01-05
  window: 180d
  metrics:
    - customer_ltv_90d
    - upsell_revenue_per_customer
    - repeat_purchase_61_90d
    - satisfaction_score
    - unsubscribe_rate
    - complaint_rate
    - repeat_purchase_30d
"""


def with_programme(specs: Path, output_dir: Path) -> Path:
    """The folder the demo runs: ``specs`` itself when it obeys a ``program.yaml`` (or is a
    file), else a copy of its YAML files in ``output_dir/experiments`` with
    :data:`DEMO_PROGRAM` (files of an earlier demo run there are overwritten)."""
    from upsell_ab.spec.holdout_models import PROGRAM_NAME
    from upsell_ab.spec.program import find_program

    if not specs.is_dir() or find_program(specs) is not None:
        return specs
    target = output_dir / "experiments"
    target.mkdir(parents=True, exist_ok=True)
    for source in sorted([*specs.glob("*.yaml"), *specs.glob("*.yml")]):
        shutil.copyfile(source, target / source.name)
    (target / PROGRAM_NAME).write_text(DEMO_PROGRAM, encoding="utf-8")
    return target
