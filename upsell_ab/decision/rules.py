"""From an analysis to one action: ship a variant, keep control, keep running, or invalid.

The rule is the spec's (``analysis.decision``):

- ``frequentist``: the decision metric's adjusted p-value (Holm by default,
  over primary metric x treatments) is below ``alpha`` AND the interval of the
  absolute difference lies wholly on the better side of 0 for the metric's
  direction;
- ``bayesian``: P(best) >= ``prob_best_threshold`` and, if set, the expected
  loss of shipping <= ``expected_loss_threshold``;
- ``both``: the two engines must agree.

An experiment nobody has been exposed to yet is *waiting for data* (not
invalid: a spec merged before its launch is normal). Before any verdict the data
must be trustworthy: a sample-ratio mismatch, a multiple-exposure share above
``max_multiple_exposure_share`` or a decision metric without data make the
experiment *invalid*, never a winner; its guardrails are still judged and a
breach is still listed (``--fail-on guardrail`` must see it). A winner
must also pass every guardrail's non-inferiority test; a breach blocks it
(listed in ``guardrails_breached``). A profit decision metric may demand a
minimum lift (``min_profit_margin``, per unit). Treatments that all lose
significantly -> keep control; otherwise keep running, with the extra units
and days the spec's MDE needs (two-sample normal approximation, see
:mod:`upsell_ab.decision.sample`).

A running fixed-horizon test is judged at its horizon, not at every daily look
(:mod:`upsell_ab.decision.horizon`: before it a ship needs overwhelming evidence;
past the planned sample the verdict is held to the planned look), and a timing test
waits until its attribution windows have closed (:mod:`upsell_ab.decision.windows`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from upsell_ab.decision.gates import absent_events
from upsell_ab.decision.horizon import (
    EARLY_STOP_P,
    PlannedLook,
    before_horizon,
    evidence_p,
    evidence_then,
    evidence_words,
    final_look_reason,
    judged_at_planned_look,
    missing_series_reason,
)
from upsell_ab.decision.model import Action, Outcome
from upsell_ab.decision.reasons import (
    amount,
    bayes_sentence,
    effect_sentence,
    metric_label,
    p_clause,
)
from upsell_ab.decision.sample import Need, extra_sample, guardrail_sample
from upsell_ab.spec.models import (
    DecisionRule,
    Direction,
    MarginKind,
    MetricDefinition,
)
from upsell_ab.spec.models import Status as SpecStatus
from upsell_ab.stats.results import Comparison, ExperimentAnalysis, MetricResult, Status

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from upsell_ab.metrics.aggregates import ExperimentData, ExposureId
    from upsell_ab.spec.resolve import ResolvedExperiment


@dataclass(frozen=True)
class Verdict:
    """What the rule says about one treatment on the decision metric."""

    variant: str
    wins: bool
    loses: bool
    score: float
    """For ranking several winners: P(best), else the lift in the better direction."""
    reasons: list[str] = field(default_factory=list)


def decide(
    resolved: ResolvedExperiment,
    analysis: ExperimentAnalysis,
    data: ExperimentData | None = None,
) -> Outcome:
    """The experiment's outcome with plain-word reasons (see module docstring), and the
    data-quality warnings of :mod:`upsell_ab.decision.gates` for the headline."""
    from dataclasses import replace

    from upsell_ab.decision import gates

    outcome = _wait_for_windows(resolved, data, _decide(resolved, analysis, data))
    if _nobody(analysis, data):
        return outcome  # nobody exposed yet: the data gates have nothing to judge
    outcome = gates.small_sample(resolved, analysis, outcome)
    unverifiable = [
        g.metric
        for g in resolved.experiment.metrics.guardrails
        if gates.absent_events(resolved, g.metric, data)
    ]
    return replace(
        outcome,
        warnings=[*outcome.warnings, *gates.warnings(resolved, analysis, data)],
        guardrails_unverifiable=unverifiable,
    )


def _wait_for_windows(
    resolved: ResolvedExperiment, data: ExperimentData | None, outcome: Outcome
) -> Outcome:
    """A timing test's "ship" or "keep control" waits while customers are still inside
    the attribution window (:mod:`upsell_ab.decision.windows`)."""
    from upsell_ab.decision.windows import (
        IN_PROGRESS_SHARE,
        open_windows,
        timing_differs,
        waiting_reason,
    )

    if outcome.action not in (Action.ship, Action.keep_control) or not timing_differs(resolved):
        return outcome
    found = open_windows(resolved, data)
    if found is None or found.share <= IN_PROGRESS_SHARE:
        return outcome
    return Outcome(
        Action.keep_running,
        None,
        [waiting_reason(found, resolved), *outcome.reasons],
        additional_units_needed=0,
        additional_days_needed=float((found.complete_on - found.today).days),
        guardrails_breached=outcome.guardrails_breached,
        metric=outcome.metric,
    )


def _decide(
    resolved: ResolvedExperiment,
    analysis: ExperimentAnalysis,
    data: ExperimentData | None = None,
) -> Outcome:
    from upsell_ab.decision.gates import blocking_problems

    experiment = resolved.experiment
    name = resolved.decision_metric
    if _nobody(analysis, data):
        broken, context = _why_nobody(
            experiment.id,
            data.exposure_ids if data else (),
            data.quality.unknown_variants if data else {},
            [v.id for v in experiment.variants],
            data.quality.exposure_rows_without_unit if data else 0,
        )
        if broken:
            # the exposures are there but none can count: broken logging, not a new spec
            return Outcome(Action.invalid, None, broken, metric=name)
        reason = (
            f"Waiting for data: no unit of {experiment.id} has been exposed yet "
            "(a new experiment, or the store holds no exposures for it)."
        )
        return Outcome(Action.waiting_for_data, None, [reason, *context], metric=name)
    # Guardrails are judged on every experiment with data, also an invalid one: harm
    # measured on broken assignment is still harm, and CI must be able to fail on it.
    checks = guardrail_checks(resolved, analysis, data)
    breached_names = sorted({c.metric for c in checks if c.breached})
    problems = quality_problems(resolved, analysis, data) + blocking_problems(
        resolved, analysis, data
    )
    try:
        result = analysis.metric(name)
    except KeyError:
        problems.append(f"The decision metric {name} has no result, so no variant can be judged.")
    else:
        empty = [v.variant for v in result.variants if v.n == 0]
        if (empty or not result.variants) and not problems:
            where = ", ".join(empty) or "all"
            if data is not None and data.origin:
                problems.append(
                    f"No data for the decision metric {name} in variant(s) {where}: the "
                    f"{data.origin} has no rows for it; add one per variant (variant,metric,"
                    "n,sum,sum_squares) or one per customer (variant,metric,value)."
                )
            else:
                problems.append(
                    f"No data for the decision metric {name} in variant(s) {where}: "
                    "check the exposures and the metric's event type."
                )
    if problems:
        breaches = [c.sentence for c in checks if c.breached]
        return Outcome(
            Action.invalid,
            None,
            problems + breaches,
            metric=name,
            guardrails_breached=breached_names,
        )
    definition = resolved.metrics.get(name)
    verdicts = [judge(resolved, result, c, definition) for c in result.comparisons]
    breached: dict[str, list[str]] = {}
    unproven: dict[str, list[str]] = {}
    for check in checks:
        if check.breached:
            breached.setdefault(check.variant, []).append(check.metric)
        elif not check.passed:
            unproven.setdefault(check.variant, []).append(check.metric)
    guard_reasons = [c.sentence for c in checks]
    if analysis.sequential is not None:
        # stopping advice from sequential monitoring travels with the guardrail notes
        state = "may stop" if analysis.sequential.may_stop else "should continue"
        guard_reasons.append(
            f"Sequential monitoring ({analysis.sequential.method}): {state}; "
            f"{analysis.sequential.reason}"
        )
    reasons = [r for v in verdicts for r in v.reasons]
    winners = sorted((v for v in verdicts if v.wins), key=lambda v: -v.score)
    safe = [v for v in winners if not breached.get(v.variant) and not unproven.get(v.variant)]
    lead_p = evidence_p(resolved, result, safe[0].variant) if safe else None
    early = before_horizon(resolved, analysis, result, data, lead_p) if safe else None
    if early is not None:
        best = safe[0]
        reasons.insert(
            0,
            f"Keep running: {best.variant} leads on {metric_label(name, definition)}, but "
            f"{early.horizon} is not reached and {evidence_words(resolved)}. A "
            "fixed-horizon test read before its horizon overstates the evidence (each "
            "look is one more chance of a false win); wait for it, or set analysis.sequential "
            "to get results valid at every look.",
        )
        return Outcome(
            Action.keep_running,
            None,
            reasons + guard_reasons + [early.need.reason],
            additional_units_needed=early.need.units,
            additional_days_needed=early.need.days,
            guardrails_breached=breached_names,
            metric=name,
        )
    planned = judged_at_planned_look(resolved, analysis, result, data) if safe else None
    if planned is not None:
        # a win at the planned look, or overwhelming evidence now (EARLY_STOP_P, which
        # may stop at any look)
        held = [
            v
            for v in safe
            if v.variant in planned.winners
            or (evidence_p(resolved, result, v.variant) or 1.0) < EARLY_STOP_P
        ]
        if not held:
            return _held_to_planned_look(
                resolved, planned, safe[0], reasons + guard_reasons, name, breached_names
            )
        safe = held
    if safe:
        best = safe[0]
        reasons.insert(
            0,
            f"Ship {best.variant}: it beat control on {metric_label(name, definition)} under the "
            f"{experiment.analysis.decision.rule.value} rule and passed every guardrail.",
        )
        if planned is not None:
            reasons.insert(
                1,
                f"It also beat control at the planned look ({planned.day.isoformat()}, the "
                "first day with the planned sample), where this fixed-horizon test is judged.",
            )
        else:
            unchecked = missing_series_reason(resolved, analysis, data)
            need = extra_sample(resolved, result, data) if unchecked else None
            if unchecked and need is not None and need.units == 0:
                reasons.append(unchecked)
        stopped_early = before_horizon(
            resolved,
            analysis,
            result,
            data,
            evidence_p(resolved, result, best.variant),
            final_by_status=False,
        )
        if (
            experiment.status is not SpecStatus.running
            and stopped_early is not None
            and stopped_early.need.units > 0
        ):
            reasons.insert(
                1,
                f"Stopped before its planned sample ({stopped_early.need.units:,} more units "
                "per variant were planned) and before its end date: read as the final look. If "
                "it was stopped because this result looked good, the p-value overstates the "
                "evidence (an early stop is one more look).",
            )
        return Outcome(
            Action.ship,
            best.variant,
            reasons + guard_reasons,
            metric=name,
            guardrails_breached=breached_names,
            planned_look=planned.day if planned is not None else None,
        )
    if winners and all(breached.get(v.variant) for v in winners):
        lead = ", ".join(
            f"{v.variant} (breached {', '.join(breached[v.variant])})" for v in winners
        )
        reasons.insert(
            0,
            f"Keep control: the winning variant(s) {lead} failed a guardrail, "
            "so shipping would do harm.",
        )
        return Outcome(
            Action.keep_control,
            None,
            reasons + guard_reasons,
            metric=name,
            guardrails_breached=breached_names,
        )
    if verdicts and all(v.loses for v in verdicts):
        reasons.insert(
            0,
            "Keep control: every variant did significantly worse than control on "
            f"{metric_label(name, definition)}.",
        )
        return Outcome(
            Action.keep_control,
            None,
            reasons + guard_reasons,
            metric=name,
            guardrails_breached=breached_names,
        )
    need = extra_sample(resolved, result, data)
    final = final_look_reason(resolved, data)
    label = metric_label(name, definition)
    if winners:
        need = _guardrail_need(resolved, analysis, data, winners, unproven) or need
        if final is not None:
            lead = ", ".join(
                f"{v.variant} ({', '.join(unproven.get(v.variant, [])) or 'guardrails'})"
                for v in winners
            )
            reasons.insert(
                0,
                f"Keep control: {lead} beat control on {label}, but at the final look "
                f"({final}) its guardrails were not shown to be within their margins, and "
                "shipping needs that proof; a follow-up test with more traffic can settle it.",
            )
            return Outcome(
                Action.keep_control,
                None,
                reasons + guard_reasons + ([need.reason] if need is not None else []),
                metric=name,
                guardrails_breached=breached_names,
            )
        reasons.insert(
            0,
            "Keep running: a variant leads, but its guardrails are not yet shown "
            "to be non-inferior.",
        )
    elif need is not None and need.units == 0:
        reasons.insert(
            0,
            "Keep control: the planned sample for the MDE is reached and no variant beat control "
            f"on {metric_label(name, definition)}; any true effect is likely smaller than the MDE.",
        )
        return Outcome(
            Action.keep_control,
            None,
            reasons + guard_reasons + [need.reason],
            metric=name,
            guardrails_breached=breached_names,
        )
    elif final is not None:
        reasons.insert(
            0,
            f"Keep control: this is the final look ({final}) and no variant beat control on "
            f"{label}. "
            + (
                "The test had fewer units than the MDE needed, so a smaller effect is not "
                "ruled out: it was underpowered, not proof that the variants do nothing."
                if need is not None
                else "Its power for the MDE cannot be estimated, so this is no proof that "
                "the variants do nothing."
            ),
        )
        return Outcome(
            Action.keep_control,
            None,
            reasons
            + guard_reasons
            + [need.reason if need is not None else _no_need_reason(resolved, result)],
            metric=name,
            guardrails_breached=breached_names,
        )
    else:
        reasons.insert(0, f"Keep running: no variant has beaten control on {label} yet.")
    reasons.append(need.reason if need is not None else _no_need_reason(resolved, result))
    return Outcome(
        Action.keep_running,
        None,
        reasons + guard_reasons,
        additional_units_needed=need.units if need is not None else None,
        additional_days_needed=need.days if need is not None else None,
        guardrails_breached=breached_names,
        metric=name,
    )


def _held_to_planned_look(
    resolved: ResolvedExperiment,
    planned: PlannedLook,
    leader: Verdict,
    reasons: list[str],
    name: str,
    breached: list[str],
) -> Outcome:
    """Keep control: the leader wins now, but no variant won at the planned look, where
    a fixed-horizon test is judged (:mod:`upsell_ab.decision.horizon`)."""
    definition = resolved.metrics.get(name)
    order = [v.id for v in resolved.experiment.variants if v.id in planned.units]
    arms = ", ".join(f"{k} {planned.units[k]:,}" for k in order)
    p_text = evidence_then(resolved, planned.p_values.get(leader.variant))
    head = (
        f"Keep control: the planned sample for the MDE was reached on "
        f"{planned.day.isoformat()} ({arms} units), and at that look no variant beat control "
        f"on {metric_label(name, definition)}{p_text}. A fixed-horizon test is judged once, at "
        f"its planned sample; {leader.variant} leads now, but re-judging every later day ships "
        "an A/A test several times as often as alpha. To test it further, start a new "
        "experiment (or set an end date, or analysis.sequential, before it starts)."
    )
    return Outcome(
        Action.keep_control,
        None,
        [head, *reasons],
        metric=name,
        guardrails_breached=breached,
        planned_look=planned.day,
    )


def _no_need_reason(resolved: ResolvedExperiment, result: MetricResult) -> str:
    """Why no extra sample can be named (the keep-running verdict still needs a reason)."""
    settings = resolved.experiment.analysis
    control = resolved.experiment.control.id
    baseline = next((v.mean for v in result.variants if v.variant == control), None)
    if baseline == 0 and settings.mde_kind is MarginKind.relative:
        return (
            f"The control's {metric_label(result.metric, None)} is 0 so far, so the spec's "
            f"relative MDE ({settings.mde * 100:g} %) names no effect size and the extra sample "
            "cannot be estimated; keep collecting data, or set analysis.mde_kind: absolute."
        )
    return (
        f"The extra sample for {metric_label(result.metric, None)} cannot be estimated yet "
        "(no variance known for the control); keep collecting data."
    )


def quality_problems(
    resolved: ResolvedExperiment, analysis: ExperimentAnalysis, data: ExperimentData | None
) -> list[str]:
    """Reasons the data cannot be trusted (empty when it can)."""
    settings = resolved.experiment.analysis
    problems: list[str] = []
    srm = analysis.srm
    if srm.flagged:
        observed = ", ".join(f"{k} {v:,}" for k, v in srm.observed.items())
        expected = ", ".join(f"{k} {v:,.0f}" for k, v in srm.expected.items())
        p = f"{srm.p_value:.2g}" if srm.p_value is not None else "n/a"
        units = "slots" if resolved.experiment.randomization.is_switchback else "units"
        problems.append(
            f"Sample ratio mismatch: {units} per variant {observed} differ from the configured "
            f"split (expected {expected}; chi-square p = {p} < {settings.srm_alpha:g}). "
            "Assignment or exposure logging is broken, so no variant can be declared a winner."
            + (_unknown_variants_clause(resolved, data) if data is not None else "")
        )
    if data is not None:
        share = data.quality.multiple_exposure_share
        if share > settings.max_multiple_exposure_share:
            problems.append(
                f"{data.quality.multiple_exposure_units:,} units ({share * 100:.2f} %) saw more "
                f"than one variant, above the allowed "
                f"{settings.max_multiple_exposure_share * 100:.2f} %: "
                "fix the assignment caching before trusting any result."
            )
    return problems


UNKNOWN_VARIANTS_SHOWN = 5
"""Unknown variant ids named after a sample-ratio mismatch (the most units first)."""


def _unknown_variants_clause(resolved: ResolvedExperiment, data: ExperimentData) -> str:
    """After a sample-ratio mismatch: the variant ids the exposures name that the spec
    does not have, with their units and look-alikes (an export that wrote 'pairing ' for
    'pairing' leaves that arm empty; the mismatch is then the ids, not the assignment)."""
    from upsell_ab.stats.analysis import variant_lookalikes

    unknown = sorted(data.quality.unknown_variants.items(), key=lambda item: (-item[1], item[0]))
    if not unknown:
        return ""
    configured = [v.id for v in resolved.experiment.variants]
    meant = dict(variant_lookalikes([u for u, _ in unknown], configured))
    shown = [
        f"'{u}' ({n:,} units" + (f", which looks like '{meant[u]}'" if u in meant else "") + ")"
        for u, n in unknown[:UNKNOWN_VARIANTS_SHOWN]
    ]
    more = len(unknown) - UNKNOWN_VARIANTS_SHOWN
    listed = ", ".join(shown) + (f" and {more} more" if more > 0 else "")
    fix = (
        " Only case, blanks, '-' or '_' differ: fix the variant ids in the exposures."
        if meant
        else ""
    )
    return f" The exposures also name variants the spec does not have: {listed}.{fix}"


def _better(direction: Direction, low: float | None, high: float | None) -> tuple[bool, bool]:
    """(interval wholly on the better side of 0, wholly on the worse side)."""
    if low is None or high is None:
        return False, False
    if direction is Direction.higher_is_better:
        return low > 0, high < 0
    return high < 0, low > 0


def judge(
    resolved: ResolvedExperiment,
    result: MetricResult,
    comparison: Comparison,
    definition: MetricDefinition | None,
) -> Verdict:
    """Apply the spec's rule to one treatment-vs-control comparison."""
    settings = resolved.experiment.analysis
    rule = settings.decision.rule
    direction = definition.direction if definition is not None else Direction.higher_is_better
    sign = 1.0 if direction is Direction.higher_is_better else -1.0
    variant = comparison.variant
    reasons: list[str] = []
    f_win = f_lose = b_win = b_lose = False
    score = 0.0
    freq = comparison.frequentist
    if freq is not None and freq.status is not Status.no_data:
        sentence = effect_sentence(
            variant,
            result.metric,
            definition,
            freq,
            comparison.p_value_adjusted,
            settings.correction.value,
        )
        if sentence:
            reasons.append(sentence)
        p = comparison.p_value_adjusted if comparison.p_value_adjusted is not None else freq.p_value
        good, bad = _better(direction, freq.absolute_ci.low, freq.absolute_ci.high)
        significant = p is not None and p < settings.alpha
        f_win, f_lose = significant and good, significant and bad
        score = sign * (freq.absolute_lift or 0.0)
    bayes = comparison.bayesian
    prob_best = (result.prob_best or {}).get(variant)
    if bayes is not None and bayes.prob_beat_baseline is not None:
        shown_best = prob_best if len(result.variants) > 2 else None
        sentence = bayes_sentence(variant, bayes, shown_best, definition)
        if sentence:
            reasons.append(sentence)
        threshold = settings.decision.prob_best_threshold
        chance = prob_best if prob_best is not None else bayes.prob_beat_baseline
        loss_limit = settings.decision.expected_loss_threshold
        loss_ok = loss_limit is None or (
            bayes.expected_loss is not None and bayes.expected_loss <= loss_limit
        )
        b_win = chance >= threshold and loss_ok
        b_lose = bayes.prob_beat_baseline <= 1.0 - threshold
        if rule is not DecisionRule.frequentist:
            score = chance
    if rule is DecisionRule.frequentist:
        wins, loses = f_win, f_lose
        if freq is None or freq.p_value is None:
            reasons.append(f"No frequentist test for {variant}: the rule cannot be applied yet.")
    elif rule is DecisionRule.bayesian:
        wins, loses = b_win, b_lose
        if bayes is None or bayes.prob_beat_baseline is None:
            reasons.append(f"No Bayesian result for {variant}: the rule cannot be applied yet.")
    else:
        wins, loses = f_win and b_win, f_lose and b_lose
        if f_win != b_win:
            reasons.append(f"The engines disagree on {variant}; the 'both' rule needs agreement.")
    minimum = settings.decision.min_profit_margin
    lift = freq.absolute_lift if freq is not None else observed_difference(result, comparison)
    if wins and minimum > 0 and (lift is None or sign * lift < minimum):
        shown = amount(sign * lift, definition) if lift is not None else "unknown"
        reasons.append(
            f"Variant {variant}'s lift of {shown} per unit is below the required minimum "
            f"of {amount(minimum, definition)} (min_profit_margin)."
        )
        wins = False
    return Verdict(variant=variant, wins=wins, loses=loses, score=score, reasons=reasons)


