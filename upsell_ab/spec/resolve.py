"""Second phase of spec loading: metric names -> catalogue definitions.

Following Mozilla's metric-config-parser (raw spec with names -> resolved
configuration with objects), :func:`resolve` returns a new
:class:`ResolvedExperiment` and never mutates the spec. Reference checks work
on plain data (:func:`reference_findings`) so the loader can report an
unknown metric together with every other problem of the file.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from upsell_ab.errors import Location, Problem, SpecError
from upsell_ab.spec.findings import Finding, FindingPath
from upsell_ab.spec.models import Catalogue, Experiment, Guardrail, MetricDefinition
from upsell_ab.spec.suggest import suggestion

ROLES = ("primary", "secondary", "guardrail", "decision", "check")
"""Metric roles in the order they are listed and the order ``metrics`` keeps. ``check``:
a metric the spec does not name, analysed because another needs it (the response rate
behind a satisfaction score); it is in no multiple-testing family and decides nothing."""


@dataclass(frozen=True)
class ResolvedExperiment:
    """A validated spec with every metric it uses looked up in the catalogue."""

    experiment: Experiment
    metrics: dict[str, MetricDefinition]
    """primary, secondary, guardrails, decision metric (in that order)."""
    roles: dict[str, str]
    """metric name -> 'primary' | 'secondary' | 'guardrail' | 'decision' | 'check' (first
    role wins)."""
    source_file: Path | None = None
    catalogue_file: Path | None = None
    concluding_a_running_spec: bool = False
    """Read by ``conclude`` as the final look of a spec whose file says ``running`` (the
    status is ``stopped`` in memory only): its data are still expected to reach the end
    date (:mod:`upsell_ab.decision.stale_data`)."""

    @property
    def primary_metric(self) -> str:
        return self.experiment.metrics.primary

    @property
    def decision_metric(self) -> str:
        """The metric that decides the winner: ``analysis.decision.metric`` or the primary."""
        chosen = self.experiment.analysis.decision.metric
        return chosen if chosen is not None else self.experiment.metrics.primary

    @property
    def guardrails(self) -> list[Guardrail]:
        """Guardrails with their direction filled in from the catalogue."""
        return [self.guardrail(g.metric) for g in self.experiment.metrics.guardrails]

    def metric(self, name: str) -> MetricDefinition:
        return self.metrics[name]

    def guardrail(self, name: str) -> Guardrail:
        """The guardrail on ``name``; ``direction`` defaults to the catalogue's."""
        for rail in self.experiment.metrics.guardrails:
            if rail.metric == name:
                if rail.direction is None:
                    return rail.model_copy(update={"direction": self.metrics[name].direction})
                return rail
        raise KeyError(f"'{name}' is not a guardrail of {self.experiment.id}")


def metric_references(data: Mapping[str, Any]) -> list[tuple[FindingPath, str, str]]:
    """(path, metric name, role) for every metric named in a raw or dumped spec."""
    refs: list[tuple[FindingPath, str, str]] = []
    metrics = data.get("metrics")
    if isinstance(metrics, Mapping):
        primary = metrics.get("primary")
        if isinstance(primary, str):
            refs.append((("metrics", "primary"), primary, "primary"))
        secondary = metrics.get("secondary")
        if isinstance(secondary, list):
            refs += [
                (("metrics", "secondary", i), name, "secondary")
                for i, name in enumerate(secondary)
                if isinstance(name, str)
            ]
        guardrails = metrics.get("guardrails")
        if isinstance(guardrails, list):
            for i, rail in enumerate(guardrails):
                if isinstance(rail, Mapping) and isinstance(rail.get("metric"), str):
                    refs.append(
                        (("metrics", "guardrails", i, "metric"), rail["metric"], "guardrail")
                    )
    analysis = data.get("analysis")
    decision = analysis.get("decision") if isinstance(analysis, Mapping) else None
    if isinstance(decision, Mapping) and isinstance(decision.get("metric"), str):
        refs.append((("analysis", "decision", "metric"), decision["metric"], "decision"))
    return refs


