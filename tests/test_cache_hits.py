"""Every page's unchanged rerun is a cache hit, and moving Crossover's target refits nothing.

Each page runs in AppTest (inside the multipage app, as the server runs it) with the analyses, the
figure builders, their translation to Vega-Lite and the store queries wrapped by counters; a second run
with nothing changed must call none of them: every cache is keyed on the content of its inputs, never on
an object's address (a pandas object array of run ids hashed by address misses on every rerun). On Crossover, a new target must
reuse both groups' fits (the comparison alone is redone).
"""
from __future__ import annotations

import functools
import importlib

import numpy as np
import pandas as pd
import pytest

from tests.test_app_pages import _uploads, app_env, run_page  # noqa: F401  (app_env is a fixture)

# (module, function): the analyses ui.compute caches, and every figure builder the pages draw
ANALYSES = [("analysis.fit", "fit_law"), ("analysis.backtest", "backtest"), ("analysis.backtest", "choose_law"),
            ("analysis.crossover", "crossover"), ("analysis.crossover", "fit_group"),
            ("analysis.trend", "trend_shape"), ("analysis.trend", "scan_trends"),
            ("analysis.downstream", "map_downstream"), ("analysis.allocate", "frontier"),
            ("analysis.allocate", "isoflop"), ("analysis.approach2", "approach2"),
            ("analysis.hparams", "analyse_sweep"), ("analysis.hparams", "from_runs"),
            ("analysis.emergence", "classify_emergence"), ("datasets.formats", "read_any"),
            ("datasets.upload", "read_upload")]
FIGURES = ["fit_figure", "residual_figure", "backtest_figure", "comparison_figure", "parameter_comparison_figure",
           "curves_figure", "corpus_figure", "coverage_figure", "frontier_figure", "isoflop_figure", "crossover_figure",
           "crossover_data_figure", "trend_figure", "downstream_figure"]
HPARAM_FIGURES = ["heatmap_figure", "slices_figure", "law_figure", "law_residual_figure", "rules_figure",
                  "sensitivity_figure"]
TRANSLATION = ("analysis.figures.vega", "to_vega_lite")     # a figure to the Vega-Lite spec the page draws
STORE_QUERIES = ["families", "sources", "metrics", "runs", "points", "fit_frame", "flagged_runs",
                 "metric_across_families", "default_metric", "chance_level"]

CHINCHILLA = {"source": "chinchilla-epoch", "family": "chinchilla-epoch/chinchilla"}
CROSSOVER = {"source": "overtrain", "family": "overtrain/rpj", "groups": ["overtrain/rpj", "overtrain/c4_original"]}
PAGES = [
    ("Home", {}),
    ("Browse", CHINCHILLA),
    ("Fit", CHINCHILLA),
    ("Allocate", CHINCHILLA),
    ("Upload", {"data": "upload"}),
    ("Crossover", CROSSOVER),
    ("Trends", {"source": "obsscaling", "family": "obsscaling/Pythia", "metric": "TruthfulQA"}),
    ("Downstream", {"source": "overtrain", "family": "overtrain/rpj", "task": "hellaswag/acc"}),
    ("Hyperparameters", {"source": "steplaw", "family": "steplaw/dense", "hboot": "20"}),
]


@pytest.fixture
def calls(app_env, monkeypatch):
    """Names of the analyses, figure builders and store queries called, in order (caches cleared first)."""
    import streamlit as st

    from datasets.store import Store

    made: list[str] = []

    def spy(label, real):
        @functools.wraps(real)                   # same module and name: the figure cache keys on them
        def wrapped(*args, **kwargs):
            made.append(label)
            return real(*args, **kwargs)
        return wrapped

    for module, name in [*ANALYSES, TRANSLATION]:
        mod = importlib.import_module(module)
        monkeypatch.setattr(mod, name, spy(name, getattr(mod, name)))
    figures = importlib.import_module("analysis.figures")
    for name in FIGURES:
        monkeypatch.setattr(figures, name, spy(name, getattr(figures, name)))
    hp_figures = importlib.import_module("analysis.figures.hparams")
    for name in HPARAM_FIGURES:
        monkeypatch.setattr(hp_figures, name, spy(name, getattr(hp_figures, name)))
    for name in STORE_QUERIES:
        monkeypatch.setattr(Store, name, spy(f"Store.{name}", getattr(Store, name)))
    st.cache_data.clear()
    st.cache_resource.clear()
    return made


