"""Pool comparisons per lever value with the meta-analysis engine.

The statistics live in :mod:`upsell_ab.stats.meta_analysis` (fixed effect,
DerSimonian-Laird and REML tau^2, Hartung-Knapp-Sidik-Jonkman, I^2, prediction interval);
this module only chooses *what* is pooled together and says what the reader must know:

- one metric per pool (pooling a take rate with revenue mixes scales: refused);
- ``--by LEVER`` pools each value of that lever column separately ("post_purchase vs
  at_checkout", "specific vs generic"); rows without a value are listed, not pooled;
- an experiment contributing several comparisons to one pool (two treatments against one
  control) makes them correlated, so the pooled interval is too narrow: said in a note;
- a pool of one comparison is reported as that comparison (nothing to pool).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from upsell_ab.errors import InputError, Location, Problem
from upsell_ab.learn.comparisons import Comparison

if TYPE_CHECKING:
    from upsell_ab.stats.meta_analysis import MetaAnalysis


@dataclass(frozen=True)
class Pool:
    """The pooled effect of one group of comparisons."""

    metric: str
    lever: str | None
    value: str | None
    comparisons: tuple[Comparison, ...]
    result: MetaAnalysis
    notes: tuple[str, ...] = field(default_factory=tuple)


def pool_comparisons(
    comparisons: Sequence[Comparison],
    *,
    source: str,
    metric: str | None = None,
    by: str | None = None,
    method: str = "reml",
    hksj: bool = False,
    level: float = 0.95,
) -> list[Pool]:
    """One :class:`Pool` per value of ``by`` (or one for all rows), for ``metric``."""
    from upsell_ab.spec.suggest import suggestion
    from upsell_ab.stats.meta_analysis import meta_analyze

    metrics = sorted({c.metric for c in comparisons})
    if metric is None:
        if len(metrics) > 1:
            raise InputError(
                [
                    Problem(
                        Location(file=source, field="metric"),
                        f"the comparisons are on several metrics ({', '.join(metrics)}): "
                        "pooling them would mix scales",
                        "pick one with --metric",
                    )
                ]
            )
        metric = metrics[0]
    chosen = [c for c in comparisons if c.metric == metric]
    if not chosen:
        raise InputError(
            [
                Problem(
                    Location(file=source, field="metric"),
                    f"no comparison is on metric {metric!r}",
                    suggestion(metric, metrics, what="metrics"),
                )
            ]
        )
    levers = sorted({lever for c in chosen for lever in c.levers})
    if by is not None and by not in levers:
        raise InputError(
            [
                Problem(
                    Location(file=source, field=by),
                    f"no lever column {by!r}",
                    suggestion(by, levers, what="lever columns") or "add the column to the CSV",
                )
            ]
        )
    groups: dict[str | None, list[Comparison]] = {}
    unvalued: list[Comparison] = []
    for comparison in chosen:
        value = comparison.levers.get(by, "") if by is not None else None
        if by is not None and not value:
            unvalued.append(comparison)
            continue
        groups.setdefault(value, []).append(comparison)
    pools: list[Pool] = []
    for value, members in groups.items():
        notes: list[str] = []
        repeated = [e for e, n in Counter(c.experiment for c in members).items() if n > 1]
        if repeated:
            notes.append(
                "several comparisons from the same experiment ("
                + ", ".join(repeated)
                + ") share a control and are correlated: the pooled interval is too narrow"
            )
        if len(members) == 1:
            notes.append("one comparison: nothing to pool, it is shown as it is")
        use_hksj = hksj and len(members) >= 2
        result = meta_analyze(
            [c.estimate for c in members],
            [c.variance for c in members],
            method=method,
            hksj=use_hksj,
            level=level,
        )
        if not result.converged:
            notes.append("REML did not converge in 100 steps; compare with --method dl")
        if len(members) < 3 and method != "fe":
            notes.append("fewer than 3 comparisons: no prediction interval, tau^2 is guesswork")
        pools.append(Pool(metric, by, value, tuple(members), result, tuple(notes)))
    if unvalued and pools:
        lines = ", ".join(f"line {c.line}" if c.line else c.experiment for c in unvalued)
        pools[0] = Pool(
            pools[0].metric,
            pools[0].lever,
            pools[0].value,
            pools[0].comparisons,
            pools[0].result,
            (*pools[0].notes, f"not pooled, no value for {by!r}: {lines}"),
        )
    if not pools:
        raise InputError(
            [
                Problem(
                    Location(file=source, field=by),
                    f"no row has a value for {by!r}",
                    "fill the lever column",
                )
            ]
        )
    return pools
