"""The HTML report in a real headless Chromium: it renders, shows the
experiments and their SVG charts, and injected spec text never runs."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from upsell_ab.report.html import render_html
from upsell_ab.report.sample import sample_report

CHROMIUM = Path("/usr/bin/chromium")
INJECTION = (
    '<script>document.title="pwned";'
    'document.body.appendChild(document.createElement("pwned-marker"))</script>'
    "<img src=x onerror=\"document.title='pwned'\">"
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium (Debian package)"),
]


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    profile = tmp_path / "profile"
    command = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=90, check=False)


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("html")
    path = folder / "report.html"
    reports = [sample_report(0, wording_b=INJECTION), sample_report(1)]
    path.write_text(render_html(reports), encoding="utf-8")
    return path


def test_dom_has_experiments_charts_and_no_injected_element(page: Path, tmp_path: Path) -> None:
    result = _chromium(tmp_path, "--enable-logging=stderr", "--v=0", "--dump-dom", page.as_uri())
    dom = result.stdout
    assert result.returncode == 0, result.stderr[-2000:]
    # no console output at all: no script error, no blocked script or resource (CSP reports)
    console = [line for line in result.stderr.splitlines() if ":CONSOLE" in line]
    assert console == []
    assert "<title>Upsell experiments</title>" in dom  # title unchanged by the injection
    assert "<pwned-marker" not in dom
    assert 'id="exp-cake_wording"' in dom and 'id="exp-cake_wording_1"' in dom
    assert dom.count("<svg") == 12  # 6 charts per sample experiment
    assert "<polyline" in dom and "<circle" in dom
    # the wording is shown as text
    assert "&lt;script&gt;document.title=" in dom


def test_screenshot_is_not_blank(page: Path, tmp_path: Path) -> None:
    image = pytest.importorskip("PIL.Image", reason="Pillow reads the screenshot")
    shot = tmp_path / "shot.png"
    result = _chromium(
        tmp_path,
        "--hide-scrollbars",
        "--window-size=1280,1600",
        f"--screenshot={shot}",
        page.as_uri(),
    )
    assert shot.exists(), result.stderr[-2000:]
    with image.open(shot) as picture:
        rgb = picture.convert("RGB")
        assert rgb.size == (1280, 1600)
        colours = rgb.getcolors(maxcolors=1_000_000)
    assert colours is not None
    # a blank page has one or two colours; text, tables and charts give hundreds
    assert len(colours) > 100
    background = max(colours)[0] / (1280 * 1600)
    assert background < 0.95
