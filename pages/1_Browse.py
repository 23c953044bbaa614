"""Browse: training curves of a family (and others beside it), the runs with their provenance, downloads."""
import numpy as np
import pandas as pd
import streamlit as st

from analysis import figures
from datasets.vocabulary import axis
from ui import compute, navigation, output, widgets
from ui.data import sidebar
from ui.format import quantity

navigation.page("Browse")
data = sidebar()
if data is None:
    st.stop()

# ---- which families and runs (filters whose options depend on the family start afresh when it changes)
FILTERS = ("arch", "corpus", "size")
widgets.reset_when(data.family, "also", *FILTERS)
others = [f for f in data.families()["family"] if f != data.family]
if others:
    extra = widgets.multiselect("Also show families", sorted(others), key="also",
                                help="Families of the same source drawn beside the one chosen in the sidebar "
                                     "(same metric).")
else:
    extra = []
    widgets.forget("also")
widgets.reset_when((data.family, tuple(extra)), *FILTERS)
shown_data = [data] + [data.with_family(f) for f in extra]
runs = pd.concat([d.runs() for d in shown_data], ignore_index=True)
points = pd.concat([d.points() for d in shown_data], ignore_index=True)

c1, c2, c3 = st.columns(3)
arch = widgets.multiselect("Architecture", sorted(runs["arch"].dropna().astype(str).unique()), key="arch", where=c1,
                           placeholder="all")
corpus = widgets.multiselect("Training data", sorted(runs["data"].dropna().astype(str).unique()), key="corpus",
                             where=c2, placeholder="all")
X_AXES = ("tokens", "flops", "step", "params")
x = widgets.radio("x axis", X_AXES, key="x", where=c3, horizontal=True, format_func=lambda c: axis(c).label)
sizes = runs["params"].dropna()
sizes = sizes[sizes > 0]
if len(sizes) and sizes.max() > sizes.min():
    lo, hi = widgets.scale_range("Model size N", key="size", lo=float(sizes.min()), hi=float(sizes.max()),
                                 unit="params")
else:
    lo, hi = -np.inf, np.inf
    widgets.forget("size")

# ---- the filter
keep = runs
if arch:
    keep = keep[keep["arch"].astype(str).isin(arch)]
if corpus:
    keep = keep[keep["data"].astype(str).isin(corpus)]
if np.isfinite(lo):   # runs without a published size stay
    p = keep["params"]
    keep = keep[p.isna() | ((p >= lo * 0.999) & (p <= hi * 1.001))]
pts = points[points["run_id"].isin(keep["run_id"])]
if extra:                                   # several families: the figure tells them apart
    pts = pts.assign(family=pts["run_id"].map(runs.drop_duplicates("run_id").set_index("run_id")["family"]))
hidden = runs["run_id"].nunique() - keep["run_id"].nunique()
if hidden:
    h1, h2 = st.columns([4, 1], vertical_alignment="center")
    h1.info(f"The filters hide {hidden:,} of {runs['run_id'].nunique():,} runs.", icon=":material/filter_alt:")
    h2.button("Show all runs", key="browse_reset", on_click=widgets.reset, args=FILTERS, icon=":material/filter_alt_off:")

units = sorted(pts["unit"].dropna().astype(str).unique())
unit = ", ".join(units) if units else None
m = st.columns(4)
m[0].metric("Runs shown", f"{keep['run_id'].nunique():,}")
m[1].metric("Points shown", f"{len(pts):,}")
lo, hi = (quantity(v, "params", short=True) for v in (keep["params"].min(), keep["params"].max()))
m[2].metric("Model sizes (parameters)", (lo if lo == hi else f"{lo}–{hi}") if keep["params"].notna().any() else "n/a",
            help="The smallest and the largest model shown")
m[3].metric("Metric unit", unit or "n/a", help="As published; the Fit page converts bits and perplexity to nats.")
if pts.empty:
    st.warning("No points match these filters: widen the size range or clear the architecture and data filters.")
    st.stop()

# ---- the figure
present = {"tokens": pts["tokens"], "flops": pts["flops"].fillna(6.0 * pts["params"] * pts["tokens"]),
           "step": pts["step"], "params": pts["params"]}
usable = [a for a in X_AXES if (pd.to_numeric(present[a], errors="coerce") > 0).any()]
shown = x if x in usable or not usable else usable[0]
if shown != x:
    st.info(f"These points have no {axis(x).label}: drawn against {axis(shown).label} instead.", icon=":material/info:")
output.chart(compute.figure(figures.curves_figure, pts, x=shown, metric=data.metric, unit=unit,
                                   title=f"{data.metric} against {axis(shown).label}"),
             f"curves_{data.family}_{data.metric}", key="browse_curves")

st.subheader("Runs and provenance")
cols = [c for c in ("run_id", "model", "family", "arch", "params", "data", "tokens", "flops", "unique_tokens",
                    "paper", "repo", "commit", "file", "licence", "notes") if c in keep]
output.table(keep[cols], "browse_runs")
output.download_table(pts, f"points_{data.family}{f'_and_{len(extra)}_more' if extra else ''}_{data.metric}",
                      key="browse_dl", label="filtered points")
