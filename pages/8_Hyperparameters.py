"""Hyperparameters: the optimal learning rate and batch size from lr x batch sweeps, beside the published rules."""
import io
import math

import pandas as pd
import streamlit as st

from analysis import hparams as hp
from analysis.figures import hparams as figs
from analysis.report import cli_command
from analysis.report.content import path_replacements, redact
from analysis.settings import BOOTSTRAP, SEED
from ui import compute, navigation, output, widgets
from ui.data import example, sidebar
from ui.format import code, escape, interval, quantity, slug

DENSE = {"data": "corpus", "source": "steplaw", "family": "steplaw/dense", "hsweep": "family"}
MOE_FAMILIES = ["steplaw/moe-1in8", "steplaw/moe-1in89", "steplaw/moe-2in88", "steplaw/moe-3in8"]
MOE = {**DENSE, "family": MOE_FAMILIES[0], "hpool": MOE_FAMILIES[1:]}
METHODS = {"bowl": "convex bowl (vertex)", "filter": "authors' 0.25% filter", "argmin": "best run"}
HP_TABS = ["Laws", "Cells", "Published rules", "Calculator", "MoE"]
CALC_KEYS = ("hN", "hD", "hL", "hNa")              # the calculator's widgets (URL parameters)

navigation.page("Hyperparameters")
st.caption("Which peak learning rate and batch size at a model size N and a token budget D? Each (N, D) cell of a "
           "sweep gives its optimum (with a run-level bootstrap interval); power laws in N and D carry them to new "
           "sizes; the published rules are scored by the loss they cost on the same runs.")


def is_sweep(d) -> bool:
    """The page suits a family whose runs record learning rate and batch size (a sweep)."""
    try:
        compute.sweep_frame([(d.runs(), d.points(d.metric, final_only=True))])
    except compute.AnalysisError:
        return False
    return True


data = sidebar(example={**DENSE, "metric": "train_loss_smoothed"}, suits=is_sweep)    # a first visit: a sweep
if data is None:
    st.stop()

source = widgets.radio("Sweep", ["family", "upload"], key="hsweep", horizontal=True,
                       format_func={"family": "the sidebar's family", "upload": "a sweep table you upload"}.get)
if source == "upload":
    c1, c2, c3 = st.columns([2, 1, 1])
    file = c1.file_uploader("Sweep table (CSV or Parquet): one row per run with lr, batch (or bs), N, D, loss",
                            type=["csv", "parquet"], key="hfile")
    unit = widgets.radio("A `batch` column counts", ["sequences", "tokens"], key="hbunit", where=c2)
    seq_len = widgets.number("Sequence length (tokens)", key="hseq", default=2048, min_value=1, max_value=10**7,
                             integer=True, where=c3)
    if file is None:
        st.info("Upload a table of your sweep (columns lr, batch or bs, N, D, loss; optionally N_active for an "
                "MoE), or analyse a published sweep.", icon=":material/info:")
        example("Show StepLaw's dense sweep (1,911 runs)", DENSE, key="hp_dense_example")
        st.stop()
    raw = file.getvalue()
    try:
        table = pd.read_parquet(io.BytesIO(raw)) if file.name.lower().endswith(".parquet") else \
            pd.read_csv(io.BytesIO(raw))
        frame = hp.from_table(table, batch_unit=unit, seq_len=seq_len)
    except hp.HparamsError as e:
        st.error(f"The sweep cannot be read: {escape(e.message)}", icon=":material/block:")
        st.info(f"What to do: {escape(e.fix or 'check the table')}", icon=":material/info:")
        st.stop()
    except (ValueError, UnicodeDecodeError, OSError) as e:
        st.error(f"{escape(file.name)} is not a readable CSV or Parquet table ({escape(str(e).splitlines()[0])}).",
                 icon=":material/block:")
        st.stop()
    name, families = file.name, []
else:
    metric = hp.sweep_metric(list(dict.fromkeys(data.metrics()["metric"])), data.metric)
    others = [f for f in data.families()["family"] if f != data.family]
    pool = widgets.multiselect("Pool with other families of this source", others, key="hpool",
                               help="e.g. the four StepLaw MoE families (N total ~2.15B, N active 0.19-1.24B)")
    families = [data.family, *pool]
    try:
        frame = compute.sweep_frame([(data.with_family(f).runs(), data.with_family(f).points(metric, final_only=True))
                                     for f in families])
    except compute.AnalysisError as e:
        st.info(f"{escape(data.family)} is not a learning-rate x batch sweep: {escape(e.message)}. This page "
                "needs several runs per (N, D) that differ in learning rate or batch size.", icon=":material/info:")
        example("Show StepLaw's dense sweep (1,911 runs)", DENSE, key="hp_dense_example")
        st.stop()
    frame.attrs.update(family=", ".join(families), metric=metric)
    name = "_".join(families)
    if metric != data.metric:
        st.caption(f"Analysing {escape(metric)}: the smoothed final loss the authors fit (the last logged loss "
                   "is one noisy batch).")

