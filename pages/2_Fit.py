"""Fit: a law with run-level bootstrap intervals, residuals, a back-test, a comparison, and exports."""
import numpy as np
import pandas as pd
import streamlit as st

import ui
from analysis import figures
from analysis.allocate import allocate
from analysis.backtest import applicable_laws
from analysis.fit import OBJECTIVES, complete_axes
from analysis.laws import VAR_UNITS

ui.page("Fit")
st.title("Fit a scaling law")
data = ui.sidebar()
if data is None:
    st.stop()
try:
    frame = data.frame()
except ui.AnalysisError as e:
    st.error(f"This metric cannot be fitted: {ui.md(e)}")
    st.stop()
if frame.empty:
    st.warning("This family has no finite values of the metric: choose another metric in the sidebar.")
    st.stop()
unit = data.unit()

with st.container(border=True):
    try:
        settings = ui.fit_controls(data, frame)
    except ui.AnalysisError as e:
        st.error(ui.md(e))
        st.stop()
try:
    settings, choice = ui.resolve_law(data, frame, settings)
    fit = ui.run_fit(data, frame, settings)
except ui.AnalysisError as e:
    st.error(f"The fit failed: {ui.md(e)}")
    st.info("Try another law, relax the early-checkpoint cut, or include more runs.", icon=":material/info:")
    st.stop()
if choice is not None:
    st.info(f"auto chose **{choice.law}**: {ui.md(choice.reason)}.", icon=":material/smart_toy:")

law = fit.law_obj
x = figures.x_axis(fit.law)
x_unit = "FLOPs" if x == "C" else {"N": "params", "D": "tokens", "step": "steps"}.get(x)
target = None
if law.variables[0] != "S1":
    have = pd.to_numeric(complete_axes(frame)[x], errors="coerce")
    have = have[have > 0]
    top = float(have.max())
    if x == "C":
        target = ui.scale("Target compute", key="target", lo=float(have.min()), hi=max(1e27, top),
                          default=1e24 if top < 1e24 else min(10 * top, 1e27), unit="FLOPs",
                          help="The fit (for N-D laws: its compute-optimal frontier) is extended to this scale.")
    else:
        target = ui.scale(f"Target {VAR_UNITS.get(x, x)}", key="target", lo=float(have.min()), hi=top * 1e4,
                          default=top * 10, unit=x_unit, help="The fitted curve and its band are extended to here.")
else:
    ui.forget("target")

# ---- headline numbers
m = st.columns(5)
m[0].metric("Points used", f"{fit.n_points:,}", help="Observations (run x checkpoint) the fit used.")
m[1].metric("Runs used", f"{fit.n_runs:,}", help="Runs: the unit the bootstrap resamples.")
m[2].metric("RMSE of log y", ui.fmt(fit.rmse_log), help="Root-mean-square of log(predicted) - log(observed).")
m[3].metric("Mean relative error", ui.fmt(fit.mare, "%"))
if target is not None:
    if law.allocatable:
        at = allocate(fit, target)
        value, ci, what = at.loss, at.ci.get("loss"), f"Compute-optimal {data.metric} at {ui.fmt(target, 'FLOPs')}"
    else:
        X = pd.DataFrame({x: [target]})
        value = float(fit.predict(X)[0])
        ci = tuple(float(v[0]) for v in fit.band(X)) if fit.n_boot else None
        what = f"{data.metric} at {ui.fmt(target, x_unit)}"
    m[4].metric("Prediction at target", ui.fmt(value, unit), help=f"{what}; {ui.fmt_ci(ci, unit)}")
    m[4].caption(ui.fmt_ci(ci, unit))
st.caption(f"{law.title}: `{law.formula}` · objective {fit.objective} · {fit.n_boot} of "
           f"{fit.n_boot_requested} bootstrap resamples · {fit.seconds:.1f} s")
ui.warn(fit.warnings)
for note in fit.notes:
    st.caption(f"Data choice: {ui.md(note)}")

view = ui.radio("View", ["fit", "residuals", "backtest", "compare", "export"], key="view", horizontal=True,
                format_func=lambda v: {"fit": "Fit and parameters", "residuals": "Residuals",
                                       "backtest": "Back-test", "compare": "Compare", "export": "Export"}[v],
                label_visibility="collapsed")
slug = f"{data.family}_{data.metric}_{fit.law}"

if view != "compare":
    ui.forget("compare", "law2", "objective2")

if view == "fit":
    ui.chart(figures.fit_figure(fit, frame, metric=data.metric, unit=unit, target=target), f"fit_{slug}",
             key="fit_figure")
    st.subheader("Parameters")
    st.dataframe(ui.param_table(fit, unit), hide_index=True, key="fit_params",
                 column_config={"value": st.column_config.NumberColumn(format="%.5g"),
                                "95% CI low": st.column_config.NumberColumn(format="%.5g"),
                                "95% CI high": st.column_config.NumberColumn(format="%.5g")})
    if choice is not None:
        with st.expander("How auto chose: held-out error of every applicable law"):
            st.dataframe(choice.table, hide_index=True, key="fit_auto_table")

