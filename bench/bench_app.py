"""Benchmark the dashboard: cold start to the first drawn chart, and a slider change on the Fit page.

    python bench/bench_app.py [--store FILE] [--repeats 9] [--no-browser]

Browser timings (Debian's chromium driven by playwright against ``streamlit run app.py``, the same
launcher as ``tests/test_browser.py``):

* server start -> ``/_stcore/health``; baseline: ``python -c "import streamlit"`` (interpreter and
  import, the floor of any start);
* server start -> first chart drawn on the home page (the reference Chinchilla fit); baseline:
  server start -> health;
* navigation -> first chart drawn, in a new session with cold caches (first visit) and warm caches
  (second visit); baseline: navigation -> the heading of the Upload page (a page without analysis).

Python timing (``streamlit.testing.v1.AppTest`` on ``pages/2_Fit.py``, no browser): after a first run
has fitted and cached the law, the time of a rerun after moving the *Target compute* slider (the
frontier, allocation and figure are recomputed; the fit comes from the cache), median over
``--repeats`` moves; baseline: a rerun without any change. Target: under 200 ms.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._common import store_path  # noqa: E402
from tests.test_browser import CHART, CHROMIUM, CHROMIUM_ARGS, DRAWN_JS, start_app, stop_app  # noqa: E402
from ui.navigation import BY_NAME  # noqa: E402

SLIDER_TARGET_MS = 200.0
TIMEOUT_MS = 180_000


def _first_chart(page) -> None:
    page.locator(CHART).locator("visible=true").first.wait_for(timeout=TIMEOUT_MS)
    page.wait_for_function(DRAWN_JS, arg=CHART, timeout=TIMEOUT_MS)


def browser_timings(store: Path) -> list[tuple[str, float, float, str]]:
    """Seconds: (measure, value, baseline, what the baseline is)."""
    from playwright.sync_api import sync_playwright

    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import streamlit"], check=True)
    import_s = time.perf_counter() - t
    rows = []
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        t0 = time.perf_counter()
        proc, url, health_s = start_app(store, Path(tmp) / "server.log",
                                        {"SCALING_BOOTSTRAP": os.environ["SCALING_BOOTSTRAP"], "SCALING_TIME_BUDGET": "10"})
        try:
            rows.append(("server start -> health", health_s, import_s, "python -c 'import streamlit'"))

            def visit(path: str, wait) -> float:
                ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
                page = ctx.new_page()
                t = time.perf_counter()
                page.goto(url + path, timeout=TIMEOUT_MS)
                wait(page)
                s = time.perf_counter() - t
                ctx.close()
                return s

            cold = visit("/", _first_chart)
            rows.append(("server start -> first chart (home)", time.perf_counter() - t0, health_s,
                         "server start -> health"))
            warm = visit("/", _first_chart)
            upload = visit(BY_NAME["Upload"].url_path, lambda p: p.locator("h1").first.wait_for(timeout=TIMEOUT_MS))
            rows.append(("navigation -> first chart, cold caches", cold, upload, "navigation -> Upload heading"))
            rows.append(("navigation -> first chart, warm caches", warm, upload, "navigation -> Upload heading"))
        finally:
            stop_app(proc)
            browser.close()
    return rows


def slider_timing(store: Path, repeats: int) -> tuple[float, float]:
    """Median seconds of a rerun after a slider move, and of a rerun without change (cached fit)."""
    os.environ["SCALING_STORE"] = str(store)
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "home.py"), default_timeout=TIMEOUT_MS / 1000)
    at.switch_page(BY_NAME["Fit"].script)     # inside the multipage app, as the server runs it
    at.run()
    if at.exception:
        raise RuntimeError(f"the Fit page failed: {at.exception[0].value}")
    slider = at.select_slider(key="target")
    values = [1e22, 1e25, 1e23, 1e26]
    slider.set_value(values[-1]).run()           # warm: the first move also fills the figure caches
    moves, still = [], []
    for i in range(repeats):
        t = time.perf_counter()
        at.select_slider(key="target").set_value(values[i % len(values)]).run()
        moves.append(time.perf_counter() - t)
        t = time.perf_counter()
        at.run()
        still.append(time.perf_counter() - t)
    if at.exception:
        raise RuntimeError(f"the Fit page failed: {at.exception[0].value}")
    assert at.select_slider(key="target").value == values[(repeats - 1) % len(values)]
    return statistics.median(moves), statistics.median(still)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", type=Path, help="store file (default: $SCALING_STORE or ./store.duckdb, built if missing)")
    ap.add_argument("--repeats", type=int, default=9, help="slider moves timed (median)")
    ap.add_argument("--no-browser", action="store_true", help="only the Python timing")
    args = ap.parse_args(argv)
    store = (args.store or store_path()).resolve()
    os.environ.setdefault("SCALING_BOOTSTRAP", "1000")

    rows = [] if args.no_browser else browser_timings(store)
    move, still = slider_timing(store, args.repeats)
    print(f"store {store}; bootstrap {os.environ['SCALING_BOOTSTRAP']} resamples; slider: median of {args.repeats}")
    print(f"{'measure':<44}{'value':>10}{'baseline':>10}{'ratio':>8}  baseline is")
    for name, v, b, what in rows:
        print(f"{name + ' (s)':<44}{v:>10.2f}{b:>10.2f}{v / b:>8.2f}  {what}")
    verdict = "meets" if move * 1e3 < SLIDER_TARGET_MS else "MISSES"
    print(f"{'Fit page: slider move, cached fit (ms)':<44}{move * 1e3:>10.1f}{still * 1e3:>10.1f}{move / still:>8.2f}"
          f"  rerun without change; {verdict} the {SLIDER_TARGET_MS:.0f} ms target")
    return 0


if __name__ == "__main__":
    sys.exit(main())
