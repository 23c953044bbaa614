"""Downstream: map a loss to a task metric, say when it does not map, and chain it with a loss law."""
import numpy as np
import pandas as pd
import streamlit as st

import ui
from analysis import figures
from analysis.allocate import allocate
from analysis.downstream import predict_downstream
from analysis.fit import complete_axes
from analysis.report import cli_command
from datasets.store import LOSS_UNITS, to_nats

ui.page("Downstream")
EXAMPLE = {"source": "overtrain", "family": "overtrain/rpj", "metric": "hellaswag/acc"}
# well-studied tasks that rise clearly above chance at small scale: the default when the sidebar's metric is a loss
COMMON_TASKS = ("hellaswag", "arc_easy", "piqa", "lambada", "winogrande", "arc-e", "arc_e")
st.title("From loss to downstream metrics")
st.caption("Fit a map from a loss (nats) to a task metric at matched checkpoints (exponential, sigmoid or linear), "
           "back-test it on the largest models, and chain it with a fitted loss law to predict the metric at scale.")
data = ui.sidebar()
if data is None:
    st.stop()

metrics = data.metrics()
losses = list(dict.fromkeys(metrics.loc[metrics["unit"].isin(LOSS_UNITS), "metric"]))
if not losses:
    st.warning("This family has no loss metric (nats, bits or perplexity) to map from: choose a family that "
               "publishes a loss and downstream scores at the same checkpoints (e.g. OLMo, Pythia, Gemstones, "
               "over-training).")
    if data.kind == "corpus":
        ui.example("Show an example: HellaSwag against C4 loss (over-training suite)", EXAMPLE, key="down_example")
    st.stop()
tasks = list(dict.fromkeys(metrics.loc[~metrics["unit"].isin(LOSS_UNITS) & (metrics["unit"] != "lr"), "metric"]))
if not tasks:
    st.warning("This family has no downstream metric (accuracy, error, score) beside its loss: choose a family that "
               "publishes both at the same checkpoints (e.g. OLMo, Pythia, Gemstones, over-training).")
    if data.kind == "corpus":
        ui.example("Show an example: HellaSwag against C4 loss (over-training suite)", EXAMPLE, key="down_example")
    st.stop()
c0, c1, c2, c3 = st.columns([2, 2, 1, 1])
common = [t for name in COMMON_TASKS for t in tasks if name in t.lower()]
task = ui.select("Downstream metric", tasks, key="task", where=c0,
                 default=data.metric if data.metric in tasks else (common + tasks)[0],
                 help="Defaults to the sidebar's metric when that is not a loss, else a common task such as HellaSwag.")
loss_metric = ui.select("Loss to map from", losses, key="lossm", where=c1,
                        default=ui.default_metric(metrics[metrics["metric"].isin(losses)]))
published = ui.query(data.store, "chance_level", data.source, task) if data.kind == "corpus" and data.source else None
chance = ui.number("Chance level", key="chance", default=published or 0.0, min_value=0.0, max_value=1.0e6,
                   step=0.05, where=c2, help="The task's random baseline in metric units, 0 = unknown (e.g. 0.25 for 4-way "
                                             "multiple choice); enables the near-chance check and fixes the sigmoid's floor."
                                             + (f" Default: {published:g}, the source's published baseline for this task."
                                                if published else ""))
heldout = ui.select("Held out", ["largest", "best", "none"], key="heldout", where=c3,
                    format_func=lambda h: {"largest": "largest model", "best": "lowest-loss 20%",
                                           "none": "nothing (AICc)"}[h])
task_data = data.sibling(data.family, task)

loss_pts = data.points(metric=loss_metric)
task_pts = task_data.points()
key_cols = ["run_id", "tokens"] if loss_pts["tokens"].notna().any() and task_pts["tokens"].notna().any() \
    else ["run_id", "step"]
a = loss_pts[key_cols + ["value", "unit"]].rename(columns={"value": "loss", "unit": "loss_unit"})
b = task_pts[key_cols + ["value", "params", "model"]]
j = a.merge(b, on=key_cols).dropna(subset=["loss", "value"])
j = j.drop_duplicates(key_cols)
if j.empty:
    st.warning(f"No checkpoint has both {ui.code(loss_metric)} and {ui.code(task)}: choose another pair.")
    st.stop()
units = set(j["loss_unit"])
if len(units) > 1:
    st.error("The loss comes in several units in this family; choose another loss metric.")
    st.stop()
j["loss"] = to_nats(j["loss"].to_numpy(float), units.pop())[0]
hib = task_data.higher_is_better()
scale = j["params"].to_numpy(float)
use_scale = heldout == "largest" and np.isfinite(scale).all() and len(np.unique(scale)) >= 2
try:
    res = ui.compute("map_downstream", f"{task_data.cache_key()}|{loss_metric}|{key_cols}", j["loss"].to_numpy(float),
                     j["value"].to_numpy(float), spinner="Fitting the maps ...", runs=j["run_id"].astype(str).to_numpy(),
                     chance=chance if chance > 0 else None, higher_is_better=hib,
                     heldout=heldout if use_scale or heldout != "largest" else "best",
                     scale=scale if use_scale else None, bootstrap=min(ui.BOOTSTRAP, 200))
