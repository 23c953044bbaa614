"""Where a new tab's time to its first chart goes: chart libraries side by side, and the app against a baseline tree.

    python bench/bench_first_chart.py [--repeats 5] [--points 725] [--webgl 2000,5000,20000]
                                      [--baseline-tree DIR --pages Fit,Trends] [--store FILE]

Debian's chromium driven by playwright (the launcher and flags of ``tests/test_browser.py``); one browser
context without a profile (a private window: new tabs share the HTTP cache, but Streamlit's scripts are
compiled again in every tab, 0.2-0.6 s more than a browser with a profile, ``bench_pages.py``); every
variant is visited once to warm its server, then the variants are visited in turn (interleaved, so a
change of machine load hits all of them) and the median is printed with the load average.

1. **Libraries** (a throwaway one-chart Streamlit app, written to a temporary folder): the same content,
   ``--points`` points of loss against compute in 8 groups plus a fitted curve, drawn by
   ``st.plotly_chart`` (SVG ``go.Scatter``), ``st.plotly_chart`` (WebGL ``go.Scattergl``),
   ``st.vega_lite_chart`` and ``st.echarts_chart``; baseline: the same page without a chart (the
   browser's floor). Measured from navigation to the first data mark in the DOM (plotly: a
   ``.scatterlayer .trace`` or its WebGL canvas; vega: a symbol path; echarts: its canvas) and a frame
   painted after it.
2. **WebGL against SVG** by points per trace (``--webgl``): where ``analysis.figures.style.WEBGL_POINTS``
   should be for a software-rendered browser.
3. **The app** (with ``--baseline-tree DIR``, e.g. ``git archive HEAD | tar -x -C DIR``): each page of
   ``bench/bench_pages.CASES`` in a new tab on a warm server of this tree and of DIR, interleaved:
   seconds to the first chart drawn (either library), ratio this tree / baseline.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import textwrap
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_pages import CASES  # noqa: E402
from tests.test_browser import CHROMIUM, CHROMIUM_ARGS, DRAWN_JS, start_app, stop_app  # noqa: E402

TIMEOUT_MS = 180_000
FIRST_CHART_TARGET = 2.0
# the app's charts in either library, so that a baseline tree drawing plotly charts is measured the same way
APP_CHART = '[data-testid="stVegaLiteChart"], [data-testid="stPlotlyChart"] .js-plotly-plot'
APP_DRAWN_JS = DRAWN_JS.replace("d.querySelector('canvas') ||",
                                "d.querySelector('canvas') || (d._fullData && d.querySelector('svg.main-svg')) ||")
assert APP_DRAWN_JS != DRAWN_JS, "tests.test_browser.DRAWN_JS changed: update APP_DRAWN_JS"

APP = textwrap.dedent('''
    import numpy as np, pandas as pd, streamlit as st
    import plotly.graph_objects as go

    kind = st.query_params.get("kind", "none")
    n = int(st.query_params.get("n", "725"))
    st.title(f"first chart: {kind}")
    rng = np.random.default_rng(0)
    C = np.sort(10 ** rng.uniform(18, 24, n))
    L = 1.7 + 480 * C ** -0.15 * np.exp(rng.normal(0, 0.02, n))
    grp = np.arange(n) * 8 // n
    grid = np.logspace(18, 24, 120)
    fit = 1.7 + 480 * grid ** -0.15
    if kind in ("plotly", "webgl"):
        trace = go.Scatter if kind == "plotly" else go.Scattergl
        fig = go.Figure([trace(x=C[grp == g], y=L[grp == g], mode="markers", name=f"group {g}") for g in range(8)])
        fig.add_trace(go.Scatter(x=grid, y=fit, mode="lines", name="fit"))
        fig.update_xaxes(type="log", title="compute C (FLOPs)").update_yaxes(type="log", title="loss (nats)")
        fig.update_layout(template="plotly_white", height=460)
        st.plotly_chart(fig, config={"displaylogo": False})
    elif kind == "vega":
        points = pd.DataFrame({"C": C, "L": L, "group": [f"group {g}" for g in grp]})
        curve = pd.DataFrame({"C": grid, "L": fit})
        x = {"field": "C", "type": "quantitative", "scale": {"type": "log"}, "title": "compute C (FLOPs)"}
        y = {"field": "L", "type": "quantitative", "scale": {"type": "log"}, "title": "loss (nats)"}
        st.vega_lite_chart({"height": 460, "layer": [
            {"data": {"values": points.to_dict("records")}, "mark": {"type": "point", "filled": True},
             "encoding": {"x": x, "y": y, "color": {"field": "group", "type": "nominal"}}},
            {"data": {"values": curve.to_dict("records")}, "mark": "line", "encoding": {"x": x, "y": y}}]},
            width="stretch")
    elif kind == "echarts":
        series = [{"type": "scatter", "name": f"group {g}", "data": np.c_[C[grp == g], L[grp == g]].tolist()}
                  for g in range(8)]
        series.append({"type": "line", "name": "fit", "showSymbol": False, "data": np.c_[grid, fit].tolist()})
        st.echarts_chart({"xAxis": {"type": "log"}, "yAxis": {"type": "log"}, "legend": {}, "tooltip": {},
                          "toolbox": {"feature": {"saveAsImage": {}}}, "series": series}, height=460)
    else:
        st.write("no chart")
''')

# the first data mark of each kind in the DOM
MARKS = {"none": "h1", "plotly": ".js-plotly-plot .main-svg .scatterlayer .trace",
         "webgl": ".js-plotly-plot canvas.gl-canvas-context",
         "vega": "[data-testid='stVegaLiteChart'] svg.marks .mark-symbol path, [data-testid='stVegaLiteChart'] canvas",
         "echarts": "[data-testid='stEChartsChart'] canvas"}
LABELS = {"none": "no chart (the floor)", "plotly": "st.plotly_chart, SVG", "webgl": "st.plotly_chart, WebGL",
          "vega": "st.vega_lite_chart", "echarts": "st.echarts_chart"}
# resolves once ``sel`` is in the DOM and the browser has painted a frame after it (two animation frames)
WATCH = """sel => new Promise(resolve => { const painted = () => requestAnimationFrame(() => requestAnimationFrame(resolve));
  const f = () => { if (document.querySelector(sel)) { o.disconnect(); painted(); return true; } };
  const o = new MutationObserver(f); o.observe(document, {subtree: true, childList: true, attributes: true}); f(); })"""


def _load() -> str:
    return "load %.1f %.1f %.1f" % os.getloadavg()


def _new_tab(context, url: str, selector: str) -> float:
    """Seconds from navigation to ``selector`` present (a mark drawn), in a new tab of ``context``; for
    the app's :data:`APP_CHART`, to its first chart drawn (a Vega chart as ``bench_pages`` and the browser
    tests define it, or a baseline tree's plotly chart with its traces drawn)."""
    page = context.new_page()
    t = time.perf_counter()
    page.goto(url, timeout=TIMEOUT_MS)
    if selector == APP_CHART:
        page.wait_for_function(APP_DRAWN_JS, arg=APP_CHART, timeout=TIMEOUT_MS)
    else:
        page.evaluate(WATCH, selector)
    s = time.perf_counter() - t
    page.close()
    return s


