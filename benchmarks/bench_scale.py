"""Scale benchmark (issue 17): whole commands in fresh processes against a hand query.

For each size (customers) it

1. generates the event log with the standalone generator (``gen_eventlog.py``,
   its own seed; nothing from upsell_ab's simulator);
2. checks every sufficient statistic of every metric and arm computed by
   upsell_ab (files source, and the store after ingest) against the
   hand-written DuckDB query (``hand_query.py``) to 1e-9 relative, BEFORE
   timing anything;
3. times, in fresh processes and interleaved (ours, hand, ours, hand ...) so that
   load from other users of the machine hits both alike:

   * ``upsell-ab analyze SPEC --format json`` (defaults: daily series on) on the
     Parquet files read in place, vs ``hand_query.py`` on the same files;
   * ``upsell-ab ingest`` of the two files into a new store, vs DuckDB's own
     ``CREATE TABLE AS SELECT * FROM read_parquet(...)`` of the same files;
   * ``analyze`` from that store, vs the hand query on the store;
   * with ``--report``: ``upsell-ab report`` over five experiments on one store
     vs five hand queries on it (one process);

and records wall time and peak RSS (``wait4``'s ``ru_maxrss`` of the child).
Results go to a Markdown table (``--out``).

    nice python benchmarks/bench_scale.py --customers 1000000 10000000 \\
        --repeats 3 --data /tmp/bench --out benchmarks/results/scale.md [--report]

``--ingest-only [--ingest-memory-limit 1GB]`` times only the ingest against DuckDB's
own ``CREATE TABLE AS`` (``--repeats`` runs each, interleaved), at the default memory
limit and at each given one, then checks the store's statistics against the hand query.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from gen_eventlog import generate  # noqa: E402
from hand_query import hand_stats  # noqa: E402


def upsell_ab_command() -> str:
    """The ``upsell-ab`` console script installed beside this interpreter, run directly as
    the hand query's interpreter is: a version manager's shim on PATH (pyenv's is a bash
    script that runs ``pyenv exec``) adds ~0.15 s per process to our side only."""
    beside = Path(sys.executable).parent / "upsell-ab"
    return str(beside) if beside.exists() else shutil.which("upsell-ab") or "upsell-ab"


def compile_package() -> None:
    """Byte-compile upsell_ab once, as ``pip install`` does: with PYTHONDONTWRITEBYTECODE
    set (as on our test machines) every fresh process would otherwise recompile ~115
    modules from source (~0.1 s), a cost that the hand query's imports (duckdb, scipy,
    pre-compiled in site-packages) do not pay."""
    import compileall
    import importlib.util

    spec = importlib.util.find_spec("upsell_ab")
    assert spec is not None and spec.submodule_search_locations
    for location in spec.submodule_search_locations:
        compileall.compile_dir(location, quiet=1)


@dataclass
class Run:
    wall: float
    rss_mb: float


def run(command: list[str], cwd: Path) -> Run:
    """Wall time and peak RSS of one fresh process (its output discarded). The RSS comes
    from ``/usr/bin/time`` (a small process forks the command: a child forked from this
    big Python process would report this process's peak as its own)."""
    report = cwd / ".rss"
    started = time.perf_counter()
    process = subprocess.run(
        ["/usr/bin/time", "-f", "%M", "-o", str(report), *command],
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        check=False,
    )
    wall = time.perf_counter() - started
    if process.returncode not in (0, 2, 3):
        err = process.stderr.decode()[-2000:]
        raise RuntimeError(f"{' '.join(command)} failed ({process.returncode}): {err}")
    kilobytes = int(report.read_text().split()[-1])
    return Run(wall, kilobytes / 1024)


def plain(stats: object) -> dict[str, float]:
    """Sums of the raw values: value metrics come centred and scaled
    (``shift``/``scale``, see upsell_ab.metrics.sql_frames); undo that first."""
    if hasattr(stats, "in_frame"):
        stats = stats.in_frame(0.0, 1.0)  # type: ignore[attr-defined]
    fields = asdict(stats)  # type: ignore[call-overload]
    fields.pop("shift", None)
    fields.pop("scale", None)
    return fields


def check(data: Path, spec: str, experiment: str, *, store: bool) -> float:
    """Worst relative difference between upsell_ab's statistics and the hand query's."""
    from upsell_ab.metrics.compute import compute_experiment_data
    from upsell_ab.spec.load import load_experiment

    cwd = os.getcwd()
    os.chdir(data)
    try:
        resolved = load_experiment(spec)
        ours = compute_experiment_data(resolved, daily=True)
    finally:
        os.chdir(cwd)
    hand = hand_stats(data, experiment, store=store)
    worst = 0.0

    for arm, metrics in hand.items():
        for metric, fields in metrics.items():
            mine = plain(ours.metrics[metric].by_variant[arm])
            assert set(mine) == set(fields), (metric, sorted(mine), sorted(fields))
            for field, value in fields.items():
                error = abs(mine[field] - value) / max(1.0, abs(value))
                if error > 1e-9:
                    raise AssertionError(f"{spec} {arm} {metric}.{field}: {mine[field]} vs {value}")
                worst = max(worst, error)
        for metric in metrics:  # the daily series ends at the totals
            last = ours.metrics[metric].daily[-1].by_variant[arm]
            for field, value in plain(last).items():
                total = plain(ours.metrics[metric].by_variant[arm])[field]
                assert abs(value - total) <= 1e-9 * max(1.0, abs(total)), (metric, field)
    return worst


def native_ingest_script(data: Path) -> str:
    create = "c.execute(\"CREATE TABLE {} AS SELECT * FROM read_parquet('{}')\"); "
    return (
        "import duckdb; c = duckdb.connect('native.duckdb'); "
        + create.format("exposures", data / "exposures.parquet")
        + create.format("events", data / "orders.parquet")
        + "c.close()"
    )


def pairs(
    label: str, ours: list[str], hand: list[str], cwd: Path, repeats: int
) -> dict[str, object]:
    mine: list[Run] = []
    theirs: list[Run] = []
    for _ in range(repeats):
        mine.append(run(ours, cwd))
        theirs.append(run(hand, cwd))
    row = {
        "what": label,
        "ours_s": statistics.median(r.wall for r in mine),
        "hand_s": statistics.median(r.wall for r in theirs),
        "ours_mb": max(r.rss_mb for r in mine),
        "hand_mb": max(r.rss_mb for r in theirs),
        "ours_all": [round(r.wall, 2) for r in mine],
        "hand_all": [round(r.wall, 2) for r in theirs],
    }
    print(row, flush=True)
    return row


def bench_size(
    root: Path,
    customers: int,
    repeats: int,
    report: bool,
    ingest_only: bool = False,
    ingest_limits: tuple[str, ...] = (),
) -> list[dict[str, object]]:
    data = root / f"c{customers}"
    if not (data / "orders.parquet").exists():
        print(generate(data, customers), flush=True)
    py, cli = sys.executable, upsell_ab_command()
    compile_package()
    rows: list[dict[str, object]] = []
    if ingest_only:
        return bench_ingest(data, customers, repeats, ingest_limits)
    # 1. correctness first (files), then timing
    worst = check(data, "upsell_bench.files.yaml", "upsell_bench", store=False)
    print(f"{customers:,}: files statistics agree with the hand query (worst {worst:.1e})")
    rows.append(
        pairs(
            f"{customers:,} analyze, Parquet files (defaults)",
            [cli, "analyze", "upsell_bench.files.yaml", "--format", "json"],
            [py, str(HERE / "hand_query.py"), str(data)],
            data,
            repeats,
        )
    )
    rows.append(
        pairs(
            f"{customers:,} analyze --no-daily, Parquet files",
            [cli, "analyze", "upsell_bench.files.yaml", "--format", "json", "--no-daily"],
            [py, str(HERE / "hand_query.py"), str(data)],
            data,
            1,
        )
    )
    # 2. ingest into a new store (once; the store is then analysed)
    for name in ("store.duckdb", "native.duckdb"):
        (data / name).unlink(missing_ok=True)
    ingest = [
        cli,
        "ingest",
        "--store",
        "store.duckdb",
        "--spec",
        "upsell_bench.files.yaml",
        "--exposures",
        "exposures.parquet",
        "--events",
        "orders.parquet",
    ]
    rows.append(
        pairs(
            f"{customers:,} ingest (ours) vs DuckDB CREATE TABLE AS read_parquet",
            ingest,
            [py, "-c", native_ingest_script(data)],
            data,
            1,
        )
    )
    (data / "native.duckdb").unlink(missing_ok=True)
    worst = check(data, "store_specs/upsell_bench.yaml", "upsell_bench", store=True)
    print(f"{customers:,}: store statistics agree with the hand query (worst {worst:.1e})")
    rows.append(
        pairs(
            f"{customers:,} analyze, embedded store (defaults)",
            [cli, "analyze", "store_specs/upsell_bench.yaml", "--format", "json"],
            [py, str(HERE / "hand_query.py"), str(data), "--store"],
            data,
            repeats,
        )
    )
    if report:
        rows.append(bench_report(root, customers, repeats))
    return rows


def ingest_command(cli: str, limit: str | None = None) -> list[str]:
    command = [cli, "ingest", "--store", "store.duckdb", "--spec", "upsell_bench.files.yaml"]
    command += ["--exposures", "exposures.parquet", "--events", "orders.parquet"]
    return command + (["--memory-limit", limit] if limit else [])


def bench_ingest(
    data: Path, customers: int, repeats: int, limits: tuple[str, ...]
) -> list[dict[str, object]]:
    """Ingest into a new store vs DuckDB's CREATE TABLE AS read_parquet, interleaved and
    in fresh processes (each run starts from no store), at the default memory limit and
    at each of ``limits``; the last store is then checked against the hand query."""
    py, cli = sys.executable, upsell_ab_command()
    rows: list[dict[str, object]] = []
    for limit in (None, *limits):
        mine: list[Run] = []
        theirs: list[Run] = []
        for _ in range(repeats):
            for name in ("store.duckdb", "store.duckdb.wal", "native.duckdb"):
                (data / name).unlink(missing_ok=True)
            mine.append(run(ingest_command(cli, limit), data))
            theirs.append(run([py, "-c", native_ingest_script(data)], data))
        label = f"{customers:,} ingest (ours" + (f", --memory-limit {limit}" if limit else "")
        row = {
            "what": label + ") vs DuckDB CREATE TABLE AS read_parquet",
            "ours_s": statistics.median(r.wall for r in mine),
            "hand_s": statistics.median(r.wall for r in theirs),
            "ours_mb": max(r.rss_mb for r in mine),
            "hand_mb": max(r.rss_mb for r in theirs),
            "ours_all": [round(r.wall, 2) for r in mine],
            "hand_all": [round(r.wall, 2) for r in theirs],
        }
        print(row, flush=True)
        rows.append(row)
    (data / "native.duckdb").unlink(missing_ok=True)
    worst = check(data, "store_specs/upsell_bench.yaml", "upsell_bench", store=True)
    print(f"{customers:,}: store statistics agree with the hand query (worst {worst:.1e})")
    return rows


FIVE = (
    "import sys; sys.path.insert(0, {here!r}); from pathlib import Path; "
    "from hand_query import hand_stats, tests; "
    "[tests(hand_stats(Path({data!r}), f'upsell_bench_{{k}}', store=True)) for k in range(5)]"
)


def bench_report(root: Path, customers: int, repeats: int) -> dict[str, object]:
    data = root / f"c{customers}x5"
    if not (data / "orders.parquet").exists():
        print(generate(data, customers, experiments=5), flush=True)
    cli = upsell_ab_command()
    compile_package()
    if not (data / "store.duckdb").exists():
        files = ["--exposures", "exposures.parquet", "--events", "orders.parquet"]
        spec = "upsell_bench_0.files.yaml"
        run([cli, "ingest", "--store", "store.duckdb", "--spec", spec, *files], data)
    for k in range(5):
        check(data, f"store_specs/upsell_bench_{k}.yaml", f"upsell_bench_{k}", store=True)
    print(f"{customers:,} x5: store statistics agree with the hand query", flush=True)
    return pairs(
        f"{customers:,} customers in 5 experiments: report over the store",
        [cli, "report", "store_specs", "--format", "json"],
        [sys.executable, "-c", FIVE.format(here=str(HERE), data=str(data))],
        data,
        repeats,
    )


def markdown(rows: list[dict[str, object]], note: str) -> str:
    lines = [
        note,
        "",
        "| run | ours (s) | hand (s) | ratio | ours peak RSS (MB) | hand peak RSS (MB) "
        "| all runs ours / hand (s) |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        ratio = float(r["ours_s"]) / float(r["hand_s"])  # type: ignore[arg-type]
        lines.append(
            f"| {r['what']} | {r['ours_s']:.2f} | {r['hand_s']:.2f} | {ratio:.2f} | "
            f"{r['ours_mb']:.0f} | {r['hand_mb']:.0f} | {r['ours_all']} / {r['hand_all']} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description="scale benchmark (issue 17)")
    parser.add_argument("--customers", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--data", type=Path, default=Path("/tmp/upsell_ab_bench"))
    parser.add_argument("--report", action="store_true", help="also time report over 5 experiments")
    parser.add_argument("--out", type=Path)
    parser.add_argument(
        "--ingest-only", action="store_true", help="time only the ingest (and check the store)"
    )
    parser.add_argument(
        "--ingest-memory-limit",
        action="append",
        default=[],
        metavar="SIZE",
        help="also time the ingest with --memory-limit SIZE (repeat)",
    )
    args = parser.parse_args()
    rows: list[dict[str, object]] = []
    for customers in args.customers:
        rows += bench_size(
            args.data,
            customers,
            args.repeats,
            args.report,
            args.ingest_only,
            tuple(args.ingest_memory_limit),
        )
    note = (
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {os.cpu_count()} "
        f"cores, {os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB "
        "(shared with other users: ours and hand interleaved; medians of "
        f"{args.repeats} runs where 'all runs' lists several)."
    )
    text = markdown(rows, note)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with args.out.open("a") as handle:
            handle.write(text + "\n")


if __name__ == "__main__":
    main()