except ui.AnalysisError as e:
    st.error(f"No map: {ui.md(e)}")
    st.stop()

k = st.columns(4)
k[0].metric("Maps?", "yes" if res.maps else "no")
k[1].metric("Chosen form", res.model or "none")
k[2].metric("Held-out relative error", ui.fmt(res.heldout_rel_error, "%"), help=res.protocol)
k[3].metric("R² over all points", ui.fmt(res.r2))
if res.maps:
    st.success(ui.md(res.summary()), icon=":material/check_circle:")
else:
    st.warning(ui.md(res.summary()) + " Predict the loss instead (Fit page), or choose a task further from chance "
               "with a clearer trend; a metric that does not map cannot be extrapolated.", icon=":material/warning:")
for note in res.notes:
    st.caption(ui.md(note))
ui.chart(figures.downstream_figure(res, j["loss"], j["value"], runs=j["run_id"].astype(str), metric=task,
                                   unit=task_data.unit(), loss_name=loss_metric, title=f"{task} against {loss_metric}"),
         f"downstream_{data.family}_{task}", key="down_fig")
forms = pd.DataFrame([{"form": f, "held-out rel. error": mf.heldout_rel_error, "max held-out rel. error":
                       mf.heldout_max_rel_error, "RMSE (fit part)": mf.rmse_fit,
                       "parameters": ", ".join(f"{p} = {v:.4g}" for p, v in mf.params.items())}
                      for f, mf in res.forms.items()])
st.dataframe(forms, hide_index=True, key="down_forms",
             column_config={"held-out rel. error": st.column_config.NumberColumn(format="percent"),
                            "max held-out rel. error": st.column_config.NumberColumn(format="percent")})

st.subheader("Chain with a loss law")
loss_data = data.sibling(data.family, loss_metric)
loss_fit = frame = None
try:
    frame = loss_data.frame()
    loss_fit = ui.run_fit(loss_data, frame, ui.default_settings(loss_data, frame, bootstrap=min(ui.BOOTSTRAP, 200)))
except ui.AnalysisError as e:
    st.info(f"The loss law could not be fitted, so there is no chained prediction: {ui.md(e)}", icon=":material/info:")
if res.model is None:
    st.info("No map form fits, so there is nothing to chain: choose another task or loss.", icon=":material/info:")
if loss_fit is not None and res.model is not None:
    d = complete_axes(frame)
    x = figures.x_axis(loss_fit.law)
    hi = float(d[x].max())
    xu = {"C": "FLOPs", "N": "params", "D": "tokens", "step": "steps"}.get(x, x)
    target = ui.scale(f"Predict at ({xu})", key="dtarget", lo=float(d[x][d[x] > 0].min()), hi=hi * 1e4,
                      default=hi * 10, unit=xu)
    if loss_fit.law_obj.allocatable:
        at = allocate(loss_fit, target)
        X = pd.DataFrame({"N": [at.N_opt], "D": [at.D_opt], "C": [target]})
        where = f"the compute-optimal model at {ui.fmt(target, 'FLOPs')} (N* = {ui.fmt(at.N_opt, 'params')})"
    else:
        X = pd.DataFrame({x: [target]})
        where = ui.fmt(target, xu)
    med, lo, hi_ = predict_downstream(res, loss_fit, X)
    q = st.columns(2)
    q[0].metric(f"Predicted {task} ({task_data.unit()})", ui.fmt(med[0], task_data.unit(), short=True))
    q[0].caption(ui.fmt_ci((lo[0], hi_[0]), task_data.unit()))
    q[1].metric(f"Predicted {loss_metric} (nats)", ui.fmt(float(loss_fit.predict(X)[0]), "nats", short=True))
    st.caption(f"At {ui.md(where)}; loss law {loss_fit.law} fitted to {ui.code(loss_metric)} "
               f"({loss_fit.n_boot} resamples), pushed through the {res.model} map's bootstrap: both "
               "uncertainties are in the interval." + ("" if res.maps else " The map failed its checks, so "
                                                       "treat this number as illustrative only."))
    ui.warn(loss_fit.warnings)
ui.download_json(res.to_dict(), f"downstream_{data.family}_{task}", key="down_json",
                 label="Map result (JSON)")

if loss_fit is not None:
    st.subheader("Report")
    ui.report_downloads(loss_fit, frame, loss_data, f"downstream_{data.family}_{task}", "down_report",
                        title=f"{task} from {loss_metric} in {data.family}", downstream=res,
                        settings={"downstream_task": task, "downstream_loss": loss_metric,
                                  "downstream_chance": chance or None, "downstream_heldout": heldout},
                        extra_commands=[cli_command("downstream", data.describe() | {"metric": task},
                                                    [("--loss-metric", loss_metric), ("--chance", chance or None)])])