moe = frame["N_active"].notna().all()
c1, c2, c3 = st.columns(3)
method = widgets.radio("Optimum of each cell", list(METHODS), key="hmethod", where=c1, format_func=METHODS.get,
                       help="bowl: vertex of a quadratic in (log lr, log batch) over the runs within 2% of the "
                            "cell's minimum; filter: geometric mean of the runs within 0.25% (Li et al.); best run.")
boot = widgets.number("Bootstrap resamples per cell", key="hboot", default=BOOTSTRAP, min_value=0, max_value=5000,
                      step=100, integer=True, where=c2)
basis = widgets.radio("N of an MoE model", ["total", "active"], key="hbasis", where=c3, horizontal=True,
                      disabled=not moe, help="Which parameter count the laws and rules use (MoE sweeps only).")
with output.stop_on_error("No analysis of this sweep"):
    res = compute.hparams(frame, method=method, bootstrap=boot, seed=SEED, n_basis=basis if moe else "total")

k = st.columns(4)
k[0].metric("(N, D) cells", res.n_cells, help=f"{res.n_runs:,} runs, {res.n_diverged:,} diverged (left out)")
if res.lr_law:
    a, b = res.lr_law.params["a"], res.lr_law.params["b"]
    k[1].metric("lr*: exponents of N, D", ", ".join("n/a" if math.isnan(v) else f"{v:.3f}" for v in (a, b)),
                help="eta* = c N^a D^b (peak learning rate)")
    k[1].caption(f"D: {interval(res.lr_law.ci['b'])}")
if res.batch_law:
    k[2].metric("B*: exponent of D", f"{res.batch_law.params['g']:.3f}", help="B* = d D^g (tokens)")
    k[2].caption(interval(res.batch_law.ci["g"]))
k[3].metric("StepLaw's mean loss gap", quantity(res.rules[0].mean_penalty, "%", digits=4),
            help="Loss of the run nearest StepLaw's (lr, batch) above each cell's minimum, mean over cells")
st.markdown("  ·  ".join(code(law.formula) for law in (res.lr_law, res.batch_law) if law) or
            "Too few (N, D) cells for laws.")
comparison = res.comparison()
refit = f"refit ({method})"
for row in comparison[comparison["agrees"].eq(False) & comparison["constant"].isin(["a", "b", "g"])].to_dict("records"):
    authors = row.get("authors' procedure")
    st.warning(f"Published {escape(row['meaning'])} = {row['published']:g} lies outside this refit's 95% interval "
               f"[{row['refit lo']:.3g}, {row['refit hi']:.3g}] (refit {row[refit]:.3g}"
               + (f"; the authors' own procedure on these runs gives {authors:.3g}" if authors is not None
                  and math.isfinite(authors) else "")
               + ").", icon=":material/warning:")
with st.expander(f"Warnings ({len(res.warnings)})", key="hp_warnings_open", on_change="rerun") as box:
    if box.open:                  # drawn when opened (lazy, as Crossover's diagnostics)
        output.warn(res.warnings)

# lazy tabs: only the selected tab runs and is drawn (its charts were drawn hidden, delaying a new tab's first
# chart); the selected tab is in the URL (htab), and a link that sets the calculator opens it
laws, cells, rules, calc, moe_tab = st.tabs(HP_TABS, key="htab", on_change="rerun", bind="query-params",
                                            default="Calculator" if any(k in st.query_params for k in CALC_KEYS)
                                            else None)
with laws:
    if laws.open:
        c1, c2 = st.columns(2)
        with c1:
            output.chart(compute.figure(figs.law_figure, res, "lr"), f"hp_lr_law_{name}", key="hp_lr_law")
            if res.lr_law:
                output.chart(compute.figure(figs.law_residual_figure, res.lr_law, res.cells), f"hp_lr_resid_{name}",
                             key="hp_lr_res")
        with c2:
            output.chart(compute.figure(figs.law_figure, res, "batch"), f"hp_batch_law_{name}", key="hp_b_law")
            if res.batch_law:
                output.chart(compute.figure(figs.law_residual_figure, res.batch_law, res.cells), f"hp_b_resid_{name}",
                             key="hp_b_res")
        st.subheader("Published vs refit")
        output.table(comparison, "hp_comparison")
with cells:
    if cells.open:
        ids = {c.cell: c for c in res.cells}
        cell = widgets.select("Cell", list(ids), key="hcell",
                              format_func=lambda i: figs.cell_label(ids[i].N, ids[i].D))
        score_at = [(s.name, *next(((r[2], r[3], r[6]) for r in s.cells if r[0] == ids[cell].N and r[1] == ids[cell].D),
                                   (math.nan, math.nan, math.nan))) for s in res.rules]
        output.chart(compute.figure(figs.heatmap_figure, frame, cell, optimum=ids[cell], rules=score_at),
                     f"hp_heatmap_{name}_{cell}", key="hp_heat")
        output.chart(compute.figure(figs.slices_figure, frame, cell, optimum=ids[cell], unit=res.unit),
                     f"hp_slices_{name}_{cell}", key="hp_slices")
        output.table(res.table(), "hp_cells")
        output.download_table(res.table(), f"hp_cells_{name}", key="hp_cells_dl", label="cell optima")
