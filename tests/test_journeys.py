"""A first-time visitor's journeys, in-process (AppTest): every run stays visible after a family change,
dependent widgets follow their parent, each page opens cold on a meaningful example (and keeps a sidebar
choice that suits it), the plan follows the budget. The real-browser side (drawn marks, URL in the address
bar) is tests/test_browser_journeys.py.
"""
from __future__ import annotations

import pytest

from tests.test_app_pages import PAGES, app_env, charts, metric, number_of, run_page  # noqa: F401  (fixture)


def runs_shown(at) -> int:
    return int(metric(at, "Runs shown").replace(",", ""))


def test_browse_shows_every_run_after_a_family_change(app_env):
    # bloom-evals spans 560M..7.1B; pythia/pythia 70M..12B: the old range must not hide Pythia's small and large runs
    at = run_page("Browse", {"source": "pythia", "family": "pythia/bloom-evals"})
    assert runs_shown(at) == 5
    at.sidebar.selectbox(key="family").set_value("pythia/pythia").run()
    assert not at.exception
    assert runs_shown(at) == 7
    assert "size" not in at.query_params
    assert not [i for i in at.info if "hide" in i.value]


def test_browse_says_what_a_filter_hides_and_resets_in_one_click(app_env):
    at = run_page("Browse", {"source": "pythia", "family": "pythia/pythia", "size": ["1e8", "1e9"]})
    shown = runs_shown(at)
    assert 0 < shown < 7
    notes = [i.value for i in at.info if "hide" in i.value]
    assert notes and f"hide {7 - shown:,} of 7 runs" in notes[0]
    at.button(key="browse_reset").click().run()
    assert not at.exception
    assert runs_shown(at) == 7 and "size" not in at.query_params
    assert not [i for i in at.info if "hide" in i.value]


def test_browse_cold_has_no_disabled_widget(app_env):
    at = run_page("Browse")
    assert not [m for m in at.multiselect if m.key == "also"]     # one family in the source: nothing to add
    assert charts(at)


def test_allocate_plan_follows_the_budget(app_env):
    at = run_page("Allocate", {"source": "chinchilla-epoch", "family": "chinchilla-epoch/chinchilla"})
    at.number_input(key="budget").set_value(1e21).run()
    assert not at.exception
    n, d = at.number_input(key="planN").value, at.number_input(key="planD").value
    assert 6 * n * d == pytest.approx(1e21, rel=0.05)          # the 20-tokens-per-parameter plan at the new budget
    assert "planN" not in at.query_params and "planD" not in at.query_params
    assert number_of(metric(at, "Planned compute (FLOPs)")) == pytest.approx(1e21, rel=0.05)
    # a shared link with its own plan keeps it
    at = run_page("Allocate", {"source": "chinchilla-epoch", "family": "chinchilla-epoch/chinchilla",
                               "budget": "1e22", "planN": "1e9", "planD": "2e11"})
    assert (at.number_input(key="planN").value, at.number_input(key="planD").value) == (1e9, 2e11)


@pytest.mark.parametrize("page, family, metric_name", [
    ("Crossover", "laion-clip-mammut/clip", "imagenet1k/acc1"),
    ("Trends", "obsscaling/Pythia", "TruthfulQA"),
    ("Downstream", "overtrain/rpj", "hellaswag/acc"),
])
def test_each_page_opens_cold_on_its_example(app_env, page, family, metric_name):
    at = run_page(page)
    assert at.sidebar.selectbox(key="family").value == family
    assert at.sidebar.selectbox(key="metric").value == metric_name
    assert charts(at), f"{page} opened cold without a chart"
    if page == "Crossover":
        assert at.multiselect(key="groups").value == ["laion-clip-mammut/clip", "laion-clip-mammut/mammut"]
    if page == "Downstream":
        assert at.selectbox(key="lossm").value == "c4_val/loss"


def test_arriving_from_home_replaces_the_default_but_keeps_a_choice_that_suits(app_env):
    at = run_page("Home")
    at.switch_page(PAGES["Trends"]).run()
    assert not at.exception and at.sidebar.selectbox(key="family").value == "obsscaling/Pythia"
    # OPT is a size ladder with TruthfulQA: chosen on Fit, it stays on Trends
    at = run_page("Fit", {"source": "obsscaling", "family": "obsscaling/OPT", "metric": "TruthfulQA"})
    at.query_params.clear()
    at.switch_page(PAGES["Trends"]).run()
    assert not at.exception
    assert at.sidebar.selectbox(key="family").value == "obsscaling/OPT" and charts(at)
    # a choice the page cannot use (Chinchilla's grid has no partner family) gives way, and says so
    at = run_page("Fit", {"source": "chinchilla-epoch", "family": "chinchilla-epoch/chinchilla", "law": "kaplan"})
    at.query_params.clear()
    at.switch_page(PAGES["Crossover"]).run()
    assert not at.exception and at.sidebar.selectbox(key="family").value == "laion-clip-mammut/clip"


