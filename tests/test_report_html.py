"""Self-contained HTML: escaped spec text, no external resources, well-formed
SVG, size budget, and chart geometry checked against closed forms."""

from __future__ import annotations

import itertools
import math
import re
import xml.etree.ElementTree as ET
from statistics import NormalDist

import pytest

from upsell_ab.report import charts
from upsell_ab.report.html import render_html
from upsell_ab.report.sample import sample_report

INJECTION = '<script>document.title="pwned"</script><img src=x onerror="alert(1)">'
SVG_NS = "{http://www.w3.org/2000/svg}"


def _svgs(page: str) -> list[ET.Element]:
    return [ET.fromstring(m) for m in re.findall(r"<svg.*?</svg>", page, flags=re.S)]


def test_spec_text_is_escaped_everywhere() -> None:
    page = render_html([sample_report(wording_b=INJECTION)])
    assert "<script" not in page.lower()
    assert "<img" not in page.lower()
    assert "&lt;script&gt;document.title=&quot;pwned&quot;&lt;/script&gt;" in page


def test_offline_single_file_with_a_script_blocking_policy() -> None:
    page = render_html([sample_report()])
    urls = set(re.findall(r"(?:https?:)?//[^\s\"'<>)]+", page))
    assert urls == {"http://www.w3.org/2000/svg"}  # the SVG namespace name, never fetched
    assert not re.search(r"<(link|script|iframe|object|embed)\b", page)
    assert not re.search(r"\b(src|href)=\"(?!#)", page)  # only in-page anchors
    assert "default-src 'none'" in page


def test_every_chart_is_well_formed_svg_with_a_title() -> None:
    page = render_html([sample_report()])
    svgs = _svgs(page)
    # sample: 3 forest plots, 2 posterior plots (revenue has no Bayesian result), 1 time series
    assert len(svgs) == 6
    for svg in svgs:
        assert svg.find(f"{SVG_NS}title") is not None
    assert page.count('class="variant"') == 2
    for text in ("post purchase", "JPY 100 off (limited 2d)", "Cheesecake (¥450)"):
        assert text in page


def test_five_experiments_fit_in_300_kb() -> None:
    page = render_html([sample_report(i) for i in range(5)])
    assert len(page.encode("utf-8")) <= 300_000
    assert all(f'id="exp-cake_wording_{i}"' in page for i in range(1, 5))


def test_normal_from_interval_matches_the_closed_form() -> None:
    mean, sd = 0.04, 0.147
    dist = NormalDist(mean, sd)
    low, high = dist.inv_cdf(0.025), dist.inv_cdf(0.975)
    recovered = charts.normal_from_interval(mean, low, high, 0.95)
    assert recovered is not None
    assert recovered[0] == pytest.approx(mean)
    assert recovered[1] == pytest.approx(sd, rel=1e-9)
    assert charts.normal_from_interval(mean, None, high, 0.95) is None
    assert charts.normal_from_interval(mean, high, low, 0.95) is None


def test_forest_plot_positions_are_linear_in_the_value() -> None:
    rows = [
        charts.ForestRow("B", 0.10, 0.02, 0.18),
        charts.ForestRow("C", -0.05, -0.2, 0.1),
    ]
    svg = ET.fromstring(charts.forest_plot(rows, title="t"))
    circles = svg.findall(f"{SVG_NS}circle")
    xs = [float(c.get("cx", "nan")) for c in circles]
    zero = next(
        float(line.get("x1", "nan"))
        for line in svg.findall(f"{SVG_NS}line")
        if line.get("stroke") == "#888"
    )
    # x = a + b * value: the zero line and two estimates must be collinear
    slope = (xs[0] - xs[1]) / (0.10 - (-0.05))
    assert slope > 0
    assert zero == pytest.approx(xs[0] - slope * 0.10, abs=0.15)


def test_missing_estimates_render_as_na_not_as_zero() -> None:
    svg = charts.forest_plot([charts.ForestRow("B", None, None, None)], title="t")
    assert svg == ""  # nothing to draw: no chart rather than a fake point at 0
    svg = charts.forest_plot(
        [charts.ForestRow("B", None, None, None), charts.ForestRow("C", 0.1, 0.0, 0.2)], title="t"
    )
    assert ">n/a</text>" in svg
    assert len(ET.fromstring(svg).findall(f"{SVG_NS}circle")) == 1


@pytest.mark.parametrize(
    ("low", "high"), [(-0.37, 0.52), (0.0, 1.0), (-1234.0, 80.0), (0.0012, 0.0013)]
)
def test_nice_ticks_cover_the_range_with_round_steps(low: float, high: float) -> None:
    ticks = charts.nice_ticks(low, high)
    assert 3 <= len(ticks) <= 11
    steps = {round(b - a, 12) for a, b in itertools.pairwise(ticks)}
    assert len(steps) == 1
    step = steps.pop()
    mantissa = step / 10 ** math.floor(math.log10(step))
    assert round(mantissa, 9) in (1, 2, 2.5, 5)
    assert ticks[0] >= low - 1e-12 and ticks[-1] <= high + 1e-12
    assert ticks[0] - step < low and ticks[-1] + step > high


def test_long_variant_labels_are_shortened_but_kept_in_a_tooltip() -> None:
    label = "Specific pairing line with a very long descriptive name (pairing)"
    svg = ET.fromstring(charts.forest_plot([charts.ForestRow(label, 0.1, 0.0, 0.2)], title="t"))
    text = next(t for t in svg.iter(f"{SVG_NS}text") if t.find(f"{SVG_NS}title") is not None)
    tooltip = text.find(f"{SVG_NS}title")
    assert tooltip is not None and tooltip.text == label
    shown = "".join(text.itertext()).replace(label, "", 1)
    assert shown.endswith("…") and label.startswith(shown[:-1])
    # the shortened label fits left of the plot area (12 px font, <= 0.6 em per Latin char)
    assert len(shown) * 0.6 * 12 <= float(text.get("x", "0"))