def observed_difference(result: MetricResult, comparison: Comparison) -> float | None:
    """Treatment mean - baseline mean from the per-variant summaries: the lift the
    profit margin is checked against when no frequentist estimate was asked for
    (engine 'bayesian'). Raw means: CUPED would only narrow its uncertainty."""
    means = {v.variant: v.mean for v in result.variants}
    treatment, baseline = means.get(comparison.variant), means.get(comparison.baseline)
    if treatment is None or baseline is None:
        return None
    return treatment - baseline


def _guardrail_need(
    resolved: ResolvedExperiment,
    analysis: ExperimentAnalysis,
    data: ExperimentData | None,
    winners: list[Verdict],
    unproven: dict[str, list[str]],
) -> Need | None:
    """The largest extra sample among the leading variants' unproven guardrails."""
    needs: list[Need] = []
    for guardrail in resolved.experiment.metrics.guardrails:
        variants = [v.variant for v in winners if guardrail.metric in unproven.get(v.variant, [])]
        if not variants:
            continue
        try:
            result = analysis.metric(guardrail.metric)
        except KeyError:
            continue
        need = guardrail_sample(
            resolved,
            result,
            data,
            margin=guardrail.margin,
            relative=guardrail.margin_kind is MarginKind.relative,
            variants=variants,
        )
        if need is not None:
            needs.append(need)
    return max(needs, key=lambda n: n.units, default=None)


