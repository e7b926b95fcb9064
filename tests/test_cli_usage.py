"""Usage errors exit 1 with the usage line, never argparse's 2 (2 means a data-quality
failure in CI), for the top-level parser and every subcommand."""

from __future__ import annotations

import pytest

from upsell_ab.cli.main import COMMANDS, main

BAD_CHOICE: dict[str, list[str]] = {
    "validate": ["validate", "x.yaml", "--format", "yaml"],
    "schema": ["schema", "--nope"],
    "assign": ["assign", "x.yaml", "--unit", "u", "--format", "xml"],
    "allocate": ["allocate", "x.yaml", "--at", "yesterday"],
    "ingest": ["ingest", "--store", "x.duckdb", "--timezone"],
    "simulate": ["simulate", "x.yaml", "--store", "s.duckdb", "--units", "many"],
    "plan": ["plan", "x.yaml", "--mde-kind", "percent"],
    "analyze": ["analyze", "x.yaml", "--format", "pdf"],
    "report": ["report", "x", "--fail-on", "everything"],
    "demo": ["demo", "extra-argument"],
    "init": ["init", "--lever", "price"],
    "export": ["export", "yaml", "experiments/"],
    "store": ["store", "list", "--format", "yaml"],
    "serve": ["serve", "--spool", "s", "--tokens", "t", "--port", "eighty"],
    "learn": ["learn", "--comparisons", "c.csv", "--method", "bayes"],
    "conclude": ["conclude", "x.yaml", "--format", "yaml"],
    "holdout": ["holdout", ".", "--format", "pdf"],
}


def _exit(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as caught:
        main(argv)
    return int(caught.value.code or 0), capsys.readouterr().err


@pytest.mark.parametrize("command", COMMANDS)
def test_unknown_flag_exits_1_with_usage(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = _exit([command, "--no-such-flag"], capsys)
    assert code == 1
    assert err.startswith(f"usage: upsell-ab {command}")
    assert "unrecognized arguments: --no-such-flag" in err or "required" in err
    assert f"(see 'upsell-ab {command} --help')" in err


@pytest.mark.parametrize("command", COMMANDS)
def test_bad_choice_or_value_exits_1(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = _exit(BAD_CHOICE[command], capsys)
    assert code == 1
    assert "usage: upsell-ab" in err
    assert "error:" in err


def test_every_command_has_a_bad_usage_case() -> None:
    assert set(BAD_CHOICE) == set(COMMANDS)


def test_unknown_command_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    code, err = _exit(["analyse"], capsys)
    assert code == 1
    assert "invalid choice: 'analyse'" in err
    assert "(see 'upsell-ab --help')" in err


def test_help_still_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    code, _ = _exit(["plan", "--help"], capsys)
    assert code == 0


@pytest.mark.parametrize(
    "argv, prefix",
    [
        (["report", "experiments", "--fail", "quality"], "--fail"),  # of --fail-on
        (["analyze", "experiments/cake_wording.yaml", "--no-dail"], "--no-dail"),  # --no-daily
        (["assign", "experiments/cake_wording.yaml", "--uni", "c1"], "--uni"),  # of --unit
    ],
)
def test_abbreviated_long_options_are_refused(
    argv: list[str], prefix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """argparse's default reads a unique prefix as the whole option: a workflow file with
    '--fail quality' would work until a second '--fail-...' option made it ambiguous."""
    code, err = _exit(argv, capsys)
    assert code == 1
    assert f"unrecognized arguments: {prefix}" in err


@pytest.mark.parametrize("command", ["analyze", "conclude", "plan"])
def test_a_directory_given_for_one_spec_names_the_commands_that_take_one(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """'cannot read: Is a directory' (the OS's words) now says what to give instead."""
    from pathlib import Path

    experiments = str(Path(__file__).resolve().parents[1] / "experiments")
    code = main([command, experiments])
    err = capsys.readouterr().err
    assert code == 1, err
    assert "is a directory, not a spec file" in err and "upsell-ab report DIR" in err, err
