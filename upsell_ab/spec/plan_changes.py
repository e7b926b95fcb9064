"""Edits of the analysis plan after launch: outcome switching and its relatives.

Once an experiment has run, its results can be seen, and an edit of how they are judged
can then be chosen to make them win: switching the primary metric to the one that did
(outcome switching, Goldacre et al. 2019, "COMPare", Trials 20:118), raising alpha,
dropping the multiplicity correction, going one-sided, moving the MDE or the dates so
the fixed-horizon look falls where the result looks good (:mod:`upsell_ab.decision.
horizon`), loosening a guardrail or the Bayesian thresholds. Clinical trials register
their plan and record every amendment (ICH E9, section 2.1; CONSORT 2010 item 6b:
"any changes to trial outcomes after the trial commenced, with reasons"). Here the spec
is the plan: ``validate --against REF`` refuses such an edit unless the new spec records
it in ``amendments`` (field and reason), and every report lists the amendments.

Edits that cannot make a result look better stay free: a stricter alpha, a stronger
correction, a new guardrail or a tighter margin, secondary metrics and segments (both
exploratory), wording, owner, hypothesis.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from upsell_ab.spec.analysis_models import Correction
from upsell_ab.spec.catalogue_models import Catalogue
from upsell_ab.spec.models import Experiment, Status

FieldPath = tuple[str | int, ...]

_STRENGTH = {Correction.none: 0, Correction.benjamini_hochberg: 1, Correction.holm: 2}
"""Family-wise control is stronger than false-discovery control, which beats none."""


@dataclass(frozen=True)
class PlanChange:
    """One edit of the analysis plan, located at ``path`` in the new spec."""

    path: FieldPath
    message: str
    hint: str
    amended: str | None = None
    """The reason of the amendment that records this change (then it is accepted)."""

    @property
    def dotted(self) -> str:
        return _dotted(self.path)


def _dotted(path: FieldPath) -> str:
    """``metrics.guardrails`` for ("metrics", "guardrails", 0): list indices left out."""
    return ".".join(str(part) for part in path if not isinstance(part, int))


def plan_changes(old: Experiment, new: Experiment) -> list[PlanChange]:
    """The edits from ``old`` (the base version) to ``new`` that change how a started
    experiment is judged; those ``new`` records in an amendment the base did not have
    carry its reason in ``amended`` (accepted, shown to reviewers). Nothing when the base
    was a draft (no result seen yet) or the id changed."""
    if old.status is Status.draft or old.id != new.id:
        return []
    was = f"after launch (the base version is {old.status.value})"
    found = [
        *_metric_changes(old, new, was),
        *_threshold_changes(old, new, was),
        *_guardrail_changes(old, new, was),
    ]
    recorded = [a for a in new.amendments if a not in old.amendments]
    out: list[PlanChange] = []
    for change in found:
        amendment = next((a for a in recorded if _covers(a.field, change.dotted)), None)
        out.append(change if amendment is None else replace(change, amended=amendment.reason))
    return out


def _covers(field: str, dotted: str) -> bool:
    field = field.strip()
    return dotted == field or dotted.startswith(field + ".")


def _hint(dotted: str) -> str:
    return (
        f"undo the edit, or record it: amendments: [{{field: {dotted}, reason: '...'}}] "
        "(reports list it); a new question is a new experiment under a new id"
    )


def _change(path: FieldPath, message: str) -> PlanChange:
    return PlanChange(path, message, _hint(_dotted(path)))


def _metric_changes(old: Experiment, new: Experiment, was: str) -> list[PlanChange]:
    out: list[PlanChange] = []
    if old.metrics.primary != new.metrics.primary:
        out.append(
            _change(
                ("metrics", "primary"),
                f"the primary metric changed from {old.metrics.primary!r} to "
                f"{new.metrics.primary!r} {was}: switching the outcome once results can be "
                "seen makes any experiment look like a win",
            )
        )
    if old.analysis.decision.metric != new.analysis.decision.metric:
        out.append(
            _change(
                ("analysis", "decision", "metric"),
                f"the decision metric changed from "
                f"{old.analysis.decision.metric or 'the primary'!r} to "
                f"{new.analysis.decision.metric or 'the primary'!r} {was}",
            )
        )
    return out


def _differs(before: Any, after: Any) -> bool:
    return bool(before != after)


Check = tuple[FieldPath, Callable[[Experiment], Any], Callable[[Any, Any], bool], str]
"""(path, value of a spec, "is this edit a loosening?"(old, new), what it does)."""

_CHECKS: tuple[Check, ...] = (
    (("analysis", "alpha"), lambda e: e.analysis.alpha, lambda a, b: b > a, "raised"),
    (
        ("analysis", "correction"),
        lambda e: e.analysis.correction,
        lambda a, b: _STRENGTH[b] < _STRENGTH[a],
        "weakened",
    ),
    (("analysis", "alternative"), lambda e: e.analysis.alternative, _differs, "changed"),
    (
        ("analysis", "decision", "rule"),
        lambda e: e.analysis.decision.rule,
        _differs,
        "changed",
    ),
    (("analysis", "mde"), lambda e: e.analysis.mde, _differs, "changed"),
    (("analysis", "mde_kind"), lambda e: e.analysis.mde_kind, _differs, "changed"),
    (("analysis", "power"), lambda e: e.analysis.power, _differs, "changed"),
    (
        ("analysis", "sequential"),
        lambda e: e.analysis.sequential,
        lambda a, b: a.enabled and a != b,
        "switched off or re-tuned",
    ),
    (
        ("analysis", "decision", "prob_best_threshold"),
        lambda e: e.analysis.decision.prob_best_threshold,
        lambda a, b: b < a,
        "lowered",
    ),
    (
        ("analysis", "decision", "expected_loss_threshold"),
        lambda e: e.analysis.decision.expected_loss_threshold,
        lambda a, b: a is not None and (b is None or b > a),
        "raised or removed",
    ),
    (
        ("analysis", "decision", "min_profit_margin"),
        lambda e: e.analysis.decision.min_profit_margin,
        lambda a, b: b < a,
        "lowered",
    ),
    (("analysis", "priors"), lambda e: e.analysis.priors, _differs, "changed"),
    (("analysis", "srm_alpha"), lambda e: e.analysis.srm_alpha, lambda a, b: b < a, "lowered"),
    (
        ("analysis", "max_multiple_exposure_share"),
        lambda e: e.analysis.max_multiple_exposure_share,
        lambda a, b: b > a,
        "raised",
    ),
    (
        ("analysis", "min_units_per_arm"),
        lambda e: e.analysis.min_units_per_arm,
        lambda a, b: b < a,
        "lowered",
    ),
    (
        ("analysis", "outside_dates"),
        lambda e: e.analysis.outside_dates,
        _differs,
        "changed",
    ),
    (("end",), lambda e: e.end, _differs, "moved"),
    # a later start drops the first days (outside_dates: exclude), an earlier one adds days
    (("start",), lambda e: e.start, _differs, "moved"),
    # another table or file, another mapping: the same experiment read from other rows
    (("data",), lambda e: e.data, _differs, "changed"),
)


def _shown(value: Any) -> str:
    if hasattr(value, "model_dump"):
        return str(value.model_dump(mode="json"))
    if isinstance(value, date):
        return value.isoformat()
    return repr(getattr(value, "value", value))


def _threshold_changes(old: Experiment, new: Experiment, was: str) -> list[PlanChange]:
    out: list[PlanChange] = []
    for path, read, loosens, verb in _CHECKS:
        before, after = read(old), read(new)
        if before != after and loosens(before, after):
            out.append(
                _change(
                    path,
                    f"{'.'.join(map(str, path))} {verb} from {_shown(before)} to {_shown(after)} "
                    f"{was}: the fixed plan is what makes a verdict trustworthy, and an edit "
                    "made once results can be seen can be chosen to make them win",
                )
            )
    return out


def _guardrail_changes(old: Experiment, new: Experiment, was: str) -> list[PlanChange]:
    out: list[PlanChange] = []
    now = {g.metric: (i, g) for i, g in enumerate(new.metrics.guardrails)}
    for guardrail in old.metrics.guardrails:
        if guardrail.metric not in now:
            out.append(
                _change(
                    ("metrics", "guardrails"),
                    f"the guardrail on {guardrail.metric} was removed {was}: a harm it "
                    "would have caught no longer blocks shipping",
                )
            )
            continue
        index, after = now[guardrail.metric]
        looser = (
            after.margin_kind != guardrail.margin_kind
            or after.direction != guardrail.direction
            or after.margin > guardrail.margin
        )
        if looser:
            out.append(
                _change(
                    ("metrics", "guardrails", index),
                    f"the guardrail on {guardrail.metric} was loosened (margin "
                    f"{guardrail.margin:g} {guardrail.margin_kind.value} -> {after.margin:g} "
                    f"{after.margin_kind.value}, or its direction changed) {was}",
                )
            )
    return out


DISPLAY_ONLY = frozenset({"description", "unit"})
"""Catalogue fields that change how a metric is shown, not what it measures."""


def catalogue_changes(old: Catalogue, new: Catalogue) -> dict[str, list[str]]:
    """Metric name -> the fields of its definition that changed from ``old`` (the base
    catalogue) to ``new`` (metrics that kept their name; display-only fields ignored).
    A changed window, event or value changes what every experiment using the metric
    measures: the same outcome switching as editing the spec, one file away."""
    found: dict[str, list[str]] = {}
    for name, before in old.metrics.items():
        after = new.metrics.get(name)
        if after is None:
            continue  # a removed metric breaks the specs' references, reported there
        was, now = before.model_dump(mode="json"), after.model_dump(mode="json")
        fields = sorted(
            k for k in was.keys() | now.keys() if k not in DISPLAY_ONLY and was.get(k) != now.get(k)
        )
        if fields:
            found[name] = fields
    return found


def judged_roles(experiment: Experiment) -> dict[str, str]:
    """Metric -> its role in ``experiment``'s verdict (primary, decision, guardrail);
    secondary metrics are exploratory and not part of the verdict."""
    roles = {g.metric: "guardrail" for g in experiment.metrics.guardrails}
    if experiment.analysis.decision.metric:
        roles[experiment.analysis.decision.metric] = "decision metric"
    roles[experiment.metrics.primary] = "primary metric"
    return roles


def catalogue_amendment(experiment: Experiment, metric: str) -> str | None:
    """The reason ``experiment`` records for a change of ``metric``'s definition
    (``amendments: [{field: catalogue.<metric>, ...}]``), or None."""
    found = (a for a in experiment.amendments if _covers(a.field, f"catalogue.{metric}"))
    amendment = next(found, None)
    return amendment.reason if amendment is not None else None
