"""Benchmark ``upsell-ab validate experiments/``: cold CLI start-to-finish and warm validation.

Run: ``python benchmarks/bench_validate.py [--runs 10]``. Reports the median and
minimum wall time of the whole command in a fresh process (the target is
< 0.5 s), with and without Python's bytecode cache (``PYTHONDONTWRITEBYTECODE``
makes every run recompile the package), the warm in-process time per spec,
and which heavy libraries the command imported (should be none).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("scipy", "statsmodels", "pandas", "duckdb", "numpy", "matplotlib", "pyspark")


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _cli_times(runs: int, env: dict[str, str]) -> tuple[list[float], list[float]]:
    """Wall and CPU (user + sys) seconds per run; CPU time is what an idle machine would show
    as wall time, and is far less inflated than wall time when other jobs share the cores."""
    command = [sys.executable, "-m", "upsell_ab.cli.main", "validate", "experiments"]
    walls: list[float] = []
    cpus: list[float] = []
    for _ in range(runs):
        cpu = _cpu()
        start = time.perf_counter()
        subprocess.run(command, cwd=ROOT, env=env, check=True, capture_output=True)
        walls.append(time.perf_counter() - start)
        cpus.append(_cpu() - cpu)
    return walls, cpus


def _baseline(runs: int, env: dict[str, str]) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], env=env, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _heavy_imports() -> list[str]:
    code = (
        "import sys\nfrom upsell_ab.cli.main import main\n"
        "import contextlib, io\n"
        "with contextlib.redirect_stderr(io.StringIO()): main(['validate', 'experiments'])\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.strip()
    return [m for m in out.split(",") if m]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()

    cached = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    uncached = {**cached, "PYTHONDONTWRITEBYTECODE": "1"}
    _cli_times(1, cached)  # write the bytecode cache once
    for label, env in (("bytecode cache", cached), ("no bytecode cache", uncached)):
        walls, cpus = _cli_times(args.runs, env)
        print(
            f"validate experiments/ ({label}): wall median {statistics.median(walls):.3f} s, "
            f"min {min(walls):.3f} s; CPU median {statistics.median(cpus):.3f} s "
            f"over {args.runs} runs; bare python start {_baseline(3, env):.3f} s"
        )

    sys.path.insert(0, str(ROOT))
    from upsell_ab.spec.validate import validate_report

    validate_report([ROOT / "experiments"])  # warm up imports and schemas
    repeats = 20
    start = time.perf_counter()
    for _ in range(repeats):
        report = validate_report([ROOT / "experiments"])
    elapsed = (time.perf_counter() - start) / repeats
    per_spec = elapsed / max(len(report.specs), 1)
    print(
        f"warm in-process: {elapsed * 1000:.1f} ms for {len(report.specs)} specs + catalogue "
        f"({per_spec * 1000:.2f} ms per spec)"
    )
    print(f"heavy libraries imported by validate: {_heavy_imports() or 'none'}")
    print(f"load average: {os.getloadavg()[0]:.2f} (2 cores; other work inflates the numbers)")


if __name__ == "__main__":
    main()