with rules:
    if rules.open:
        output.chart(compute.figure(figs.rules_figure, res.rules), f"hp_rules_{name}", key="hp_rules")
        output.table(pd.DataFrame([{"rule": s.name, "mean gap (%)": 100 * s.mean_penalty,
                                    "worst cell (%)": 100 * s.max_penalty, "cells": s.n_cells, "lr": r.lr_formula,
                                    "batch": r.batch_formula} for s, r in zip(res.rules, hp.RULES)]), "hp_rule_table")
        output.chart(compute.figure(figs.sensitivity_figure, res.sensitivity), f"hp_sensitivity_{name}",
                     key="hp_sens")
with calc:
    if calc.open:
        if res.lr_law is None or res.batch_law is None:
            st.info("This sweep has too few (N, D) cells for laws: sweep at least two cells.", icon=":material/info:")
        else:
            mid_n = math.exp(sum(math.log(c.N) for c in res.cells) / res.n_cells)
            mid_d = math.exp(sum(math.log(c.D) for c in res.cells) / res.n_cells)
            c1, c2, c3, c4 = st.columns(4)
            n = widgets.number("N (parameters; MoE: total)", key="hN", default=float(f"{mid_n:.2g}"), min_value=1e3,
                               max_value=1e15, where=c1, format="%.3e")
            d = widgets.number("D (tokens)", key="hD", default=float(f"{mid_d:.2g}"), min_value=1e3, max_value=1e16,
                               where=c2, format="%.3e")
            seq = widgets.number("Sequence length (tokens)", key="hL", default=2048, min_value=1, max_value=10**7,
                                 integer=True, where=c3)
            na = widgets.number("N active (MoE; 0 = dense)", key="hNa", default=0.0, min_value=0.0, max_value=1e15,
                                where=c4, format="%.4g")
            with output.stop_on_error("No recommendation"):
                try:
                    rec = res.recommend(n, d, seq_len=seq, N_active=na or None)
                except hp.HparamsError as e:
                    raise compute.AnalysisError(e.message, e.fix) from None
            m = st.columns(3)
            m[0].metric("Peak learning rate", f"{rec.lr:.3g}")
            m[0].caption(interval(rec.lr_ci))
            m[1].metric("Batch (tokens)", quantity(rec.batch_tokens, "tokens", short=True))
            m[1].caption(interval(rec.batch_tokens_ci, "tokens"))
            m[2].metric(f"Batch (sequences of {seq})", f"{rec.batch_sequences:.4g}")
            m[2].caption(interval(rec.batch_sequences_ci))
            (st.success if rec.inside_hull else st.warning)(f"(N, D) is {escape(rec.hull)}.")
            output.table(pd.DataFrame(rec.rules, columns=["published rule", "lr", "batch (tokens)"]), "hp_rec_rules")
with moe_tab:
    if moe_tab.open:
        if res.moe is None:
            st.info("An MoE sweep (runs with active parameters) compares a dense rule with N = total vs N = active "
                    "parameters.", icon=":material/info:")
            example("Show the four StepLaw MoE families pooled", MOE, key="hp_moe_example")
        else:
            m = st.columns(2)
            m[0].metric("StepLaw with N = total", quantity(res.moe["total"].mean_penalty, "%", digits=4))
            m[1].metric("StepLaw with N = active", quantity(res.moe["active"].mean_penalty, "%", digits=4))
            st.caption("Mean loss gap over the MoE cells: the dense law transfers with the total parameter count.")

with output.export_box("Export: the result as JSON, its report (Markdown) and the command that reproduces it") as box:
    if box.open:                      # built when opened (lazy)
        c1, c2 = st.columns(2)
        output.download_json(res.to_dict(), f"hparams_{name}", key="hp_json", label="Result (JSON)", where=c1)
        output.download_text("Report (Markdown)", lambda: hp.to_markdown(res, comparison=comparison).encode("utf-8"),
                             f"hparams_{slug(name)}.md", "text/markdown", "hp_md", c2)
        if source == "family" and data.path:
            command = cli_command("hparams", data.describe(family=families) | {"metric": frame.attrs["metric"]},
                                  [("--cell-method", method), ("--bootstrap", int(boot)), ("--seed", SEED),
                                   ("--n-basis", basis if moe else "total"), ("--json", True)])
            output.reproduce([redact(command, path_replacements(data.path))])
        else:
            st.caption("Reproduce with `python -m analysis hparams --data YOUR_TABLE.csv --json`.")
