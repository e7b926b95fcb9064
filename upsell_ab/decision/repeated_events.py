"""Events a tracker sent twice: no verdict when one arm has far more of them.

A variant's page often ships with new tracking code, and a purchase event bound twice
(two click handlers, a confirmation page that reloads, a tag manager and the app both
sending) reaches the log twice, milliseconds apart, with the same amount. Without event
ids nothing drops the copy, so that arm's revenue, orders and items double while its
take rate does not move: ``laptop_bundle`` with equal revenue in both arms and the
bundle's orders sent twice read "bundle raised revenue per customer" at p < 0.0001.

The query (:func:`upsell_ab.metrics.sql_values.repeated_events_sql`) counts, per arm
and event type a metric sums, the events that repeat the unit's previous event of that
type within two seconds at the same amount (rows that both carry a source event id are
trusted to be distinct), and the customers with at least one such repeat. Events of one
customer are not independent (one who orders in bulk repeats more); customers are, so
each treatment's share of customers with a repeat (of those with an event of the type)
is compared with the control's by the two-proportion test used everywhere
(:func:`upsell_ab.stats.frequentist.proportion_test`: pooled z, or Fisher's exact test
for small cells), two-sided. A difference counts when p < ``REPEAT_P`` (1e-4: the check
runs on every analysis, type and treatment, and must rarely cry wolf) *and* the shares
are at least ``REPEAT_GAP`` (3 percentage points) apart. A double fire in one arm is far
past both (nearly every buyer of that arm repeats, against about none).

- The decision metric sums such an event type: the experiment is **invalid**.
- Another metric does: a headline warning naming it.
- Every arm alike above ``REPEAT_LEVEL`` (10 %) of the events: a warning (sums are
  inflated in every arm; the comparison holds, so the verdict stands).

Like every gate, it never looks at the metric's effect (the A/A simulations run with it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from upsell_ab.decision.reasons import metric_label

if TYPE_CHECKING:
    from upsell_ab.metrics.aggregates import ExperimentData, RepeatCount, RepeatedEvents
    from upsell_ab.spec.resolve import ResolvedExperiment

REPEAT_P = 1e-4
"""p-value below which a treatment's share of customers with a repeated event differs
from the control's."""
REPEAT_GAP = 0.03
"""Smallest difference (absolute) of those shares that counts."""
REPEAT_LEVEL = 0.10
"""Above this share of repeated events in every arm: a warning (levels inflated)."""


@dataclass(frozen=True)
class RepeatGap:
    """One treatment whose share of customers with a repeated ``event`` event differs
    from the control's."""

    event: str
    control: str
    treatment: str
    control_count: RepeatCount
    treatment_count: RepeatCount
    p_value: float

    def describe(self) -> str:
        def arm(name: str, count: RepeatCount) -> str:
            share = count.repeats / max(count.events, 1)
            return (
                f"{count.repeats:,} of {name}'s {count.events:,} ({share:.1%}; "
                f"{count.units_repeating:,} of its {count.units:,} customers with one)"
            )

        return (
            f"{arm(self.treatment, self.treatment_count)} against "
            f"{arm(self.control, self.control_count)}"
        )


def repeat_gaps(resolved: ResolvedExperiment, repeated: RepeatedEvents) -> list[RepeatGap]:
    """Every (event type, treatment) whose share of customers with a repeat differs from
    the control's (see the module docstring)."""
    from upsell_ab.metrics.sufficient import SampleStats
    from upsell_ab.stats.frequentist import proportion_test

    control = resolved.experiment.control.id
    gaps: list[RepeatGap] = []
    for event in sorted({t for _, t in repeated.counts}):
        ours = repeated.counts.get((control, event))
        for variant in (v.id for v in resolved.experiment.treatments):
            theirs = repeated.counts.get((variant, event))
            if ours is None or theirs is None or not ours.units or not theirs.units:
                continue
            c_share = ours.units_repeating / ours.units
            t_share = theirs.units_repeating / theirs.units
            if abs(t_share - c_share) < REPEAT_GAP:
                continue
            c, t = float(ours.units_repeating), float(theirs.units_repeating)
            test = proportion_test(
                SampleStats(n=ours.units, sum=c, sum_squares=c),
                SampleStats(n=theirs.units, sum=t, sum_squares=t),
            )
            if test.p_value is not None and test.p_value < REPEAT_P:
                gaps.append(RepeatGap(event, control, variant, ours, theirs, test.p_value))
    return gaps


