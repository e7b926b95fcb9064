"""``upsell-ab init [FOLDER]``: a first experiment spec, the metric catalogue and a plan.

In a terminal it asks (tactic, lever, variants, primary metric, traffic) and
offers a default for every answer; with flags, or ``--no-input``, or when stdin
is not a terminal, it asks nothing and uses the flags and the defaults. It
writes ``metrics.yaml`` (the standard catalogue shipped with the package) when
the folder has none, then ``<id>.yaml``, a commented spec that is validated
before it is saved, and prints the plan for it (``upsell-ab plan``).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from upsell_ab.cli.exit_codes import ExitCode
from upsell_ab.errors import InputError, Location, Problem, SpecError

TACTICS = ("upsell", "cross_sell", "subscription_upgrade", "bundle")
LEVERS = ("timing", "wording", "discount")
_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_\-]*$")

DESCRIPTION = """Start an experiment: writes FOLDER/metrics.yaml (the standard upsell metrics)
when the folder has none, and FOLDER/ID.yaml, a commented spec that validates, then prints
its plan. Asks in a terminal; give flags (or --no-input) in scripts.

variants (--variant ID=SHOWS, first = control), by lever:
  wording   --variant generic="Cake with that?" --variant pairing="A cheesecake for this coffee"
  timing    --variant now=at_checkout --variant later=follow_up_email:3d
  discount  --variant none=none --variant ten=10%  (or 200 for an amount off)"""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "init",
        help="start an experiment: spec, metric catalogue and plan",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("folder", nargs="?", default="experiments", help="(default experiments)")
    parser.add_argument("--id", help="experiment id (letters, digits, _ and -)")
    parser.add_argument("--name", help="a human name for the experiment")
    parser.add_argument("--tactic", choices=TACTICS, help="what kind of offer")
    parser.add_argument("--lever", choices=LEVERS, help="what differs between the variants")
    parser.add_argument(
        "--variant", action="append", metavar="ID=SHOWS", help="a variant (repeat; first=control)"
    )
    parser.add_argument("--primary", help="primary metric (a name from the catalogue)")
    parser.add_argument("--daily-units", type=int, help="eligible customers a day")
    parser.add_argument("--days", type=int, help="how long the test may run (default 28)")
    parser.add_argument("--start", type=date.fromisoformat, help="first day, YYYY-MM-DD")
    parser.add_argument("--mde", type=float, help="smallest relative lift worth finding (0.1)")
    parser.add_argument("--baseline", help="today's rate or mean of the primary metric")
    parser.add_argument("--std", help="per-customer standard deviation (mean metrics)")
    parser.add_argument("--force", action="store_true", help="overwrite an existing spec")
    parser.add_argument("--no-input", action="store_true", help="never ask; use flags and defaults")
    parser.set_defaults(run=run)


Ask = Callable[[str, str], str]


def _asker(interactive: bool) -> Ask:
    def ask(question: str, default: str) -> str:
        if not interactive:
            return default
        answer = input(f"{question} [{default}]: ").strip()
        return answer or default

    return ask


def _choice(
    ask: Ask, given: str | None, question: str, choices: tuple[str, ...], default: str
) -> str:
    if given is not None:
        return given
    while True:
        answer = ask(f"{question} ({' / '.join(choices)})", default)
        if answer in choices:
            return answer
        print(f"  '{answer}' is not one of: {', '.join(choices)}", file=sys.stderr)


def _variants(ask: Ask, given: list[str] | None, lever: Any) -> list[Any]:
    from upsell_ab.spec.template import DEFAULT_VARIANTS, DraftVariant

    defaults = DEFAULT_VARIANTS[lever]
    if given is None:
        answers = []
        for index, (vid, shows) in enumerate(defaults):
            role = "control (today's offer)" if index == 0 else f"treatment {index}"
            answers.append(ask(f"variant {index + 1}, {role}: ID=what it shows", f"{vid}={shows}"))
        more = ask("more variants? ID=SHOWS, separated by ';' (empty for none)", "")
        answers += [a.strip() for a in more.split(";") if a.strip()]
        given = answers
    variants = []
    for number, text in enumerate(given, start=1):
        vid, sep, shows = text.partition("=")
        if not sep or not _ID.match(vid.strip()) or not shows.strip():
            raise InputError(
                [
                    Problem(
                        Location(field=f"--variant #{number}"),
                        f"cannot read {text!r}",
                        'write ID=SHOWS, e.g. pairing="A cheesecake for this coffee"',
                        "invalid_value",
                    )
                ]
            )
        variants.append(DraftVariant(vid.strip(), shows.strip()))
    if len(variants) < 2:
        raise InputError(
            [
                Problem(
                    Location(field="--variant"),
                    "an experiment needs at least 2 variants",
                    "give --variant twice: the control first, then a treatment",
                    "invalid_value",
                )
            ]
        )
    return variants


def run(args: argparse.Namespace) -> int:
    from upsell_ab.spec.load import (
        CATALOGUE_NAME,
        DEFAULT_CATALOGUE,
        load_catalogue,
        load_experiment,
    )
    from upsell_ab.spec.models import Tactic
    from upsell_ab.spec.template import DEFAULT_PRIMARY, Draft, Lever, render

    folder = Path(args.folder)
    interactive = not args.no_input and sys.stdin.isatty()
    ask = _asker(interactive)
    catalogue_file = folder / CATALOGUE_NAME
    catalogue = load_catalogue(catalogue_file if catalogue_file.is_file() else DEFAULT_CATALOGUE)
    tactic = Tactic(_choice(ask, args.tactic, "tactic", TACTICS, "cross_sell"))
    lever = Lever(_choice(ask, args.lever, "lever being tested", LEVERS, "wording"))
    variants = _variants(ask, args.variant, lever)
    metric_names = tuple(sorted(catalogue.metrics))
    primary = _choice(ask, args.primary, "primary metric", metric_names, DEFAULT_PRIMARY[tactic])
    exp_id = args.id or ask("experiment id", f"{lever.value}_test")
    name = args.name or ask(
        "name", f"{tactic.value.replace('_', ' ').capitalize()} {lever.value} test"
    )
    daily = args.daily_units
    if daily is None and interactive:
        answer = ask("eligible customers a day (empty if unknown)", "")
        daily = int(answer) if answer.isdigit() else None
    decision = (
        "profit_per_customer"
        if lever is Lever.discount and "profit_per_customer" in catalogue.metrics
        else None
    )
    draft = Draft(
        id=exp_id,
        name=name,
        tactic=tactic,
        lever=lever,
        variants=variants,
        primary=primary,
        daily_units=daily,
        start=args.start or date.today(),
        days=args.days or 28,
        mde=args.mde if args.mde is not None else 0.1,
        decision_metric=decision if decision != primary else None,
    )
    try:
        text = render(draft)
    except ValueError as error:
        raise InputError(
            [Problem(Location(field="--variant"), str(error), None, "invalid_value")]
        ) from error
    spec_file = folder / f"{exp_id}.yaml"
    if spec_file.exists() and not args.force:
        raise InputError(
            [
                Problem(
                    Location(file=str(spec_file)),
                    "already exists",
                    "pick another --id or pass --force",
                    "exists",
                )
            ]
        )
    folder.mkdir(parents=True, exist_ok=True)
    wrote_catalogue = False
    if not catalogue_file.is_file():
        catalogue_file.write_text(DEFAULT_CATALOGUE.read_text(encoding="utf-8"), encoding="utf-8")
        wrote_catalogue = True
    staged = spec_file.with_name(f".{spec_file.name}.init")
    staged.write_text(text, encoding="utf-8")
    try:
        load_experiment(staged)
    except SpecError:
        staged.unlink()
        raise
    staged.replace(spec_file)
    if wrote_catalogue:
        print(f"wrote {catalogue_file} (the standard upsell metrics; edit or add your own)")
    print(f"wrote {spec_file} (validated)")
    print()
    from upsell_ab.cli.plan_command import plan_for_init

    plan_for_init(spec_file, baseline=args.baseline, std=args.std, out=sys.stdout)
    return int(ExitCode.OK)
