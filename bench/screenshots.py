"""Capture the README screenshots: one PNG per page of the dashboard, 1400 x 1400, into docs/screenshots/.

    python bench/screenshots.py [--store FILE] [--out docs/screenshots] [--max-kb 300]

Starts ``streamlit run app.py`` (the launcher of ``tests/test_browser.py``), opens each page in a fresh
browser session at its plain URL (no query parameters: the page's first view, as a first-time visitor
sees it; :data:`VIEWS` can name another view), waits for the script run to finish and the charts to be drawn, and saves the
viewport. The Upload page is captured after uploading ``datasets.upload.example_csv()``. A PNG above
``--max-kb`` is re-encoded with an adaptive 256-colour palette (Pillow), which keeps text sharp.
"""
from __future__ import annotations

import argparse
import io
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._common import store_path  # noqa: E402
from tests.test_browser import CHART, CHROMIUM, CHROMIUM_ARGS, start_app, stop_app  # noqa: E402
from ui.navigation import PAGES  # noqa: E402

VIEWPORT = {"width": 1400, "height": 1400}
TIMEOUT_MS = 240_000

# page -> query parameters of the view to capture: none, so each screenshot is the page's first view, what a
# first-time visitor sees at its plain URL (issue 16); add (key, value) pairs here to capture another view
VIEWS: dict[str, list[tuple[str, str]]] = {}
SHOTS = {p.name.lower(): (p.url_path or "/", VIEWS.get(p.name, [])) for p in PAGES}   # shot -> (path, parameters)
HEADINGS = {p.name.lower(): p.title for p in PAGES}


def _settle(page, heading: str, want_chart: bool) -> None:
    page.locator("h1").filter(has_text=heading).first.wait_for(timeout=TIMEOUT_MS)
    page.locator('[data-testid="stApp"][data-test-script-state="notRunning"]').wait_for(state="attached",
                                                                                      timeout=TIMEOUT_MS)
    if want_chart:
        page.locator(CHART).locator("visible=true").first.wait_for(timeout=TIMEOUT_MS)
    page.wait_for_timeout(1500)          # the charts' and the data grids' first paint


def _shrink(png: bytes, max_bytes: int) -> bytes:
    if len(png) <= max_bytes:
        return png
    from PIL import Image

    img = Image.open(io.BytesIO(png)).convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def capture(store: Path, out: Path, max_kb: int, only: list[str] | None = None) -> list[tuple[str, int]]:
    """Save ``<out>/<page>.png`` for every page (or those in ``only``); returns (page, bytes)."""
    from playwright.sync_api import sync_playwright

    from datasets.upload import example_csv

    out.mkdir(parents=True, exist_ok=True)
    saved = []
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        proc, url, _ = start_app(store, Path(tmp) / "server.log", {"SCALING_BOOTSTRAP": "200"})
        try:
            for name, (path, params) in SHOTS.items():
                if only and name not in only:
                    continue
                ctx = browser.new_context(viewport=VIEWPORT, device_scale_factor=1)
                page = ctx.new_page()
                page.goto(url + path + (f"?{urlencode(params)}" if params else ""), timeout=TIMEOUT_MS)
                if name == "upload":
                    _settle(page, HEADINGS[name], want_chart=False)
                    page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(
                        files=[{"name": "example_runs.csv", "mimeType": "text/csv", "buffer": example_csv().encode()}])
                    page.get_by_text("Validation report").wait_for(timeout=TIMEOUT_MS)
                    _settle(page, HEADINGS[name], want_chart=False)
                else:
                    _settle(page, HEADINGS[name], want_chart=True)
                if page.get_by_test_id("stException").count():
                    raise RuntimeError(f"page {name} shows an exception: {page.get_by_test_id('stException').first.inner_text()}")
                png = _shrink(page.screenshot(full_page=False), max_kb * 1000)
                (out / f"{name}.png").write_bytes(png)
                saved.append((name, len(png)))
                ctx.close()
        finally:
            stop_app(proc)
            browser.close()
    return saved


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", type=Path, help="store file (default: $SCALING_STORE or ./store.duckdb, built if missing)")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    ap.add_argument("--max-kb", type=int, default=300)
    ap.add_argument("--only", nargs="*", choices=sorted(SHOTS), help="capture only these pages")
    args = ap.parse_args(argv)
    store = (args.store or store_path()).resolve()
    for name, size in capture(store, args.out, args.max_kb, args.only):
        print(f"{name:<12}{size / 1000:>8.0f} KB  {args.out / (name + '.png')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
