"""The whole path for one experiment: spec -> data -> analysis -> decision (-> report).

Commands (``analyze``, ``report``, ``demo``) and CI all go through
:func:`run_experiment` / :func:`run_folder`, so a decision printed in a
terminal, a Markdown job summary and a JSON file can never disagree. Each
stage is called through its public contract (docs/architecture.md); this
module adds no statistics of its own except calling the engines once per day
for the cumulative-lift chart (``daily_lifts``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from upsell_ab.decision.model import Action, Outcome
from upsell_ab.spec.models import Engine, Status

if TYPE_CHECKING:
    from upsell_ab.metrics.aggregates import ExperimentData
    from upsell_ab.report.failures import SpecFailure
    from upsell_ab.report.model import DailyLift, ExperimentReport
    from upsell_ab.spec.load import Parsed
    from upsell_ab.spec.resolve import ResolvedExperiment
    from upsell_ab.stats.results import ExperimentAnalysis

Step = Callable[[str], None]
"""Progress callback: called with a short description before each long step."""


@dataclass(frozen=True)
class ExperimentRun:
    """Everything known about one experiment after a run."""

    resolved: ResolvedExperiment
    data: ExperimentData
    analysis: ExperimentAnalysis
    outcome: Outcome
    daily_lifts: dict[str, list[DailyLift]] = field(default_factory=dict)
    """Metric -> cumulative lift per day and treatment (for the time-series chart)."""

    @property
    def quality_failed(self) -> bool:
        """SRM flagged, too many multiple exposures, or any other data gate that made the
        experiment invalid (``--fail-on quality``): the reports mark all of them failed,
        and a CI gate must not pass what the report calls failed."""
        settings = self.resolved.experiment.analysis
        return (
            self.analysis.srm.flagged
            or self.data.quality.multiple_exposure_share > settings.max_multiple_exposure_share
            or self.outcome.action is Action.invalid
        )

    @property
    def waiting_for_data(self) -> bool:
        """Running, but nobody has been exposed yet (not a failure by itself)."""
        return self.outcome.action is Action.waiting_for_data

    @property
    def guardrail_breached(self) -> bool:
        """Some treatment failed a guardrail's non-inferiority test (``--fail-on guardrail``)."""
        return bool(self.outcome.guardrails_breached)

    @property
    def shipped(self) -> str | None:
        return self.outcome.variant if self.outcome.action is Action.ship else None

    def report(self) -> ExperimentReport:
        from upsell_ab.report.model import build_report

        return build_report(
            self.resolved, self.analysis, self.outcome, self.data, daily_lifts=self.daily_lifts
        )


def _noop(_: str) -> None:
    return None


def run_experiment(
    path_or_resolved: str | Path | ResolvedExperiment,
    *,
    store: str | Path | None = None,
    summary: str | Path | None = None,
    segments: bool = False,
    daily: bool = True,
    step: Step = _noop,
) -> ExperimentRun:
    """Load (if given a path), aggregate in the store (or read a summary CSV),
    analyse, decide. ``daily`` also computes the per-day cumulative lifts."""
    if isinstance(path_or_resolved, str | Path):
        from upsell_ab.spec.load import load_experiment

        step(f"loading {path_or_resolved}")
        resolved = load_experiment(path_or_resolved)
    else:
        resolved = path_or_resolved
    experiment_id = resolved.experiment.id
    if summary is not None:
        from upsell_ab.metrics.summary_csv import read_summary

        step(f"{experiment_id}: reading summary {summary}")
        data = read_summary(summary, resolved)
    else:
        from upsell_ab.metrics.compute import compute_experiment_data

        step(f"{experiment_id}: computing metrics in the store")
        data = compute_experiment_data(
            resolved,
            store=str(store) if store is not None else None,
            segments=segments,
            daily=daily,
        )
    return run_on_data(resolved, data, daily=daily and summary is None, step=step)


def run_on_data(
    resolved: ResolvedExperiment,
    data: ExperimentData,
    *,
    daily: bool = True,
    step: Step = _noop,
) -> ExperimentRun:
    """Analyse and decide on statistics already computed (from any source); ``daily``
    adds the per-day cumulative lifts when ``data`` has daily statistics."""
    from upsell_ab.decision.rules import decide
    from upsell_ab.stats.analysis import analyze
    from upsell_ab.stats.cuped import drop_imbalanced_covariates

    step(f"{resolved.experiment.id}: analysing")
    data = drop_imbalanced_covariates(data, resolved.experiment.control.id)
    analysis = analyze(resolved, data)
    outcome = decide(resolved, analysis, data)
    # the daily chart's engines count customers; a switchback's unit is the slot
    switchback = resolved.experiment.randomization.is_switchback
    lifts = daily_lifts(resolved, data) if daily and not switchback else {}
    return ExperimentRun(resolved, data, analysis, outcome, lifts)