@dataclass(frozen=True)
class GuardrailCheck:
    """One guardrail for one treatment: ``passed`` (non-inferiority shown),
    ``breached`` (not shown AND significantly worse than control), or neither
    (not proven yet: blocks shipping, but is no evidence of harm)."""

    metric: str
    variant: str
    passed: bool
    breached: bool
    sentence: str


def _significantly_worse(
    comparison: Comparison | None, direction: Direction, alpha: float, threshold: float
) -> bool:
    """Frequentist: significant and the interval wholly on the worse side. Without a
    frequentist result (engine 'bayesian'): P(beat control) <= 1 - threshold, the
    same bar :func:`judge` uses for a Bayesian loss."""
    freq = comparison.frequentist if comparison is not None else None
    if freq is None:
        bayes = comparison.bayesian if comparison is not None else None
        chance = bayes.prob_beat_baseline if bayes is not None else None
        return chance is not None and chance <= 1.0 - threshold
    if freq.p_value is None:
        return False
    assert comparison is not None
    adjusted = comparison.p_value_adjusted
    p = adjusted if adjusted is not None else freq.p_value
    _, worse = _better(direction, freq.absolute_ci.low, freq.absolute_ci.high)
    return worse and p < alpha


def guardrail_checks(
    resolved: ResolvedExperiment,
    analysis: ExperimentAnalysis,
    data: ExperimentData | None = None,
) -> list[GuardrailCheck]:
    """Every (guardrail, treatment) pair, judged as documented on :class:`GuardrailCheck`.

    Why two levels: a rare guardrail event (0.4 % complaints) needs far more
    units to *prove* non-inferiority than the primary metric needs to show a
    lift; treating "not proven" as "breached" would fail CI on every young
    experiment. Shipping still requires proof (the spec's rule)."""
    checks: list[GuardrailCheck] = []
    settings = resolved.experiment.analysis
    treatments = [v.id for v in resolved.experiment.treatments]
    for guardrail in resolved.experiment.metrics.guardrails:
        name = guardrail.metric
        definition = resolved.metrics.get(name)
        direction = guardrail.direction or (
            definition.direction if definition is not None else Direction.higher_is_better
        )
        label = metric_label(name, definition)
        margin = (
            f"{guardrail.margin * 100:g} %"
            if guardrail.margin_kind.value == "relative"
            else amount(guardrail.margin, definition)
        )
        try:
            comparisons = {c.variant: c for c in analysis.metric(name).comparisons}
        except KeyError:
            comparisons = {}
        absent = [event for event, _ in absent_events(resolved, name, data)]
        for variant in treatments:
            if absent:
                # 0 complaints in every arm proves nothing when complaints are not collected
                sentence = (
                    f"Guardrail {label} for {variant}: the source holds no "
                    f"{', '.join(repr(e) for e in absent)} event at all, so it cannot be "
                    "shown to hold (collect these events, or fix the metric's event type)."
                )
                checks.append(GuardrailCheck(name, variant, False, False, sentence))
                continue
            test = comparisons.get(variant)
            ni = test.non_inferiority if test is not None else None
            if ni is not None and ni.passed:
                sentence = (
                    f"Guardrail {label} holds for {variant}: not worse than control by more "
                    f"than {margin} (non-inferiority {p_clause(ni.p_value or 0.0)})."
                )
                checks.append(GuardrailCheck(name, variant, True, False, sentence))
            elif _significantly_worse(
                test, direction, settings.alpha, settings.decision.prob_best_threshold
            ):
                sentence = (
                    f"Guardrail breached: {variant} made {label} significantly worse than "
                    f"control, and non-inferiority within {margin} is not shown."
                )
                checks.append(GuardrailCheck(name, variant, False, True, sentence))
            elif ni is None or ni.p_value is None:
                sentence = (
                    f"Guardrail {label} for {variant}: no data to test it (the guardrail "
                    "cannot pass without its events; add them to the store or the summary)."
                )
                checks.append(GuardrailCheck(name, variant, False, False, sentence))
            else:
                sentence = (
                    f"Guardrail {label} for {variant}: not yet shown to be within {margin} of "
                    "control (no evidence of harm either; more data needed)."
                )
                checks.append(GuardrailCheck(name, variant, False, False, sentence))
    return checks


