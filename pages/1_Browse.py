"""Browse: training curves of a family (and others beside it), the runs with their provenance, downloads."""
import numpy as np
import pandas as pd
import streamlit as st

import ui
from analysis import figures

ui.page("Browse")
st.title("Browse runs")
data = ui.sidebar()
if data is None:
    st.stop()

# ---- which families
if data.kind == "corpus":
    fams = ui.query(data.store, "families", source=data.source)
    others = [f for f in fams["family"] if f != data.family]
else:
    others = [f for f in ui.upload_families() if f != data.family]
extra = ui.multiselect("Also show families", sorted(others), key="also",
                       help="Families of the same source drawn beside the one chosen in the sidebar (same metric).")
handles = [data] + [data.sibling(f) for f in extra]
runs = pd.concat([h.runs() for h in handles], ignore_index=True)
points = pd.concat([h.points() for h in handles], ignore_index=True)

# ---- filters
c1, c2, c3 = st.columns(3)
archs = sorted(runs["arch"].dropna().astype(str).unique())
arch = ui.multiselect("Architecture", archs, key="arch", where=c1, placeholder="all")
datas = sorted(runs["data"].dropna().astype(str).unique())
corpus = ui.multiselect("Training data", datas, key="corpus", where=c2, placeholder="all")
AXES = {"tokens": "tokens D", "flops": "FLOPs C", "step": "steps", "params": "parameters N"}
x = ui.radio("x axis", list(AXES), key="x", where=c3, horizontal=True, format_func=AXES.get)
sizes = runs["params"].dropna()
sizes = sizes[sizes > 0]
if len(sizes) and sizes.max() > sizes.min():
    lo, hi = ui.scale_range("Model size N", key="size", lo=float(sizes.min()), hi=float(sizes.max()),
                            unit="params")
else:
    lo, hi = -np.inf, np.inf
    ui.forget("size")

keep = runs.copy()
if arch:
    keep = keep[keep["arch"].astype(str).isin(arch)]
if corpus:
    keep = keep[keep["data"].astype(str).isin(corpus)]
if np.isfinite(lo):   # runs without a published size stay
    p = keep["params"]
    keep = keep[p.isna() | ((p >= lo * 0.999) & (p <= hi * 1.001))]
pts = points[points["run_id"].isin(keep["run_id"])]

units = sorted(pts["unit"].dropna().astype(str).unique())
unit = ", ".join(units) if units else None
m = st.columns(4)
m[0].metric("Runs shown", f"{keep['run_id'].nunique():,}")
m[1].metric("Points shown", f"{len(pts):,}")
m[2].metric("Model sizes (parameters)", " to ".join(ui.fmt(v, "params").split()[0] for v in
                                                    (keep["params"].min(), keep["params"].max()))
            if keep["params"].notna().any() else "n/a")
m[3].metric("Metric unit", unit or "n/a", help="As published; the Fit page converts bits and perplexity to nats.")

if pts.empty:
    st.warning("No points match these filters: widen the size range or clear the architecture and data filters.")
    st.stop()
flops = pts["flops"].fillna(6.0 * pts["params"] * pts["tokens"])
present = {"tokens": pts["tokens"], "flops": flops, "step": pts["step"], "params": pts["params"]}
usable = [a for a in AXES if (pd.to_numeric(present[a], errors="coerce") > 0).any()]
shown = x
if x not in usable and usable:
    shown = usable[0]
    st.info(f"These points have no {AXES[x]}: drawn against {AXES[shown]} instead.", icon=":material/info:")
ui.chart(figures.curves_figure(pts, x=shown, metric=data.metric, unit=unit,
                               title=f"{data.metric} against {AXES[shown]}"),
         f"curves_{data.family}_{data.metric}", key="browse_curves")

st.subheader("Runs and provenance")
cols = [c for c in ("run_id", "model", "family", "arch", "params", "data", "tokens", "flops", "unique_tokens",
                    "paper", "repo", "commit", "file", "licence", "notes") if c in keep]
ui.table(keep[cols], "browse_runs")
ui.download_table(pts, f"points_{data.family}_{data.metric}", key="browse_dl", label="filtered points")