def daily_lifts(resolved: ResolvedExperiment, data: ExperimentData) -> dict[str, list[DailyLift]]:
    """Cumulative relative lift per day for every metric with daily statistics.

    Calls the same per-metric analysis as the final result (frequentist engine,
    or the Bayesian one when the spec runs only that; with confidence sequences
    on, the frequentist intervals are valid at every look)."""
    from upsell_ab.metrics.aggregates import MetricData
    from upsell_ab.report.model import DailyLift
    from upsell_ab.stats.analysis import analyze_metric

    experiment = resolved.experiment
    # One engine per day is enough for the chart: the frequentist one, unless the spec
    # asked for the Bayesian engine only (then its posterior mean and credible interval).
    bayesian_only = experiment.analysis.engine is Engine.bayesian
    engine = Engine.bayesian if bayesian_only else Engine.frequentist
    settings = experiment.analysis.model_copy(update={"engine": engine})
    variants = [v.id for v in experiment.variants]
    result: dict[str, list[DailyLift]] = {}
    for name, metric_data in data.metrics.items():
        definition = resolved.metrics.get(name)
        if definition is None or not metric_data.daily:
            continue
        series: list[DailyLift] = []
        for day in metric_data.daily:
            day_result = analyze_metric(
                name,
                definition,
                resolved.roles.get(name, "secondary"),
                MetricData(metric=name, by_variant=dict(day.by_variant)),
                variants=variants,
                control=experiment.control.id,
                settings=settings,
            )
            for comparison in day_result.comparisons:
                estimate = comparison.bayesian if bayesian_only else comparison.frequentist
                if estimate is None:
                    continue
                series.append(
                    DailyLift(
                        day=day.day,
                        variant=comparison.variant,
                        lift=estimate.relative_lift,
                        ci_low=estimate.relative_ci.low,
                        ci_high=estimate.relative_ci.high,
                    )
                )
        result[name] = series
    return result


def running_specs(paths: Sequence[str | Path]) -> list[ResolvedExperiment]:
    """Every spec under ``paths`` whose status is ``running`` (invalid specs raise)."""
    from upsell_ab.spec.load import discover, load_experiment

    resolved = [load_experiment(p) for p in discover([Path(p) for p in paths])]
    return [r for r in resolved if r.experiment.status is Status.running]


def run_folder(
    paths: Sequence[str | Path],
    store: str | Path | None = None,
    *,
    daily: bool = True,
    step: Step = _noop,
) -> list[ExperimentRun]:
    """:func:`run_experiment` for every running experiment under ``paths``."""
    return [
        run_experiment(resolved, store=store, daily=daily, step=step)
        for resolved in running_specs(paths)
    ]


@dataclass(frozen=True)
class FolderSpecs:
    """What :func:`collect_running` found: the running specs, the specs that failed to
    load (reported, not raised, so one bad file cannot blank a CI summary) and how
    many spec files there were at all."""

    running: list[ResolvedExperiment]
    failures: list[SpecFailure]
    files: int


def collect_running(paths: Sequence[str | Path]) -> FolderSpecs:
    """Like :func:`running_specs`, but an invalid spec becomes a :class:`SpecFailure`
    instead of an exception. A missing path still raises (it is a usage error)."""
    from upsell_ab.errors import SpecError
    from upsell_ab.report.failures import SpecFailure
    from upsell_ab.spec.load import discover, load_experiment

    files = discover([Path(p) for p in paths])
    running: list[ResolvedExperiment] = []
    failures: list[SpecFailure] = []
    conflicts = folder_conflicts(files)
    for path in files:
        if path in conflicts:
            failures.append(SpecFailure(str(path), "spec", conflicts[path]))
            continue
        try:
            resolved = load_experiment(path)
        except SpecError as error:
            problems = [str(p) for p in error.problems] or [str(error)]
            failures.append(SpecFailure(str(path), "spec", problems))
            continue
        if resolved.experiment.status is Status.running:
            running.append(resolved)
    return FolderSpecs(running, failures, len(files))


def folder_conflicts(files: Sequence[Path]) -> dict[Path, list[str]]:
    """Per file, the problems only several files together show (``validate``'s folder
    checks: a duplicate experiment id, overlapping namespace ranges). Both files of a
    duplicate id fail, not only the second: exposures and events are keyed by the
    experiment id, so each spec would be analysed on the other's data (other variants,
    weights or dates) and neither report could be trusted."""
    from upsell_ab.spec.load import parse_file
    from upsell_ab.spec.locate import problem_at
    from upsell_ab.spec.models import Experiment
    from upsell_ab.spec.validate import folder_problems

    groups: dict[Path, list[Path]] = {}
    for path in files:
        groups.setdefault(path.resolve().parent, []).append(path)
    found: dict[Path, list[str]] = {}
    for group in (g for g in groups.values() if len(g) > 1):
        parsed = [parse_file(path, Experiment) for path in group]
        by_name = {str(item.path): item for item in parsed}
        for problem in folder_problems(parsed):
            item = by_name[problem.location.file or ""]
            found.setdefault(item.path, []).append(str(problem))
            if problem.code != "duplicate_id":
                continue
            # the earlier file of the same id, named at the end of the message
            first = next(p for p in parsed if p is not item and _id(p) == _id(item))
            mirrored = problem_at(
                first.document,
                str(first.path),
                ("id",),
                problem.message.removesuffix(first.path.name) + item.path.name,
                problem.hint,
                problem.code,
            )
            found.setdefault(first.path, []).append(str(mirrored))
    return found


def _id(parsed: Parsed) -> object:
    value = parsed.document.value
    return value.get("id") if isinstance(value, dict) else None


def data_failure(resolved: ResolvedExperiment, error: Exception) -> SpecFailure:
    """The :class:`SpecFailure` for a spec whose data could not be read (store missing,
    query failed, bad summary): its own error block in the report, the rest still report."""
    from upsell_ab.report.failures import SpecFailure

    lines = [line for line in str(error).splitlines() if line.strip()] or [type(error).__name__]
    file = str(resolved.source_file) if resolved.source_file else resolved.experiment.id
    return SpecFailure(file, "data", lines, experiment=resolved.experiment.id)