def _gaps_by_event(
    resolved: ResolvedExperiment, repeated: RepeatedEvents
) -> dict[str, list[RepeatGap]]:
    """:func:`repeat_gaps` grouped by event type (one sentence per type)."""
    by_event: dict[str, list[RepeatGap]] = {}
    for gap in repeat_gaps(resolved, repeated):
        by_event.setdefault(gap.event, []).append(gap)
    return by_event


def summing_metrics(resolved: ResolvedExperiment, event: str) -> list[str]:
    """The spec's metrics that add up ``event`` events after exposure (amounts or counts),
    in catalogue order: those a repeated event counts twice in."""
    from upsell_ab.metrics.capping import metric_channels

    return [
        name
        for name, definition in resolved.metrics.items()
        if any(ch.event == event and ch.sums_events for ch in metric_channels(definition))
    ]


def _sampled(repeated: RepeatedEvents) -> str:
    if repeated.sampled_one_in == 1:
        return ""
    return f" (counted on 1 in {repeated.sampled_one_in:,} customers, a hash sample)"


def _sentence(gaps: list[RepeatGap], repeated: RepeatedEvents) -> str:
    event = gaps[0].event
    arms = "; ".join(g.describe() for g in gaps)
    return (
        f"The '{event}' events repeat the customer's previous '{event}' within "
        f"2 seconds at the same amount far more often in one arm: {arms}{_sampled(repeated)}. "
        "That is a tracker sending each event twice in one variant (a button bound twice, "
        "a confirmation page that reloads)"
    )


_FIX = (
    "Give the events their order or line ids as event ids (data.event_columns.event_id, "
    "or ingest --map events.event_id=order_id) so copies are dropped, or fix that "
    "variant's tracking, and analyse again"
)


def repeated_event_problems(resolved: ResolvedExperiment, data: ExperimentData | None) -> list[str]:
    """Blocking reasons: the decision metric sums an event type one arm repeats more."""
    if data is None or data.repeated_events is None:
        return []
    name = resolved.decision_metric
    problems = []
    for event, gaps in _gaps_by_event(resolved, data.repeated_events).items():
        if name not in summing_metrics(resolved, event):
            continue
        problems.append(
            f"{_sentence(gaps, data.repeated_events)}: each copy counts again in "
            f"{metric_label(name, None)}, so that arm's is inflated for no commercial "
            f"reason. {_FIX}."
        )
    return problems


def repeated_event_warnings(resolved: ResolvedExperiment, data: ExperimentData | None) -> list[str]:
    """Headline lines: repeats one arm has more of in metrics that do not decide, and
    repeats every arm has above :data:`REPEAT_LEVEL`."""
    if data is None or data.repeated_events is None:
        return []
    repeated = data.repeated_events
    decision = resolved.decision_metric
    lines = []
    by_event = _gaps_by_event(resolved, repeated)
    for event, gaps in by_event.items():
        readers = [m for m in summing_metrics(resolved, event) if m != decision]
        if decision in summing_metrics(resolved, event) or not readers:
            continue  # blocking (or nobody reads them)
        named = ", ".join(metric_label(m, None) for m in readers)
        lines.append(
            f"{_sentence(gaps, repeated)}: each copy counts again in {named}, so do not "
            f"trust {'its' if len(readers) == 1 else 'their'} comparison. {_FIX}."
        )
    for event in sorted({t for _, t in repeated.counts} - set(by_event)):
        counts = [c for (_, t), c in repeated.counts.items() if t == event and c.events]
        if counts and min(c.repeats / c.events for c in counts) > REPEAT_LEVEL:
            total = sum(c.events for c in counts)
            again = sum(c.repeats for c in counts)
            lines.append(
                f"{again:,} of the {total:,} '{event}' events ({again / total:.0%}) repeat "
                "the customer's previous one within 2 seconds at the same amount, in every "
                f"arm alike{_sampled(repeated)}: sums and counts of '{event}' are inflated, "
                "though the arms compare fairly. If they are copies, give the events their "
                "order ids as event ids; if they are lines of one order, one event with its "
                "quantity (or each line's own id) says so."
            )
    return lines