def _nobody(analysis: ExperimentAnalysis, data: ExperimentData | None) -> bool:
    """No unit counted, and none was left out for its dates (that case is judged)."""
    ignored = data.quality.units_exposed_outside_dates if data is not None else 0
    return not any(analysis.srm.observed.values()) and not ignored


def _why_nobody(
    experiment_id: str,
    ids: Sequence[ExposureId],
    unknown_variants: Mapping[str, int],
    configured: Sequence[str],
    rows_without_unit: int = 0,
) -> tuple[list[str], list[str]]:
    """What the exposures hold when none is this experiment's, as (broken, context):
    broken = its rows without a variant or without a unit id, or only with variants
    the spec does not have (an export that rewrote 'pairing' as 'Pairing'), or an id
    spelled otherwise (case, blanks, '-' for '_'): the experiment is invalid, not new;
    context = other experiments only. Both empty when the exposures are empty (a new
    experiment: nothing to explain)."""
    from upsell_ab.stats.analysis import variant_lookalikes

    found: list[str] = []
    own = next((i for i in ids if i.experiment == experiment_id), None)
    if own is not None and own.with_variant < own.rows:
        found.append(
            f"The exposures hold {own.rows - own.with_variant:,} rows of {experiment_id} "
            "without a variant (NULL): they cannot count. The app, or assign_many without "
            "the targeting attributes, recorded no variant; log the variant each unit saw."
        )
    if rows_without_unit:
        found.append(
            f"The exposures hold {rows_without_unit:,} rows of {experiment_id} without a "
            "unit id (NULL): they cannot count. The app logged the exposure before it knew "
            "the customer; log the unit id with every exposure."
        )
    if unknown_variants:
        ordered = sorted(unknown_variants.items(), key=lambda item: (-item[1], item[0]))
        listed = ", ".join(f"'{v}' ({n:,} rows)" for v, n in ordered[:5])
        more = f" and {len(ordered) - 5} more" if len(ordered) > 5 else ""
        spec = ", ".join(f"'{v}'" for v in configured)
        meant = variant_lookalikes(unknown_variants, configured)
        hint = (
            " (" + "; ".join(f"'{u}' looks like '{m}'" for u, m in sorted(meant)) + ": "
            "only case, blanks, '-' or '_' differ)"
            if meant
            else ""
        )
        found.append(
            f"The exposures of {experiment_id} name only variants the spec does not have: "
            f"{listed}{more}; the spec's variants are {spec}{hint}. No unit can count. "
            "Write the variant ids in the exposures exactly as in the spec (or map them "
            "when exporting)."
        )
    named = [i.experiment for i in ids if i.experiment is not None]
    rows = {i.experiment: i.rows for i in ids}
    for other, _ in variant_lookalikes(named, [experiment_id]):
        found.append(
            f"The exposures hold {rows[other]:,} rows of experiment '{other}', which looks "
            f"like '{experiment_id}' but is not equal to it: the id the app logs must be "
            "the spec's id exactly (or change the spec's id)."
        )
    if found or own is not None or not named:
        return found, []
    shown = ", ".join(f"'{e}' ({rows[e]:,} rows)" for e in named[:3])
    more = f" and {len(named) - 3} more" if len(named) > 3 else ""
    return [], [
        f"The exposures hold other experiments only: {shown}{more}. Check the spec's "
        "id and the source of its exposures (data section)."
    ]
