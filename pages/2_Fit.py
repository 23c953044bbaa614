"""Fit: a law with run-level bootstrap intervals, residuals, a back-test, a comparison, and exports."""
import numpy as np
import pandas as pd
import streamlit as st

from analysis import diagnostics, figures
from analysis.allocate import AllocationRefused, allocate, allocations
from analysis.backtest import applicable_laws
from analysis.fit import OBJECTIVES, complete_axes
from analysis.laws import get_law
from ui import compute, field_views, fit_controls, navigation, output, widgets
from ui.data import sidebar
from ui.format import escape, interval, parameter_table, quantity, slug

VIEWS = {"fit": "Fit and parameters", "residuals": "Residuals", "backtest": "Back-test", "compare": "Compare",
         "export": "Export"}

navigation.page("Fit")
data = sidebar()
if data is None:
    st.stop()
with output.stop_on_error("This metric cannot be fitted"):
    frame = data.frame()
if frame.empty:
    st.warning("This family has no finite values of the metric: choose another metric in the sidebar.")
    st.stop()
unit = data.unit()

# ---- settings (N counted, a sweep's envelope, law, objective, ...; drawn when opened), then the fit
with output.stop_on_error(""):
    frame, settings = fit_controls.settings_box(data, frame)
with output.stop_on_error("The fit failed", "Try another law, relax the early-checkpoint cut, or include more runs."):
    settings, choice = compute.resolve_law(frame, settings)
    fit = compute.fit(frame, settings)
if choice is not None:
    st.info(f"auto chose **{choice.law}**: {escape(choice.reason)}.", icon=":material/smart_toy:")
law, x = fit.law, fit.law.x_axis
x_unit = law.variable_unit(x)
target = fit_controls.target(fit, frame, upload=data.path is None)
# the law's other variables (e.g. ParScale's streams P) at the data's largest value
held_at = {v: float(pd.to_numeric(frame[v], errors="coerce").max()) for v in law.variables if v != x and v in frame}


def at_target(t: float) -> pd.DataFrame:
    return pd.DataFrame({x: [t], **{v: [val] for v, val in held_at.items()}})



# ---- headline numbers
m = st.columns(5)
m[0].metric("Points used", f"{fit.n_points:,}", help="Observations (run x checkpoint) the fit used.")
m[1].metric("Runs used", f"{fit.n_runs:,}", help="Runs: the unit the bootstrap resamples.")
m[2].metric("RMSE of log y", quantity(fit.rmse_log), help="Root-mean-square of log(predicted) - log(observed).")
m[3].metric("Mean relative error", quantity(fit.mare, "%"))
if target is not None:
    refused = None
    if law.allocatable:
        try:
            at = allocate(fit, target)
            value, ci, what = at.loss, at.ci.get("loss"), f"Compute-optimal {data.metric} at {quantity(target, 'FLOPs')}"
        except AllocationRefused as e:      # a law for interpolation only (Farseer) outside its data
            refused, value, ci, what = e, float("nan"), None, str(e)
    else:
        X = at_target(target)
        value = float(fit.predict(X)[0])
        ci = tuple(float(v[0]) for v in fit.band(X)) if fit.n_boot else None
        what = (f"{data.metric} at {quantity(target, x_unit)}"
                + "".join(f", {v} = {val:g}" for v, val in held_at.items()))
    m[4].metric(f"At target ({unit})" if unit else "At target", quantity(value, unit, short=True),
                help=f"{what}; {interval(ci, unit)}")       # the unit in the label: the column is narrow
    m[4].caption(interval(ci, unit))
    if refused is not None:
        st.warning(f"No prediction at the target: {escape(str(refused))}", icon=":material/block:")
st.caption(f"{law.title}: `{law.formula}` · objective {fit.objective} · {fit.n_boot} of "
           f"{fit.n_boot_requested} bootstrap resamples · {fit.seconds:.1f} s")
output.warn(fit.warnings + tuple(diagnostics.at_target(fit, target)))
for note in fit.notes:
    st.caption(f"Data choice: {escape(note)}")

view = widgets.radio("View", list(VIEWS), key="view", horizontal=True, format_func=VIEWS.get,
                     label_visibility="collapsed")
name = f"{data.family}_{data.metric}_{law.name}"
if view != "compare":
    widgets.forget("compare", "law2", "objective2")

if view == "fit":
    output.chart(compute.figure(figures.fit_figure, fit, frame, metric=data.metric, unit=unit, target=target),
                 f"fit_{name}", key="fit_figure")
    st.subheader("Parameters")
    output.table(parameter_table(fit, unit), "fit_params", static=True)
    if choice is not None:
        with st.expander("How auto chose: held-out error of every candidate law", key="fit_auto_open",
                         on_change="rerun") as box:
            if box.open:              # drawn when opened (lazy)
                output.table(choice.table, "fit_auto_table")

elif view == "residuals":
    output.chart(compute.figure(figures.residual_figure, fit, frame), f"residuals_{name}", key="fit_residuals")
    st.caption("A good fit leaves residuals scattered around zero without a trend in scale or model size.")

