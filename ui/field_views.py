"""Views of the field analyses of issue 15, one call per page: law bake-off (Fit), inference demand
(Allocate) and the emergence classifier (Downstream). Each is a cached call of one analysis function
plus its widgets and output; the pages call them in one line.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from analysis import bakeoff as bakeoff_api
from analysis import emergence as emergence_api
from analysis.inference import Deployment, allocate_with_inference
from datasets.errors import WorkbenchError
from ui import output, widgets
from ui.compute import AnalysisError, _guarded, _run, digest
from ui.format import escape, interval, quantity

SLOW_EXTRA = ("farseer",)     # laws `auto` leaves out (seconds per fit) that the bake-off includes


# ---------------------------------------------------------------------------------------------- Fit
@st.cache_data(show_spinner=False, max_entries=16)
def _bakeoff(key: str, kwargs: tuple, include: tuple, _frame):
    return _guarded(bakeoff_api.bakeoff, _frame, include=include, **dict(kwargs))


def bakeoff_view(frame: pd.DataFrame, settings) -> None:
    """An expander that back-tests every applicable law on one split (largest model held out) on request."""
    with st.expander("Law bake-off: every applicable law on the same held-out split, ranked", key="bakeoff_open",
                     on_change="rerun", expanded="bakeoff" in st.query_params) as box:
        if not box.open:          # drawn when opened (lazy), or at once for a link that ran it
            return
        st.caption("Each law is fitted without the largest model size and scored on it: held-out log-RMSE and "
                   "mean absolute percentage error first, AICc of the training fit second (lower is better; a "
                   "difference above 2 is meaningful). Farseer (9 parameters) is included when the data vary N "
                   "and D; it takes several seconds.")
        if not widgets.toggle("Run the bake-off", key="bakeoff"):
            return
        kwargs = {k: v for k, v in settings.kwargs().items() if k in ("min_tokens", "min_fraction", "exclude_runs",
                                                                     "objective", "y_transform")}
        try:
            res = _run(_bakeoff, digest(frame), "Back-testing every applicable law ...",
                       tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in kwargs.items())),
                       SLOW_EXTRA, frame)
        except AnalysisError as e:
            st.warning(f"The bake-off could not run: {escape(e)}")
            return
        st.markdown(f"**{escape(res.split)}** ({res.n_heldout} points). Best: **{res.best}**.")
        output.table(res.table, "fit_bakeoff_table",
                     heldout_mape=st.column_config.NumberColumn("held-out MAPE", format="percent"),
                     heldout_log_rmse=st.column_config.NumberColumn("held-out log-RMSE", format="%.4f"),
                     aicc=st.column_config.NumberColumn("AICc", format="%.1f"),
                     delta_aicc=st.column_config.NumberColumn("ΔAICc", format="%.1f"),
                     seconds=st.column_config.NumberColumn("seconds", format="%.1f"))


# ---------------------------------------------------------------------------------------------- Allocate
INFERENCE_KEYS = ("inf_tokens", "inf_in", "inf_out", "inf_n")     # the inference row's widgets (URL parameters)


def inference_view(fit, budget: float) -> None:
    """The Allocate row for a model that will also be served: total budget = training + inference eFLOPs."""
    with st.expander("Inference demand: size the model for training plus serving (Kinetics cost)", key="inf_open",
                     on_change="rerun", expanded=any(k in st.query_params for k in INFERENCE_KEYS)) as box:
        if not box.open:          # drawn when opened (lazy), or at once for a link that sets it
            return
        st.caption("The budget above then pays for training (6 N D) and for generating the served tokens, priced "
                   "as compute plus KV-cache traffic (Sadhukhan et al. 2025: eFLOPs = C_comp + 562.5 C_mem, "
                   "Llama-3-like shapes). The more tokens served, the smaller the optimal model.")
        c = st.columns(4)
        served = widgets.number("Tokens served over the model's life", key="inf_tokens", default=0.0, min_value=0.0,
                                step=1e12, format="%.4g", where=c[0], help="0 = training only")
        prompt = widgets.number("Prompt tokens per request", key="inf_in", default=1000.0, min_value=0.0, where=c[1])
        gen = widgets.number("Generated tokens per request", key="inf_out", default=1000.0, min_value=1.0, where=c[2])
        trials = widgets.number("Samples per request (best-of-n)", key="inf_n", default=1, min_value=1, integer=True,
                                where=c[3])
        if served > 0:
            c[0].caption(f"= {quantity(served, 'tokens')}")
        if served <= 0:
            st.caption("Enter the tokens the model will generate in deployment to see the inference-aware split.")
            return
        try:
            a = allocate_with_inference(fit, budget, Deployment(served, prompt, gen, trials))
        except WorkbenchError as e:
            st.warning(escape(e), icon=":material/warning:")
            return
        m = st.columns(4)
        m[0].metric("N* with serving (parameters)", quantity(a.N_opt, "params", short=True),
                    help=interval(a.ci.get("N_opt"), "params"))
        m[0].caption(interval(a.ci.get("N_opt"), "params"))
        m[1].metric("D* (tokens)", quantity(a.D_opt, "tokens", short=True), help=interval(a.ci.get("D_opt"), "tokens"))
        m[2].metric("Share of the budget spent serving", f"{a.inference_share:.0%}")
        m[3].metric("eFLOPs per generated token", quantity(a.cost_per_token, "FLOPs", short=True))
        st.caption(f"Training alone would choose N = {quantity(a.N_train_only, 'params')}; "
                   f"predicted loss {a.loss:.4g} at the inference-aware optimum.")
        for note in a.notes:
            st.info(escape(note), icon=":material/info:")


# ---------------------------------------------------------------------------------------------- Downstream
@st.cache_data(show_spinner=False, max_entries=64)
def _emergence(key: str, chance: float, _N, _p, _runs):
    return _guarded(emergence_api.classify_emergence, _N, _p, chance=chance, runs=_runs)


def emergence_view(joined: pd.DataFrame, chance: float, higher_is_better: bool) -> None:
    """PassUntil's F(N) = log(-log p) test on the final checkpoint of each run (``params``, ``value``, ``run_id``)."""
    with st.expander("Emergence: standard scaling, accelerated emergence or sub-scaling (PassUntil)",
                     key="emergence_open", on_change="rerun") as box:
        if not box.open:          # computed and drawn when opened (lazy)
            return
        st.caption("The pass rate above chance p follows p = exp(-c N^-alpha) under the task scaling law (Hu et al. "
                   "2024), i.e. F = log(-log p) falls linearly in log N. A significant bend (run-level wild "
                   "bootstrap of the curvature) says accelerated emergence (improvement speeds up) or sub-scaling.")
        v = pd.to_numeric(joined["value"], errors="coerce")
        if not higher_is_better or v.min() < 0 or v.max() > 1:
            st.caption("Needs a higher-is-better metric in [0, 1] (an accuracy or pass rate).")
            return
        final = joined.assign(value=v).groupby("run_id", sort=False).tail(1)
        try:
            res = _run(_emergence, digest(final[["params", "value", "run_id"]]), None, float(chance or 0.0),
                       final["params"].to_numpy(float), final["value"].to_numpy(float),
                       final["run_id"].astype(str).to_numpy())
        except AnalysisError as e:
            st.warning(f"No emergence verdict: {escape(e)}")
            return
        m = st.columns(3)
        m[0].metric("Shape", res.shape)
        m[1].metric("Task exponent alpha", f"{res.alpha:.3g}" if np.isfinite(res.alpha) else "n/a",
                    help=f"95% CI {res.alpha_ci}")
        m[2].metric("Curvature p-value", f"{res.p_value:.2g}" if np.isfinite(res.p_value) else "n/a")
        st.markdown(escape(res.summary()))