def _interleaved(context, visits: dict[str, tuple[str, str]], repeats: int) -> dict[str, list[float]]:
    """``visits``: name -> (url, selector). Each visited once (warm), then ``repeats`` rounds in turn."""
    for url, sel in visits.values():
        _new_tab(context, url, sel)
    times = {name: [] for name in visits}
    for _ in range(repeats):
        for name, (url, sel) in visits.items():
            times[name].append(_new_tab(context, url, sel))
    return times


def _row(label: str, xs: list[float], base: float | None, base_label: str = "") -> None:
    m = statistics.median(xs)
    ratio = f"{m / base:8.2f}" if base else f"{'':>8}"
    print(f"  {label:<40}{m:8.2f}{min(xs):8.2f}{max(xs):8.2f}{ratio}  {base_label}")


def libraries(context, url: str, repeats: int, points: int) -> None:
    visits = {k: (f"{url}/?kind={k}&n={points}", MARKS[k]) for k in ("none", "plotly", "webgl", "vega", "echarts")}
    print(f"1. one chart of {points} points + a fitted curve, new tab -> first mark (s; {_load()})")
    times = _interleaved(context, visits, repeats)
    print(f"  {'':<40}{'median':>8}{'min':>8}{'max':>8}{'ratio':>8}  ratio to")
    ref = statistics.median(times["plotly"])
    for k, xs in times.items():
        _row(LABELS[k], xs, ref if k != "plotly" else None, "st.plotly_chart SVG" if k != "plotly" else "")
    floor = statistics.median(times["none"])
    for k in ("plotly", "vega"):
        print(f"  {LABELS[k]} minus the floor: {statistics.median(times[k]) - floor:.2f} s")
    print(f"  ({_load()})")