def reference_findings(
    data: Mapping[str, Any], catalogue: Catalogue, *, builtin: bool = False
) -> list[Finding]:
    """Every metric name must exist in the catalogue ("did you mean" when close);
    ``builtin``: the shipped catalogue is in use, so the hint says how to define one."""
    names = sorted(catalogue.metrics)
    findings: list[Finding] = []
    for path, name, role in metric_references(data):
        if name not in catalogue.metrics:
            hint = suggestion(name, names, what="metrics")
            if not hint.startswith("did you mean"):
                where = (
                    "define it in a metrics.yaml next to the spec (`upsell-ab init` writes "
                    "the standard one)"
                    if builtin
                    else "add it to metrics.yaml"
                )
                hint = f"{where} or use one of: " + ", ".join(names)
            findings.append(
                Finding(
                    path, f"{role} metric '{name}' is not in the catalogue", hint, "unknown_metric"
                )
            )
    return findings


def resolve(
    experiment: Experiment,
    catalogue: Catalogue,
    *,
    source_file: Path | None = None,
    catalogue_file: Path | None = None,
) -> ResolvedExperiment:
    """Look up every metric of ``experiment``; raise :class:`SpecError` naming missing ones."""
    data = experiment.model_dump(mode="python", by_alias=True)
    findings = reference_findings(data, catalogue)
    if findings:
        file = str(source_file) if source_file else None
        raise SpecError(
            [
                Problem(
                    Location(file=file, field=".".join(str(s) for s in f.path)),
                    f.message,
                    f.hint,
                    f.code,
                )
                for f in findings
            ]
        )
    metrics: dict[str, MetricDefinition] = {}
    roles: dict[str, str] = {}
    for _, name, role in metric_references(data):
        metrics.setdefault(name, catalogue.metrics[name])
        roles.setdefault(name, role)
    for name in list(metrics):
        for needed, definition in _checks(name, metrics[name], catalogue).items():
            if needed not in metrics:
                metrics[needed] = definition
                roles[needed] = "check"
    resolved = ResolvedExperiment(
        experiment=experiment,
        metrics=metrics,
        roles=roles,
        source_file=source_file,
        catalogue_file=catalogue_file,
    )
    return with_covariates(resolved, experiment.data.covariates, field="data.covariates")


def _checks(
    name: str, definition: MetricDefinition, catalogue: Catalogue
) -> dict[str, MetricDefinition]:
    """Metrics the spec does not name but ``name`` needs: a score's response rate, an
    ltv metric's parts (:func:`upsell_ab.spec.ltv.ltv_components`)."""
    from upsell_ab.spec.models import MetricType

    needed: dict[str, MetricDefinition] = {}
    if definition.response_rate is not None:
        needed[definition.response_rate] = catalogue.metrics[definition.response_rate]
    if definition.type is MetricType.ltv:
        from upsell_ab.spec.ltv import ltv_components

        needed.update(ltv_components(name, definition))
    return needed


def with_covariates(
    resolved: ResolvedExperiment, covariates: Mapping[str, str], *, field: str = "covariates"
) -> ResolvedExperiment:
    """CUPED from exposure columns: each named metric gets ``cuped.column`` (its other
    CUPED settings kept). Unknown metrics and ratio metrics are :class:`SpecError`s."""
    if not covariates:
        return resolved
    from upsell_ab.spec.models import Cuped, MetricType

    file = str(resolved.source_file) if resolved.source_file else None
    problems: list[Problem] = []
    metrics = dict(resolved.metrics)
    for name, column in covariates.items():
        where = Location(file=file, field=f"{field}.{name}")
        definition = metrics.get(name)
        if definition is None:
            hint = suggestion(name, sorted(metrics), what="metrics")
            problems.append(Problem(where, f"'{name}' is not a metric of this experiment", hint))
            continue
        if definition.type is MetricType.ratio:
            problems.append(
                Problem(
                    where,
                    f"'{name}' is a ratio metric: a covariate column is for non-ratio metrics",
                    "give ratio metrics the lookback covariate (cuped: {lookback: 28d})",
                )
            )
            continue
        current = definition.cuped or Cuped()
        metrics[name] = definition.model_copy(
            update={"cuped": current.model_copy(update={"column": column})}
        )
    if problems:
        raise SpecError(problems)
    return dataclasses.replace(resolved, metrics=metrics)
