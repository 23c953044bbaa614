"""Home: the corpus at a glance and one fitted law with its uncertainty.

``streamlit run app.py`` serves this script at ``/`` (``app.py`` is the server). The other pages live in
``pages/`` (Streamlit's auto-discovered list, so every page has a clean URL such as ``/Fit`` that works
as a cold deep link).
"""
import pandas as pd
import streamlit as st

from analysis import figures
from analysis.laws import get_law
from analysis import settings as settings_api
from analysis.settings import FitSettings
from datasets.store import Store
from ui import compute, data, navigation, output, store
from ui.format import code, escape, interval, quantity

navigation.page("Home")

# Besiroglu et al. 2024 ("Chinchilla Scaling: A replication attempt", arXiv 2404.10102), Table 1: Huber
# (delta 1e-3) on log loss, the five highest-loss points left out, 4,000 bootstraps; 95% intervals.
EPOCH = {"E": (1.817, 1.769, 1.871), "A": (482.0, 285.2, 743.6), "B": (2085.4, 1042.4, 5810.3),
         "alpha": (0.348, 0.317, 0.373), "beta": (0.366, 0.331, 0.415)}
HOFFMANN = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}
EPOCH_LEFT_OUT = 5
CHINCHILLA = get_law("chinchilla")

st.markdown("Browse published training runs, fit scaling laws with run-level bootstrap intervals, split a "
            "compute budget, find crossovers and inverse or U-shaped trends, map loss to downstream metrics, "
            "and do all of it on your own uploaded runs.")


def corpus_summary(corpus: Store) -> None:
    summary = store.query(corpus, "summary")
    c = st.columns(4)
    c[0].metric("Sources", f"{summary['n_sources']:,}")
    c[1].metric("Scaling families", f"{summary['n_families']:,}")
    c[2].metric("Training runs", f"{summary['n_runs']:,}")
    c[3].metric("Measurements", f"{summary['n_points']:,}", help="Points: one metric of one run at one checkpoint.")
    families = store.query(corpus, "families")
    if (families["min_params"] > 0).any():   # drawn before the reference fit: a chart from a query, not from a fit
        output.chart(compute.figure(figures.corpus_figure, families, title="Model sizes N (params) each source covers"),
                     "corpus_sources", key="home_corpus")