elif view == "residuals":
    ui.chart(figures.residual_figure(fit, frame), f"residuals_{slug}", key="fit_residuals")
    st.caption("A good fit leaves residuals scattered around zero without a trend in scale or model size.")

elif view == "backtest":
    try:
        bt = ui.compute("backtest", data.cache_key(), frame, spinner="Back-testing ...", law=fit.law, bootstrap=0,
                        **settings.kwargs())
    except ui.AnalysisError as e:
        st.warning(f"No back-test: {ui.md(e)}")
    else:
        b = st.columns(3)
        b[0].metric("ARE on held-out runs", ui.fmt(bt.are, "%"),
                    help="Mean absolute relative error over the last 30% of each held-out run (Hitchhiker's guide; "
                         "about 4% is the best the guide finds across its corpus).")
        b[1].metric("Held-out log-RMSE", ui.fmt(bt.log_rmse))
        b[2].metric("Held-out runs", f"{len(bt.heldout):,}")
        st.caption(ui.md(bt.rule))
        ui.chart(figures.backtest_figure(bt, metric=data.metric, unit=unit), f"backtest_{slug}", key="fit_backtest")
        st.dataframe(pd.DataFrame(bt.heldout), hide_index=True, key="fit_heldout",
                     column_config={"are": st.column_config.NumberColumn("ARE", format="percent"),
                                    "N": st.column_config.NumberColumn("N (params)", format="%.3e")})

elif view == "compare":
    what = ui.radio("Compare with", ["law", "objective"], key="compare", horizontal=True,
                    format_func=lambda v: {"law": "another law", "objective": "another objective"}[v])
    if what == "law":
        others = [n for n in applicable_laws(frame) if n != fit.law]
        if not others:
            st.info("No other law applies to these data.")
            st.stop()
        second = ui.select("Second law", others, key="law2", default="kaplan" if "kaplan" in others else others[0],
                           format_func=ui.law_label)
        ui.forget("objective2")
        label_a, label_b = fit.law, second
        kwargs = dict(law=second)
    else:
        objs = [o for o in OBJECTIVES if o != fit.objective]
        second = ui.select("Second objective", objs, key="objective2", default="mse" if "mse" in objs else objs[0])
        ui.forget("law2")
        label_a, label_b = f"{fit.law} ({fit.objective})", f"{fit.law} ({second})"
        kwargs = dict(law=fit.law, objective=second)
    try:
        fit_b = ui.run_fit(data, frame, settings, **kwargs)
    except ui.AnalysisError as e:
        st.warning(f"The second fit failed: {ui.md(e)}")
        st.stop()
    ui.chart(figures.comparison_figure({label_a: fit, label_b: fit_b}, frame, metric=data.metric, unit=unit,
                                       target=target), f"compare_{slug}_{second}", key="fit_compare")
    rows = []
    for label, f in ((label_a, fit), (label_b, fit_b)):
        row = {"fit": label, "law": f.law, "objective": f.objective, "parameters": len(f.params),
               "RMSE log y": f.rmse_log, "mean rel. error": f.mare, "warnings": len(f.warnings)}
        if target is not None and f.law_obj.allocatable and x == "C":
            a = allocate(f, target)
            row["L* at target"] = a.loss
            row["L* 95% CI"] = ui.fmt_ci(a.ci.get("loss"), unit)
        elif target is not None and figures.x_axis(f.law) == x:
            X = pd.DataFrame({x: [target]})
            row["y at target"] = float(f.predict(X)[0])
        rows.append(row)
    st.dataframe(pd.DataFrame(rows), hide_index=True, key="fit_compare_table")
    left, right = st.columns(2)
    for col, label, f in ((left, label_a, fit), (right, label_b, fit_b)):
        with col:
            st.markdown(f"**{ui.md(label)}**")
            st.dataframe(ui.param_table(f, unit), hide_index=True, key=f"fit_compare_params_{label == label_a}")
            ui.warn(f.warnings)

else:  # export
    st.subheader("Downloads")
    c = st.columns(3)
    ui.download_json(fit.to_dict(), f"fit_{slug}", key="dl_fit_json", label="Fit (JSON)", where=c[0])
    ui.download_text("Parameters (CSV)", lambda: ui.param_table(fit, unit).to_csv(index=False),
                     f"params_{ui.slug(slug)}.csv", "text/csv", key="dl_params", where=c[1])
    ui.download_text("Fit frame (CSV)", lambda: frame.to_csv(index=False), f"frame_{ui.slug(slug)}.csv", "text/csv",
                     key="dl_frame", where=c[2])
    try:
        bt = ui.compute("backtest", data.cache_key(), frame, law=fit.law, bootstrap=0, **settings.kwargs())
    except ui.AnalysisError:
        bt = None
    allocation = None
    if law.allocatable and target is not None:
        lo_c = float(complete_axes(frame)["C"].min())
        allocation = ui.compute("frontier", f"{data.cache_key()}|{fit.settings}", fit,
                                computes=tuple(np.logspace(np.log10(lo_c), np.log10(target), 5)))
    st.subheader("Report")
    ui.report_downloads(fit, frame, data, slug, "dl_report", backtest=bt, allocation=allocation)
