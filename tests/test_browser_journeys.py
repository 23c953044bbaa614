"""A first visitor's journeys in a real browser (Debian's chromium via playwright, a real Streamlit server):
what AppTest cannot see -- whether a chart (Vega-Lite, SVG) has drawn marks, the address bar, widgets driven by hand.

* Browse: change the family in the sidebar and see every run (and no size range pinned in the URL).
* Allocate: change the budget and the planned run follows it.
* Fit: open the settings box, choose a law, close it: the choice stays (URL and fit).
* Every page opened cold, without URL parameters, draws a chart with marks (Home's family-size chart too, and its
  sources' table when that expander opens).
* Crossover cold: data points, bands, the crossing inside the drawn x range, one number on the page and chart; its
  export box opens and its report downloads.
"""
from __future__ import annotations

import re
from urllib.parse import parse_qs, urlparse

import pytest

from tests.test_browser import (CHART, MISSING, PAGE_TIMEOUT, PAGES, REQUIRED, first_chart, heading, no_exception,
                                settled)

pytestmark = pytest.mark.skipif(MISSING is not None and not REQUIRED, reason=f"real-browser tests: {MISSING}")

# marks a chart has drawn (per visible chart): points, line and band paths, bars with a width
MARKS_JS = """sel => Array.from(document.querySelectorAll(sel)).filter(d => d.offsetParent !== null).map(d => {
  const marks = sel => Array.from(d.querySelectorAll(sel));
  const sized = p => { const b = p.getBBox(); return b.width > 0.5 && b.height > 0.5; };
  return marks('g.role-mark.mark-symbol > path').length + marks('g.role-mark.mark-line path').length
       + marks('g.role-mark.mark-area path').length + marks('g.role-mark.mark-rect > path').filter(sized).length;
})"""


def marks(pg) -> list[int]:
    return pg.evaluate(MARKS_JS, CHART)


def metric_value(pg, label: str) -> str:
    box = pg.get_by_test_id("stMetric").filter(has=pg.get_by_test_id("stMetricLabel").filter(
        has_text=re.compile(rf"^\s*{re.escape(label)}\s*$"))).first
    box.wait_for()
    return box.get_by_test_id("stMetricValue").inner_text().strip()


def query(pg) -> dict:
    return parse_qs(urlparse(pg.url).query)


def choose(pg, label: str, option_text: str) -> None:
    """Pick the option of the selectbox ``label`` whose text starts with ``option_text``. A script run that lands
    while the list is open closes it: then the list is opened again (a user would do the same)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout     # playwright may be missing (skipped)

    box = pg.get_by_role("combobox", name=label, exact=True)
    option = pg.get_by_role("option").filter(has_text=re.compile(rf"^\s*{re.escape(option_text)}")).first
    for attempt in range(3):
        settled(pg)
        box.click()
        try:
            option.click(timeout=20_000)
            return
        except PlaywrightTimeout:
            if attempt == 2:
                raise


def wait_metric(pg, label: str, predicate: str) -> None:
    """Wait until the metric ``label`` shows a value ``v`` (its text) for which the JS ``predicate`` holds."""
    pg.wait_for_function("""([label, pred]) => { const ok = new Function('v', 'return ' + pred);
        return Array.from(document.querySelectorAll('[data-testid=stMetric]')).some(m => {
            const l = m.querySelector('[data-testid=stMetricLabel]'), v = m.querySelector('[data-testid=stMetricValue]');
            return l && v && l.innerText.trim() === label && ok(v.innerText.trim()); }); }""", arg=[label, predicate])


BARS_JS = """sel => { const d = Array.from(document.querySelectorAll(sel)).pop();
    return Array.from(d.querySelectorAll('g.role-mark.mark-rect > path')).filter(p => {
        const b = p.getBBox(); return b.width > 0.5 && b.height > 0.5; }).length; }"""


def test_browse_family_change_shows_every_run(app_url, page):
    page.goto(f"{app_url}/Browse?source=pythia&family=pythia%2Fbloom-evals")
    heading(page, PAGES["Browse"])
    first_chart(page)
    settled(page)
    assert metric_value(page, "Runs shown") == "5"
    choose(page, "Family", "pythia/pythia ")
    page.wait_for_function("() => new URLSearchParams(location.search).get('family') === 'pythia/pythia'")
    wait_metric(page, "Runs shown", "v === '7'")
    settled(page)
    no_exception(page)
    assert metric_value(page, "Runs shown") == "7"
    assert query(page).get("family") == ["pythia/pythia"] and "size" not in query(page)
    assert min(marks(page)) > 0


def test_allocate_plan_follows_the_budget(app_url, page):
    page.goto(f"{app_url}/Allocate")
    heading(page, PAGES["Allocate"])
    first_chart(page)
    settled(page)
    box = page.get_by_role("spinbutton", name=re.compile(r"^Training compute C"))
    box.fill("1e21")
    box.press("Enter")
    page.wait_for_function("() => new URLSearchParams(location.search).get('budget') === '1e21'")
    wait_metric(page, "Planned compute (FLOPs)", "Math.abs(parseFloat(v) / 1e21 - 1) < 0.05")
    settled(page)
    no_exception(page)
    planned = float(metric_value(page, "Planned compute (FLOPs)"))
    assert planned == pytest.approx(1e21, rel=0.05)
    assert "planN" not in query(page) and "planD" not in query(page)
    verdict = page.get_by_test_id("stMarkdownContainer").locator("p").filter(
        has_text=re.compile(r"^\s*Verdict:")).first.inner_text()
    assert re.search(r"compute-optimal|optimum", verdict) and "5.76e23" not in verdict, verdict


def test_fit_settings_open_change_and_close(app_url, page):
    """The settings box opens by hand (its state in the URL), a law chosen in it stays after it closes, and the
    parameters' static table follows."""
    page.goto(f"{app_url}/Fit")
    heading(page, PAGES["Fit"])
    first_chart(page)
    settled(page)
    assert page.get_by_role("combobox", name="Law", exact=True).count() == 0          # closed: not sent
    page.get_by_text("Fit settings: law, objective").click()
    page.wait_for_function("() => new URLSearchParams(location.search).get('settings') === 'true'")
    page.get_by_role("combobox", name="Law", exact=True).wait_for()  # the box drawn by the opening's rerun
    choose(page, "Law", "kaplan:")
    page.wait_for_function("() => new URLSearchParams(location.search).get('law') === 'kaplan'")
    settled(page)
    page.get_by_text("Fit settings: law, objective").click()                        # closed again
    page.wait_for_function("() => !new URLSearchParams(location.search).has('settings')")
    settled(page)
    no_exception(page)
    assert page.get_by_role("combobox", name="Law", exact=True).count() == 0
    assert query(page).get("law") == ["kaplan"]
    page.get_by_test_id("stCaptionContainer").filter(has_text="Law kaplan").first.wait_for()
    cells = page.get_by_test_id("stTable").first.locator("tbody tr td:first-child").all_inner_texts()
    assert [c.strip() for c in cells] == ["Nc", "Dc", "alphaN", "alphaD"]
    first_chart(page)


