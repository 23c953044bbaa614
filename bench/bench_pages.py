"""Page speed (a benchmark, not a test): every page's warm rerun after a widget change, and first charts.

    python bench/bench_pages.py [--store FILE] [--repeats 5] [--tabs 3] [--no-browser] [--baseline-tree DIR]
                                [--pages A,B]

Server side (``streamlit.testing.v1.AppTest`` running ``home.py`` and switching to each page, in one
process as the server runs them): per page, a view chosen by its URL parameters, then

* **first run**: the page's first run in this process (other pages may have filled shared caches);
* **unchanged rerun**: ``at.run()`` with nothing changed (everything must come from the caches);
* **warm change**: one widget flips between two values, both seen before (the caches hold both views),
  median over ``--repeats`` flips: what a user waits for after moving a slider back and forth;
  on Crossover the widget is the target slider (target: the groups' fits are not redone).

Browser side (Debian's chromium driven by playwright against ``streamlit run app.py``, the launcher of
``tests/test_browser.py``): **first start**, from launching the server (store already built) to the home
page's first chart drawn (the corpus chart), and on to its reference fit drawn; then, the server warm,
each page in a **new tab** (a new session): navigation to the first chart drawn (its marks in the SVG),
the median of ``--tabs`` tabs after one that fills the view's caches (which also counts the bytes the
server sent on the websocket over the whole run), in a browser with a profile on disk, as a user's is, and in a private
window (no profile: Streamlit's scripts compiled again in every tab), interleaved;
the baseline is a new tab of the Upload page to its heading (no chart: the browser's own floor).

Every time is printed beside its target as a ratio (<= 1 meets it): 200 ms for a warm change, 300 ms
for Crossover's target, 2 s to the first chart in a new tab, 5 s for the first start. With
``--baseline-tree DIR`` (a copy of an earlier tree, e.g. ``git archive HEAD | tar -x -C DIR``) the server
side is measured there too, in the same run, and the ratio after / before is printed.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

RERUN_TARGET = 0.200          # s, a page's warm rerun after a widget change
CROSSOVER_TARGET = 0.300      # s, moving Crossover's target
FIRST_CHART_TARGET = 2.0      # s, a new tab on a warm server to its first chart
FIRST_START_TARGET = 5.0      # s, server start (store built) to the home page's first chart
TIMEOUT = 600                 # s for any one AppTest run or browser wait


@dataclass(frozen=True)
class Case:
    """A page, the view (URL parameters) it is measured on, and the widget that flips."""

    page: str
    query: dict = field(default_factory=dict)
    kind: str | None = None         # AppTest element kind: select_slider, selectbox, radio, number_input, toggle
    key: str | None = None
    values: tuple = ()              # the two values; () = two neighbouring options of a log slider
    target: float = RERUN_TARGET
    label: str = ""

    @property
    def name(self) -> str:
        return self.label or self.page


CASES = (
    Case("Home"),
    Case("Browse", {"source": "pythia", "family": "pythia/pythia-deduped"}, "radio", "x", ("tokens", "step"),
         label="Browse (pythia-deduped)"),
    Case("Fit", {"source": "chinchilla-epoch", "family": "chinchilla-epoch/chinchilla"}, "select_slider", "target"),
    Case("Allocate", {"source": "chinchilla-epoch", "family": "chinchilla-epoch/chinchilla"}, "number_input",
         "budget", (5.76e23, 1e24)),
    Case("Upload"),
    Case("Crossover", {"source": "laion-clip-mammut", "family": "laion-clip-mammut/clip", "metric": "imagenet1k/acc1",
                       "groups": ["laion-clip-mammut/clip", "laion-clip-mammut/mammut"]},
         "select_slider", "xtarget", target=CROSSOVER_TARGET, label="Crossover (target)"),
    Case("Trends", {"source": "obsscaling", "family": "obsscaling/Pythia", "metric": "TruthfulQA"}, "selectbox",
         "alpha", (0.05, 0.1)),
    Case("Downstream", {"source": "overtrain", "family": "overtrain/rpj", "metric": "hellaswag/acc"},
         "select_slider", "dtarget"),
    Case("Hyperparameters", {"data": "corpus", "source": "steplaw", "family": "steplaw/dense", "hsweep": "family"},
         "radio", "hmethod", ("bowl", "filter")),       # (its cell selector is in the Cells tab, drawn when opened)
)


# ---------------------------------------------------------------------------------------------- server side
def _slider_values(current: float) -> tuple[float, float]:
    """Two neighbouring options of a log slider around ``current`` (the grid of ui.format.scale_options)."""
    k = round(math.log10(current) * 4)
    return current, float(f"{10 ** ((k + 2) / 4):.2g}")


def _widget(at, case: Case):
    return getattr(at, case.kind)(key=case.key)


def _values(at, case: Case) -> tuple:
    if case.values:
        return case.values
    w = _widget(at, case)
    if case.kind == "select_slider":
        return _slider_values(float(w.value))
    options = list(w.options)
    return tuple(options[:2]) if options[0] != w.value else (w.value, options[1])


def _check(at, where: str) -> None:
    if at.exception:
        raise RuntimeError(f"{where}: {at.exception[0].value}")


def home_script() -> Path:
    """The home page's script in the tree being measured: ``home.py`` (``app.py`` before it was the server)."""
    for p in (Path.cwd() / "home.py", Path.cwd() / "app.py"):
        if p.exists():
            return p
    raise SystemExit(f"{Path.cwd()} has neither home.py nor app.py: run the benchmark in the project's tree")


