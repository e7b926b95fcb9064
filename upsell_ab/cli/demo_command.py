"""`upsell-ab demo`: the first command to run. Simulated data, real pipeline, a report.

No server and no network: the bundled example experiments get simulated
exposures and events in an embedded DuckDB file, then the same workflow as
``report`` prints a decision per experiment and what the whole programme did against
its long-term holdout (the examples run under the demo's ``program.yaml``, in a copy:
:mod:`upsell_ab.cli.demo_programme`); it writes ``report.html`` and ``report.md`` next to
the store.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import upsell_ab
from upsell_ab.cli.memory_option import add_memory_argument, apply_memory_argument

DEMO_UNITS = 20000
DEMO_DAYS = 14
DEMO_SEED = 20250303


def bundled_specs() -> Path:
    """``experiments/`` next to the package (a source checkout or an editable install)."""
    return Path(upsell_ab.__file__).resolve().parents[1] / "experiments"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="simulate the example experiments and print their report",
        description=__doc__,
    )
    parser.add_argument("--specs", metavar="DIR", help=f"spec folder (default: {bundled_specs()})")
    parser.add_argument(
        "--output-dir",
        metavar="DIR",
        default="upsell-ab-demo",
        help="where report.html, report.md and the store go (default ./upsell-ab-demo)",
    )
    parser.add_argument(
        "--store", metavar="PATH", help="DuckDB file (default OUTPUT_DIR/demo.duckdb)"
    )
    parser.add_argument("--units", type=int, default=DEMO_UNITS, help=argparse.SUPPRESS)
    add_memory_argument(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    apply_memory_argument(args)
    from upsell_ab.cli.demo_programme import with_programme
    from upsell_ab.cli.exit_codes import ExitCode
    from upsell_ab.cli.run_output import progress, render_runs, write_text
    from upsell_ab.cli.simulate_command import ingest
    from upsell_ab.decision.horizon import pinned_day
    from upsell_ab.errors import InputError, Location, Problem
    from upsell_ab.report.programme import load_programme
    from upsell_ab.spec.models import SourceKind
    from upsell_ab.workflow import run_experiment, running_specs

    began = time.perf_counter()
    specs = Path(args.specs) if args.specs else bundled_specs()
    if not specs.exists():
        raise InputError(
            [Problem(Location(file=str(specs)), "spec folder not found", hint="pass --specs DIR")]
        )
    output_dir = Path(args.output_dir)
    if output_dir.exists() and not output_dir.is_dir():
        raise InputError(
            [
                Problem(
                    Location(file=str(output_dir)),
                    "the demo's output folder is an existing file",
                    hint="move the file away or pass --output-dir DIR",
                    code="output_unwritable",
                )
            ]
        )
    output_dir.mkdir(parents=True, exist_ok=True)
    store = Path(args.store) if args.store else output_dir / "demo.duckdb"
    specs = with_programme(specs, output_dir)
    with progress(total=None) as step:
        step(f"loading specs from {specs}")
        resolved = [
            r for r in running_specs([specs]) if r.experiment.data.kind is SourceKind.embedded
        ]
        if not resolved:
            raise InputError(
                [Problem(Location(file=str(specs)), "no running embedded experiments")]
            )
        step(f"simulating {len(resolved)} experiments into {store}")
        for group, units in _traffic(resolved, args.units):
            ingest(group, store, units=units, days=DEMO_DAYS, seed=DEMO_SEED)
        runs = []
        for item in resolved:
            # read on the morning after the simulated days, as a daily job would
            with pinned_day(simulated_until(item)):
                runs.append(run_experiment(item, store=store, step=step))
            step.advance()
        step("the programme against its long-term holdout")
        # the programme holds customers, so switchbacks (slots) do not feed it
        held = [r for r in resolved if not r.experiment.randomization.is_switchback]
        with pinned_day(max(simulated_until(item) for item in held or resolved)):
            programme = load_programme([specs], store)
        step("rendering")
        text = render_runs(runs, "text", to_terminal=True, programme=programme)
        for fmt, name in (("html", "report.html"), ("markdown", "report.md")):
            page = render_runs(runs, fmt, to_terminal=False, programme=programme)
            write_text(page, str(output_dir / name))
    write_text(text, None)
    for line in _bandit_updates(resolved, store):
        print(line)
    if programme is not None:
        print(f"Programme ({programme.holdout} holdout): {programme.summary()}")
    print("Decisions:")
    for run_ in runs:
        outcome = run_.outcome
        what = outcome.action.value + (f" {outcome.variant}" if outcome.variant else "")
        print(f"  {run_.resolved.experiment.id}: {what}")
    print(
        f"Wrote {output_dir / 'report.html'} and {output_dir / 'report.md'} "
        f"(store {store}, specs {specs}) in {time.perf_counter() - began:.1f} s.",
        file=sys.stderr,
    )
    return int(ExitCode.OK)


def simulated_until(item: Any) -> date:
    """The day after the demo's simulated days of ``item`` (from its start date, else
    from the simulator's default start): the demo's analysis day for it."""
    from upsell_ab.simulate.traffic import DEFAULT_START

    start = item.experiment.start or DEFAULT_START
    return start + timedelta(days=DEMO_DAYS)


def _traffic(resolved: list[Any], units: int) -> list[tuple[list[Any], int]]:
    """(specs, customers) to simulate. A bandit spec that states its shop's traffic
    (``analysis.daily_units``) gets that traffic: a bandit is for small shops, and at the
    demo's 20,000 customers the first update would already settle it (stop rule), so a
    newcomer would never see the weights move."""
    fixed = [r for r in resolved if not _small_bandit(r)]
    groups = [(fixed, units)] if fixed else []
    for item in resolved:
        if _small_bandit(item):
            daily = item.experiment.analysis.daily_units
            groups.append(([item], min(units, round(daily * DEMO_DAYS))))
    return groups


def _small_bandit(item: Any) -> bool:
    experiment = item.experiment
    return bool(experiment.allocation.is_bandit and experiment.analysis.daily_units)


def _bandit_updates(resolved: list[Any], store: Path) -> list[str]:
    """What ``upsell-ab allocate`` would record for each bandit spec at the end of the
    simulated data (a dry run: the store and the report above stay as simulated), so
    a newcomer sees the weights move toward the winning arm."""
    from datetime import UTC, datetime, time

    from upsell_ab.allocation.update import allocate
    from upsell_ab.cli.allocate_command import render_text

    lines = []
    for item in resolved:
        experiment = item.experiment
        if not experiment.allocation.is_bandit or experiment.start is None:
            continue
        end = datetime.combine(simulated_until(item), time(), UTC)
        update = allocate(item, store=store, at=end, dry_run=True)
        lines.append(render_text(update))
    return lines
