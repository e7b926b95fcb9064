"""Guards for the costs outside the query (issue 17, stop 23): the parsed SQL types are
never shared between nodes, rendering without SQLGlot's copy gives the same text, and
SciPy's background import is the only thread and import the CLI adds."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest
from sqlglot import exp

from upsell_ab.metrics.sql_layout import cast, num

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("type_name", ["DOUBLE", "HUGEINT", "BIGINT", "VARCHAR", "DATE"])
@pytest.mark.parametrize("dialect", ["duckdb", "postgres", "spark"])
def test_cast_renders_as_sqlglots_own_cast(type_name: str, dialect: str) -> None:
    ours = cast(exp.column("x"), type_name)
    theirs = exp.cast(exp.column("x"), type_name)
    assert ours == theirs
    assert ours.sql(dialect=dialect) == theirs.sql(dialect=dialect)


def test_cast_type_nodes_are_never_shared() -> None:
    first = cast(exp.column("a"), "DOUBLE")
    second = cast(exp.column("b"), "DOUBLE")
    assert isinstance(first, exp.Cast) and isinstance(second, exp.Cast)
    assert first.to is not second.to
    assert first.to.parent is first and second.to.parent is second
    # mutating one cast's type (as a SQLGlot transform may) leaves every later cast alone
    first.to.set("this", exp.DataType.Type.INT)
    assert first.sql() == "CAST(a AS INT)"
    assert second.sql() == "CAST(b AS DOUBLE)"
    assert cast(exp.column("c"), "DOUBLE").sql() == "CAST(c AS DOUBLE)"


def test_cast_keeps_sqlglots_no_recast_rule() -> None:
    """A value already cast to the type is not cast twice (as ``exp.cast`` does)."""
    inner = num(1.5)
    assert cast(inner, "DOUBLE") is inner
    assert cast(inner, "DOUBLE").sql() == "CAST(1.5 AS DOUBLE)"


def test_rendering_without_copy_gives_the_same_text() -> None:
    """``compute``'s ``_sql`` renders the tree in place; SQLGlot's default copies first.
    Two builds of the same plan, one rendered each way, must give the same text, and a
    third build after the in-place rendering too (no node shared across builds)."""
    from upsell_ab.metrics.compute import _sql, build_plan
    from upsell_ab.metrics.sql import Dialect, QueryBuilder
    from upsell_ab.spec.load import load_experiment

    specs = sorted(p for p in (ROOT / "experiments").glob("*.yaml") if p.name != "metrics.yaml")
    assert len(specs) >= 5
    dialects: tuple[Dialect, ...] = ("postgres", "spark")
    cases: list[tuple[Path, Dialect]] = [(path, "duckdb") for path in specs]
    cases += [(specs[i], d) for i in (0, -1) for d in dialects]
    for path, dialect in cases:
        plan = build_plan(load_experiment(path), daily=True, segments=True)
        copied = QueryBuilder(plan, dialect).build().sql(dialect=dialect)
        assert _sql(QueryBuilder(plan, dialect)) == copied
        assert _sql(QueryBuilder(plan, dialect)) == copied


def test_preload_imports_scipy_special_in_a_thread() -> None:
    code = (
        "import sys, threading\n"
        "from upsell_ab.cli import preload\n"
        "assert 'scipy' not in sys.modules\n"
        "thread = preload.start()\n"
        "assert thread is not None and not thread.daemon\n"
        "thread.join()\n"
        "assert 'scipy.special' in sys.modules\n"
        "assert preload.start() is None\n"
        "print('ok')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert result.stdout.strip() == "ok"


def test_preload_thread_starts_when_the_first_duckdb_query_begins() -> None:
    # started before the query, the import competed for the GIL with the SQL build
    code = (
        "import sys, threading\n"
        "from upsell_ab.cli import preload\n"
        "from upsell_ab.events.engines import DuckDBEngine\n"
        "def threads():\n"
        "    return [t for t in threading.enumerate() if t.name == 'upsell-ab-preload']\n"
        "engine = DuckDBEngine()\n"
        "with preload.during_first_query():\n"
        "    pass\n"
        "assert engine.execute('SELECT 1') == [(1,)]\n"
        "assert not threads() and 'scipy' not in sys.modules, 'no query in the block'\n"
        "with preload.during_first_query():\n"
        "    assert not threads() and 'scipy' not in sys.modules, 'before the query'\n"
        "    assert engine.execute('SELECT 2') == [(2,)]\n"
        "    (thread,) = threads() or [None]\n"
        "    assert thread is not None or 'scipy.special' in sys.modules\n"
        "    assert engine.execute('SELECT 3') == [(3,)]\n"
        "    assert len(threads()) <= 1, 'started once'\n"
        "if thread is not None:\n"
        "    thread.join()\n"
        "assert 'scipy.special' in sys.modules\n"
        "engine.close()  # removes its spill directory\n"
        "print('ok')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert result.stdout.strip() == "ok"


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_a_parser_of_one_command_reads_and_explains_it_as_the_full_one() -> None:
    """``main`` registers only the command it was given; its usage, help and defaults
    must be those of the parser with every command (the oracle)."""
    from upsell_ab.cli.main import COMMANDS, build_parser

    full = _subparsers(build_parser())
    assert sorted(full) == sorted(COMMANDS)
    for name in COMMANDS:
        only = _subparsers(build_parser(name))
        assert list(only) == [name]
        assert only[name].format_help() == full[name].format_help()
        assert only[name].format_usage() == full[name].format_usage()


def test_an_unknown_command_still_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    from upsell_ab.cli.main import main

    with pytest.raises(SystemExit):
        main(["anlyze", "spec.yaml"])
    err = capsys.readouterr().err
    assert "anlyze" in err
    for name in ("analyze", "report", "validate", "holdout"):
        assert name in err


def test_console_freezes_the_heap_then_exits_with_mains_code(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The program's exit skips the collector's passes over everything alive at the end;
    the exit code is still :func:`main`'s."""
    import gc

    from upsell_ab.cli import main as cli_main

    monkeypatch.setattr(cli_main, "main", lambda: 3)
    gc.unfreeze()
    try:
        with pytest.raises(SystemExit) as stopped:
            cli_main.console()
        assert stopped.value.code == 3
        assert gc.get_freeze_count() > 1000
    finally:
        gc.unfreeze()


