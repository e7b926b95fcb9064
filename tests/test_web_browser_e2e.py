"""From the web page to the decision, in a real browser.

The demo shop (``examples/web-shop``: static HTML, plain JavaScript and the GrowthBook
JavaScript SDK bundle from the pinned npm install) is served on one loopback port, the
collector (``upsell-ab serve``) on another, so CORS is exercised for real. Headless
Debian Chromium, driven by playwright-core, opens the checkout page for each customer:
the page fetches ``/v1/features``, shows the offer GrowthBook assigns, posts the
exposure from the SDK's tracking callback, and a scripted click on "Add to order" posts
the conversion. Then ``ingest`` and ``analyze`` must count exactly the units the
browser showed an offer to (per variant, as ``Assigner`` assigns them) and exactly the
conversions clicked. Plus a screenshot check.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import re
import shutil
import subprocess
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.collector_support import TOKEN, free_port, running_collector
from tests.js_support import JS_DIR, SDK_DIR, ensure_js_packages, node
from upsell_ab.assignment import Assigner
from upsell_ab.cli.main import main
from upsell_ab.spec.load import load_spec

ROOT = Path(__file__).resolve().parents[1]
SHOP = ROOT / "examples" / "web-shop"
SPEC = ROOT / "experiments" / "cake_wording.yaml"
CHROMIUM = Path("/usr/bin/chromium")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium (Debian package)"),
]

# cake_wording targets channel in [in_store, app]: web customers see no offer.
CUSTOMERS: list[dict[str, Any]] = [
    {"id": f"cust-{i}", "channel": "app", "click": i % 3 != 0} for i in range(10)
] + [
    {"id": "顧客-さくら", "channel": "in_store", "click": True},
    {"id": "🎂-lover-7", "channel": "app", "click": False},
    {"id": "🍰カフェ-8", "channel": "in_store", "click": True},
    {"id": "cust-web-1", "channel": "web", "click": True},
    {"id": "cust-web-2", "channel": "web", "click": True},
]


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def static_site(folder: Path) -> Iterator[str]:
    port = free_port()
    handler = functools.partial(QuietHandler, directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        server.server_close()


def running_today(folder: Path) -> Path:
    """The cake spec with its dates moved around today (analysis keeps only exposures
    inside the spec's dates, and the browser's exposures happen now)."""
    folder.mkdir()
    shutil.copy(SPEC.parent / "metrics.yaml", folder / "metrics.yaml")
    today = datetime.now(UTC).date()
    text = SPEC.read_text(encoding="utf-8")
    text = re.sub(r"(?m)^start: .*$", f"start: {today - timedelta(days=1)}", text)
    text = re.sub(r"(?m)^end: .*$", f"end: {today + timedelta(days=14)}", text)
    path = folder / SPEC.name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    ensure_js_packages()
    work = tmp_path_factory.mktemp("shop")
    site = work / "site"
    shutil.copytree(SHOP, site)
    shutil.copy(SDK_DIR / "dist" / "bundles" / "index.min.js", site / "growthbook.min.js")
    spec = running_today(work / "specs")
    payload = work / "features.json"
    assert main(["export", "growthbook", str(spec.parent), "-o", str(payload)]) == 0
    with (
        static_site(site) as shop,
        running_collector(work, "--features", str(payload), "--allow-origin", shop) as collector,
    ):
        request = {
            "shop": shop + "/index.html",
            "collector": collector.url,
            "token": TOKEN,
            "experiment": "cake_wording",
            "customers": CUSTOMERS,
            "screenshot": str(work / "shot.png"),
            "profile": str(work / "profile"),
        }
        (work / "request.json").write_text(json.dumps(request), encoding="utf-8")
        done = subprocess.run(
            [node(), str(JS_DIR / "shop_e2e.mjs"), str(work / "request.json")],
            capture_output=True,
            text=True,
            encoding="utf-8",
            timeout=240,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        log = collector.log.read_text(encoding="utf-8", errors="replace")
    visits = json.loads(done.stdout)["visits"]
    store = work / "store.duckdb"
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["ingest", "--spool", str(collector.spool), "--store", str(store)]) == 0
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["analyze", str(spec), "--store", str(store), "--format", "json"])
    assert code == 0
    return {
        "visits": visits,
        "analysis": json.loads(out.getvalue()),
        "shot": work / "shot.png",
        "log": log,
    }


def test_page_shows_the_offer_python_assigns(run: dict[str, Any]) -> None:
    spec = load_spec(SPEC)
    assigner = Assigner(spec)
    visits = {v["id"]: v for v in run["visits"]}
    assert set(visits) == {c["id"] for c in CUSTOMERS}
    for customer in CUSTOMERS:
        visit = visits[customer["id"]]
        assert visit["console"] == [], visit
        expected = assigner.assign(customer["id"], {"channel": customer["channel"]})
        assert visit["variant"] == expected.variant, customer
        if expected.variant is None:
            assert visit["state"] == "no-offer"
            continue
        offer = spec.variant(expected.variant).offer
        assert offer is not None
        assert visit["wording"] == offer.wording
        assert visit["state"] == ("ordered" if customer["click"] else "exposed"), visit
    shown = {v["variant"] for v in visits.values() if v["variant"]}
    assert shown == {"generic", "pairing"}, "both variants must be seen for the test to bite"


def test_analyze_counts_exactly_the_browser_units_and_clicks(run: dict[str, Any]) -> None:
    visits = [v for v in run["visits"] if v["variant"] is not None]
    clicked = {c["id"] for c in CUSTOMERS if c["click"]}
    units = Counter(v["variant"] for v in visits)
    takes = Counter(v["variant"] for v in visits if v["id"] in clicked)
    (report,) = run["analysis"]["experiments"]
    primary = next(m for m in report["metrics"] if m["name"] == "upsell_take_rate")
    got = {row["variant"]: row for row in primary["variants"]}
    assert set(got) == set(units)
    for variant, n in units.items():
        assert got[variant]["n"] == n
        assert got[variant]["mean"] == pytest.approx(takes[variant] / n, abs=1e-12)
    quality = report["quality"]
    assert quality["observed"] == dict(units)
    assert quality["total_units"] == len(visits)
    assert quality["orphan_events"] == 0 and quality["duplicates_dropped"] == 0
    # the clicks carried the offered item's price: revenue per customer = price x takes / n
    prices = {"generic": 480, "pairing": 520}
    revenue = next(m for m in report["metrics"] if m["name"] == "upsell_revenue_per_customer")
    for row in revenue["variants"]:
        variant = row["variant"]
        expected = prices[variant] * takes[variant] / units[variant]
        assert row["mean"] == pytest.approx(expected, rel=1e-12)


def test_screenshot_shows_the_offer(run: dict[str, Any]) -> None:
    image = pytest.importorskip("PIL.Image", reason="Pillow reads the screenshot")
    with image.open(run["shot"]) as picture:
        rgb = picture.convert("RGB")
        assert rgb.size == (900, 600)
        colours = rgb.getcolors(maxcolors=1_000_000)
        # the offer box is the orange-bordered panel: its border colour must be on screen
        orange = sum(count for count, colour in colours or [] if colour == (0xD3, 0x54, 0x00))
    assert colours is not None and len(colours) > 50
    assert orange > 500


def test_token_is_not_logged(run: dict[str, Any]) -> None:
    assert TOKEN not in run["log"]
