"""The dashboard in a real browser: Debian's chromium driven by playwright against ``streamlit run app.py``.

One Streamlit server per session (store from the ``store_path`` fixture, 50 bootstrap resamples so fits
are quick); every test opens a fresh browser context, i.e. a new Streamlit session, so a deep link is a
cold first request. Every page registers a dialog handler: an ``alert`` fired by injected markup fails
the test that caused it.

Skipped only when playwright or chromium is missing -- and not even then under ``SCALING_REQUIRE_DATA=1``
(CI), where a missing browser is a failure.
"""
from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from ui.navigation import PAGES as PAGE_LIST

PROJECT_ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("SCALING_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
REQUIRED = os.environ.get("SCALING_REQUIRE_DATA") == "1"
START_TIMEOUT = 90.0        # s for the server to answer /_stcore/health
PAGE_TIMEOUT = 120_000      # ms for any single wait in a page (a cold fit, a first chart)
PAGES = {p.name: p.title for p in PAGE_LIST[1:]}          # page name (and URL path) -> its heading
HOME_HEADING = PAGE_LIST[0].title
CHART = '[data-testid="stVegaLiteChart"]'      # every page chart is Vega-Lite (analysis.figures.vega)
# a visible chart has drawn: marks in its SVG, or its canvas (Vega draws many points on a canvas)
_DRAWN = ("d => d.offsetParent !== null && (d.querySelector('canvas') || "
          "Array.from(d.querySelectorAll('g.role-mark')).some(g => g.children.length))")
DRAWN_JS = f"sel => Array.from(document.querySelectorAll(sel)).some({_DRAWN})"
DRAWN_COUNT_JS = f"([sel, n]) => Array.from(document.querySelectorAll(sel)).filter({_DRAWN}).length >= n"   # n drawn
# per visible chart, per layer of marks: the trace's name (each mark's aria-label), the mark type (symbol, line,
# area, rect, rule, text) and its size: items for symbols and rects, path vertices for lines and areas
TRACES_JS = """sel => Array.from(document.querySelectorAll(sel)).filter(d => d.offsetParent !== null).map(d =>
  Array.from(d.querySelectorAll('g.role-mark')).map(g => {
    const mark = (g.getAttribute('class').match(/mark-(\\w+)/) || [])[1] || '';
    const named = g.querySelector('[aria-label]');
    const paths = (mark === 'line' || mark === 'area') ? Array.from(g.querySelectorAll('path')) : [];
    const n = paths.length ? paths.reduce((k, p) => k + ((p.getAttribute('d') || '').match(/[ML]/g) || []).length, 0)
                           : g.children.length;
    return {name: named ? named.getAttribute('aria-label') : '', mark, n};
  }))"""


def _missing() -> str | None:
    if importlib.util.find_spec("playwright") is None:
        return "playwright is not installed (pip install playwright; it drives Debian's chromium)"
    if not Path(CHROMIUM).exists():
        return f"chromium not found at {CHROMIUM} (apt-get install chromium)"
    return None


MISSING = _missing()
pytestmark = pytest.mark.skipif(MISSING is not None and not REQUIRED, reason=f"real-browser tests: {MISSING}")


# ----------------------------------------------------------------------------------------------
# Fixtures
# ----------------------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


def start_app(store: Path, log: Path, env_extra: dict | None = None,
              cwd: Path = PROJECT_ROOT) -> tuple[subprocess.Popen, str, float]:
    """Start ``streamlit run app.py`` in ``cwd`` (this project; a benchmark passes another tree, a test a
    folder of its own) on a free port; returns (process, base URL, seconds to healthy). Without the file
    watcher, as ``.streamlit/config.toml`` runs the project, also where ``cwd`` has no such file."""
    port = _free_port()
    env = {**os.environ, "SCALING_STORE": str(store), "SCALING_BOOTSTRAP": "50", "SCALING_TIME_BUDGET": "20",
           **(env_extra or {})}
    cmd = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.port", str(port),
           "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    while time.perf_counter() - t0 < START_TIMEOUT:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with {proc.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
        if _healthy(url):
            return proc, url, time.perf_counter() - t0
        time.sleep(0.2)
    stop_app(proc)
    raise RuntimeError(f"streamlit did not answer {url}/_stcore/health within {START_TIMEOUT:.0f} s:\n"
                       f"{log.read_text(errors='replace')[-3000:]}")


def stop_app(proc: subprocess.Popen) -> None:
    """Stop the server started by :func:`start_app` (its own process group), SIGKILL after 10 s."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)



# ----------------------------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------------------------
def heading(pg, text: str):
    """Wait for the page's own title (an h1 with exactly ``text``)."""
    loc = pg.locator("h1").filter(has_text=re.compile(rf"^\s*{re.escape(text)}\s*$"))
    loc.first.wait_for()
    return loc.first


def first_chart(pg):
    """Wait until a visible chart has drawn its marks; returns its locator."""
    loc = pg.locator(CHART).locator("visible=true").first
    loc.wait_for()
    pg.wait_for_function(DRAWN_JS, arg=CHART)
    return loc


def chart_traces(pg) -> list[list[dict]]:
    """Per visible chart, per layer of marks: ``{name, mark, n}`` (see :data:`TRACES_JS`)."""
    return pg.evaluate(TRACES_JS, CHART)


def settled(pg) -> None:
    """Wait until the Streamlit script run of the page has finished (call after its heading shows)."""
    pg.locator('[data-testid="stApp"][data-test-script-state="notRunning"]').wait_for(state="attached")


def no_exception(pg) -> None:
    errors = pg.get_by_test_id("stException")
    assert errors.count() == 0, errors.first.inner_text()


def widget(pg, kind: str, label: str):
    """The widget of ``kind`` (stSelectbox, stNumberInput, stRadio ...) whose label is exactly ``label``."""
    lab = pg.get_by_test_id("stWidgetLabel").filter(has_text=re.compile(rf"^\s*{re.escape(label)}\s*$"))
    return pg.get_by_test_id(kind).filter(has=lab).first


def selected(pg, label: str) -> str:
    """The text shown by the selectbox labelled ``label`` (a combobox input in Streamlit 1.67)."""
    box = pg.get_by_role("combobox", name=label, exact=True)
    box.wait_for()
    return box.input_value()


def sidebar_pages(pg) -> list[str]:
    """The labels of the sidebar's page list (the icon's ligature text stripped), once its links are drawn."""
    links = pg.get_by_test_id("stSidebar").get_by_test_id("stPageLink-NavLink")
    links.last.wait_for()
    return [links.nth(i).inner_text().strip().split("\n")[-1].strip() for i in range(links.count())]


def upload(pg, name: str, payload: bytes) -> None:
    pg.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(
        files=[{"name": name, "mimeType": "text/csv", "buffer": payload}])


def _example_csv() -> str:
    from datasets.upload import example_csv
    return example_csv()


# ----------------------------------------------------------------------------------------------
# Tests
# ----------------------------------------------------------------------------------------------
def test_home_page_renders_summary_and_fitted_law(page, app_url, store_path):
    from datasets.store import Store

    summary = Store(store_path).summary()
    page.goto(app_url + "/")
    heading(page, HOME_HEADING)
    runs = page.get_by_test_id("stMetric").filter(has_text="Training runs")
    runs.get_by_text(f"{summary['n_runs']:,}").wait_for()
    chart = first_chart(page)
    assert chart.is_visible()
    settled(page)
    no_exception(page)
    # the reference fit (Epoch's Chinchilla points): data, the compute-optimal frontier and its band
    page.get_by_role("heading", name="A fitted law with its uncertainty").wait_for()
    traces = [t for fig in chart_traces(page) for t in fig]
    assert any(t["name"] == "compute-optimal L*(C)" and t["mark"] == "line" and t["n"] > 10 for t in traces), traces
    assert any(t["mark"] == "area" and t["n"] > 10 for t in traces), traces        # the 95% band
    alpha = page.get_by_test_id("stMetric").filter(has_text="alpha").first.get_by_test_id("stMetricValue")
    assert 0.3 < float(alpha.inner_text()) < 0.4       # Epoch: 0.348 (0.317 to 0.373)
    # the sidebar lists the pages by name (Home, not the script's name) and its links lead to clean URLs
    assert sidebar_pages(page) == ["Home", *PAGES]
    assert page.get_by_test_id("stSidebarNav").count() == 0
    page.get_by_test_id("stSidebar").get_by_test_id("stPageLink-NavLink").filter(has_text="Allocate").click()
    heading(page, PAGES["Allocate"])
    assert re.search(r"/Allocate(\?|$)", page.url), page.url


@pytest.mark.parametrize("name", list(PAGES))
def test_cold_deep_link_renders_the_page_itself(page, app_url, name):
    page.goto(f"{app_url}/{name}")
    title = heading(page, PAGES[name])
    assert title.is_visible()
    assert page.locator("h1").filter(has_text=re.compile(rf"^\s*{HOME_HEADING}\s*$")).count() == 0
    assert page.title().startswith(name)
    settled(page)
    assert sidebar_pages(page) == ["Home", *PAGES]
    no_exception(page)


def test_upload_example_then_fit_draws_the_band(page, app_url):
    page.goto(app_url + "/Upload")
    heading(page, PAGES["Upload"])
    upload(page, "example_runs.csv", _example_csv().encode())
    page.get_by_text("Validation report").wait_for()
    metrics = {m: page.get_by_test_id("stMetric").filter(has_text=m).first.get_by_test_id("stMetricValue").inner_text()
               for m in ("Runs", "Points kept", "Rows rejected")}
    from datasets.upload import read_upload

    rep = read_upload(_example_csv(), filename="example_runs.csv").report
    assert metrics == {"Runs": "5", "Points kept": f"{rep.points_kept:,}", "Rows rejected": "0"}
    page.get_by_role("button", name="Analyse these runs").click()
    page.get_by_role("link", name="Open Fit").click()
    heading(page, PAGES["Fit"])
    assert widget(page, "stRadio", "Data").get_by_role("radio", name="My uploads").is_checked()
    first_chart(page)
    traces = chart_traces(page)[0]
    band = [t for t in traces if t["mark"] == "area"]
    assert band and all(t["n"] > 10 for t in band), traces
    assert any(t["name"] == "data used in the fit" for t in traces)
    no_exception(page)


def test_html_report_download_escapes_hostile_names(page, app_url, tmp_path):
    hostile_run, hostile_family = "<script>alert(1)</script>", "<img src=x onerror=alert(2)>"
    text = (_example_csv().replace("my-20m", hostile_run).replace("chinchilla-like", hostile_family)
            .replace("my-50m", "\"=cmd|' /C calc'!A0\""))
    page.goto(app_url + "/Upload")
    heading(page, PAGES["Upload"])
    upload(page, "<b>runs</b>.csv", text.encode())
    page.get_by_text("Validation report").wait_for()
    rejected = page.get_by_test_id("stMetric").filter(has_text="Rows rejected").get_by_test_id("stMetricValue")
    assert rejected.inner_text() == "8"               # the formula-like run name: CSV injection refused
    page.get_by_role("button", name="Analyse these runs").click()
    page.get_by_role("link", name="Open Fit").click()
    heading(page, PAGES["Fit"])
    assert selected(page, "Uploaded family").startswith(f"upload/{hostile_family}  (")   # text, not markup
    first_chart(page)
    page.get_by_text("Export", exact=True).click()
    button = page.get_by_test_id("stDownloadButton").filter(has_text="Report (HTML)")
    with page.expect_download() as dl:
        button.click()
    path = tmp_path / "report.html"
    dl.value.save_as(path)
    html_text = path.read_text(encoding="utf-8")
    assert html_text.startswith("<!DOCTYPE html>")
    assert hostile_run not in html_text and hostile_family not in html_text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html_text
    assert "upload/&lt;img src=x onerror=alert(2)&gt;" in html_text
    assert not re.search(r"<(script|link|img)[^>]+(src|href)\s*=\s*[\"']?(https?:)?//", html_text, re.I)
    data = json.loads(re.search(r'<script type="application/json" id="report-data">(.*?)</script>', html_text,
                                re.S).group(1))
    assert data["law"]["name"] and data["formula"] in html_text.replace("&amp;", "&")
    assert set(data["params"]) == set(data["ci"]) and len(data["ci"]) >= 3
    assert data["data"]["runs"] == 4 and data["data"]["kind"] == "upload"
    # the report itself opens offline in the browser, draws its figures, and runs no injected script
    page.goto(path.as_uri())
    first_report_chart = page.locator(".js-plotly-plot").first
    first_report_chart.wait_for()
    assert page.locator("img").count() == 0
    assert page.locator(".js-plotly-plot").count() >= 2


def test_shared_url_restores_the_view(page, app_url, store_path):
    from datasets.store import Store

    fams = Store(store_path).families()
    gpt3 = fams[fams["family"].str.endswith("/gpt3")]
    if gpt3.empty:
        pytest.skip("the store has no gpt3 family")
    source, family = gpt3.iloc[0]["source"], gpt3.iloc[0]["family"]
    page.goto(f"{app_url}/Fit?source={source}&family={family}&law=kaplan&objective=mse&boot=40&view=residuals"
              "&settings=true")                          # the fit settings box open (its state is in the URL)
    heading(page, PAGES["Fit"])
    assert selected(page, "Family").startswith(family)
    assert selected(page, "Law") == "kaplan: L = [(Nc/N)^(alphaN/alphaD) + Dc/D]^alphaD"
    assert selected(page, "Objective") == "Squared error"
    assert widget(page, "stNumberInput", "Bootstrap resamples").locator("input").input_value() == "40"
    assert page.get_by_role("radio", name="Residuals").is_checked()
    page.get_by_text("Kaplan L(N, D)").first.wait_for()
    first_chart(page)
    assert any("residual" == t["name"] for t in chart_traces(page)[0])
    settled(page)
    for kv in ("law=kaplan", "objective=mse", "boot=40", "view=residuals"):
        assert kv in page.url
    no_exception(page)


def test_upload_over_the_size_limit_is_refused(page, app_url, tmp_path):
    from datasets.upload import MAX_BYTES

    big = tmp_path / "too_big.csv"
    with big.open("wb") as f:                      # sparse: the browser refuses it before reading it
        f.truncate(MAX_BYTES + 1_000_000)
    page.goto(app_url + "/Upload")
    heading(page, PAGES["Upload"])
    page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(str(big))
    msg = page.get_by_text(re.compile(rf"File must be {MAX_BYTES / 1e6:g}(\.0)?\s?MB or smaller"))
    msg.first.wait_for()
    assert page.get_by_text("Validation report").count() == 0
    no_exception(page)
