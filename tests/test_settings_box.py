"""The fit settings box (``ui.fit_controls.settings_box``): drawn only while open, the same fit either way.

Closed (the default), Fit and Allocate send no setting widget to the browser (a new tab draws the first chart
sooner, ``bench/bench_pages.py``): the widgets resolve their values from the session, the URL and the defaults
(``ui.widgets.HIDDEN``), a caption names the settings in use, and messages about the data still show. Open,
its state is in the URL (``?settings=true``). Also the static tables of ``ui.output.table(static=True)``.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from tests.test_app_pages import OPEN, app_env, metric, run_page, table  # noqa: F401 - app_env is a fixture

EPOCH = {"source": "chinchilla-epoch", "family": "chinchilla-epoch/chinchilla"}
SETTING_KEYS = {"law", "objective", "boot", "cut", "exclude", "which_n", "tpp_lo", "tpp_hi", "ymax"}


def setting_widgets(at) -> set[str]:
    """Keys of the fit-setting widgets the page drew."""
    drawn = [*at.selectbox, *at.multiselect, *at.number_input, *at.toggle]
    return {w.key for w in drawn} & SETTING_KEYS


def summary(at) -> str:
    return next(c.value for c in at.caption if c.value.startswith("Law **"))


def params(at) -> pd.Series:
    return table(at, "parameter", "value").set_index("parameter")["value"]


def test_closed_box_draws_no_setting_and_fits_what_the_open_box_shows(app_env):
    closed = run_page("Fit", EPOCH)
    assert setting_widgets(closed) == set()
    assert not [e for e in closed.expander if e.label.startswith("Data filters")]       # not sent either
    text = summary(closed)
    assert "Law **chinchilla**" in text and "Huber (delta 1e-3)" in text and "5 runs left out" in text
    assert "default for this family" in text
    opened = run_page("Fit", {**EPOCH, **OPEN})
    assert setting_widgets(opened) == SETTING_KEYS
    assert not [c for c in opened.caption if c.value.startswith("Law **")]      # open: the widgets say it
    assert params(closed).tolist() == params(opened).tolist()                     # Epoch's fit, the same text
    assert float(params(closed)["alpha"]) == pytest.approx(0.348, abs=0.01)
    assert metric(closed, "Runs used") == metric(opened, "Runs used") == "240"


def test_a_choice_made_in_the_open_box_stays_when_it_closes(app_env):
    at = run_page("Fit", {**EPOCH, **OPEN})
    at.selectbox(key="law").set_value("kaplan").run()
    at.multiselect(key="exclude").set_value([]).run()
    assert list(params(at).index) == ["Nc", "Dc", "alphaN", "alphaD"]
    at.session_state["settings"] = False              # the user closes the box: its state, and the URL without it
    at.query_params.pop("settings")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert setting_widgets(at) == set()
    assert list(params(at).index) == ["Nc", "Dc", "alphaN", "alphaD"]       # still Kaplan's law ...
    assert metric(at, "Runs used") == "245" and "0 runs left out" in summary(at)   # ... and every run
    assert "Law **kaplan**" in summary(at) and at.query_params.get("law") == "kaplan"
    at.session_state["settings"] = True               # opened again: the widgets show the choices
    at.query_params["settings"] = "true"
    at.run()
    assert at.selectbox(key="law").value == "kaplan" and at.multiselect(key="exclude").value == []


def test_a_deep_link_applies_its_settings_with_the_box_closed(app_env):
    at = run_page("Fit", {**EPOCH, "law": "kaplan", "objective": "mse", "boot": "20"})
    assert setting_widgets(at) == set()
    assert list(params(at).index) == ["Nc", "Dc", "alphaN", "alphaD"]
    text = summary(at)
    assert "Law **kaplan**" in text and "Squared error" in text and "20 bootstrap resamples" in text
    assert at.query_params.get("law") == "kaplan" and at.query_params.get("objective") == "mse"
    # a hostile or unknown value falls back to the default, as with the box open
    at = run_page("Fit", {**EPOCH, "law": "<script>", "boot": "-3"})
    assert "Law **chinchilla**" in summary(at) and "law" not in at.query_params


def test_messages_about_the_data_show_with_the_box_closed(app_env):
    """An accuracy is fitted as 1 - value: the page says so whether the settings are open or not."""
    page = {"source": "laion-clip-mammut", "family": "laion-clip-mammut/clip", "metric": "imagenet1k/acc1"}
    for params in (page, {**page, **OPEN}):
        at = run_page("Fit", params)
        assert any("higher-is-better" in i.value for i in at.info), params


def test_allocate_uses_the_same_settings_closed_or_open(app_env):
    closed = run_page("Allocate", {**EPOCH, "budget": "1e23"})
    opened = run_page("Allocate", {**EPOCH, "budget": "1e23", **OPEN})
    assert setting_widgets(closed) == set() and "law" in setting_widgets(opened)
    assert metric(closed, "N* (parameters)") == metric(opened, "N* (parameters)")
    assert "Law **chinchilla**" in summary(closed)


# ---------------------------------------------------------------------------------------------- static tables
def test_a_static_table_shows_the_text_a_grid_would():
    from ui.output import _as_text, _readable

    df = pd.DataFrame({"parameter": ["E", "*bold* [x](javascript:1)"], "value": [1.81723, 477.8259],
                       "compute": [6.98e23, 1e24], "runs": [120_000, 2_000_000], "lo": [np.nan, 0.5],
                       "share": [0.0345, 0.5], "tiny": [0.0945, 3e-4], "n": pd.array([12, pd.NA], dtype="Int64"),
                       "internal": [1, 2], "renamed": ["a", "b"]})
    import streamlit as st
    shown, config = _readable(df, {"share": st.column_config.NumberColumn(format="percent"), "internal": None,
                                   "renamed": "label"})
    text = _as_text(shown, config)
    assert list(text.columns) == ["parameter", "value", r"compute \(1e18 FLOPs\)", "runs", "lo", "share", "tiny",
                                  "n", "label"]                         # a column configured None is hidden
    assert text["tiny"].tolist() == ["9.450e-2", "3.000e-4"] and text["n"].tolist() == ["12", ""]
    assert text["value"].tolist() == ["1.8172", "477.8259"]              # Streamlit's default: up to 4 decimals
    assert text[r"compute \(1e18 FLOPs\)"].tolist() == ["6.980e+5", "1.000e+6"]     # past 2^53: in 1e18
    assert text["runs"].tolist() == ["120,000", "2,000,000"] and text["lo"].tolist() == ["", "0.5"]
    assert text["share"].tolist() == ["3.45%", "50.00%"]
    hostile = text["parameter"].iloc[1]                  # Markdown specials escaped: shown as typed, never a link
    assert "\\*bold\\*" in hostile and "\\[x\\]\\(javascript" in hostile
    assert all(isinstance(v, str) for v in text.to_numpy().ravel())
    assert not any(isinstance(v, float) and math.isnan(v) for v in text.to_numpy().ravel())
