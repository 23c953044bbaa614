"""The dashboard's pages under streamlit.testing (AppTest): every page runs for a family of every source and
for uploaded runs, the key elements are there, widgets change the results, the URL carries the view, and
the app still starts (and uploads still work) when no store can be built.

Bootstrap counts are kept small through ``SCALING_BOOTSTRAP`` (the app's default), so the module stays fast.
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from datasets.upload import example_csv, read_upload
from ui.navigation import PAGES as PAGE_LIST

ROOT = Path(__file__).resolve().parents[1]
PAGES = {p.name: p.script for p in PAGE_LIST}
# one family per source (curves, final points, downstream-only, vision, hyper-parameter grids)
FAMILIES = ["chinchilla-epoch/chinchilla", "colpret/datablations-c4", "gemstones/hot", "laion-clip-mammut/mammut",
            "obsscaling/Pythia", "overtrain/rpj", "pythia/pythia-deduped", "revisiting/lm-val_loss", "steplaw/dense"]
BOOT = 20
TIMEOUT = 120


@pytest.fixture(scope="module")
def app_env(store_path):
    """Point the app at the session's store, with a small bootstrap and time budget."""
    mp = pytest.MonkeyPatch()
    mp.setenv("SCALING_STORE", str(store_path))
    mp.setenv("SCALING_BOOTSTRAP", str(BOOT))
    mp.setenv("SCALING_TIME_BUDGET", "5")
    if "analysis.settings" in sys.modules:   # imported earlier in this process: override its defaults too
        mp.setattr(sys.modules["analysis.settings"], "BOOTSTRAP", BOOT)
        mp.setattr(sys.modules["analysis.settings"], "TIME_BUDGET", 5.0)
    yield store_path
    mp.undo()


OPEN = {"settings": "true"}      # the fit settings box open (its state is in the URL; ui.fit_controls.settings_box)


def run_page(page: str, params: dict | None = None, session: dict | None = None):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / PAGES["Home"]), default_timeout=TIMEOUT)
    if page != "Home":   # run the page inside the multipage app, as the server does (page links resolve)
        at.switch_page(PAGES[page])
    at.query_params.update(params or {})
    for k, v in (session or {}).items():
        at.session_state[k] = v
    at.run()
    assert not at.exception, f"{page} {params}: " + "\n".join(str(e.value) for e in at.exception)
    return at


def charts(at) -> list:
    """The page's charts: ui.output.chart draws them with Vega-Lite (analysis.figures.vega)."""
    return at.get("vega_lite_chart")


def spec(at, i: int = 0) -> dict:
    """The Vega-Lite specification of chart ``i`` (its data inline, in each layer's ``data.values``)."""
    return json.loads(charts(at)[i].proto.spec)


def assert_charts_are_vega_lite(at) -> None:
    """Every chart of the page is Vega-Lite (no plotly.js bundle to load), draws data, and every quantitative
    axis can be read: it names what it shows (a title, or the title of its small-multiple panel), and an axis
    drawn without labels shares its scale with one that has them."""
    from analysis.figures.vega import series

    assert not at.get("plotly_chart"), "a chart fell back to plotly: analysis.figures.vega does not translate it"
    for i in range(len(charts(at))):
        s = spec(at, i)
        assert any(t["x"] for t in series(s)), f"chart {i} draws no data"
        for view in s.get("concat", [s]):
            for layer in view.get("layer", []):
                for ch in ("x", "y"):
                    enc = layer.get("encoding", {}).get(ch, {})
                    if enc.get("type") != "quantitative":
                        continue
                    what = f"chart {i} ({s.get('title')}): the {ch} axis of {layer.get('description')!r}"
                    if enc.get("axis", {}).get("labels") is False:
                        assert s.get("resolve", {}).get("scale", {}).get(ch) == "shared", \
                            f"{what} has no labels and a scale of its own: its values cannot be read"
                    else:
                        assert enc.get("title") or view.get("title"), f"{what} has no title"


