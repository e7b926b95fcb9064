"""What a concluded experiment leaves behind: one self-contained JSON record.

A record freezes the final analysis so that later work (``learn``, the report's history,
an audit) never has to re-run it on data that may have changed:

- ``spec``: the spec as analysed (the validated model, JSON), and ``spec_sha256``, the
  SHA-256 of its canonical JSON *without* ``status`` (marking the spec ``concluded``
  afterwards must not change the hash; editing anything else must);
- ``data``: per variant and metric the units and sufficient statistics the verdict rests
  on (raw sums: value metrics' centring frame undone), and ``data_sha256``, their hash,
  so concluding again on other data is detected;
- ``result``: the experiment's report document as ``analyze --format json`` gives it
  (every comparison on every metric, quality, decision and reasons);
- ``decision``: action, winner and the winning variant's offer (for the history);
- ``concluded_by``, ``concluded_at`` (UTC), ``generator`` (upsell_ab version).

The JSON Schema ships as ``schema/result-record.schema.json``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, is_dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from upsell_ab.spec.models import Experiment
    from upsell_ab.workflow import ExperimentRun

RECORD_VERSION = "1"


def canonical(value: Any) -> str:
    """Sorted-key, compact JSON: the text hashes are taken over."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def spec_hash(experiment: Experiment) -> str:
    """SHA-256 of the spec's canonical JSON without ``status``."""
    spec = experiment.model_dump(mode="json")
    spec.pop("status", None)
    if not spec.get("amendments"):
        spec.pop("amendments", None)  # hashes of specs written before the field stay
    return hashlib.sha256(canonical(spec).encode("utf-8")).hexdigest()


def _raw(stats: Any) -> dict[str, Any]:
    """Sufficient statistics as plain sums (a value metric's frame undone)."""
    if hasattr(stats, "in_frame"):
        stats = stats.in_frame(0.0, 1.0)
    fields = asdict(stats) if is_dataclass(stats) and not isinstance(stats, type) else {}
    fields.pop("shift", None)
    fields.pop("scale", None)
    return {k: v for k, v in fields.items() if isinstance(v, int | float)}


def data_fingerprint(run: ExperimentRun) -> dict[str, Any]:
    """variant -> units, and metric -> variant -> sufficient statistics."""
    from upsell_ab.report.rounding import round_floats

    metrics = {
        name: {variant: _raw(stats) for variant, stats in sorted(data.by_variant.items())}
        for name, data in sorted(run.data.metrics.items())
    }
    units = dict(sorted(run.data.quality.exposures_by_variant.items()))
    return round_floats({"units": units, "metrics": metrics})


def data_hash(data: dict[str, Any]) -> str:
    """SHA-256 of a data fingerprint's canonical JSON."""
    return hashlib.sha256(canonical(data).encode("utf-8")).hexdigest()


def build_record(
    run: ExperimentRun,
    *,
    concluded_by: str,
    version: int,
    data: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The record of ``run`` (see the module docstring); ``data``: its fingerprint, when
    the caller already has it."""
    from upsell_ab import __version__
    from upsell_ab.report.model import to_document

    experiment = run.resolved.experiment
    document = to_document([run.report()])
    result = document["experiments"][0]
    data = data if data is not None else data_fingerprint(run)
    winner = run.outcome.variant if run.outcome.action.value == "ship" else None
    offer = None
    if winner is not None:
        chosen = experiment.variant(winner).offer
        offer = chosen.model_dump(mode="json") if chosen is not None else None
    return {
        "record_version": RECORD_VERSION,
        "experiment": experiment.id,
        "name": experiment.name,
        "version": version,
        "concluded_at": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "concluded_by": concluded_by,
        "generator": f"upsell_ab {__version__}",
        "spec": experiment.model_dump(mode="json"),
        "spec_sha256": spec_hash(experiment),
        "data": data,
        "data_sha256": data_hash(data),
        "decision": {
            "action": run.outcome.action.value,
            "winner": winner,
            "offer": offer,
            "reasons": list(run.outcome.reasons),
        },
        "result": result,
    }