def measure_page(case: Case, repeats: int) -> dict:
    """first / unchanged / warm-change seconds of one page, in a new session (AppTest of the home page)."""
    from streamlit.testing.v1 import AppTest

    from ui.navigation import BY_NAME

    at = AppTest.from_file(str(home_script()), default_timeout=TIMEOUT)
    for k, v in case.query.items():
        at.query_params[k] = v
    at.switch_page(BY_NAME[case.page].script)
    t = time.perf_counter()
    at.run()
    first = time.perf_counter() - t
    _check(at, f"{case.name}: first run")
    still = []
    for _ in range(max(2, repeats // 2)):
        t = time.perf_counter()
        at.run()
        still.append(time.perf_counter() - t)
    _check(at, f"{case.name}: unchanged rerun")
    out = {"page": case.name, "first": first, "unchanged": statistics.median(still), "change": None,
           "target": case.target}
    if case.kind is None:
        return out
    a, b = _values(at, case)
    for v in (b, a):                                          # both views computed once: the caches hold them
        _widget(at, case).set_value(v).run()
        _check(at, f"{case.name}: {case.key} = {v}")
    moves = []
    for i in range(repeats):
        v = b if i % 2 == 0 else a
        t = time.perf_counter()
        _widget(at, case).set_value(v).run()
        moves.append(time.perf_counter() - t)
        _check(at, f"{case.name}: {case.key} = {v}")
    out["change"] = statistics.median(moves)
    out["widget"] = f"{case.key}: {a} <-> {b}"
    return out


def server_side(store: Path, repeats: int, pages: list[str] | None) -> list[dict]:
    """Every case in one AppTest of the home page (this process; run in the tree being measured)."""
    os.environ["SCALING_STORE"] = str(store)
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(home_script()), default_timeout=TIMEOUT)
    at.run()                                                  # imports, the store, the home page's reference fit
    _check(at, "home")
    rows = []
    for case in CASES:
        if pages and case.page not in pages:
            continue
        try:
            rows.append(measure_page(case, repeats))
        except Exception as e:  # noqa: BLE001 - one page failing is reported, the others still measured
            rows.append({"page": case.name, "error": f"{type(e).__name__}: {str(e)[:300]}", "target": case.target})
    return rows


def server_side_in(tree: Path, store: Path, repeats: int, pages: list[str] | None) -> list[dict]:
    """:func:`server_side` run by this file in a subprocess whose project root is ``tree``."""
    code = (f"import sys, json; sys.path.insert(0, {str(tree)!r}); sys.path.append({str(ROOT / 'bench')!r}); "
            f"import bench_pages as b; print('@@' + json.dumps(b.server_side(__import__('pathlib').Path("
            f"{str(store)!r}), {repeats}, {pages!r})))")
    p = subprocess.run([sys.executable, "-c", code], cwd=tree, capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": str(tree)}, timeout=3 * TIMEOUT)
    line = next((ln for ln in p.stdout.splitlines() if ln.startswith("@@")), None)
    if line is None:
        raise RuntimeError(f"the measurement in {tree} failed:\n{p.stderr[-3000:]}")
    return json.loads(line[2:])


# ---------------------------------------------------------------------------------------------- browser side
def browser_side(store: Path, pages: list[str] | None = None, tabs_per_page: int = 3) -> list[dict]:
    """First start, then each page in a new tab on the warm server: seconds to the first chart drawn.

    Each page's new tab is the median of ``tabs_per_page`` tabs per browser, after one tab in each that
    fills the view's caches, in two browsers started together (interleaved, alternating which goes first):

    * ``profile``: a browser with a profile on disk, as a user's is. It keeps V8's compiled code of
      Streamlit's scripts between tabs (a browser without a profile compiles them again in every tab).
      The first start is measured in this browser, with its profile still empty. Rows: ``seconds``, ``tabs``.
    * ``private``: a private window (a context without a profile), the cold case. Rows: ``private_seconds``,
      ``private_tabs``.

    The timed tabs wait for the chart with one ``wait_for_function`` and do not listen to the websocket:
    a locator's wait or a listener (CDP) on each frame slows the page (a locator's wait by ~1 s). The
    bytes the websocket carried (``received_kb``) are counted in the profile's first tab of the page, over
    its whole script run."""
    from playwright.sync_api import sync_playwright

    sys.path.insert(0, str(ROOT))
    from tests.test_browser import (CHART, CHROMIUM, CHROMIUM_ARGS, DRAWN_COUNT_JS, DRAWN_JS, settled, start_app,
                                    stop_app)
    from ui.navigation import BY_NAME

    rows = []
    viewport = {"width": 1400, "height": 1000}
    heading_js = "() => { const h = document.querySelector('h1'); return h !== null && h.offsetParent !== null; }"
    with (tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as tmp, sync_playwright() as pw,
          contextlib.ExitStack() as closing):
        profile = pw.chromium.launch_persistent_context(Path(tmp) / "profile", executable_path=CHROMIUM,
                                                        args=CHROMIUM_ARGS, viewport=viewport)
        closing.callback(profile.close)
        private_browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        closing.callback(private_browser.close)
        private = private_browser.new_context(viewport=viewport)   # its tabs share one in-memory cache
        browsers = {"profile": profile, "private": private}
        for context in browsers.values():
            context.set_default_timeout(TIMEOUT * 1000)
        t0 = time.perf_counter()
        proc, url, health = start_app(store, Path(tmp) / "server.log", {"SCALING_BOOTSTRAP": "1000",
                                                                      "SCALING_TIME_BUDGET": "10"})
        closing.callback(stop_app, proc)        # (callbacks run last-in first-out: the server stops first)

        def visit(context, path: str, query: dict, chart: bool = True, count: bool = False) -> tuple[float, int]:
            import urllib.parse
            page = context.new_page()
            received = []
            if count:
                page.on("websocket", lambda ws: ws.on("framereceived", lambda f: received.append(
                    len(f) if isinstance(f, (bytes, str)) else 0)))
            t = time.perf_counter()
            page.goto(f"{url}{path}?{urllib.parse.urlencode(query, doseq=True)}", timeout=TIMEOUT * 1000)
            if chart:
                page.wait_for_function(DRAWN_JS, arg=CHART, timeout=TIMEOUT * 1000)
            else:
                page.wait_for_function(heading_js, timeout=TIMEOUT * 1000)
            s = time.perf_counter() - t
            if count:                                   # the whole run's messages
                settled(page)
            page.close()
            return s, sum(received)

        page = profile.pages[0] if profile.pages else profile.new_page()     # the profile's own first tab
        page.goto(f"{url}/", timeout=TIMEOUT * 1000)
        page.wait_for_function(DRAWN_JS, arg=CHART, timeout=TIMEOUT * 1000)
        rows.append({"page": "first start -> home's first chart (the corpus)", "seconds": time.perf_counter() - t0,
                     "target": FIRST_START_TARGET, "health": health})
        # Home draws the corpus chart first (a cached query), then the reference fit (imports, a fit, its
        # bootstrap): the second chart drawn is the fit's
        page.wait_for_function(DRAWN_COUNT_JS, arg=[CHART, 2], timeout=TIMEOUT * 1000)
        rows.append({"page": "first start -> home's reference fit drawn", "seconds": time.perf_counter() - t0,
                     "target": FIRST_START_TARGET, "health": health})
        page.goto("about:blank")

        def new_tabs(name: str, path: str, query: dict, chart: bool = True) -> dict:
            _, received = visit(profile, path, query, chart, count=True)    # warm: the view's caches filled
            visit(private, path, query, chart)
            each = {which: [] for which in browsers}
            for i in range(tabs_per_page):                # interleaved: both see the same load
                for which in (("profile", "private") if i % 2 == 0 else ("private", "profile")):
                    each[which].append(visit(browsers[which], path, query, chart)[0])
            return {"page": name, "seconds": statistics.median(each["profile"]),
                    "private_seconds": statistics.median(each["private"]),
                    "tabs": [round(x, 2) for x in each["profile"]],
                    "private_tabs": [round(x, 2) for x in each["private"]],
                    "target": FIRST_CHART_TARGET, "received_kb": received / 1e3}

        rows.append(new_tabs("baseline: new tab -> Upload heading (no chart)", BY_NAME["Upload"].url_path, {},
                             chart=False))
        for case in CASES:
            p = BY_NAME[case.page]
            if case.page == "Upload" or (pages and case.page not in pages):
                continue                                  # (Upload: no chart before an upload)
            rows.append(new_tabs(f"{case.name}: new tab -> first chart", p.url_path or "/", case.query))
    return rows


# ---------------------------------------------------------------------------------------------- report
def _ms(x) -> str:
    return "-" if x is None else f"{1e3 * x:.0f}"


def print_server(rows: list[dict], before: list[dict] | None) -> None:
    prior = {r["page"]: r for r in before or []}
    print(f"{'page (server side, AppTest)':<26}{'first s':>9}{'unchanged ms':>14}{'change ms':>11}{'target ms':>11}"
          f"{'x target':>10}" + (f"{'before ms':>11}{'after/before':>14}" if before else "") + "  widget")
    for r in rows:
        if "error" in r:
            print(f"{r['page']:<26}  FAILED: {r['error']}")
            continue
        t = r["change"] if r["change"] is not None else r["unchanged"]
        b = prior.get(r["page"], {})
        bt = b.get("change") if b.get("change") is not None else b.get("unchanged")
        extra = (f"{_ms(bt):>11}{(t / bt if bt else float('nan')):>14.2f}" if before else "")
        print(f"{r['page']:<26}{r['first']:>9.2f}{_ms(r['unchanged']):>14}{_ms(r['change']):>11}"
              f"{_ms(r['target']):>11}{t / r['target']:>10.2f}{extra}  {r.get('widget', '(unchanged rerun)')}")


def print_browser(rows: list[dict]) -> None:
    print(f"{'browser (chromium, warm server unless first start)':<52}{'s':>8}{'target s':>10}{'x target':>10}"
          f"{'private s':>11}{'KB on the websocket':>21}  each new tab s (private)")
    for r in rows:
        kb = f"{r['received_kb']:.0f}" if "received_kb" in r else "-"
        private = f"{r['private_seconds']:.2f}" if "private_seconds" in r else "-"
        each = " ".join(f"{x:.2f}" for x in r.get("tabs", ()))
        if r.get("private_tabs"):
            each += " (" + " ".join(f"{x:.2f}" for x in r["private_tabs"]) + ")"
        print(f"{r['page']:<52}{r['seconds']:>8.2f}{r['target']:>10.1f}{r['seconds'] / r['target']:>10.2f}"
              f"{private:>11}{kb:>21}  {each}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", type=Path,
                    help="store file (default: $SCALING_STORE or ./store.duckdb, built if missing)")
    ap.add_argument("--repeats", type=int, default=5, help="widget flips timed per page (median)")
    ap.add_argument("--no-browser", action="store_true", help="only the server side")
    ap.add_argument("--no-server", action="store_true", help="only the browser side")
    ap.add_argument("--baseline-tree", type=Path, help="also measure the server side in this earlier tree")
    ap.add_argument("--pages", help="comma-separated page names (default: all)")
    ap.add_argument("--tabs", type=int, default=3, help="new tabs timed per page and browser (median)")
    ap.add_argument("--json", type=Path, help="also write the results to this JSON file")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    if args.store is None:
        from bench._common import store_path
        store = store_path().resolve()
    else:
        store = args.store.resolve()
    pages = [p.strip() for p in args.pages.split(",")] if args.pages else None
    os.environ.setdefault("SCALING_BOOTSTRAP", "1000")
    print(f"bench_pages: store {store}; bootstrap {os.environ['SCALING_BOOTSTRAP']} resamples; "
          f"{os.cpu_count()} CPUs (shared; load average {os.getloadavg()[0]:.1f}); ratios are measured / target "
          "(<= 1 meets it)")
    out = {}
    if not args.no_server:
        before = (server_side_in(args.baseline_tree.resolve(), store, args.repeats, pages)
                  if args.baseline_tree else None)
        after = server_side_in(ROOT, store, args.repeats, pages)
        print_server(after, before)
        out.update(server=after, server_before=before)
    if not args.no_browser:
        rows = browser_side(store, pages, args.tabs)
        print_browser(rows)
        out["browser"] = rows
    print(f"load average at the end: {os.getloadavg()[0]:.1f} ({os.cpu_count()} CPUs)")
    if args.json:
        args.json.write_text(json.dumps(out, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