@pytest.mark.parametrize("page, params", PAGES, ids=[p for p, _ in PAGES])
def test_an_unchanged_rerun_is_a_cache_hit(calls, page, params):
    at = run_page(page, params, {"uploads": _uploads()} if params.get("data") == "upload" else None)
    first = list(calls)
    assert any(c.startswith("Store.") for c in first), f"{page}: the spies saw nothing ({first})"
    if page not in ("Upload", "Browse"):
        assert set(first) & {"fit_law", "fit_group", "trend_shape", "analyse_sweep"}, first
    if page not in ("Upload",):
        assert set(first) & set(FIGURES + HPARAM_FIGURES), f"{page}: no figure was built ({first})"
        assert TRANSLATION[1] in first, f"{page}: no figure was translated to Vega-Lite ({first})"
    at.run()
    assert not at.exception, [str(e.value) for e in at.exception]
    assert calls[len(first):] == [], f"{page}: recomputed on an unchanged rerun: {calls[len(first):]}"


def test_moving_the_crossover_target_refits_nothing(calls):
    at = run_page("Crossover", CROSSOVER)
    fits = calls.count("fit_group")
    assert fits == 2, calls
    slider = at.select_slider(key="xtarget")
    before = float(slider.value)
    k = round(np.log10(before) * 4)
    for step in (-2, 2):                       # a neighbouring option of the log slider (ui.format.scale_options)
        new = float(f"{10 ** ((k + step) / 4):.2g}")
        if new != before and new in [float(v) for v in _options(at)]:
            break
    n = len(calls)
    at.select_slider(key="xtarget").set_value(new).run()
    assert not at.exception, [str(e.value) for e in at.exception]
    assert float(at.select_slider(key="xtarget").value) == new
    moved = calls[n:]
    assert "crossover" in moved, f"the new target did not reach the comparison: {moved}"
    assert "fit_group" not in moved and "fit_law" not in moved, f"the target move refitted: {moved}"
    at.select_slider(key="xtarget").set_value(before).run()     # back: the earlier comparison and figure are cached
    assert calls[n + len(moved):] == [], calls[n + len(moved):]


def _options(at) -> list[float]:
    """The target slider's option values (its labels are formatted; the scale grid is 4 per decade)."""
    lo, hi = 1e10, 1e30
    grid = [float(f"{10 ** (k / 4):.2g}") for k in range(int(np.log10(lo) * 4), int(np.log10(hi) * 4) + 1)]
    labels = set(at.select_slider(key="xtarget").options)
    from ui.format import quantity

    return [v for v in grid if any(quantity(v, u, 2) in labels for u in ("FLOPs", "parameters", "tokens", "params"))]


def test_content_keys_ignore_addresses_and_see_content():
    from analysis.interval import Interval
    from ui.compute import digest

    a = np.array(["run-1", "run-2"], dtype=object)
    b = np.array(["run-1", "run-2"], dtype=object)           # equal content at another address
    assert a is not b and digest(a) == digest(b)
    assert digest(a) != digest(np.array(["run-1", "run-3"], dtype=object))
    assert digest(pd.Series(a)) == digest(pd.Series(b))
    frame = pd.DataFrame({"run": a, "y": [1.0, 2.0]})
    assert digest(frame) == digest(frame.copy()) != digest(frame.assign(y=[1.0, 2.5]))
    assert digest(Interval(1.0, 2.0)) == digest(Interval(1.0, 2.0)) != digest(Interval(1.0, 2.1))
    assert digest(np.float32(1.5), np.bool_(True)) == digest(np.float32(1.5), np.bool_(True))


def test_the_server_skips_the_per_run_module_walk_and_full_collection():
    """.streamlit/config.toml (the server the README starts): Streamlit's file watcher walks every loaded
    module on a new session's first run, in the event loop that sends the page to the browser, and a full
    garbage collection follows each run; together they took a new session of the Fit page from ~0.15 s to
    0.6-1.1 s of server time here (``bench.streamlit_client``, one session at a time)."""
    import tomllib
    from pathlib import Path

    config = tomllib.loads((Path(__file__).resolve().parents[1] / ".streamlit" / "config.toml").read_text("utf-8"))
    assert config["server"]["fileWatcherType"] == "none"
    assert config["runner"]["postScriptGC"] is False
