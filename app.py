"""Home: the corpus at a glance and one fitted law with its uncertainty.

Run with ``streamlit run app.py``. The other pages live in ``pages/`` (Streamlit's auto-discovered list,
so every page has a clean URL such as ``/Fit`` that works as a cold deep link).
"""
import numpy as np
import pandas as pd
import streamlit as st

import ui
from analysis import figures

ui.page("Home")

# Besiroglu et al. 2024 ("Chinchilla Scaling: A replication attempt", arXiv 2404.10102), Table 1: Huber
# (delta 1e-3) on log loss, the five highest-loss points left out, 4,000 bootstraps; 95% intervals.
EPOCH = {"E": (1.817, 1.769, 1.871), "A": (482.0, 285.2, 743.6), "B": (2085.4, 1042.4, 5810.3),
         "alpha": (0.348, 0.317, 0.373), "beta": (0.366, 0.331, 0.415)}
HOFFMANN = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}
EPOCH_LEFT_OUT = 5

st.title("Scaling-law workbench")
st.markdown("Browse published training runs, fit scaling laws with run-level bootstrap intervals, split a "
            "compute budget, find crossovers and inverse or U-shaped trends, map loss to downstream metrics, "
            "and do all of it on your own uploaded runs.")

data = ui.sidebar()
s = ui.store(quiet=True)

if s is not None:
    summary = ui.query(s, "summary")
    c = st.columns(4)
    c[0].metric("Sources", f"{summary['n_sources']:,}")
    c[1].metric("Scaling families", f"{summary['n_families']:,}")
    c[2].metric("Training runs", f"{summary['n_runs']:,}")
    c[3].metric("Measurements", f"{summary['n_points']:,}", help="Points: one metric of one run at one checkpoint.")

    ref = ui.reference_family(s)
    st.subheader("A fitted law with its uncertainty")
    if ref is None:
        st.info("The store has no Epoch/Chinchilla points (source chinchilla-epoch), so the reference fit is "
                "not shown. Fit any family on the Fit page.", icon=":material/info:")
    else:
        metric = ui.query(s, "default_metric", ref)
        ref_data = ui.corpus_data(s, ref, metric)
        frame = ref_data.frame()
        worst = ref_data.flagged_runs() or frame.nlargest(EPOCH_LEFT_OUT, "y")["run"].tolist()
        settings = ui.FitSettings("chinchilla", "huber", None, None, tuple(sorted(worst)), ui.BOOTSTRAP, "none")
        try:
            fit = ui.run_fit(ref_data, frame, settings)
        except ui.AnalysisError as e:
            st.error(f"The reference fit failed: {ui.md(e)}")
        else:
            st.markdown(f"**Chinchilla** `L = E + A/N^alpha + B/D^beta` on the {len(frame)} points Epoch AI digitised "
                        f"from Hoffmann et al. (2022), Figure 4 (family {ui.code(ref)}). As in Epoch's replication: "
                        f"Huber loss (delta 1e-3) on log loss, the {EPOCH_LEFT_OUT} highest-loss points left out, "
                        f"{fit.n_boot} run-level bootstrap resamples.")
            m = st.columns(5)
            for col, name in zip(m, ("E", "A", "B", "alpha", "beta")):
                unit = ui.param_unit("chinchilla", name, "nats")
                shown = "nats" if unit == "nats" else None
                lo, hi = fit.ci.get(name, (np.nan, np.nan))
                col.metric(name, ui.fmt(fit.params[name], shown),
                           help=f"Unit: {unit}. Epoch: {EPOCH[name][0]:g} (95% CI {EPOCH[name][1]:g} to "
                                f"{EPOCH[name][2]:g}).")
                col.caption(ui.fmt_ci((lo, hi), shown) + ("" if unit in ("nats", "dimensionless")
                                                          else f"; unit {ui.md(unit)}"))
            table = pd.DataFrame([{"parameter": n, "unit": ui.param_unit("chinchilla", n, "nats"),
                                   "ours": fit.params[n], "ours 95% CI": f"{fit.ci[n][0]:.4g} to {fit.ci[n][1]:.4g}"
                                   if n in fit.ci else "n/a",
                                   "Epoch (2024)": EPOCH[n][0], "Epoch 95% CI": f"{EPOCH[n][1]:g} to {EPOCH[n][2]:g}",
                                   "Hoffmann et al. (2022)": HOFFMANN[n]} for n in EPOCH])
            left, right = st.columns([3, 2])
            with left:
                ui.chart(figures.fit_figure(fit, frame, metric=metric, unit="nats", target=1e24,
                                            title="Fit over the data, extended to 1e24 FLOPs"),
                         "chinchilla_fit", key="home_fit")
            with right:
                ui.chart(figures.parameter_comparison_figure(fit, EPOCH, label="ours", reference_label="Epoch",
                                                             title="Ours and Epoch's, with 95% CIs"),
                         "chinchilla_vs_epoch", key="home_forest")
            st.dataframe(table, hide_index=True, key="home_params")
            ui.warn(fit.warnings)
            st.caption("The Epoch values are those published in arXiv 2404.10102 (Table 1). Differences within the "
                       "intervals are expected: the bootstrap resamples differ, and the digitised points carry "
                       "reading error.")

    st.subheader("Sources")
    sources = ui.query(s, "sources")
    cols = [c for c in ("source", "title", "paper", "repo", "commit", "licence", "n_runs", "n_points") if c in sources]
    st.dataframe(sources[cols], hide_index=True, key="home_sources",
                 column_config={"n_runs": st.column_config.NumberColumn("runs", format="%d"),
                                "n_points": st.column_config.NumberColumn("points", format="%d"),
                                "commit": st.column_config.TextColumn("commit", width="small")})
    with st.expander("Families and their model-size ranges", expanded=False):
        fams = ui.query(s, "families")
        ui.chart(figures.coverage_figure(fams), "corpus_coverage", key="home_coverage")
        st.dataframe(fams, hide_index=True, key="home_families")

elif data is None:
    st.info("Upload runs on the Upload page to use the dashboard without the published corpus.", icon=":material/upload_file:")

st.subheader("Pages")
ui.page_links()