elif view == "backtest":
    with output.stop_on_error("No back-test", warning=True):
        bt = compute.backtest(frame, settings)
    b = st.columns(3)
    b[0].metric("ARE on held-out runs", quantity(bt.are, "%"),
                help="Mean absolute relative error over the last 30% of each held-out run (Hitchhiker's guide; "
                     "about 4% is the best the guide finds across its corpus).")
    b[1].metric("Held-out log-RMSE", quantity(bt.log_rmse))
    b[2].metric("Held-out runs", f"{len(bt.heldout):,}")
    st.caption(escape(bt.rule))
    output.chart(compute.figure(figures.backtest_figure, bt, metric=data.metric, unit=unit), f"backtest_{name}",
                 key="fit_backtest")
    output.table(pd.DataFrame(bt.heldout), "fit_heldout", are=st.column_config.NumberColumn("ARE", format="percent"))
    field_views.bakeoff_view(frame, settings)

elif view == "compare":
    what = widgets.radio("Compare with", ["law", "objective"], key="compare", horizontal=True,
                         format_func=lambda v: {"law": "another law", "objective": "another objective"}[v])
    if what == "law":
        others = [n for n in applicable_laws(frame) if n != law.name]
        if not others:
            st.info("No other law applies to these data.")
            st.stop()
        second = widgets.select("Second law", others, key="law2", default="kaplan" if "kaplan" in others else others[0],
                                format_func=fit_controls.law_label)
        widgets.forget("objective2")
        label_a, label_b, change = law.name, second, dict(law=second)
    else:
        objs = [o for o in OBJECTIVES if o != fit.objective]
        second = widgets.select("Second objective", objs, key="objective2", default="mse" if "mse" in objs else objs[0])
        widgets.forget("law2")
        label_a, label_b, change = f"{law.name} ({fit.objective})", f"{law.name} ({second})", dict(objective=second)
    with output.stop_on_error("The second fit failed", warning=True):
        fit_b = compute.fit(frame, settings, **change)
    output.chart(compute.figure(figures.comparison_figure, {label_a: fit, label_b: fit_b}, frame, metric=data.metric,
                                unit=unit, target=target), f"compare_{name}_{second}", key="fit_compare")
    rows, targets = [], {}          # fit label -> (value, CI) at the target
    for label, f in ((label_a, fit), (label_b, fit_b)):
        row = {"fit": label, "law": f.law.name, "objective": f.objective, "parameters": len(f.params),
               "RMSE log y": f.rmse_log, "mean rel. error": f.mare, "warnings": len(f.warnings)}
        if target is not None and f.law.allocatable and x == "C" and f.law.extrapolates:
            a = allocate(f, target)
            row["L* at target"], row["L* 95% CI"] = a.loss, interval(a.ci.get("loss"), unit)
            targets[label] = (a.loss, a.ci.get("loss"))
        elif target is not None and f.law.x_axis == x and not f.law.per_run:
            X = at_target(target)
            row["y at target"] = float(f.predict(X)[0])
            targets[label] = (row["y at target"], tuple(float(v[0]) for v in f.band(X)) if f.n_boot else None)
        rows.append(row)
    output.table(pd.DataFrame(rows), "fit_compare_table",        # the relative error as the headline writes it
                 **{"mean rel. error": st.column_config.NumberColumn(format="percent")})
    # law-choice uncertainty: the bootstrap covers the data, not the choice of law (analysis.diagnostics)
    output.warn(diagnostics.law_choice(targets, where=f"at {quantity(target, x_unit)}", unit=unit)
                if target is not None else [])
    for col, label, f in zip(st.columns(2), (label_a, label_b), (fit, fit_b)):
        with col:
            st.markdown(f"**{escape(label)}**")
            output.table(parameter_table(f, unit), f"fit_compare_params_{label == label_a}", static=True)
            output.warn(f.warnings)

else:  # export
    st.subheader("Downloads")
    c = st.columns(3)
    output.download_json(fit.to_dict(), f"fit_{name}", key="dl_fit_json", label="Fit (JSON)", where=c[0])
    output.download_text("Parameters (CSV)", lambda: parameter_table(fit, unit).to_csv(index=False),
                         f"params_{slug(name)}.csv", "text/csv", key="dl_params", where=c[1])
    output.download_text("Fit frame (CSV)", lambda: frame.to_csv(index=False), f"frame_{slug(name)}.csv", "text/csv",
                         key="dl_frame", where=c[2])
    try:
        bt = compute.backtest(frame, settings)
    except compute.AnalysisError:
        bt = None
    allocation, budgets = None, []
    if law.allocatable and target is not None:      # Allocation objects, so their warnings reach the report
        lo_c = float(complete_axes(frame)["C"].min())
        allocation, _ = allocations(fit, [float(f"{c:.4g}") for c in np.logspace(np.log10(lo_c), np.log10(target), 5)])
        budgets = [a.compute for a in allocation]
    # one other law on the same data, so the report says whether the choice of law matters (analysis.diagnostics)
    others = [n for n in applicable_laws(frame) if n != law.name and get_law(n).x_axis == x]
    comparisons = []
    if others:
        try:
            comparisons = [compute.fit(frame, settings, law=others[0], bootstrap=min(settings.bootstrap, 200))]
        except compute.AnalysisError:
            comparisons = []
    st.subheader("Report")
    output.report_downloads(fit, frame, data, name, "dl_report", backtest=bt, allocation=allocation,
                            settings={**fit_controls.data_settings(), **({"compute": budgets} if budgets else {})},
                            comparisons=comparisons)
