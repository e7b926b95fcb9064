"""One bandit update: from the data so far to the next period's weights, recorded once.

What ``upsell-ab allocate`` runs (and the adaptive simulator, once per period):

1. The target period is the first period boundary at or after ``at`` (periods
   start at the experiment's start, 00:00 UTC, every ``update_every``), never
   the first period (which runs at the spec's weights). New weights take effect
   at a boundary, so every unit of a period was assigned with exactly that
   period's recorded weights, whenever during the previous period the update ran.
2. Already recorded for that period: ``unchanged`` (idempotent).
3. Burn-in: the target must be ``burn_in.days`` after the start and every arm
   must have ``burn_in.units`` units on the allocation metric; else ``burn_in``.
4. The posterior of every arm on the allocation metric (sufficient statistics
   computed in the database, one query; :mod:`.thompson`); an arm without units
   or spread: ``waiting``.
5. Stop rule met by the leading arm (P(best) >= ``stop.prob_best`` and/or
   expected loss <= ``stop.expected_loss``): ``stopped``, weights stay.
6. Else the floored P(best) weights are appended to the history (one
   transaction; a crash before COMMIT leaves it unchanged): ``recorded``
   (``dry_run``: computed, not written).

Only ``recorded`` changes the store. The posterior uses all units so far,
pooled over periods (standard Thompson sampling); the period-weighted estimate
is the analysis' business.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from upsell_ab.allocation.history import (
    AllocationRecord,
    as_utc,
    periods_from_records,
    read_records,
    record_update,
    spec_start,
    store_path_for,
    utc_midnight,
    weights_at,
)
from upsell_ab.allocation.thompson import NoPosterior, Posterior, floored_weights, posterior
from upsell_ab.errors import InputError, Location, Problem

if TYPE_CHECKING:
    from upsell_ab.metrics.sufficient import MetricStats
    from upsell_ab.spec.resolve import ResolvedExperiment


class UpdateStatus(StrEnum):
    recorded = "recorded"
    dry_run = "dry_run"
    unchanged = "unchanged"
    burn_in = "burn_in"
    waiting = "waiting"
    stopped = "stopped"
    ended = "ended"
    held = "held"
    """The data fail a quality check that makes any comparison invalid: weights stay."""


@dataclass(frozen=True)
class AllocationUpdate:
    """What one ``allocate`` did and why."""

    experiment: str
    status: UpdateStatus
    period_start: datetime
    """The period the update is (or would be) for."""
    previous: dict[str, float]
    """Weights in force before ``period_start``."""
    weights: dict[str, float]
    """Weights from ``period_start`` on (= ``previous`` unless recorded / dry run)."""
    reason: str
    metric: str
    units: dict[str, int] = field(default_factory=dict)
    posterior: Posterior | None = None

    @property
    def changed(self) -> bool:
        return self.status in (UpdateStatus.recorded, UpdateStatus.dry_run)

    def to_dict(self) -> dict[str, Any]:
        return {
            "experiment": self.experiment,
            "status": self.status.value,
            "period_start": self.period_start.isoformat(),
            "metric": self.metric,
            "previous_weights": self.previous,
            "weights": self.weights,
            "units": self.units,
            "posterior": self.posterior.to_dict() if self.posterior else None,
            "reason": self.reason,
        }


def allocation_metric(resolved: ResolvedExperiment) -> str:
    chosen = resolved.experiment.allocation.metric
    return chosen if chosen is not None else resolved.decision_metric


def target_period(resolved: ResolvedExperiment, at: datetime) -> datetime:
    """First boundary ``start + k * update_every`` at or after ``at``, with k >= 1."""
    experiment = resolved.experiment
    start = spec_start(experiment)
    step = experiment.allocation.update_every
    moment = as_utc(at)
    if moment < start:
        raise _refuse(
            resolved,
            f"{experiment.id} starts at {start.isoformat()}; nothing to allocate before it",
            "run allocate once the experiment has started (or pass a later --at)",
        )
    periods = -((start - moment) // step)  # ceil((moment - start) / step)
    return start + max(periods, 1) * step


def _refuse(resolved: ResolvedExperiment, message: str, hint: str) -> InputError:
    file = str(resolved.source_file) if resolved.source_file else None
    return InputError([Problem(Location(file=file, field="allocation"), message, hint)])


def check_bandit(resolved: ResolvedExperiment) -> None:
    from upsell_ab.spec.models import Status

    experiment = resolved.experiment
    if not experiment.allocation.is_bandit:
        raise _refuse(
            resolved,
            f"{experiment.id} has a fixed allocation; allocate moves a bandit's weights",
            "set allocation: {kind: bandit} in the spec to let the weights adapt",
        )
    if experiment.status is not Status.running:
        raise _refuse(
            resolved,
            f"{experiment.id} is {experiment.status.value}; weights move only while it runs",
            "set status: running",
        )


def plan_update(
    resolved: ResolvedExperiment,
    records: list[AllocationRecord],
    stats_by_variant: dict[str, MetricStats] | None,
    at: datetime,
) -> AllocationUpdate:
    """Steps 1-5 (pure: the caller reads the history and computes the statistics;
    ``stats_by_variant`` None is only allowed when no statistics are needed)."""
    experiment = resolved.experiment
    allocation = experiment.allocation
    metric = allocation_metric(resolved)
    target = target_period(resolved, at)
    periods = periods_from_records(experiment, records)
    current = dict(weights_at(periods, target - timedelta(microseconds=1)).weights)

    def outcome(status: UpdateStatus, reason: str, **extra: Any) -> AllocationUpdate:
        return AllocationUpdate(
            experiment.id, status, target, current, dict(current), reason, metric, **extra
        )

    if any(r.period_start == target for r in records):
        return AllocationUpdate(
            experiment.id,
            UpdateStatus.unchanged,
            target,
            current,
            dict(next(r.weights for r in records if r.period_start == target)),
            "unchanged: weights for this period were already recorded",
            metric,
        )
    if experiment.end is not None and target > _end_boundary(resolved):
        return outcome(UpdateStatus.ended, f"{experiment.id} ended on {experiment.end}")
    burn_in = allocation.burn_in
    ready_at = spec_start(experiment) + timedelta(days=burn_in.days)
    if target < ready_at:
        return outcome(
            UpdateStatus.burn_in,
            f"burn-in: the spec's weights hold until {ready_at.isoformat()} "
            f"({burn_in.days} days from the start)",
        )
    assert stats_by_variant is not None
    units = {v.id: stats_by_variant[v.id].n for v in experiment.variants}
    short = {v: burn_in.units - n for v, n in units.items() if n < burn_in.units}
    if short:
        need = ", ".join(f"{v} {k} more" for v, k in short.items())
        return outcome(
            UpdateStatus.burn_in,
            f"burn-in: every arm needs {burn_in.units} units first ({need})",
            units=units,
        )
    definition = resolved.metrics[metric]
    found = posterior(metric, definition, stats_by_variant, experiment.analysis.priors.conversion)
    if isinstance(found, NoPosterior):
        return outcome(UpdateStatus.waiting, f"waiting: {found.reason}", units=units)
    stop = allocation.stop
    leader = found.leader
    if stop is not None and (stop.prob_best is not None or stop.expected_loss is not None):
        clear = (stop.prob_best is None or leader.prob_best >= stop.prob_best) and (
            stop.expected_loss is None or leader.expected_loss <= stop.expected_loss
        )
        if clear:
            return outcome(
                UpdateStatus.stopped,
                f"stopped: {leader.variant} is best with P(best) {leader.prob_best:.3f} and "
                f"expected loss {leader.expected_loss:.4g}; weights stay "
                "(decide with `upsell-ab analyze`)",
                units=units,
                posterior=found,
            )
    weights = floored_weights(found.prob_best, allocation.floor)
    weights = {v.id: weights[v.id] for v in experiment.variants}
    return AllocationUpdate(
        experiment.id,
        UpdateStatus.recorded,
        target,
        current,
        weights,
        f"Thompson sampling on {metric} ({found.model}): weight = P(best), "
        f"floored at {allocation.floor:g}; {leader.variant} leads with P(best) "
        f"{leader.prob_best:.3f}",
        metric,
        units,
        found,
    )


def metric_stats(
    resolved: ResolvedExperiment,
    metric: str,
    *,
    store: str | Path | None,
    connection: Any = None,
    before: datetime | None = None,
) -> tuple[dict[str, MetricStats], list[str]]:
    """The allocation metric's sufficient statistics per variant (one query, in the
    database holding the events), and the reasons the data are invalid (empty when they
    are not). ``before``: a period boundary; only units first exposed in the periods
    before it count (a backfill or simulation with ``--at`` in the past must not learn
    from later periods). The reasons come from the same gates as ``analyze``
    (sample-ratio mismatch against the recorded periods' weights, events of exposed units
    under another spelling of their ids, dates without times, events without a time ...)
    on an experiment whose only metric, and decision metric, is ``metric``. Moving
    traffic on data that ``analyze`` would call invalid shows the weaker arm to more
    customers for no reason."""
    from upsell_ab.metrics.compute import compute_experiment_data
    from upsell_ab.spec.models import MetricRoles
    from upsell_ab.workflow import run_on_data

    experiment = resolved.experiment
    if before is not None:
        last_day = (as_utc(before) - timedelta(microseconds=1)).date()
        if experiment.end is None or last_day < experiment.end:
            experiment = experiment.model_copy(update={"end": last_day})
    roles = MetricRoles(primary=metric)
    decision = experiment.analysis.decision.model_copy(update={"metric": None})
    analysis = experiment.analysis.model_copy(update={"decision": decision, "segments": []})
    experiment = experiment.model_copy(update={"metrics": roles, "analysis": analysis})
    only = dataclasses.replace(
        resolved,
        experiment=experiment,
        metrics={metric: resolved.metrics[metric]},
        roles={metric: "primary"},
    )
    data = compute_experiment_data(only, store=store, connection=connection)
    stats = dict(data.metrics[metric].by_variant)
    if not data.quality.total_units:
        return stats, []  # nobody yet: the burn-in says so
    outcome = run_on_data(only, data, daily=False).outcome
    return stats, list(outcome.reasons) if outcome.action.value == "invalid" else []


def allocate(
    resolved: ResolvedExperiment,
    *,
    store: str | Path | None = None,
    at: datetime | None = None,
    dry_run: bool = False,
    connection: Any = None,
) -> AllocationUpdate:
    """Compute the next period's weights from the data so far and append them to the
    history in ``store`` (unless ``dry_run``). ``at``: now (UTC) by default; the
    simulator passes its clock. ``connection``: where the events are, when not the
    spec's source (the history always lives in the DuckDB ``store``)."""
    from datetime import UTC

    from upsell_ab.events.store_open import open_store

    check_bandit(resolved)
    experiment = resolved.experiment
    moment = as_utc(at) if at is not None else datetime.now(UTC)
    path = Path(store_path_for(experiment, store))
    records: list[AllocationRecord] = []
    if path.exists():
        reader = open_store(path, read_only=True)
        try:
            records = read_records(reader, experiment.id)
        finally:
            reader.close()
    if _needs_no_data(resolved, records, moment):
        update = plan_update(resolved, records, None, moment)
    else:
        stats, problems = metric_stats(
            resolved,
            allocation_metric(resolved),
            store=store,
            connection=connection,
            before=target_period(resolved, moment),
        )
        update = plan_update(resolved, records, stats, moment)
        if problems and update.status in (UpdateStatus.recorded, UpdateStatus.stopped):
            update = dataclasses.replace(
                update,
                status=UpdateStatus.held,
                weights=dict(update.previous),
                reason="held: the data are invalid, so the weights stay as they are: "
                + " ".join(problems),
            )
    if update.status is not UpdateStatus.recorded or dry_run:
        if dry_run and update.status is UpdateStatus.recorded:
            return dataclasses.replace(update, status=UpdateStatus.dry_run)
        return update
    record = AllocationRecord(
        experiment=experiment.id,
        period_start=update.period_start,
        weights=update.weights,
        units=update.units,
        posterior=update.posterior.to_dict() if update.posterior else {},
    )
    writer = open_store(path, read_only=False)
    try:
        written = record_update(writer, record)
    finally:
        writer.close()
    if not written:  # another process recorded this period meanwhile
        return dataclasses.replace(
            update,
            status=UpdateStatus.unchanged,
            reason="unchanged: weights for this period were already recorded",
        )
    return update


def _needs_no_data(
    resolved: ResolvedExperiment, records: list[AllocationRecord], at: datetime
) -> bool:
    """Steps 1-3 decide without statistics (already recorded, ended, burn-in days)."""
    target = target_period(resolved, at)
    experiment = resolved.experiment
    if any(r.period_start == target for r in records):
        return True
    if target < spec_start(experiment) + timedelta(days=experiment.allocation.burn_in.days):
        return True
    return experiment.end is not None and target > _end_boundary(resolved)


def _end_boundary(resolved: ResolvedExperiment) -> datetime:
    end = resolved.experiment.end
    assert end is not None
    return utc_midnight(end) + timedelta(days=1)