def webgl(context, url: str, repeats: int, sizes: list[int]) -> None:
    print(f"2. WebGL against SVG, 8 marker traces + a curve, new tab -> first mark (s; {_load()})")
    for n in sizes:
        times = _interleaved(context, {k: (f"{url}/?kind={k}&n={n}", MARKS[k]) for k in ("plotly", "webgl")}, repeats)
        svg, gl = (statistics.median(times[k]) for k in ("plotly", "webgl"))
        print(f"  {n:>7,} points: SVG {svg:6.2f}  WebGL {gl:6.2f}  WebGL / SVG {gl / svg:5.2f}")
    print(f"  ({_load()})")


def app_pages(context, store: Path, baseline: Path, repeats: int, pages: list[str] | None) -> None:
    from ui.navigation import BY_NAME

    env = {"SCALING_BOOTSTRAP": "1000", "SCALING_TIME_BUDGET": "10"}
    with tempfile.TemporaryDirectory() as tmp:
        after, url_a, _ = start_app(store, Path(tmp) / "after.log", env)
        before = None
        try:
            before, url_b, _ = start_app(store, Path(tmp) / "before.log", env, cwd=baseline)
            print(f"3. the app, new tab -> first chart drawn (s; this tree / {baseline}; {_load()})")
            print(f"  {'page':<28}{'this':>8}{'before':>8}{'ratio':>8}{'x target':>10}")
            for case in CASES:
                if case.page == "Upload" or (pages and case.page not in pages):
                    continue
                path = f"{BY_NAME[case.page].url_path or '/'}?{urllib.parse.urlencode(case.query, doseq=True)}"
                times = _interleaved(context, {"after": (url_a + path, APP_CHART), "before": (url_b + path, APP_CHART)},
                                     repeats)
                a, b = (statistics.median(times[k]) for k in ("after", "before"))
                print(f"  {case.name[:28]:<28}{a:8.2f}{b:8.2f}{a / b:8.2f}{a / FIRST_CHART_TARGET:10.2f}", flush=True)
            print(f"  ({_load()})")
        finally:
            stop_app(after)
            if before is not None:
                stop_app(before)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5, help="interleaved rounds (median)")
    ap.add_argument("--points", type=int, default=725, help="points in the libraries' chart (725: Fit's Chinchilla)")
    ap.add_argument("--webgl", default="2000,5000,20000", help="points for WebGL vs SVG ('' to skip)")
    ap.add_argument("--baseline-tree", type=Path, help="an earlier tree: compare the app's pages with it")
    ap.add_argument("--pages", help="comma-separated page names for the app comparison (default: all)")
    ap.add_argument("--store", type=Path, help="store file (default: $SCALING_STORE or ./store.duckdb)")
    ap.add_argument("--no-libraries", action="store_true")
    args = ap.parse_args(argv)
    from playwright.sync_api import sync_playwright

    print(f"chromium {CHROMIUM} {' '.join(CHROMIUM_ARGS)}; {_load()}")
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        try:
            if not args.no_libraries or args.webgl:
                (Path(tmp) / "app.py").write_text(APP)
                # the one-chart app reads no store (start_app's store variable goes unused there)
                proc, url, _ = start_app(Path(tmp) / "no-store", Path(tmp) / "server.log", cwd=Path(tmp))
                try:
                    if not args.no_libraries:
                        libraries(context, url, args.repeats, args.points)
                    if args.webgl:
                        webgl(context, url, args.repeats, [int(n) for n in args.webgl.split(",")])
                finally:
                    stop_app(proc)
            if args.baseline_tree:
                from bench._common import store_path

                store = (args.store or store_path()).resolve()
                app_pages(context, store, args.baseline_tree.resolve(), args.repeats,
                          args.pages.split(",") if args.pages else None)
        finally:
            browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
