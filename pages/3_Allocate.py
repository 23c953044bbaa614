"""Allocate: split a compute budget into parameters and tokens, with intervals, from a fitted law in N and D."""
import numpy as np
import streamlit as st

from analysis import figures
from analysis import settings as settings_api
from analysis.allocate import (DEFAULT_UTILISATION, H100_BF16_DENSE_FLOPS, allocate, flops_to_gpu_hours,
                               gpu_hours_to_flops, optimum_exponents, plan_cost)
from analysis.fit import complete_axes
from ui import compute, field_views, fit_controls, navigation, output, widgets
from ui.data import sidebar
from ui.format import escape, interval, quantity

navigation.page("Allocate")
data = sidebar()
if data is None:
    st.stop()
with output.stop_on_error("This metric cannot be fitted"):
    frame = data.frame()
unit = data.unit()

# ---- the fitted law
with output.stop_on_error(""):         # N counted, a sweep's envelope, law, ... (drawn when opened)
    try:
        frame, settings = fit_controls.settings_box(data, frame, allocatable_only=True,
                                                    label="The fitted law used for the allocation (settings as on Fit)")
    except fit_controls.NoLaw:
        st.warning("Allocation needs a law in both N (parameters) and D (tokens), and these data do not vary both: "
                   "choose a family with several model sizes trained on different token counts (e.g. an "
                   "over-training or Chinchilla-style grid), or upload such runs.")
        st.stop()
with output.stop_on_error("The fit failed"):
    fit = compute.fit(frame, settings)
output.warn(fit.warnings)

# ---- budget
st.subheader("Budget")
mode = widgets.radio("Budget in", ["flops", "gpuh"], key="bunit", horizontal=True,
                     format_func=lambda v: {"flops": "FLOPs", "gpuh": "GPU-hours"}[v])
conversion = (f"1 GPU-hour = 3,600 s x {H100_BF16_DENSE_FLOPS / 1e12:.0f} TFLOP/s (H100 SXM dense BF16 peak) x "
              f"{DEFAULT_UTILISATION:.0%} utilisation = {quantity(gpu_hours_to_flops(1.0), 'FLOPs')}")
if mode == "flops":
    budget = widgets.scale_with_number("Training compute C", key="budget", lo=1e15, hi=1e27, default=5.76e23,
                                       unit="FLOPs", help="Training FLOPs, C = 6 N D. Default: Chinchilla's budget.")
    widgets.forget("gpuh")
    st.caption(f"= {quantity(flops_to_gpu_hours(budget), 'GPU-hours')} · {conversion}")
else:
    hours = widgets.scale_with_number("GPU-hours", key="gpuh", lo=1.0, hi=1e9, default=1.0e5, unit="GPU-hours",
                                      help=conversion)
    widgets.forget("budget")
    budget = gpu_hours_to_flops(hours)
    st.caption(f"= {quantity(budget, 'FLOPs')} · {conversion}")

unique = widgets.number("Unique tokens available (0 = unlimited)", key="unique", default=0.0, min_value=0.0,
                        step=1e9, format="%.4g", help="When data are limited, repeating them is worth less (Muennighoff et al. 2023).")
uniq = unique if unique > 0 else None
if uniq:
    st.caption(f"= {quantity(uniq, 'unique tokens')}")
dc = "U" in fit.law.variables        # a law that prices repeated data takes the unique-token limit
with output.stop_on_error("No allocation at this budget"):     # Farseer refuses outside its data
    alloc = allocate(fit, budget, unique_tokens=uniq if dc else None)

c = st.columns(4)
for col, (label, key, u) in zip(st.columns(4), (("N* (parameters)", "N_opt", "params"), ("D* (tokens)", "D_opt", "tokens"),
                                                ("Tokens per parameter", "tokens_per_param", "tokens/param"),
                                                (f"Predicted {data.metric} ({unit})", "loss", unit))):
    col.metric(label, quantity(getattr(alloc, key), u, short=True), help=interval(alloc.ci.get(key), u))
    col.caption(interval(alloc.ci.get(key), u))
st.caption(f"Law {fit.law} ({alloc.method}); C = {alloc.flops_per_param_token:g} N D; {fit.n_boot} bootstrap "
           "resamples give the 95% intervals.")
for note in alloc.notes:
    st.info(escape(note), icon=":material/info:")
output.warn(alloc.warnings)

if uniq is not None and alloc.D_opt > uniq and not dc:
    epochs = alloc.D_opt / uniq
    one_epoch = plan_cost(fit, budget / (6.0 * uniq), uniq)
    st.warning(f"D* needs {epochs:.1f} epochs over your {quantity(uniq, 'tokens')}. Repeated tokens are worth less "
               f"than fresh ones, so {fit.law} is optimistic here. To stay within one epoch with the same compute, "
               f"train N = {quantity(one_epoch.N, 'params')} on D = {quantity(uniq, 'tokens')}: predicted "
               f"{quantity(one_epoch.loss, unit)} against {quantity(alloc.loss, unit)} at the optimum. For the repetition-"
               "aware answer, fit the data_constrained law on runs that repeat data (they need a unique-token "
               "column U).", icon=":material/warning:")

