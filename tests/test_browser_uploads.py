"""Uploads survive a reload, in a real browser (Debian's chromium + playwright against ``streamlit run app.py``):
upload, fit, reload: the fit is still there; a second browser context (another user) with no token, a guessed
token, or its own token sees nothing of the first one's data.

The server keeps uploads in a temporary folder (``SCALING_UPLOAD_DIR``). Skipped only when playwright or
chromium is missing (a failure under ``SCALING_REQUIRE_DATA=1``), like tests/test_browser.py whose helpers
this module uses.
"""
from __future__ import annotations

import re
import time

import pytest

from datasets.upload_vault import TOKEN_RE
from tests.test_browser import (MISSING, PAGE_TIMEOUT, PAGES, REQUIRED, chart_traces,
                                first_chart, heading, no_exception, selected, settled, start_app, stop_app, upload,
                                widget)

pytestmark = pytest.mark.skipif(MISSING is not None and not REQUIRED, reason=f"real-browser tests: {MISSING}")
TOKEN_IN_URL = re.compile(r"[?&]uploads=([A-Za-z0-9_-]{43})(&|$)")


@pytest.fixture(scope="module")
def vault_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("vault")


@pytest.fixture(scope="module")
def app_url(small_store_path, tmp_path_factory, vault_dir):
    if MISSING is not None:
        pytest.fail(f"real-browser tests required (SCALING_REQUIRE_DATA=1) but {MISSING}")
    log = tmp_path_factory.mktemp("streamlit-uploads") / "server.log"
    proc, url, _ = start_app(small_store_path, log, {"SCALING_UPLOAD_DIR": str(vault_dir)})
    yield url
    stop_app(proc)


def new_page(browser):
    """A page in a fresh context: another browser profile, i.e. another user (no shared cookies or storage)."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = ctx.new_page()
    pg.set_default_timeout(PAGE_TIMEOUT)
    pg.dialogs = []
    pg.on("dialog", lambda d: (pg.dialogs.append(f"{d.type}: {d.message}"), d.dismiss()))
    return ctx, pg


def token_of(pg, timeout: float = 60.0) -> str:
    """The upload token in the page's URL (waits for the app to put it there)."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        m = TOKEN_IN_URL.search(pg.url)
        if m:
            return m.group(1)
        pg.wait_for_timeout(200)
    raise AssertionError(f"no upload token in the URL {pg.url}")


def fitted(pg) -> list[dict]:
    first_chart(pg)
    settled(pg)
    return chart_traces(pg)[0]


def other_file() -> str:
    from datasets.upload import example_csv

    return example_csv().replace("chinchilla-like", "theirs").replace("my-", "their-")


def test_uploads_survive_a_reload_and_stay_with_their_token(browser, app_url, vault_dir):
    from datasets.upload import example_csv

    ctx_a, a = new_page(browser)
    ctx_b, b = new_page(browser)
    try:
        # user A uploads, analyses, fits
        a.goto(app_url + "/Upload")
        heading(a, PAGES["Upload"])
        upload(a, "example_runs.csv", example_csv().encode())
        a.get_by_text("Validation report").wait_for()
        a.get_by_text(re.compile("Kept on this server until")).wait_for()
        token = token_of(a)
        assert TOKEN_RE.fullmatch(token)
        assert len([p for p in vault_dir.iterdir() if p.is_dir()]) == 1
        a.get_by_role("button", name="Analyse these runs").click()
        a.get_by_role("link", name="Open Fit").click()
        heading(a, PAGES["Fit"])
        before = fitted(a)
        assert token_of(a) == token                                  # carried on by every page
        assert any(t["name"] == "data used in the fit" for t in before)

        # reload: a new Streamlit session; the fit is still there, on the same data
        a.reload()
        heading(a, PAGES["Fit"])
        after = fitted(a)
        assert widget(a, "stRadio", "Data").get_by_role("radio", name="My uploads").is_checked()
        assert selected(a, "Uploaded family").startswith("upload/chinchilla-like")
        used = lambda traces: [t["n"] for t in traces if t["name"] == "data used in the fit"]   # noqa: E731
        assert used(after) == used(before) and used(after)[0] > 10
        assert any(t["mark"] == "area" for t in after)   # the band is drawn again
        assert token_of(a) == token
        no_exception(a)

        # user B, no token: nothing of A's
        b.goto(app_url + "/Fit?data=upload")
        heading(b, PAGES["Fit"])
        settled(b)
        b.get_by_text("No uploaded runs in this session yet.").wait_for()
        assert TOKEN_IN_URL.search(b.url) is None
        # a guessed token of the right form: refused, and the page says so and offers the Upload page
        b.goto(app_url + "/Fit?data=upload&uploads=" + "A" * 43)
        heading(b, PAGES["Fit"])
        b.get_by_text(re.compile("No uploads are kept under this link")).wait_for()
        b.get_by_test_id("stPageLink-NavLink").filter(has_text="Go to Upload").first.wait_for()
        settled(b)
        assert "chinchilla-like" not in b.locator("body").inner_text()
        # B's own upload gets its own token; its view holds only its own runs
        b.goto(app_url + "/Upload")
        heading(b, PAGES["Upload"])
        upload(b, "theirs.csv", other_file().encode())
        b.get_by_text("Validation report").wait_for()
        token_b = token_of(b)
        assert token_b != token
        b.get_by_role("button", name="Analyse these runs").click()
        b.get_by_role("link", name="Open Fit").click()
        heading(b, PAGES["Fit"])
        fitted(b)
        assert selected(b, "Uploaded family").startswith("upload/theirs")
        assert "chinchilla-like" not in b.locator("body").inner_text()
        b.reload()
        heading(b, PAGES["Fit"])
        fitted(b)
        assert selected(b, "Uploaded family").startswith("upload/theirs")
        assert "chinchilla-like" not in b.locator("body").inner_text()
        no_exception(b)
        assert a.dialogs == [] and b.dialogs == []
    finally:
        ctx_a.close()
        ctx_b.close()
