"""`upsell-ab allocate SPEC`: the next period's bandit weights, recorded once.

Computes each arm's posterior probability of being best on the allocation
metric from the data so far (burn-in respected), floors and renormalises it,
and appends the weights to the allocation history in the store, effective from
the next period boundary. Prints what changed and why. Running it again in the
same period changes nothing ("unchanged: weights for this period were already
recorded"). ``--dry-run`` computes without writing. Data that ``analyze`` would
call invalid (a sample-ratio mismatch against the recorded weights, unit ids spelt
otherwise in the events, dates without times ...) move no traffic: the weights stay
("held", with the reasons). Exit codes: 0 done (also burn-in, waiting, stopped,
unchanged); 1 invalid spec, a fixed allocation, or a store failure; 2 held.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from upsell_ab.allocation.update import AllocationUpdate


def _moment(text: str) -> datetime:
    """ISO 8601 date or date-time; naive means UTC."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO 8601 time such as 2026-03-05T00:00:00Z"
        ) from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "allocate",
        help="compute and record a bandit's next weights (Thompson sampling)",
        description=__doc__.split("\n\n")[1] if __doc__ else None,
    )
    parser.add_argument("spec", metavar="SPEC", help="experiment spec with allocation: bandit")
    parser.add_argument("--store", metavar="DB", help="DuckDB store (default: the spec's)")
    parser.add_argument("--dry-run", action="store_true", help="compute and print, record nothing")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument(
        "--at",
        type=_moment,
        metavar="TIME",
        help="the clock (ISO 8601, UTC if no offset); default now. For backfills and simulations",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from upsell_ab.allocation.update import allocate
    from upsell_ab.cli.exit_codes import ExitCode
    from upsell_ab.spec.load import load_experiment

    resolved = load_experiment(args.spec)
    update = allocate(resolved, store=args.store, at=args.at, dry_run=args.dry_run)
    if args.format == "json":
        print(json.dumps(update.to_dict(), ensure_ascii=False, indent=2, sort_keys=False))
    else:
        print(render_text(update))
    if update.status.value == "held":
        return int(ExitCode.DATA_QUALITY)
    return int(ExitCode.OK)


def render_text(update: AllocationUpdate) -> str:
    """What changed, and why, for a terminal."""
    when = update.period_start.strftime("%Y-%m-%d %H:%M UTC")
    verb = {
        "recorded": "recorded",
        "dry_run": "would record (dry run)",
    }.get(update.status.value)
    head = (
        f"{update.experiment}: {verb} weights from {when}"
        if verb
        else f"{update.experiment}: {update.status.value} (period from {when})"
    )
    lines = [head, f"  {update.reason}"]
    arms = update.posterior.arms if update.posterior else {}
    rows = [("variant", "units", "mean", "P(best)", "weight", "was")]
    for variant, weight in update.weights.items():
        arm = arms.get(variant)
        rows.append(
            (
                variant,
                str(update.units.get(variant, "")),
                f"{arm.mean:.4g}" if arm else "",
                f"{arm.prob_best:.3f}" if arm else "",
                f"{weight:.3f}",
                f"{update.previous.get(variant, 0.0):.3f}",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        rest = zip(row[1:], widths[1:], strict=True)
        cells = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in rest]
        lines.append("  " + "  ".join(cells).rstrip())
    return "\n".join(lines)