@pytest.fixture
def reports(monkeypatch):
    """Every Report the pages build during the test (analysis.report.build_report, spied)."""
    import analysis.report as report_api

    made, real = [], report_api.build_report

    def spy(*args, **kwargs):
        made.append(real(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(report_api, "build_report", spy)
    # the pages build a report only when a download is clicked (AppTest has no download URL): click them here
    import ui.output as output_api

    real_download = output_api.download_text

    def click_reports(label, make, *args, **kwargs):
        if label.startswith("Report ("):
            make()
        return real_download(label, make, *args, **kwargs)

    monkeypatch.setattr(output_api, "download_text", click_reports)
    return made


_ESCAPED = re.compile(r"\\(.)")


def shown_tables(at) -> list:
    """Every table the page shows, as data frames: its data grids, then its static tables
    (``ui.output.table(static=True)``: text cells, their Markdown escapes undone, as a reader sees them)."""
    def plain(v):
        return _ESCAPED.sub(r"\1", v) if isinstance(v, str) else v
    return [d.value for d in at.dataframe] + [t.value.rename(columns=plain).map(plain) for t in at.table]


def table(at, *columns: str):
    """The first table shown with all of ``columns`` (AppTest does not expose a table's key)."""
    for df in shown_tables(at):
        if set(columns) <= set(df.columns):
            return df
    raise AssertionError(f"no table with columns {columns}; tables: {[list(d.columns) for d in shown_tables(at)]}")


def url_values(at, key: str) -> list:
    """The URL's values of ``key`` (AppTest keeps a repeated parameter as a list)."""
    v = at.query_params.get(key)
    return [] if v is None else list(v) if isinstance(v, (list, tuple)) else [v]


def metric(at, label: str) -> str:
    found = [m.value for m in at.metric if m.label == label]
    assert found, f"no metric {label!r}; metrics: {[m.label for m in at.metric]}"
    return found[0]


def number_of(text: str) -> float:
    """The leading number of a formatted value ('1.82 nats', '119B', '1.7e24', '12%')."""
    m = re.match(r"\s*([-+]?[0-9.]+(?:e[-+]?\d+)?)\s*([KMBTP%]?)", text)
    assert m, f"no number in {text!r}"
    scale = {"": 1, "K": 1e3, "M": 1e6, "B": 1e9, "T": 1e12, "P": 1e15, "%": 0.01}[m.group(2)]
    return float(m.group(1)) * scale


def source_of(family: str) -> str:
    return family.split("/")[0]


# ---------------------------------------------------------------------------------------------- corpus
@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("page", [p for p in PAGES if p not in ("Home", "Upload")])
def test_every_page_runs_for_every_source(app_env, page, family):
    at = run_page(page, {"source": source_of(family), "family": family})
    assert at.sidebar.selectbox(key="family").value == family
    assert at.sidebar.selectbox(key="metric").value
    if page == "Browse":
        assert charts(at) and len(at.dataframe) >= 1
        assert int(metric(at, "Runs shown").replace(",", "")) >= 1
    # every page either shows a result or says why not (and what to do)
    assert charts(at) or at.warning or at.info or at.error, f"{page} {family} showed nothing"
    # every chart is Vega-Lite, draws data and names its axes; the sidebar lists the pages by name
    assert_charts_are_vega_lite(at)
    assert [link.proto.label for link in at.get("page_link")][:len(PAGES)] == list(PAGES)


def test_home_shows_corpus_and_reference_fit(app_env):
    closed = run_page("Home")
    assert not closed.dataframe           # the tables are built when their expanders open (a new tab's first chart)
    assert [e.label for e in closed.expander][:2] == [
        "The values in a table: ours, Epoch (2024) and Hoffmann et al. (2022)",
        "Each source's paper, repository, commit and licence"]
    at = run_page("Home", session={"home_values_open": True, "home_sources_open": True})
    assert int(metric(at, "Sources").replace(",", "")) == 9
    assert int(metric(at, "Training runs").replace(",", "")) > 1000
    sources = table(at, "source", "licence", "paper", "repo")
    assert {"source", "licence", "paper", "repo"} <= set(sources.columns)
    assert len(sources) == 9 and sources["licence"].notna().all()
    # Chinchilla on Epoch's points, Epoch's exclusions: the published point estimates (Besiroglu et al. 2024)
    e = number_of(metric(at, "E (nats)"))         # the unit in the label: the value fits its narrow column
    alpha = number_of(metric(at, "alpha"))
    beta = number_of(metric(at, "beta"))
    assert abs(e - 1.817) < 0.03 and abs(alpha - 0.348) < 0.02 and abs(beta - 0.366) < 0.03
    params = table(at, "Epoch (2024)")
    assert list(params["Epoch (2024)"]) == [1.817, 482.0, 2085.4, 0.348, 0.366]
    assert len(charts(at)) >= 2
    assert_charts_are_vega_lite(at)


def test_fit_widgets_change_the_result(app_env):
    params = {"source": "overtrain", "family": "overtrain/rpj", **OPEN}
    at = run_page("Fit", params)
    assert at.selectbox(key="law").value == "chinchilla"
    rmse_huber = metric(at, "RMSE of log y")
    assert table(at, "parameter", "95% CI low")["parameter"].tolist() == ["E", "A", "B", "alpha", "beta"]
    at.selectbox(key="objective").set_value("mse").run()
    assert not at.exception
    assert metric(at, "RMSE of log y") != rmse_huber
    assert at.query_params.get("objective") == "mse"
    at.selectbox(key="law").set_value("kaplan").run()
    assert not at.exception
    assert table(at, "parameter", "95% CI low")["parameter"].tolist() == ["Nc", "Dc", "alphaN", "alphaD"]
    assert at.query_params.get("law") == "kaplan"


def test_fit_views_backtest_compare_export(app_env, reports):
    base = {"source": "chinchilla-epoch", "family": "chinchilla-epoch/chinchilla"}
    at = run_page("Fit", {**base, "view": "backtest"})
    assert number_of(metric(at, "ARE on held-out runs")) < 0.2
    assert table(at, "are", "log_rmse")["are"].notna().all()
    at = run_page("Fit", {**base, "view": "compare", "law2": "kaplan"})
    compare = table(at, "fit", "law", "objective")
    assert list(compare["law"]) == ["chinchilla", "kaplan"]
    at = run_page("Fit", {**base, "view": "compare", "law2": "power_c"})      # a law in C alone: its value at the
    compare = table(at, "fit", "law", "objective")                            # target, not an allocation
    assert list(compare["law"]) == ["chinchilla", "power_c"] and compare["y at target"].iloc[1] > 0
    at = run_page("Fit", {**base, "view": "export"})
    labels = {b.label for b in at.get("download_button")}
    assert {"Fit (JSON)", "Report (HTML)", "Report (Markdown)", "Report (JSON)"} <= labels
    # the report names the exact command (and settings) that reproduce it, and the page shows that command
    content = reports[-1].to_dict()
    command = content["reproduce"]
    # the app's store is the default one ($SCALING_STORE), which the command line reads without --store: no
    # path of this server in a report made to be shared, and the command runs from any folder
    assert str(app_env) not in command and "--store" not in command
    for part in ("python -m analysis report", "--family chinchilla-epoch/chinchilla",
                 "--law chinchilla", "--objective huber", f"--bootstrap {BOOT}", "--exclude-run", "--keep-flagged"):
        assert part in command, (part, command)
    assert command.count("--exclude-run") == 5          # Epoch's five flagged outliers, left out by default
    assert content["settings"]["law"] == "chinchilla" and content["settings"]["bootstrap"] == BOOT
    assert content["allocation"] and content["backtest"]
    assert "## Reproduce" in reports[-1].to_markdown() and command in reports[-1].to_markdown()
    assert any(command in c.value for c in at.code)
    at = run_page("Fit", {**base, "view": "residuals"})
    assert charts(at)


def test_deep_link_reproduces_the_view(app_env):
    params = {"source": "gemstones", "family": "gemstones/hot", "law": "power_c", "objective": "lower",
              "cut": "fraction", "cut_fraction": "0.3", "boot": "10", "view": "residuals", **OPEN}
    at = run_page("Fit", params)
    assert at.selectbox(key="law").value == "power_c"
    assert at.selectbox(key="objective").value == "lower"
    assert at.number_input(key="cut_fraction").value == pytest.approx(0.3)
    assert at.number_input(key="boot").value == 10
    assert at.radio(key="view").value == "residuals"
    for k, v in params.items():
        if k != "family":        # the first family of its source is the default, so it leaves the URL
            assert at.query_params.get(k) == v, k
    # an invalid value falls back to the default instead of failing
    at = run_page("Fit", {**params, "law": "no-such-law", "objective": "<script>"})
    assert at.selectbox(key="law").value == "chinchilla"
    assert at.selectbox(key="objective").value == "huber"
    # ... and says so, once per value it could not show (it rewrote the link silently)
    toasts = [t.proto.body.replace("\\", "") for t in at.get("toast")]      # Markdown escapes undone
    assert len(toasts) == 2 and "law (no-such-law) is not available here" in toasts[0], toasts
    assert "objective (<script>) is not available here" in toasts[1], toasts
    at.run()
    assert not at.get("toast")                                      # a rerun does not repeat them


WIDGET_AGAIN = """
import streamlit as st
from ui import navigation, widgets
st.session_state[navigation.ENTERED] = "ran" not in st.session_state     # as navigation.page() sets it
st.session_state["ran"] = True
options = st.session_state.get("options", ["a", "b"])
if st.session_state.get("show", True):
    widgets.select("Pick", options, key="pick", default=options[0])
"""


def test_no_link_notice_for_a_widget_drawn_again_in_the_same_visit():
    """A widget hidden (another tab) while its options change keeps a stale URL value; drawn again, it falls back
    to its default without claiming that a link was opened (the notice is for a page's first run)."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_string(WIDGET_AGAIN, default_timeout=TIMEOUT)
    at.query_params["pick"] = "zzz"
    at.run()
    assert len(at.get("toast")) == 1                               # an opened link: said
    at.selectbox(key="pick").set_value("b").run()
    at.session_state["show"] = False
    at.run()
    at.session_state["options"], at.session_state["show"] = ["a", "c"], True
    at.run()
    assert not at.exception and at.selectbox(key="pick").value == "a"
    assert not at.get("toast")


def test_allocate_budget_moves_the_optimum(app_env):
    base = {"source": "chinchilla-epoch", "family": "chinchilla-epoch/chinchilla"}
    small = run_page("Allocate", {**base, "budget": "1e21"})
    big = run_page("Allocate", {**base, "budget": "1e24"})
    n_small, n_big = number_of(metric(small, "N* (parameters)")), number_of(metric(big, "N* (parameters)"))
    d_small, d_big = number_of(metric(small, "D* (tokens)")), number_of(metric(big, "D* (tokens)"))
    assert n_big > n_small and d_big > d_small
    assert 6 * n_big * d_big == pytest.approx(1e24, rel=0.02)      # C = 6 N* D*
    # the number input drives the same result as a deep link
    small.number_input(key="budget").set_value(1e24).run()
    assert number_of(metric(small, "N* (parameters)")) == pytest.approx(n_big, rel=1e-3)
    # GPU-hours: 1e5 H100-hours at 40% = 1.42e23 FLOPs
    gpu = run_page("Allocate", {**base, "bunit": "gpuh", "gpuh": "100000"})
    assert any("1.424e23 FLOPs" in c.value for c in gpu.caption)
    assert charts(gpu) and len(charts(gpu)) >= 2


def test_allocate_says_what_to_do_without_n_and_d(app_env):
    # every Pythia model saw the same 300B tokens: D does not vary, so no law in N and D can be fitted
    at = run_page("Allocate", {"source": "obsscaling", "family": "obsscaling/Pythia"})
    assert at.warning and "N (parameters) and D (tokens)" in at.warning[0].value
    assert not charts(at)


def test_the_data_choice_follows_across_pages(app_env):
    at = run_page("Fit", {"source": "overtrain", "family": "overtrain/rpj", "law": "kaplan", **OPEN})
    at.switch_page(PAGES["Allocate"]).run()
    assert not at.exception
    assert at.sidebar.selectbox(key="family").value == "overtrain/rpj"
    assert at.query_params.get("family") == "overtrain/rpj"
    at.switch_page(PAGES["Fit"]).run()
    assert at.selectbox(key="law").value == "kaplan"


def test_choosing_a_source_opens_its_largest_family(app_env):
    """A new source in the sidebar opens its family with the most runs, not the first by name (colpret's
    first, a 2-run downstream family, cannot be fitted; its largest has 229 runs)."""
    at = run_page("Fit")
    at.sidebar.selectbox(key="source").set_value("colpret").run()
    assert not at.exception
    assert at.sidebar.selectbox(key="family").value == "colpret/datablations-contour"
    assert not [e.value for e in at.error]


def test_browse_filters_and_downloads(app_env):
    params = {"source": "gemstones", "family": "gemstones/hot"}
    at = run_page("Browse", params)
    all_runs = int(metric(at, "Runs shown").replace(",", ""))
    at.radio(key="x").set_value("flops").run()
    assert not at.exception and at.query_params.get("x") == "flops"
    at = run_page("Browse", {**params, "size": ["1e8", "1e9"]})
    narrowed = int(metric(at, "Runs shown").replace(",", ""))
    assert 0 < narrowed < all_runs
    labels = {b.label for b in at.get("download_button")}
    assert {"Download filtered points (CSV)", "Download filtered points (Parquet)"} <= labels
    runs = table(at, "run_id", "paper", "repo", "licence")
    assert {"paper", "repo", "licence"} <= set(runs.columns)
    assert runs["params"].between(1e8 * 0.999, 1e9 * 1.001).all()


def test_browse_tells_the_families_shown_together_apart(app_env):
    """Two families drawn together: each has its own line dash, keyed above the plot (both were coloured by size
    alone, indistinguishable)."""
    at = run_page("Browse", {"source": "gemstones", "family": "gemstones/hot", "also": "gemstones/cool-begin"})
    key = spec(at)["title"]["subtitle"][0]                          # the figure's annotation, under its title
    assert key == "\u2500\u2500 \u25cf gemstones/cool-begin   \u254c\u254c \u25a0 gemstones/hot", key
    dashes = {str(lyr["mark"].get("strokeDash")) for lyr in spec(at)["layer"] if lyr["mark"]["type"] == "line"}
    assert dashes == {"None", "[6, 4]"}, dashes


def test_trends_finds_an_inverse_trend(app_env):
    # Pythia's TruthfulQA falls from 70M to 12B (data notes: 0.475 -> 0.330): inverse scaling
    at = run_page("Trends", {"source": "obsscaling", "family": "obsscaling/Pythia", "metric": "TruthfulQA"})
    if at.sidebar.selectbox(key="metric").value != "TruthfulQA":
        pytest.skip("this store names the TruthfulQA metric differently")
    assert metric(at, "Shape") == "inverse"


def test_crossover_between_two_families(app_env):
    at = run_page("Crossover", {"source": "overtrain", "family": "overtrain/rpj",
                                "groups": ["overtrain/rpj", "overtrain/c4_original"]})
    status = table(at, "group 1", "group 2", "status")["status"]
    assert len(status) == 1 and any(m.value == f"#### Verdict: {status[0]}" for m in at.markdown)
    assert charts(at)


@pytest.mark.parametrize("page, params, analysis, cli", [
    ("Crossover", {"source": "overtrain", "family": "overtrain/rpj",
                   "groups": ["overtrain/rpj", "overtrain/c4_original"]}, "crossover", "python -m analysis crossover"),
    ("Trends", {"source": "obsscaling", "family": "obsscaling/Pythia", "metric": "TruthfulQA"}, "trend",
     "python -m analysis trend"),
    ("Downstream", {"source": "overtrain", "family": "overtrain/rpj", "task": "hellaswag/acc"}, "downstream",
     "python -m analysis downstream"),
])
def test_analysis_pages_export_reports_with_their_analysis(app_env, reports, page, params, analysis, cli):
    closed = run_page(page, params)           # the export box is built when opened: closed, no button is sent
    assert not closed.get("download_button") and not closed.code and not reports     # and no report is built
    at = run_page(page, {**params, "export": "true"})
    labels = {b.label for b in at.get("download_button")}
    assert {"Report (HTML)", "Report (Markdown)", "Report (JSON)"} <= labels
    rep = reports[-1]
    content = rep.to_dict()
    assert list(content["analyses"]) == [analysis]
    entry = content["analyses"][analysis]
    assert entry["summary"] and entry["result"]
    assert f"## {analysis.capitalize()}" in rep.to_markdown() and entry["summary"] in rep.to_markdown()
    assert cli in content["reproduce"] and f"--family {params['family']}" in content["reproduce"]
    assert any(cli in c.value for c in at.code)


def test_allocate_url_restores_the_view(app_env):
    params = {"source": "overtrain", "family": "overtrain/rpj", "law": "kaplan", "bunit": "gpuh", "gpuh": "2.5e5",
              "unique": "5e10", "planN": "1e9", "planD": "3e10", **OPEN}
    at = run_page("Allocate", params)
    assert at.selectbox(key="law").value == "kaplan"
    assert at.radio(key="bunit").value == "gpuh"
    assert at.number_input(key="gpuh").value == 250000
    assert at.number_input(key="unique").value == 5e10
    assert (at.number_input(key="planN").value, at.number_input(key="planD").value) == (1e9, 3e10)
    for k, v in params.items():
        if k != "family":
            assert at.query_params.get(k) == v, k
    assert "budget" not in at.query_params          # the FLOP input is not shown in GPU-hour mode
    assert number_of(metric(at, "Planned compute (FLOPs)")) == pytest.approx(6 * 1e9 * 3e10, rel=0.01)


def test_crossover_url_restores_the_view_and_the_example_button(app_env):
    params = {"source": "overtrain", "family": "overtrain/rpj", "groups": ["overtrain/rpj", "overtrain/c4_original"],
              "axis": "N", "final": "0", "xboot": "30"}
    at = run_page("Crossover", params)
    assert at.multiselect(key="groups").value == ["overtrain/rpj", "overtrain/c4_original"]
    assert at.radio(key="axis").value == "N" and at.toggle(key="final").value is False
    assert at.number_input(key="xboot").value == 30
    for k, v in params.items():
        if k != "family":
            assert url_values(at, k) == (v if isinstance(v, list) else [v]), k
    assert len(table(at, "group 1", "group 2", "status")) == 1
    # a family without a partner says so and offers a worked example that fills the view
    at = run_page("Crossover", {"source": "chinchilla-epoch", "family": "chinchilla-epoch/chinchilla"})
    assert not charts(at) and "at least two groups" in at.info[0].value
    at.button(key="cross_example").click().run()
    assert not at.exception
    assert at.multiselect(key="groups").value == ["laion-clip-mammut/clip", "laion-clip-mammut/mammut"]
    assert at.selectbox(key="source").value == "laion-clip-mammut" and charts(at)   # the example is the page default: a clean URL


def test_flagged_outliers_are_left_out_by_default_and_the_url_can_keep_them(app_env):
    base = {"source": "chinchilla-epoch", "family": "chinchilla-epoch/chinchilla", **OPEN}
    at = run_page("Fit", base)
    flagged = at.multiselect(key="exclude").value
    assert len(flagged) == 5 and "exclude" not in at.query_params
    assert metric(at, "Runs used") == "240"
    at.multiselect(key="exclude").set_value([]).run()
    assert metric(at, "Runs used") == "245" and url_values(at, "exclude") == [""]
    at = run_page("Fit", {**base, "exclude": ""})            # the shared link keeps every run
    assert at.multiselect(key="exclude").value == [] and metric(at, "Runs used") == "245"


# ---------------------------------------------------------------------------------------------- caching
# the analyses ui.compute caches (allocate.frontier is left out: figures also draw the frontier directly)
SPIED = [("analysis.fit", "fit_law"), ("analysis.backtest", "backtest"), ("analysis.backtest", "choose_law"),
         ("analysis.crossover", "crossover"), ("analysis.trend", "trend_shape"), ("analysis.trend", "scan_trends"),
         ("analysis.downstream", "map_downstream")]
STORE_QUERIES = ["families", "metrics", "runs", "points", "fit_frame", "flagged_runs", "metric_across_families"]


@pytest.mark.parametrize("page, params", [
    ("Fit", {"source": "chinchilla-epoch", "family": "chinchilla-epoch/chinchilla", "law": "auto"}),
    ("Allocate", {"source": "overtrain", "family": "overtrain/rpj"}),
    ("Crossover", {"source": "overtrain", "family": "overtrain/rpj", "groups": ["overtrain/rpj", "overtrain/c4_original"]}),
    ("Trends", {"source": "obsscaling", "family": "obsscaling/Pythia", "metric": "TruthfulQA", "scan": "1"}),
    ("Downstream", {"source": "overtrain", "family": "overtrain/rpj", "task": "hellaswag/acc"}),
    ("Fit", {"data": "upload"}),
])
def test_an_unchanged_rerun_is_a_cache_hit(app_env, monkeypatch, page, params):
    """Every analysis and store query is cached on the content of its inputs (never an object's address):
    a rerun without a change computes and queries nothing, on the corpus and on uploads."""
    import importlib

    import streamlit as st

    from datasets.store import Store

    calls = []

    def spy(label, real):
        def wrapped(*args, **kwargs):
            calls.append(label)
            return real(*args, **kwargs)
        return wrapped

    for module, name in SPIED:
        mod = importlib.import_module(module)
        monkeypatch.setattr(mod, name, spy(name, getattr(mod, name)))
    for name in STORE_QUERIES:
        monkeypatch.setattr(Store, name, spy(name, getattr(Store, name)))
    st.cache_data.clear()
    at = run_page(page, params, {"uploads": _uploads()} if params.get("data") == "upload" else None)
    first = list(calls)
    assert {"fit_law", "fit_frame"} & set(first) or page == "Trends", first
    at.run()
    assert not at.exception
    assert calls[len(first):] == [], f"recomputed on an unchanged rerun: {calls[len(first):]}"


# ---------------------------------------------------------------------------------------------- uploads
def _uploads() -> dict:
    up = read_upload(example_csv(), filename="example.csv")
    return {"example.csv": {"runs": up.runs, "points": up.points, "report": up.report, "filename": "example.csv",
                            "digest": "example"}}


@pytest.mark.parametrize("page", [p for p in PAGES if p != "Upload"])
def test_pages_run_on_uploaded_runs(app_env, page):
    at = run_page(page, {"data": "upload"}, {"uploads": _uploads()})
    assert at.sidebar.radio(key="data").value == "upload"
    assert_charts_are_vega_lite(at)
    assert at.sidebar.selectbox(key="ufamily").value == "upload/chinchilla-like"
    if page == "Fit":
        assert metric(at, "Runs used") == "5"
        assert charts(at)
    if page == "Allocate":
        assert number_of(metric(at, "N* (parameters)")) > 0


def test_upload_page_reads_and_reports(app_env):
    at = run_page("Upload")
    at.file_uploader(key="upload_file_0").upload("runs.csv", example_csv().encode("utf-8"), "text/csv").run()
    assert not at.exception
    assert metric(at, "Runs") == "5" and metric(at, "Rows rejected") == "0"
    assert "runs.csv" in at.session_state["uploads"]
    at.button(key="upload_try_example").click().run()        # one click loads the example as an upload
    assert not at.exception and "example_runs.csv" in at.session_state["uploads"]
    assert at.sidebar.radio(key="data").value == "upload"
    # a file whose columns need mapping: the error names the fix, the suggested mapping reads it
    bad = "model name,Params (M),final val loss\na,20M,3.2\nb,50M,3.0\nc,125M,2.9\nd,350M,2.7\n"
    at = run_page("Upload")
    at.file_uploader(key="upload_file_0").upload("odd.csv", bad.encode("utf-8"), "text/csv").run()
    assert at.error and "No value column" in at.error[0].value
    at.button(key="upload_apply_suggested").click().run()
    assert not at.exception and not at.error
    assert metric(at, "Runs") == "4"


def test_a_second_upload_with_the_same_runs_says_it_replaces_them(app_env):
    """Two files with the same (family, run) names: the analyses take the last one's runs, and the page says so
    (they were replaced silently)."""
    at = run_page("Upload")
    at.file_uploader(key="upload_file_0").upload("first.csv", example_csv().encode("utf-8"), "text/csv").run()
    assert not [w for w in at.warning if "last upload of a run wins" in w.value]
    at.file_uploader(key="upload_file_0").upload("second.csv", example_csv().encode("utf-8"), "text/csv").run()
    assert not at.exception
    (w,) = [w.value for w in at.warning if "last upload of a run wins" in w.value]
    assert w.startswith("5 runs of this file") and "first.csv" in w
    assert list(at.session_state["uploads"]) == ["first.csv", "second.csv"]
    # the first file brought in again is the last upload: its runs win, and the page names the other file
    at.file_uploader(key="upload_file_0").upload("first.csv", example_csv().encode("utf-8"), "text/csv").run()
    (w,) = [w.value for w in at.warning if "last upload of a run wins" in w.value]
    assert "second.csv" in w and list(at.session_state["uploads"]) == ["second.csv", "first.csv"]


# ---------------------------------------------------------------------------------------------- no store
def test_app_starts_without_a_store(tmp_path, monkeypatch):
    empty = tmp_path / "no-data"
    empty.mkdir()
    monkeypatch.setenv("SCALING_STORE", str(tmp_path / "store.duckdb"))
    monkeypatch.setenv("SCALING_DATA_DIR", str(empty))
    at = run_page("Home")
    assert at.error and "not available" in at.error[0].value
    assert any("What to do" in i.value for i in at.info)
    up = run_page("Upload")
    up.file_uploader(key="upload_file_0").upload("runs.csv", example_csv().encode("utf-8"), "text/csv").run()
    assert not up.exception and metric(up, "Runs") == "5"


# ---------------------------------------------------------------------------------------------- helpers
def test_default_early_checkpoint_cut():
    """The cut the Fit page offers by default (the rule lives in analysis.settings, shared with the CLI)."""
    import pandas as pd

    from analysis.settings import default_cut

    final_only = pd.DataFrame({"run": ["a", "b", "c"], "D": [1e9, 2e9, 4e9]})
    assert default_cut(final_only)[:2] == ("none", None)
    long_runs = pd.DataFrame({"run": ["a"] * 3 + ["b"] * 3, "D": [1e10, 1e11, 3e11, 1e10, 1e11, 2e11]})
    assert default_cut(long_runs)[:2] == ("tokens", 10e9)
    short_runs = pd.DataFrame({"run": ["a"] * 3 + ["b"] * 3, "D": [1e8, 1e9, 2e9, 1e8, 1e9, 5e11]})
    assert default_cut(short_runs)[:2] == ("fraction", 0.1)


# ---------------------------------------------------------------------------------------------- tester fixes
def _traces(at, i: int = 0) -> list[dict]:
    """The drawn series of chart ``i`` (:func:`analysis.figures.vega.series`): name, mark, x and y (bands:
    ``y`` the upper edge, ``y2`` the lower one). A lines+markers trace is one series (its line)."""
    from analysis.figures.vega import series

    return series(spec(at, i))


def test_backtest_figure_shows_excluded_runs_as_left_out(app_env):
    """Runs left out of the fit (here Epoch's five flagged outliers) are not drawn as 'used to fit'."""
    at = run_page("Fit", {"source": "chinchilla-epoch", "family": "chinchilla-epoch/chinchilla", "view": "backtest",
                          **OPEN})
    n = {t["name"]: len(t["x"]) for t in _traces(at)}
    assert n.get("left out of the fit") == 5, n
    assert n["used to fit"] + n["held out"] == 240, n         # the 240 runs the fit used, one held out
    at.multiselect(key="exclude").set_value([]).run()         # keep every run: nothing is left out
    n = {t["name"]: len(t["x"]) for t in _traces(at)}
    assert "left out of the fit" not in n and n["used to fit"] + n["held out"] == 245, n


def test_crossover_error_curves_stay_in_the_unit_interval(app_env):
    """1 - accuracy curves extrapolated below the data would pass 1: they are drawn only inside [0, 1]."""
    import numpy as np

    at = run_page("Crossover", {"source": "laion-clip-mammut", "family": "laion-clip-mammut/clip",
                                "metric": "imagenet1k/acc1",
                                "groups": ["laion-clip-mammut/clip", "laion-clip-mammut/mammut"]})
    traces = _traces(at)
    ys = np.concatenate([np.asarray(t[k], float) for t in traces for k in ("y", "y2") if t.get(k)])
    assert {"line", "area"} <= {t["mark"] for t in traces}           # the curves and their bands
    assert len(ys) > 100 and np.nanmin(ys) >= 0.0 and np.nanmax(ys) <= 1.0, (np.nanmin(ys), np.nanmax(ys))
    assert any("[0, 1]" in c.value for c in at.caption)


def test_upload_warns_when_a_suggested_column_is_not_used(app_env):
    """Mapping only the value column leaves an N-like column unread: the page says so and names it."""
    odd = "nparams_total,tokens,lm_xent,run\n" + "\n".join(
        f"{n},{d},{3.0 + 1e9 / n * 1e-3 + 1e9 / d * 1e-2:.4f},r{n}" for n in (2e7, 5e7, 1e8) for d in (1e9, 2e9, 4e9))
    at = run_page("Upload")
    at.file_uploader(key="upload_file_0").upload("odd.csv", odd.encode("utf-8"), "text/csv").run()
    at.multiselect(key="map_value").set_value(["lm_xent"]).run()      # metrics to keep: several allowed
    assert not at.exception and metric(at, "Runs") == "3"
    assert any("nparams_total" in w.value.replace("\\", "") for w in at.warning), [w.value for w in at.warning]
    at.button(key="upload_apply_suggested").click().run()
    assert not any("nparams_total" in w.value.replace("\\", "") for w in at.warning)


def test_downstream_chance_defaults_to_the_published_baseline(app_env):
    at = run_page("Downstream", {"source": "overtrain", "family": "overtrain/rpj", "task": "hellaswag/acc"})
    assert at.number_input(key="chance").value == 0.25
    at = run_page("Downstream", {"source": "overtrain", "family": "overtrain/rpj", "task": "hellaswag/acc",
                                 "chance": "0.1"})
    assert at.number_input(key="chance").value == 0.1                          # the URL still wins


def test_downstream_chained_prediction_says_it_extrapolates(app_env):
    """1e24 FLOPs on overtrain/rpj is 126x its compute and the predicted loss lies below every loss the map saw:
    both are said beside the prediction (it stood unqualified)."""
    at = run_page("Downstream")
    shown = [w.value.replace("\\", "") for w in at.warning]
    assert any(w.startswith("the budget (1e+24) is 126x the largest compute") for w in shown), shown
    assert any("below every loss the map was fitted on" in w for w in shown), shown


def test_diagnostics_are_drawn_when_their_expander_opens(app_env):
    """Crossover's and Hyperparameters' warning lists are drawn only when opened (tens of warnings delay a new
    tab's first chart); opened, every warning the analysis gave is there."""
    closed = run_page("Crossover")
    opened = run_page("Crossover", session={"cross_diag_open": True})
    label = next(e.label for e in opened.expander if e.label.startswith("Diagnostics of the group fits"))
    n = int(re.search(r"\((\d+) warnings\)", label).group(1))
    assert n > 0 and len(opened.warning) - len(closed.warning) == n, (n, len(opened.warning), len(closed.warning))
    hp_closed = run_page("Hyperparameters")
    hp_opened = run_page("Hyperparameters", session={"hp_warnings_open": True})
    assert len(hp_opened.warning) > len(hp_closed.warning)