# ---- frontier and iso-FLOP curves
d = complete_axes(frame)
lo_c = float(np.nanmin(d["C"]))
computes = tuple(np.logspace(np.log10(min(lo_c, budget) / 2), np.log10(max(budget, lo_c) * 10), 30))
front = compute.frontier(fit, computes, unique_tokens=uniq if dc else None)
left, right = st.columns(2)
with left:
    output.chart(compute.figure(figures.frontier_figure, front, budget=budget,
                                title="Efficient frontier: N* and D* against compute"),
                 f"frontier_{data.family}", key="alloc_frontier")
curves, optima = compute.isoflops(fit, [budget / 100, budget / 10, budget], unique_tokens=uniq if dc else None)

st.subheader("My planned run")
p1, p2 = st.columns(2)
rule_n = float(f"{np.sqrt(budget / (6.0 * 20.0)):.3g}")     # the 20-tokens-per-parameter rule of thumb
widgets.reset_when(float(budget), "planN", "planD")          # a new budget: the plan starts again from its rule
plan_n = widgets.number("Planned parameters N", key="planN", default=rule_n, min_value=1e3, format="%.3e", where=p1,
                        help="Default: 20 tokens per parameter at the budget above.")
plan_d = widgets.number("Planned tokens D", key="planD", default=float(f"{20.0 * rule_n:.3g}"), min_value=1e3,
                        format="%.3e", where=p2)
plan = plan_cost(fit, plan_n, plan_d)
q = st.columns(4)
q[0].metric("Planned compute (FLOPs)", quantity(plan.compute, "FLOPs", short=True),
            help=quantity(flops_to_gpu_hours(plan.compute), "GPU-hours"))
q[1].metric(f"Planned {data.metric} ({unit})", quantity(plan.loss, unit, short=True))
q[2].metric(f"At the optimum ({unit})", quantity(plan.optimal_loss, unit, short=True),
            help=f"The compute-optimal {data.metric} at the planned compute: N* = {quantity(plan.optimal_N, 'params')}, "
                 f"D* = {quantity(plan.optimal_D, 'tokens')}")
q[3].metric("Optimal FLOPs for that loss", quantity(plan.compute_for_same_loss, "FLOPs", short=True),
            help="The FLOPs a compute-optimal model needs to reach the planned model's loss.")
st.markdown(f"**Verdict:** {escape(plan.summary())}.")
field_views.inference_view(fit, budget)
with right:
    output.chart(compute.figure(figures.isoflop_figure, curves, optima=optima, metric=data.metric, unit=unit,
                                plan={"N": plan_n, "loss": plan.loss, "label": "planned (N, D)"}
                                if abs(np.log10(plan.compute / budget)) < 0.05 else None,
                                title="Iso-FLOP curves, optima (stars), 95% bands shaded"),
                 f"isoflop_{data.family}", key="alloc_isoflop")

# ---- exponents of the optimum, N* ~ C^a and D* ~ C^b: Approach 3 (the fitted law) beside Approach 2 (the data)
st.subheader("How N* and D* grow with compute: Approach 3 and Approach 2")
a3 = optimum_exponents(fit, unique_tokens=uniq if dc else None)
e3, e2 = st.columns(2)
e3.markdown(f"**Approach 3** (the fitted {escape(fit.law.name)}): a = {a3.a:.3f} ({interval(a3.ci.get('a'))}), "
            f"b = {a3.b:.3f} ({interval(a3.ci.get('b'))})")
e3.caption(f"{escape(a3.method)}; {fit.n_boot} run-level bootstrap resamples.")
try:
    a2 = compute.approach2(frame, exclude_runs=settings.exclude_runs,
                           bootstrap=min(settings.bootstrap, settings_api.bootstrap_for("context")))
except compute.AnalysisError as e:
    e2.markdown("**Approach 2** (IsoFLOP minima of the data): not available")
    e2.caption(escape(str(e)))
    a2 = None
else:
    e2.markdown(f"**Approach 2** (IsoFLOP minima of the data): a = {a2.exponents['a']:.3f} "
                f"({interval(a2.ci.get('a'))}), b = {a2.exponents['b']:.3f} ({interval(a2.ci.get('b'))})")
    e2.caption(f"{escape(a2.method)}; {a2.n_used} of {len(a2.minima)} budgets used; {a2.n_boot} resamples.")
    with e2:
        output.warn(a2.warnings)
with st.expander("Frontier table" + (" and Approach 2's IsoFLOP minima" if a2 is not None else ""),
                 key="alloc_table_open", on_change="rerun") as box:
    if box.open:                  # drawn when opened (lazy: a closed expander still draws its tables)
        output.table(front, "alloc_front_table")
        output.download_table(front, f"frontier_{data.family}", key="alloc_front_dl", label="frontier")
        if a2 is not None:
            for note in a2.notes:
                st.caption(escape(note))
            output.table(a2.minima, "alloc_approach2")