@pytest.mark.parametrize("name", [n for n in PAGES if n != "Upload"] + ["Home"])
def test_every_page_opened_cold_draws_a_chart(app_url, page, name):
    """Upload has nothing to draw before a file arrives (its journey is in tests/test_browser.py)."""
    page.goto(app_url + ("" if name == "Home" else f"/{name}"))
    first_chart(page)
    settled(page)
    no_exception(page)
    drawn = marks(page)
    assert drawn and drawn[0] > 0, f"{name}: the first chart drew no marks ({drawn})"
    if name == "Home":      # the sources' and the families' size ranges: a bar each, on a categorical axis
        first = BARS_JS.replace("Array.from(document.querySelectorAll(sel)).pop()", "document.querySelector(sel)")
        assert first != BARS_JS, "BARS_JS changed: count the first chart's bars another way"
        page.wait_for_function(f"sel => ({first})(sel) >= 9", arg=CHART)     # the page's first: a bar per source
        page.get_by_text("Families and their model-size ranges").click()
        page.wait_for_function("sel => document.querySelectorAll(sel).length >= 4", arg=CHART)
        page.wait_for_function(f"sel => ({BARS_JS})(sel) >= 20", arg=CHART)
        bars = page.evaluate(BARS_JS, CHART)
        assert bars >= 20, f"the family-size chart drew {bars} bars"
        # the sources' table is built when its expander opens, inside it
        sources = page.get_by_test_id("stExpander").filter(has_text="Each source's paper, repository")
        sources.get_by_text("Each source's paper, repository").click()
        sources.get_by_test_id("stDataFrame").wait_for(timeout=PAGE_TIMEOUT)
        settled(page)
        no_exception(page)


def test_crossover_cold_shows_points_bands_and_the_crossing_in_range(app_url, page):
    page.goto(f"{app_url}/Crossover")
    heading(page, PAGES["Crossover"])
    first_chart(page)
    settled(page)
    no_exception(page)
    shown = metric_value(page, "Crossing (FLOPs)")
    x = float(shown)
    info = page.evaluate("""sel => { const d = document.querySelector(sel);
        const axis = d.querySelector('g.role-axis[aria-label^="X-axis"]').getAttribute('aria-label');
        return {names: Array.from(d.querySelectorAll('g.role-legend-label text')).map(t => t.textContent),
                fills: d.querySelectorAll('g.role-mark.mark-area path').length,
                points: d.querySelectorAll('g.role-mark.mark-symbol > path').length,
                range: axis.match(/values from (\\S+) to (\\S+)$/).slice(1).map(Number),
                notes: Array.from(d.querySelectorAll('g.role-mark.mark-text text')).map(t => t.textContent)}; }""",
                         CHART)
    assert info["points"] > 50, info["points"]
    assert info["fills"] >= 2, "no bands"
    assert any("data range" in n for n in info["names"]), info["names"]
    lo, hi = info["range"]                   # the drawn x domain (Vega's axis description, FLOPs)
    assert lo < x < hi, (x, info["range"])
    assert any(f"crossing {shown} FLOPs" in n for n in info["notes"]), info["notes"]
    assert f"{shown} FLOPs" in page.get_by_test_id("stMarkdown").all_inner_texts().__str__()
    # the exports are built when their box opens (its state in the URL); the report downloads from it
    assert page.get_by_test_id("stDownloadButton").count() == 0
    page.get_by_text("Export: the result as JSON").click()
    page.wait_for_function("() => new URLSearchParams(location.search).get('export') === 'true'")
    button = page.get_by_test_id("stDownloadButton").filter(has_text="Report (Markdown)")
    button.wait_for(timeout=PAGE_TIMEOUT)
    settled(page)
    with page.expect_download() as dl:
        button.click()
    text = open(dl.value.path(), encoding="utf-8").read()
    assert "## Crossover" in text and shown in text
