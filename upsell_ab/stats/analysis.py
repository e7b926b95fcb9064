"""Analyse one experiment: every metric the spec uses, every treatment against control.

``analyze(resolved, data)`` turns the data layer's sufficient statistics into
an :class:`ExperimentAnalysis`:

- per metric and variant a :class:`VariantSummary` (raw mean per unit, or the
  ratio for ratio metrics; CUPED adjusts only the comparisons);
- per treatment a :class:`Comparison` from the frequentist engine when
  ``analysis.engine`` is ``frequentist`` or ``both`` (else ``frequentist`` is
  None: an engine the spec did not ask for is not run, so its fields are null)
  (proportion/retention: pooled z or Fisher; mean/count/profit: Welch; ratio:
  delta method; CUPED statistics: CUPED with theta pooled over *all* arms) and,
  when ``analysis.engine`` is ``bayesian`` or ``both``, the Bayesian engine
  (Beta-Binomial for 0/1 metrics, Gaussian on the same arm estimates otherwise)
  plus P(best) among all arms;
- adjusted p-values (``analysis.correction``: Holm by default, or BH) over the
  family (primary metric, and the decision metric when it differs) x
  treatments; secondary metrics form a second family of their own. Guardrail
  non-inferiority tests are not adjusted: a correction would make a harm
  *harder* to see, the wrong side to err on for a guardrail;
- one-sided non-inferiority tests for guardrails (with every engine setting:
  the guardrail's margin is a spec requirement, not an engine choice) at ``analysis.alpha`` with the
  spec's margin, margin kind and direction (default: the catalogue's);
- SRM (chi-square against the configured weights, flagged at ``srm_alpha``);
- sequential monitoring: confidence sequences (:mod:`.frequentist_sequential`)
  or, for ``obrien_fleming``/``pocock``, the Lan-DeMets bound of the current
  look with repeated confidence intervals (:mod:`.group_monitoring`);
- with segment statistics, the exploratory per-segment breakdown of the
  primary/decision metric (:mod:`.segments`).

``analysis.alternative`` applies to the primary and decision metrics; it is
literal (``greater``: the treatment's value is higher), so for a lower-is-better
metric the helpful one-sided alternative is ``less``. Secondary metrics and
guardrails are compared two-sided.

An engine that is not installed (or an arm without data) gives ``None`` with a
note or status, never a placeholder number.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING

from upsell_ab.errors import StatsError
from upsell_ab.metrics.aggregates import ExperimentData, MetricData
from upsell_ab.metrics.quantile import QuantileStats
from upsell_ab.metrics.sufficient import (
    CupedRatioStats,
    CupedStats,
    MetricStats,
    RatioStats,
    SampleStats,
)
from upsell_ab.spec.models import Analysis, Direction, Guardrail, MetricDefinition, MetricType
from upsell_ab.stats.cuped import cuped_test
from upsell_ab.stats.estimates import (
    arm_estimates,
    arm_status,
    covariate_centre,
    cuped_theta,
    pool,
)
from upsell_ab.stats.frequentist import (
    empty_comparison,
    mean_test,
    non_inferiority,
    proportion_estimate,
    proportion_estimates,
    proportion_test,
    ratio_test,
)
from upsell_ab.stats.frequentist_sequential import (
    monitoring_status,
    planned_units,
    sequential_comparisons,
)
from upsell_ab.stats.group_monitoring import GROUP_METHODS, apply_group_sequential
from upsell_ab.stats.multiplicity import adjust_p_values
from upsell_ab.stats.results import (
    ArmEstimate,
    BayesianComparison,
    Comparison,
    ExperimentAnalysis,
    FrequentistComparison,
    MetricResult,
    NonInferiority,
    Status,
    VariantSummary,
)
from upsell_ab.stats.segments import segment_results
from upsell_ab.stats.srm import srm_test

if TYPE_CHECKING:
    from upsell_ab.spec.resolve import ResolvedExperiment

BINARY_TYPES = (MetricType.proportion, MetricType.retention)
"""0/1 metrics: proportion tests and the Beta-Binomial engine."""


def is_binary(definition: MetricDefinition, stats: Mapping[str, MetricStats]) -> bool:
    """A 0/1 metric held as plain sums (CUPED statistics go to CUPED instead)."""
    return definition.type in BINARY_TYPES and all(
        isinstance(s, SampleStats) for s in stats.values()
    )


def variant_summary(variant: str, stats: MetricStats | None) -> VariantSummary:
    """Raw mean per unit (or the ratio); None when the arm has no data."""
    if stats is None or arm_status(stats) is Status.no_data:
        return VariantSummary(variant=variant, n=0 if stats is None else stats.n, mean=None)
    if isinstance(stats, QuantileStats):
        # the arm's exposed units, like every other metric (n counts observations:
        # orders for a per-event quantile)
        units = stats.units if stats.units is not None else stats.n
        return VariantSummary(variant=variant, n=units, mean=float(stats.quantile))
    elif isinstance(stats, RatioStats | CupedRatioStats):
        mean = stats.numerator_sum / stats.denominator_sum
    elif isinstance(stats, SampleStats):
        mean = stats.mean
    else:
        mean = stats.sum / stats.n
    return VariantSummary(variant=variant, n=stats.n, mean=float(mean))


def frequentist_comparison(
    definition: MetricDefinition,
    stats: Mapping[str, MetricStats],
    control: str,
    treatment: str,
    *,
    alpha: float,
    alternative: str,
    cuped: tuple[float | None, float | None] | None = None,
) -> FrequentistComparison:
    """The frequentist engine picked by metric type and statistics kind. ``cuped`` is
    (theta, centre) pooled over all arms; computed here when not given."""
    c, t = stats.get(control), stats.get(treatment)
    if c is None or t is None:
        return empty_comparison("none", Status.no_data, alternative, alpha)
    if isinstance(c, SampleStats) and isinstance(t, SampleStats):
        if definition.type in BINARY_TYPES:
            return proportion_test(c, t, alpha=alpha, alternative=alternative)
        return mean_test(c, t, alpha=alpha, alternative=alternative)
    if isinstance(c, RatioStats) and isinstance(t, RatioStats):
        return ratio_test(c, t, alpha=alpha, alternative=alternative)
    if isinstance(c, QuantileStats) and isinstance(t, QuantileStats):
        from upsell_ab.stats.quantile import quantile_test

        for arm in (c, t):
            status = arm_status(arm)
            if status is not Status.ok:
                return empty_comparison("quantile (order statistics)", status, alternative, alpha)
        tested = quantile_test(c, t, alpha=alpha, alternative=alternative)
        if tested is None:
            return empty_comparison(
                "quantile (order statistics)", Status.too_few_units, alternative, alpha
            )
        return tested
    if isinstance(c, CupedStats | CupedRatioStats) and type(c) is type(t):
        theta, centre = _cuped_parameters(stats) if cuped is None else cuped
        return cuped_test(c, t, theta=theta, centre=centre, alpha=alpha, alternative=alternative)
    raise StatsError(
        "arms hold different statistics kinds: "
        f"{type(c).__name__} and {type(t).__name__}; the data layer must give one kind per metric"
    )


def _cuped_parameters(stats: Mapping[str, MetricStats]) -> tuple[float | None, float | None]:
    """CUPED theta and centring mean pooled over every arm (Deng et al. 2013)."""
    pooled = pool(stats)
    if pooled is None:
        return None, None
    return cuped_theta(pooled), covariate_centre(pooled)


def _bayesian(
    definition: MetricDefinition,
    stats: Mapping[str, MetricStats],
    control: str,
    treatments: list[str],
    settings: Analysis,
    direction: Direction,
    notes: list[str],
    estimates: Mapping[str, ArmEstimate],
) -> tuple[dict[str, BayesianComparison | None], dict[str, float] | None]:
    try:
        from upsell_ab.stats import bayesian
    except ImportError:  # pragma: no cover - the engine ships with the package
        notes.append("Bayesian engine not available: Bayesian results left out")
        return {t: None for t in treatments}, None
    level = 1.0 - settings.alpha
    results: dict[str, BayesianComparison | None] = {}
    if is_binary(definition, stats):
        binary = {v: s for v, s in stats.items() if isinstance(s, SampleStats)}
        for t in treatments:
            if control in binary and t in binary:
                results[t] = bayesian.beta_binomial(
                    binary[control], binary[t], settings.priors.conversion, level, direction
                )
            else:
                results[t] = None
        return results, bayesian.prob_best_beta(binary, settings.priors.conversion, direction)
    for t in treatments:
        if control in estimates and t in estimates:
            results[t] = bayesian.gaussian(
                estimates[control], estimates[t], settings.priors.lift, level, direction
            )
        else:
            results[t] = None
    complete = len(estimates) == len(stats)
    return results, bayesian.prob_best_gaussian(estimates, direction) if complete else None


def _non_inferiority(
    definition: MetricDefinition,
    stats: Mapping[str, MetricStats],
    control: str,
    treatment: str,
    guardrail: Guardrail,
    direction: Direction,
    alpha: float,
    estimates: Mapping[str, ArmEstimate],
) -> NonInferiority:
    c, t = stats.get(control), stats.get(treatment)
    margin_kind = guardrail.margin_kind.value
    missing = NonInferiority(guardrail.margin, margin_kind, p_value=None, passed=None)
    if c is None or t is None or Status.no_data in (arm_status(c), arm_status(t)):
        return missing
    higher = direction is Direction.higher_is_better
    if is_binary(definition, stats):
        assert isinstance(c, SampleStats) and isinstance(t, SampleStats)
        c_est, t_est = proportion_estimates(c, t)
        return non_inferiority(
            c_est,
            t_est,
            margin=guardrail.margin,
            margin_kind=margin_kind,
            higher_is_better=higher,
            alpha=alpha,
            welch=False,
        )
    return non_inferiority(
        estimates[control],
        estimates[treatment],
        margin=guardrail.margin,
        margin_kind=margin_kind,
        higher_is_better=higher,
        alpha=alpha,
    )


def analyze_metric(
    name: str,
    definition: MetricDefinition,
    role: str,
    metric_data: MetricData | None,
    *,
    variants: list[str],
    control: str,
    settings: Analysis,
    alternative: str = "two_sided",
    guardrail: Guardrail | None = None,
) -> MetricResult:
    """One metric: summaries, frequentist (and Bayesian) comparisons, guardrail test.
    Adjusted p-values are filled in by :func:`analyze` (they need the whole family).

    The engines run in the metric's own units (:mod:`.scaling`: values divided by a
    power of two near their scale, absolute results multiplied back), so any finite
    input gives finite numbers; statistics beyond double precision give the status
    ``out_of_range`` with a note, never an exception or a false ``zero_variance``."""
    from upsell_ab.stats.scaling import out_of_range, out_of_range_result, rescale, working_units

    if metric_data is None:
        return _analyze_metric(
            name, definition, role, None, variants=variants, control=control,
            settings=settings, alternative=alternative, guardrail=guardrail,
        )  # fmt: skip
    original = metric_data.by_variant
    broken = sorted(v for v, s in original.items() if out_of_range(s))
    if broken:
        return out_of_range_result(name, role, variants, control, original, broken, settings.alpha)
    working, c = working_units(original)
    if c != 1.0:
        metric_data = replace(metric_data, by_variant=working)
        if guardrail is not None and guardrail.margin_kind.value != "relative":
            guardrail = guardrail.model_copy(update={"margin": guardrail.margin / c})
    try:
        # the summaries are made below from the original units, not the working ones
        result = _analyze_metric(
            name, definition, role, metric_data, variants=variants, control=control,
            settings=settings, alternative=alternative, guardrail=guardrail, summaries=False,
        )  # fmt: skip
    except (OverflowError, ZeroDivisionError):
        return out_of_range_result(name, role, variants, control, original, [], settings.alpha)
    summaries = [variant_summary(v, original.get(v)) for v in variants]
    return replace(rescale(result, c), variants=summaries)


def _analyze_metric(
    name: str,
    definition: MetricDefinition,
    role: str,
    metric_data: MetricData | None,
    *,
    variants: list[str],
    control: str,
    settings: Analysis,
    alternative: str = "two_sided",
    guardrail: Guardrail | None = None,
    summaries: bool = True,
) -> MetricResult:
    notes: list[str] = []
    stats: dict[str, MetricStats] = {}
    if metric_data is None:
        notes.append(f"no data for metric {name!r}")
    else:
        stats = {v: metric_data.by_variant[v] for v in variants if v in metric_data.by_variant}
        missing = [v for v in variants if v not in stats]
        if missing:
            notes.append(f"no statistics for variant(s) {', '.join(missing)}")
    direction = (
        guardrail.direction
        if guardrail is not None and guardrail.direction is not None
        else definition.direction
    )
    kinds = {type(s).__name__ for s in stats.values()}
    if len(kinds) > 1:
        raise StatsError(
            f"metric '{name}': arms hold different statistics kinds ({', '.join(sorted(kinds))}); "
            "the data layer must give one kind per metric"
        )
    treatments = [v for v in variants if v != control]
    engine = settings.engine.value
    binary = is_binary(definition, stats)
    # Arm estimates (with CUPED theta pooled over all arms) once per metric, shared below.
    estimates = {} if binary else arm_estimates(stats)
    cuped = _cuped_parameters(stats) if not binary else None
    # Only the engines the spec asked for run: with engine 'bayesian' the frequentist
    # fields stay None (null in JSON), never computed-but-unrequested numbers.
    run_frequentist = engine in ("frequentist", "both")
    frequentist: dict[str, FrequentistComparison | None] = (
        {
            t: frequentist_comparison(
                definition,
                stats,
                control,
                t,
                alpha=settings.alpha,
                alternative=alternative,
                cuped=cuped,
            )
            for t in treatments
        }
        if run_frequentist
        else {t: None for t in treatments}
    )
    sequences = settings.sequential.enabled and settings.sequential.method == "confidence_sequence"
    if sequences and metric_data is not None and run_frequentist:
        arms = (
            {
                v: proportion_estimate(s)
                for v, s in stats.items()
                if isinstance(s, SampleStats) and s.n
            }
            if binary
            else estimates
        )
        frequentist = dict(
            sequential_comparisons(
                {t: f for t, f in frequentist.items() if f is not None},
                arms,
                control,
                alpha=settings.alpha,
                tuning_n=settings.sequential.tuning_n,
                notes=notes,
            )
        )
    bayes: dict[str, BayesianComparison | None] = {t: None for t in treatments}
    prob_best: dict[str, float] | None = None
    if engine in ("bayesian", "both") and stats:
        bayes, prob_best = _bayesian(
            definition, stats, control, treatments, settings, direction, notes, estimates
        )
    comparisons = [
        Comparison(
            variant=t,
            baseline=control,
            frequentist=frequentist[t],
            bayesian=bayes.get(t),
            non_inferiority=(
                _non_inferiority(
                    definition, stats, control, t, guardrail, direction, settings.alpha, estimates
                )
                if guardrail is not None
                else None
            ),
        )
        for t in treatments
    ]
    return MetricResult(
        metric=name,
        role=role,
        variants=[variant_summary(v, stats.get(v)) for v in variants] if summaries else [],
        comparisons=comparisons,
        prob_best=prob_best,
        notes=notes,
    )


def _adjust_family(results: list[MetricResult], correction: str) -> list[MetricResult]:
    """Fill ``p_value_adjusted`` over every comparison of ``results`` as one family."""
    flat: list[float | None] = [
        c.frequentist.p_value if c.frequentist is not None else None
        for r in results
        for c in r.comparisons
    ]
    adjusted = iter(adjust_p_values(flat, correction))
    return [
        replace(r, comparisons=[replace(c, p_value_adjusted=next(adjusted)) for c in r.comparisons])
        for r in results
    ]


def adjust_families(
    results: list[MetricResult],
    confirmatory: Collection[str],
    guardrails: Collection[str],
    correction: str,
) -> list[MetricResult]:
    """Multiple-testing control in two families: the confirmatory metrics (primary and
    decision) and the secondary ones; guardrails (one-sided non-inferiority, each its
    own question) and ``check`` metrics stay unadjusted."""
    primary = [r for r in results if r.metric in confirmatory]
    secondary = [
        r
        for r in results
        if r.metric not in confirmatory and r.metric not in guardrails and r.role != "check"
    ]
    adjusted = {r.metric: r for r in _adjust_family(primary, correction)}
    adjusted.update({r.metric: r for r in _adjust_family(secondary, correction)})
    return [adjusted.get(r.metric, r) for r in results]


def analyze(resolved: ResolvedExperiment, data: ExperimentData) -> ExperimentAnalysis:
    """Analyse every metric of ``resolved`` (see the module docstring). An adaptive
    (bandit) experiment is analysed on its period-weighted statistics (:mod:`.adaptive`),
    a switchback on its slot totals (:mod:`.switchback_analysis`)."""
    from upsell_ab.stats.adaptive import adaptive_srm, is_adaptive, period_weighted_view

    if resolved.experiment.randomization.is_switchback and data.slots is not None:
        from upsell_ab.stats.switchback_analysis import analyze_switchback

        return analyze_switchback(resolved, data)

    original_resolved, original_data = resolved, data
    resolved, data, adaptive_notes = period_weighted_view(resolved, data)
    experiment = resolved.experiment
    settings: Analysis = experiment.analysis
    variants = [v.id for v in experiment.variants]
    control = experiment.control.id
    guardrails = {g.metric: g for g in resolved.guardrails}
    confirmatory = {experiment.metrics.primary, resolved.decision_metric}
    results: list[MetricResult] = []
    for name, definition in resolved.metrics.items():
        role = resolved.roles.get(name, "secondary")
        results.append(
            analyze_metric(
                name,
                definition,
                role,
                data.metrics.get(name),
                variants=variants,
                control=control,
                settings=settings,
                alternative=settings.alternative.value if name in confirmatory else "two_sided",
                guardrail=guardrails.get(name),
            )
        )
    if is_adaptive(original_data):
        results, batched_note = _batched_p_values(results, original_data, control)
        adaptive_notes = [*adaptive_notes, batched_note]
    sequential = settings.sequential
    group_status = None
    if sequential.enabled and sequential.method in GROUP_METHODS:
        results, group_status = apply_group_sequential(resolved, data, results)
    results = adjust_families(results, confirmatory, guardrails, settings.correction.value)

    weights = {v.id: v.weight for v in experiment.variants}
    srm = (
        adaptive_srm(data, settings.srm_alpha)
        if is_adaptive(data)
        else srm_test(data.quality.exposures_by_variant, weights, alpha=settings.srm_alpha)
    )
    notes = adaptive_notes + _quality_notes(data, settings)
    notes += [
        f"Analysis plan amended after launch: {a.field}"
        + (f" on {a.when.isoformat()}" if a.when else "")
        + f" ({a.reason})"
        for a in resolved.experiment.amendments
    ]
    forced = resolved.experiment.overrides
    if forced and data.origin is None:  # computed from rows (a summary has no units)
        notes.append(
            f"{len(forced):,} QA override unit(s) ({', '.join(sorted(forced)[:3])}"
            f"{', ...' if len(forced) > 3 else ''}) are left out of the analysis: their "
            "variant is forced by the spec, not randomised"
        )
    if srm.flagged:
        notes.insert(
            0,
            f"sample-ratio mismatch (p = {srm.p_value:.3g} < {settings.srm_alpha}): "
            "assignment or logging is broken; no variant may be declared a winner",
        )
    sequential_status = group_status
    if sequential.enabled and sequential.method in GROUP_METHODS and group_status is None:
        notes.append(
            f"group-sequential monitoring ({sequential.method}, {sequential.looks} looks): "
            "no planned sample or test statistic for the decision metric yet, "
            "so its results are fixed-horizon"
        )
    elif sequential.enabled and sequential.method == "confidence_sequence":
        deciding = next((r for r in results if r.metric == resolved.decision_metric), None)
        if deciding is not None:
            planned = planned_units(resolved, deciding, data)
            sequential_status = monitoring_status(deciding, planned)
    analysis = ExperimentAnalysis(
        experiment_id=data.experiment_id,
        metrics=results,
        srm=srm,
        sequential=sequential_status,
        notes=notes,
        segments=segment_results(original_resolved, original_data, analyze_metric),
    )
    return _with_check_notes(resolved, analysis)


def _batched_p_values(
    results: list[MetricResult], data: ExperimentData, control: str
) -> tuple[list[MetricResult], str]:
    """Every frequentist p-value of an adaptive experiment from the batched z-test
    (:mod:`upsell_ab.stats.batched`); estimates and intervals stay period-weighted."""
    from upsell_ab.stats.batched import batched_z

    assert data.periods is not None
    out: list[MetricResult] = []
    for result in results:
        if result.metric not in data.periods.by_metric:
            out.append(result)
            continue
        series = data.periods.series(result.metric)
        comparisons = []
        for c in result.comparisons:
            f = c.frequentist
            if f is None or f.sequential or f.status is not Status.ok:
                comparisons.append(c)
                continue
            tested = batched_z(series, control, c.variant, f.alternative)
            f = replace(
                f,
                method=f"{f.method}; p from batched z",
                statistic=None if tested is None else tested.statistic,
                p_value=None if tested is None else tested.p_value,
            )
            comparisons.append(replace(c, frequentist=f))
        out.append(replace(result, comparisons=comparisons))
    note = (
        "p-values of an adaptive experiment come from the batched z-test (each allocation "
        "period's z combined with equal weights; Zhang, Janson & Murphy 2020), which stays "
        "valid when the bandit chose the allocation; the pooled test would reject too often "
        "because starved arms keep their early luck. Estimates and intervals are "
        "period-weighted; a period needs 5 units in both arms to count"
    )
    return out, note


def _with_check_notes(
    resolved: ResolvedExperiment, analysis: ExperimentAnalysis
) -> ExperimentAnalysis:
    """Notes that need other metrics' results: a score among respondents gets its
    response rates, an ltv metric its decomposition into purchases x order value x margin."""
    extra: dict[str, list[str]] = {}
    if any(d.response_rate for d in resolved.metrics.values()):
        from upsell_ab.stats.response_rate import response_notes

        extra.update(response_notes(resolved, analysis))
    if any(d.type is MetricType.ltv for d in resolved.metrics.values()):
        from upsell_ab.stats.ltv import ltv_notes

        for name, lines in ltv_notes(resolved, analysis).items():
            extra.setdefault(name, []).extend(lines)
    if not extra:
        return analysis
    metrics = [
        replace(m, notes=[*m.notes, *extra[m.metric]]) if m.metric in extra else m
        for m in analysis.metrics
    ]
    return replace(analysis, metrics=metrics)


def _quality_notes(data: ExperimentData, settings: Analysis) -> list[str]:
    quality = data.quality
    notes: list[str] = list(data.input_notes)
    share = quality.multiple_exposure_share
    if share > settings.max_multiple_exposure_share:
        notes.append(
            f"{quality.multiple_exposure_units} units ({share:.2%}) saw more than one variant "
            f"(limit {settings.max_multiple_exposure_share:.2%}); they are excluded"
        )
    if quality.other_experiment_events:
        notes.append(
            f"{quality.other_experiment_events:,} events of the metrics' types belong to "
            "customers of other experiments in the same source: not orphans of this one, "
            "and left out of the event counts"
        )
    if quality.unknown_variants:
        listed = ", ".join(f"{v!r} ({n:,})" for v, n in sorted(quality.unknown_variants.items()))
        notes.append(f"exposures name variants the spec does not have: {listed}")
        configured = {v for metric in data.metrics.values() for v in metric.by_variant}
        for unknown, meant in sorted(variant_lookalikes(quality.unknown_variants, configured)):
            notes.append(
                f"{unknown!r} looks like the variant {meant!r} (only case, blanks, '-' or '_' "
                f"differ): its {quality.unknown_variants[unknown]:,} exposures are not "
                f"counted as {meant!r}, which alone can cause a sample ratio mismatch; "
                "write the variant ids exactly as in the spec"
            )
    return notes


def variant_lookalikes(unknown: Iterable[str], configured: Iterable[str]) -> list[tuple[str, str]]:
    """(unknown id, the spec's id) pairs equal once case, surrounding blanks and the
    separators ``-``, ``_`` and inner blanks are ignored (``'Control '`` for ``control``,
    ``pairing-deal`` for ``pairing_deal``): an export that rewrote the ids."""
    from upsell_ab.lookalike import lookalikes

    return lookalikes(unknown, configured)