def test_main_itself_never_freezes(capsys: pytest.CaptureFixture[str]) -> None:
    """Tests and scripts call ``main`` in-process: their garbage must stay collectable."""
    import gc

    from upsell_ab.cli.main import main

    gc.unfreeze()
    assert main(["schema"]) == 0
    assert '"$schema"' in capsys.readouterr().out
    assert gc.get_freeze_count() == 0


def test_the_installed_script_and_python_m_run_console() -> None:
    import tomllib

    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "scripts"
    ]
    assert scripts["upsell-ab"] == "upsell_ab.cli.main:console"
    source = (ROOT / "upsell_ab" / "cli" / "main.py").read_text(encoding="utf-8")
    assert source.rstrip().endswith('if __name__ == "__main__":  # pragma: no cover\n    console()')


def test_a_frozen_exit_writes_the_same_report_as_main_in_process(tmp_path: Path) -> None:
    """Files written and stdout printed by a process that exits through ``console`` are
    complete: byte for byte what ``main`` writes in this process."""
    import os

    from upsell_ab.cli.main import main

    spec = ROOT / "experiments" / "cake_wording.yaml"
    csv = tmp_path / "summary.csv"
    csv.write_text(
        "variant,metric,n,sum\ngeneric,upsell_take_rate,2000,180\npairing,upsell_take_rate,"
        "2000,250\ngeneric,complaint_rate,2000,10\npairing,complaint_rate,2000,8\n",
        encoding="utf-8",
    )
    args = ["analyze", str(spec), "--summary", str(csv), "--format", "json"]
    assert main([*args, "--output", str(tmp_path / "in_process.json")]) == 0
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = [sys.executable, "-m", "upsell_ab.cli.main", *args]
    subprocess.run([*run, "--output", str(tmp_path / "console.json")], env=env, check=True)
    printed = subprocess.run(run, env=env, check=True, capture_output=True).stdout
    expected = (tmp_path / "in_process.json").read_bytes()
    assert len(expected) > 1000
    assert (tmp_path / "console.json").read_bytes() == expected
    assert printed == expected
