"""Nothing the dashboard writes is cut off (real browser): the sidebar's selectors and page links, and the
headline numbers (``st.metric``), on the pages with the longest names -- the family
``revisiting/bb-linguistic_mappings_1shot`` and the LAION source, whose title is 80 characters.

Only a browser can measure this (text widths). Uses the session's server and browser from
tests/test_browser.py; skipped like it when playwright or chromium is missing.
"""
from __future__ import annotations

import pytest

from tests.test_browser import MISSING, REQUIRED, first_chart, heading, settled
from ui.navigation import BY_NAME

pytestmark = pytest.mark.skipif(MISSING is not None and not REQUIRED, reason=f"real-browser tests: {MISSING}")

# every element under ``root`` that clips its own text (a scroll width beyond its box while it hides the
# overflow or ends in an ellipsis), inputs included: [tag, text, needed px, shown px]
CUT_JS = """root => Array.from(document.querySelectorAll(root)).flatMap(r => Array.from(r.querySelectorAll('*')))
  .filter(el => {
    if (!el.offsetParent) return false;
    const cs = getComputedStyle(el), text = el.tagName === 'INPUT' ? el.value : el.innerText;
    if (!text || !text.trim()) return false;
    const clips = el.tagName === 'INPUT' || cs.overflowX !== 'visible' || cs.textOverflow === 'ellipsis';
    return clips && el.scrollWidth > el.clientWidth + 1; })
  .map(el => [el.tagName, (el.tagName === 'INPUT' ? el.value : el.innerText).slice(0, 80), el.scrollWidth,
              el.clientWidth])"""
WHERE = "[data-testid=stSidebar] [data-testid=stSidebarUserContent], [data-testid=stSidebarNav], " \
        "[data-testid=stSidebar] [data-testid=stPageLink-NavLink], [data-testid=stMetricValue]"

VIEWS = [("Browse", "?source=revisiting&family=revisiting%2Fbb-linguistic_mappings_1shot"),
         ("Crossover", ""),                                   # the LAION source (long title) and its metric
         ("Hyperparameters", "")]


@pytest.mark.parametrize("name, query", VIEWS, ids=[v[0] for v in VIEWS])
def test_sidebar_and_headline_numbers_are_not_cut_off(page, app_url, name, query):
    page.goto(f"{app_url}/{name}{query}")
    heading(page, BY_NAME[name].title)
    first_chart(page)
    settled(page)
    assert page.evaluate(CUT_JS, WHERE) == []
    # the check itself can fail: squeezed to 200 px, the same sidebar cuts its family name off
    page.add_style_tag(content="[data-testid=stSidebar]{width:200px!important;min-width:200px!important}")
    page.wait_for_timeout(300)
    assert page.evaluate(CUT_JS, "[data-testid=stSidebar] [data-testid=stSidebarUserContent]")