def test_home_coverage_chart_draws_its_bars_on_a_category_axis(app_env):
    from analysis import figures
    from datasets.store import Store

    fams = Store(app_env).families()
    fig = figures.coverage_figure(fams)
    assert fig.layout.yaxis.type == "category"
    assert sum(len(t.y) for t in fig.data) == int((fams["min_params"] > 0).sum())


def test_home_corpus_chart_spans_each_sources_model_sizes(app_env):
    """One bar per source with sized families, from its smallest to its largest N (log10), decades labelled."""
    import numpy as np

    from analysis import figures
    from datasets.store import Store

    fams = Store(app_env).families()
    fig = figures.corpus_figure(fams)
    sized = fams[fams["min_params"] > 0]
    bars = {t.y[0]: t for t in fig.data}
    assert set(bars) == set(sized["source"])
    for source, g in sized.groupby("source"):
        bar = bars[source]
        lo, hi = g["min_params"].min(), max(g["max_params"].max(), g["min_params"].min() * 1.08)
        assert np.isclose(bar.base[0], np.log10(lo)) and np.isclose(bar.base[0] + bar.x[0], np.log10(hi))
        assert bar.customdata[0][1] == f"{int(fams.loc[fams['source'] == source, 'n_runs'].sum()):,}"
    assert "1B" in fig.layout.xaxis.ticktext and "params" in fig.data[0].hovertemplate
    # a family without a size (0 or NaN params) is counted, and leaves its source's bar where the sizes are
    odd = fams.copy()
    i = odd.index[odd["source"] == "colpret"][0]
    odd.loc[i, ["min_params", "max_params"]] = 0.0
    bar = {t.y[0]: t for t in figures.corpus_figure(odd).data}["colpret"]
    sized_colpret = odd[(odd["source"] == "colpret") & (odd["min_params"] > 0)]
    assert np.isclose(bar.base[0], np.log10(sized_colpret["min_params"].min()))
    assert bar.customdata[0][0] == f"{int((odd['source'] == 'colpret').sum())} families"
    at = run_page("Home")
    assert not at.exception
    first = at.get("vega_lite_chart")[0]                     # the page's first chart: drawn before the fit
    assert "Model sizes N" in first.proto.spec


def test_crossover_shows_points_bands_and_its_crossing_as_one_number(app_env):
    import json

    import numpy as np

    at = run_page("Crossover")          # cold: CLIP against MaMMUT on ImageNet accuracy
    from tests.test_app_pages import _traces, spec
    chart = spec(at)
    traces = {t["name"]: t for t in _traces(at)}
    layers = [lyr for view in chart.get("concat", [chart]) for lyr in view.get("layer", [])]
    legend = {d for lyr in layers for d in lyr["encoding"].get("color", {}).get("scale", {}).get("domain", [])}
    for g in ("laion-clip-mammut/clip", "laion-clip-mammut/mammut"):
        assert f"{g}: runs" in traces and f"{g}: 95% band" in traces, list(traces)
        assert f"{g}: data range (shaded)" in legend, legend        # the shading explained in the legend
    runs = traces["laion-clip-mammut/clip: runs"]
    assert len(runs["x"]) > 10
    band = traces["laion-clip-mammut/clip: 95% band"]
    assert band["mark"] == "area"
    assert np.nanmax(np.asarray(band["y"], float) - np.asarray(band["y2"], float)) > 0     # the band has a width
    shown = metric(at, "Crossing (FLOPs)")
    x = float(shown)
    (scale,) = {json.dumps(lyr["encoding"]["x"]["scale"]) for lyr in layers if "scale" in lyr["encoding"].get("x", {})}
    lo, hi = json.loads(scale)["domain"]
    assert lo < x < hi, "the crossing lies outside the drawn range"
    texts = [lyr["encoding"]["text"].get("value", "") for lyr in layers if lyr["mark"]["type"] == "text"]
    assert any(f"crossing {shown} FLOPs" in t for t in texts), texts
    verdict = " ".join(m.value for m in at.markdown)
    assert f"{shown} FLOPs" in verdict.replace("\\", "")
    from tests.test_app_pages import table
    assert list(table(at, "group 1", "group 2", "status")["crossing (FLOPs)"]) == [shown]


def test_a_remembered_build_failure_says_so_and_retries_on_demand(tmp_path, monkeypatch, small_store_path):
    """A failed first build is remembered for a minute: the page says so, names SCALING_DATA_DIR, and a
    button retries at once (after fixing the data, the store appears without waiting)."""
    import shutil

    from ui import store as ui_store

    empty = tmp_path / "no-data"
    empty.mkdir()
    target = tmp_path / "store.duckdb"
    monkeypatch.setenv("SCALING_STORE", str(target))
    monkeypatch.setenv("SCALING_DATA_DIR", str(empty))
    ui_store.retry_build()
    at = run_page("Home")
    assert at.error and "not available" in at.error[0].value
    at.run()                                   # the rerun repeats the remembered failure, and says it is one
    assert any("SCALING_DATA_DIR" in i.value for i in at.info)
    assert any("build attempt" in c.value for c in at.caption), [c.value for c in at.caption]
    shutil.copy(small_store_path, target)      # "fix the data"
    at.button(key="store_retry").click().run()
    assert not at.exception and not at.error
    ui_store.retry_build()
