"""The pages' Vega-Lite charts in a real browser (Debian's chromium, a real Streamlit server), on names
from data nobody here chose: what only a browser shows.

* A legend entry whose name holds quotes, a backslash, a line break, markup and non-ASCII text draws
  with that exact label and its own colour; no script runs and Vega reports no error.
* A tooltip shows a run's name as text and a number in the hover template's d3 format.
* Hovering a line shows the row under the pointer (a line is one path: its own tooltip shows its first row).

The app is a one-chart script (written to a temporary folder) that draws a figure through
``ui.output.chart``, the function every page uses.
"""
from __future__ import annotations

import textwrap

import pytest

from tests.test_browser import CHART, DRAWN_JS, MISSING, PROJECT_ROOT, REQUIRED, start_app, stop_app

pytestmark = pytest.mark.skipif(MISSING is not None and not REQUIRED, reason=f"real-browser tests: {MISSING}")

HOSTILE = ["it's \"quoted\" \\ back", "line\nbreak", "<img src=x onerror=alert(1)>", "Größe ✓ 模型"]
APP = textwrap.dedent(f'''
    import sys
    sys.path.insert(0, {str(PROJECT_ROOT)!r})
    import plotly.graph_objects as go
    from ui import output

    names = {HOSTILE!r}
    fig = go.Figure()
    for i, name in enumerate(names):
        fig.add_trace(go.Scatter(x=[1e9 * (i + 1), 2e9 * (i + 1)], y=[3.0 - 0.1 * i, 2.9 - 0.1 * i],
                                 mode="markers", name=name, marker=dict(color=["#1f77b4", "#d62728", "#2ca02c",
                                 "#9467bd"][i], size=12), customdata=[[name, 5.7e7], [name, 1.6e9]],
                                 hovertemplate="run %{{customdata[0]}}<br>N %{{customdata[1]:.3s}} params<br>"
                                               "loss %{{y:.4g}}<extra></extra>"))
    fig.update_xaxes(type="log", title_text="tokens D")
    fig.update_yaxes(title_text="loss (nats)")
    fig.update_layout(legend=dict(orientation="h"))
    output.chart(fig, "hostile", key="hostile")
    line = go.Figure(go.Scatter(x=[1e18, 1e19, 1e20, 1e21], y=[4.0, 3.0, 2.5, 2.2], mode="lines", name="frontier",
                                hovertemplate="C %{{x:.3s}} FLOPs<br>L* %{{y:.4g}}<extra></extra>"))
    line.update_xaxes(type="log", title_text="compute C (FLOPs)")
    line.update_yaxes(title_text="loss (nats)")
    output.chart(line, "line", key="line")
''')


@pytest.fixture(scope="module")
def chart_url(tmp_path_factory):
    folder = tmp_path_factory.mktemp("chart_app")
    (folder / "app.py").write_text(APP, encoding="utf-8")
    proc, url, _ = start_app(folder / "no-store", folder / "server.log", cwd=folder)
    yield url
    stop_app(proc)


def test_hostile_names_draw_as_their_own_legend_entries(chart_url, page):
    console = []
    page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(chart_url)
    page.wait_for_function(DRAWN_JS, arg=CHART)
    labels = page.evaluate("sel => Array.from(document.querySelector(sel).querySelectorAll("
                           "'g.role-legend-label text')).map(t => t.textContent)", CHART)
    assert sorted(labels) == sorted(HOSTILE), labels
    colours = page.evaluate("sel => Array.from(document.querySelector(sel).querySelectorAll("
                            "'g.role-legend-symbol path')).map(p => p.getAttribute('fill'))", CHART)
    assert len(set(colours)) == len(HOSTILE), colours
    points = page.locator(CHART).first.locator("g.role-mark.mark-symbol > path")
    assert points.count() == 2 * len(HOSTILE)
    assert not errors and not [c for c in console if "vega" in c.lower() or "expression" in c.lower()], \
        (errors, console)
    assert page.locator("img").count() == 0          # the markup in a name stayed text


def test_tooltip_shows_the_name_and_the_formatted_number(chart_url, page):
    page.goto(chart_url)
    page.wait_for_function(DRAWN_JS, arg=CHART)
    first = page.locator(f"{CHART} g.role-mark.mark-symbol > path").first
    first.hover()
    tip = page.locator("#vg-tooltip-element")
    tip.wait_for(state="visible")
    text = tip.inner_text()
    assert HOSTILE[0] in text, text
    assert "57.0M" in text and "N (params)" in text, text          # d3's ".3s" of 5.7e7, as plotly showed it


def test_a_line_tooltip_shows_the_point_under_the_pointer(chart_url, page):
    page.goto(chart_url)
    page.wait_for_function(DRAWN_JS, arg=CHART)
    line = page.locator(CHART).nth(1)
    points = line.locator("g.role-mark.mark-symbol > path")
    points.first.wait_for(state="attached")
    assert points.count() == 4
    points.nth(2).hover(force=True)                # the third row: C = 1e20
    tip = page.locator("#vg-tooltip-element")
    tip.wait_for(state="visible")
    assert "100E" in tip.inner_text() and "2.5" in tip.inner_text(), tip.inner_text()


def test_the_wheel_zooms_a_chart(chart_url, page):
    """Zoom and pan as plotly's charts had: the wheel over the plot changes the axes' ticks."""
    page.goto(chart_url)
    page.wait_for_function(DRAWN_JS, arg=CHART)
    line = page.locator(CHART).nth(1)
    line.locator("g.role-mark.mark-symbol > path").first.wait_for(state="attached")
    ticks = lambda: line.locator("g.role-axis-label text").all_text_contents()   # noqa: E731
    before = ticks()
    box = line.locator("g.role-mark.mark-line").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    for _ in range(6):
        page.mouse.wheel(0, -200)
        page.wait_for_timeout(100)
    page.wait_for_function("([sel, old]) => JSON.stringify(Array.from(document.querySelectorAll(sel)[1]"
                           ".querySelectorAll('g.role-axis-label text')).map(t => t.textContent))"
                           " !== JSON.stringify(old)", arg=[CHART, before])
    assert ticks() != before