def reference_fit(corpus: Store) -> None:
    """Chinchilla on Epoch's points, left out and fitted as Epoch did, beside Epoch's published values."""
    st.subheader("A fitted law with its uncertainty")
    ref = data.reference_family(corpus)
    if ref is None:
        st.info("The store has no Epoch/Chinchilla points (source chinchilla-epoch), so the reference fit is "
                "not shown. Fit any family on the Fit page.", icon=":material/info:")
        return
    ref_data = data.on(corpus, ref, store.query(corpus, "default_metric", ref))
    frame = ref_data.frame()
    worst = ref_data.flagged_runs() or frame.nlargest(EPOCH_LEFT_OUT, "y")["run"].tolist()
    settings = FitSettings(CHINCHILLA.name, "huber", None, None, tuple(sorted(worst)), settings_api.BOOTSTRAP, "none")
    try:
        fit = compute.fit(frame, settings)
    except compute.AnalysisError as e:
        st.error(f"The reference fit failed: {escape(e)}")
        return
    st.markdown(f"**Chinchilla** `L = E + A/N^alpha + B/D^beta` on the {len(frame)} points Epoch AI digitised "
                f"from Hoffmann et al. (2022), Figure 4 (family {code(ref)}). As in Epoch's replication: "
                f"Huber loss (delta 1e-3) on log loss, the {EPOCH_LEFT_OUT} highest-loss points left out, "
                f"{fit.n_boot} run-level bootstrap resamples.")
    for col, name in zip(st.columns(5), EPOCH):
        unit = CHINCHILLA.param_unit(name, "nats")
        shown = "nats" if unit == "nats" else None
        # a unit in the label, not after the value: five columns are too narrow for "1.817 nats"
        col.metric(f"{name} ({shown})" if shown else name, quantity(fit.params[name]),
                   help=f"Unit: {unit}. Epoch: {EPOCH[name][0]:g} (95% CI {EPOCH[name][1]:g} to {EPOCH[name][2]:g}); "
                        f"Hoffmann et al. (2022): {HOFFMANN[name]:g}.")
        col.caption(interval(fit.ci.get(name), shown)
                    + ("" if unit in ("nats", "dimensionless") else f"; unit {escape(unit)}"))
    left, right = st.columns([3, 2])
    with left:
        output.chart(compute.figure(figures.fit_figure, fit, frame, metric=ref_data.metric, unit="nats",
                                    target=1e24, title="Fit over the data, extended to 1e24 FLOPs"),
                     "chinchilla_fit", key="home_fit")
    with right:
        output.chart(compute.figure(figures.parameter_comparison_figure, fit, EPOCH, label="ours",
                                    reference_label="Epoch", title="Ours and Epoch's, with 95% CIs"),
                     "chinchilla_vs_epoch", key="home_forest")
    output.warn(fit.warnings)
    # tables are built when opened: a page's first table costs a new tab ~0.3-0.45 s before its first chart is
    # drawn (Streamlit loads and starts its data grid), and the values are in the metrics and the chart above
    with st.expander("The values in a table: ours, Epoch (2024) and Hoffmann et al. (2022)", key="home_values_open",
                     on_change="rerun") as box:
        if box.open:
            table = pd.DataFrame([{"parameter": n, "unit": CHINCHILLA.param_unit(n, "nats"), "ours": fit.params[n],
                                   "ours 95% CI": f"{fit.ci[n][0]:.4g} to {fit.ci[n][1]:.4g}" if n in fit.ci else "n/a",
                                   "Epoch (2024)": EPOCH[n][0], "Epoch 95% CI": f"{EPOCH[n][1]:g} to {EPOCH[n][2]:g}",
                                   "Hoffmann et al. (2022)": HOFFMANN[n]} for n in EPOCH])
            output.table(table, "home_params")
    st.caption("The Epoch values are those published in arXiv 2404.10102 (Table 1). Differences within the "
               "intervals are expected: the bootstrap resamples differ, and the digitised points carry reading error.")


def sources(corpus: Store) -> None:
    st.subheader("Sources")
    # a fixed label: Streamlit keys an expander by its label too, and a count in it would close it on a rebuild
    with st.expander("Each source's paper, repository, commit and licence", key="home_sources_open",
                     on_change="rerun") as box:
        if box.open:                  # built when opened, as the parameter table above
            table = store.query(corpus, "sources")
            cols = [c for c in ("source", "title", "paper", "repo", "commit", "licence", "n_runs", "n_points")
                    if c in table]
            output.table(table[cols], "home_sources",
                         n_runs=st.column_config.NumberColumn("runs", format="localized"),
                         n_points=st.column_config.NumberColumn("points", format="localized"),
                         commit=st.column_config.TextColumn("commit", width="small"))
    with st.expander("Families and their model-size ranges", key="home_families_open", on_change="rerun") as box:
        if box.open:                  # built when opened: nothing below the fold is computed while it is closed
            fams = store.query(corpus, "families")
            output.chart(compute.figure(figures.coverage_figure, fams), "corpus_coverage", key="home_coverage")
            output.table(fams, "home_families")


chosen = data.sidebar()
corpus = store.corpus(quiet=True)
if corpus is not None:
    corpus_summary(corpus)
    reference_fit(corpus)
    sources(corpus)
elif chosen is None:
    st.info("Upload runs on the Upload page to use the dashboard without the published corpus.",
            icon=":material/upload_file:")
st.subheader("Pages")
navigation.page_links()
