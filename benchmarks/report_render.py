"""Report rendering: time and size per format, and hand-written SVG vs matplotlib.

Run: python benchmarks/report_render.py   (about 10-20 s on a 2-core machine)
Numbers are recorded in docs/report.md.
"""

from __future__ import annotations

import io
import subprocess
import sys
import time
from collections.abc import Callable

from upsell_ab.report import charts
from upsell_ab.report.render import render
from upsell_ab.report.sample import sample_report


def best_of(repeats: int, action: Callable[[], object]) -> float:
    """Best wall time of ``repeats`` runs, in seconds (least disturbed by other load)."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        best = min(best, time.perf_counter() - start)
    return best


def formats() -> None:
    for count in (5, 50):
        reports = [sample_report(i) for i in range(count)]
        build = best_of(3, lambda n=count: [sample_report(i) for i in range(n)])
        print(f"{count} experiments: build (spec + model) {build * 1000:.1f} ms")
        for fmt in ("text", "markdown", "json", "html"):
            seconds = best_of(3, lambda f=fmt, r=reports: render(r, f))
            size = len(render(reports, fmt).encode("utf-8"))
            print(f"  {fmt:9s} {seconds * 1000:8.1f} ms {size / 1024:9.1f} KiB")


def svg_vs_matplotlib() -> None:
    rows = [
        charts.ForestRow("B", 0.1676, 0.0598, 0.2754),
        charts.ForestRow("C", 0.031, -0.012, 0.075),
    ]
    hand = best_of(20, lambda: charts.forest_plot(rows, title="take_rate: relative lift"))
    hand_size = len(charts.forest_plot(rows, title="take_rate: relative lift").encode())
    print(f"forest plot, hand-written SVG: {hand * 1000:.2f} ms, {hand_size / 1024:.1f} KiB")

    import_time = subprocess.run(
        [
            sys.executable,
            "-c",
            "import time; t = time.perf_counter(); import matplotlib; matplotlib.use('svg'); "
            "import matplotlib.pyplot; print(time.perf_counter() - t)",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    import matplotlib

    matplotlib.use("svg")
    import matplotlib.pyplot as plt

    def draw() -> bytes:
        fig, ax = plt.subplots(figsize=(5.6, 1.2))
        for y, row in enumerate(rows):
            assert row.low is not None and row.high is not None and row.estimate is not None
            ax.plot([row.low, row.high], [y, y], lw=3)
            ax.plot([row.estimate], [y], "o")
        ax.axvline(0, color="#888")
        ax.set_yticks(range(len(rows)), [r.label for r in rows])
        ax.set_title("take_rate: relative lift")
        buffer = io.BytesIO()
        fig.savefig(buffer, format="svg")
        plt.close(fig)
        return buffer.getvalue()

    mpl = best_of(5, draw)
    first, second = draw(), draw()
    print(
        f"forest plot, matplotlib SVG: {mpl * 1000:.1f} ms, {len(first) / 1024:.1f} KiB, "
        f"import {float(import_time) * 1000:.0f} ms, identical across runs: {first == second}"
    )


if __name__ == "__main__":
    formats()
    svg_vs_matplotlib()
