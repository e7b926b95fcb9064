"""What ``plan`` plans: the metrics that can decide or block, with baselines from flags or history.

Metrics: the primary (superiority at the spec's MDE), the decision metric when
it is another one (superiority at the same relative MDE), and every guardrail
(non-inferiority at its margin, in its direction). Baselines and standard
deviations come from ``--baseline [METRIC=]X`` / ``--std [METRIC=]S`` (a bare
value is for the primary metric) or, with ``--store``, from the pre-period
history (:mod:`upsell_ab.metrics.history`). Values written on the wrong
scale are refused with the likely intended value (``--baseline 20%`` or ``20``
for a rate: "write 0.2 for 20 %").
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from upsell_ab.errors import InputError, Location, Problem

RATE_TYPES = ("proportion", "retention")
_PERCENT = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*%\s*$")


def _problem(flag: str, message: str, hint: str | None = None) -> InputError:
    return InputError([Problem(Location(field=flag), message, hint, "invalid_value")])


def rate_scale_hint(value: float) -> str:
    """``20`` -> ``"write 0.2 for 20 %"``."""
    return f"write {value / 100:.10g} for {value:g} %"


def parse_value(text: str, flag: str, *, rate: bool) -> float:
    """A number from a flag; a percentage or a rate above 1 is refused with the fix."""
    percent = _PERCENT.match(text)
    if percent is not None:
        number = float(percent.group(1))
        if rate:
            raise _problem(flag, f"{text!r} is a percentage", rate_scale_hint(number))
        raise _problem(
            flag,
            f"{text!r} is a percentage",
            f"write the value in the metric's unit, e.g. {number:g}",
        )
    try:
        value = float(text)
    except ValueError:
        raise _problem(flag, f"{text!r} is not a number", "write e.g. 0.2") from None
    if not math.isfinite(value):  # 'inf', 'nan', '1e400' parse as floats
        raise _problem(flag, f"{text!r} is not a finite number", "write e.g. 0.2")
    if rate and not 0.0 < value < 1.0:
        if 1.0 <= value <= 100.0:
            raise _problem(flag, f"a rate of {value:g} is not a share", rate_scale_hint(value))
        raise _problem(flag, f"a rate must be between 0 and 1, got {value:g}", "write e.g. 0.2")
    return value


@dataclass
class Assigned:
    """Per-metric values given on the command line."""

    baselines: dict[str, str] = field(default_factory=dict)
    stds: dict[str, str] = field(default_factory=dict)


def split_assignments(
    values: list[str] | None, primary: str, flag: str, known: list[str]
) -> dict[str, str]:
    """``["0.2", "complaint_rate=0.004"]`` -> ``{primary: "0.2", "complaint_rate": "0.004"}``."""
    out: dict[str, str] = {}
    for raw in values or []:
        name, sep, value = raw.partition("=")
        if not sep:
            name, value = primary, raw
        name = name.strip()
        if name not in known:
            from upsell_ab.spec.suggest import suggestion

            raise _problem(
                flag,
                f"'{name}' is not a metric this plan uses",
                suggestion(name, known, what="metrics"),
            )
        out[name] = value.strip()
    return out


def metric_inputs(
    resolved: Any,
    *,
    baselines: dict[str, str],
    stds: dict[str, str],
    history: Any | None,
    mde: float,
    mde_kind: str,
) -> tuple[list[Any], list[str]]:
    """The planner's inputs, and the notes on where values came from or what is missing."""
    from upsell_ab.stats.planning import MetricInput, history_moments

    experiment = resolved.experiment
    primary = experiment.metrics.primary
    decision = resolved.decision_metric
    wanted: list[tuple[str, str, str, float, str, Any]] = [
        (primary, "primary", "superiority", mde, mde_kind, None)
    ]
    notes: list[str] = []
    primary_baseline: float | None = None
    inputs: list[Any] = []
    for rail in resolved.guardrails:
        wanted.append(
            (rail.metric, "guardrail", "non_inferiority", rail.margin, rail.margin_kind.value, rail)
        )
    if decision != primary:
        wanted.insert(1, (decision, "decision", "superiority", mde, mde_kind, None))
    for name, role, test, effect, kind, _rail in wanted:
        definition = resolved.metrics[name]
        mtype = definition.type.value
        rate = mtype in RATE_TYPES
        baseline = std = reduction = None
        source = "flag"
        if name in baselines:
            baseline = parse_value(baselines[name], f"--baseline {name}", rate=rate)
        if name in stds:
            std = parse_value(stds[name], f"--std {name}", rate=False)
            if std <= 0:
                raise _problem(
                    f"--std {name}", f"a standard deviation must be positive, got {std:g}"
                )
        if history is not None and name in history.plain:
            moments = history_moments(history.plain[name], history.cuped.get(name))
            if moments is None:
                notes.append(
                    f"{name}: the history ({history.units:,} customers) gives no estimate "
                    "(no events of this metric, or no variation)"
                )
            else:
                h_mean, h_std, reduction = moments
                if baseline is None:
                    baseline, source = h_mean, "history"
                if std is None and not rate:
                    std = h_std
                    source = "history"
        if role == "decision" and kind == "absolute" and primary_baseline:
            # the spec's absolute MDE is in the primary metric's units: use it relatively
            effect, kind = effect / abs(primary_baseline), "relative"
        if role == "primary":
            primary_baseline = baseline
        inputs.append(
            MetricInput(
                name=name,
                role=role,
                kind="proportion" if rate else "mean",
                test=test,  # type: ignore[arg-type]
                effect=effect,
                effect_kind=kind,
                baseline=baseline,
                std=std,
                source=source,
                variance_reduction=reduction,
                cuped=definition.cuped is not None and reduction is not None,
                metric_type=mtype if mtype == "quantile" else None,
            )
        )
        if rate and baseline is None:
            notes.append(f"{name}: give --baseline {name}=RATE (e.g. 0.05) or --store with history")
        elif not rate and std is None:
            notes.append(
                f"{name}: give --std {name}=S (per-customer standard deviation) or --store"
            )
        elif not rate and kind == "relative" and baseline is None:
            notes.append(f"{name}: give --baseline {name}=MEAN for a relative effect, or --store")
    return inputs, notes
