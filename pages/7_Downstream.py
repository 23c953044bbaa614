"""Downstream: map a loss to a task metric, say when it does not map, and chain it with a loss law."""
import pandas as pd
import streamlit as st

from analysis import diagnostics, figures
from analysis.allocate import allocate
from analysis.downstream import predict_downstream
from analysis.report import cli_command
from analysis.settings import bootstrap_for, default_loss_metric, downstream_holdout, downstream_pairs
from datasets.vocabulary import LOSS_UNITS
from ui import compute, field_views, fit_controls, navigation, output, widgets
from ui.data import example, sidebar
from ui.format import code, escape, interval, quantity

EXAMPLE = {"source": "overtrain", "family": "overtrain/rpj", "metric": "hellaswag/acc"}
# well-studied tasks that rise clearly above chance at small scale: the default when the sidebar's metric is a loss
COMMON_TASKS = ("hellaswag", "arc_easy", "piqa", "lambada", "winogrande", "arc-e", "arc_e")
MISSING = {"loss": "no loss metric (nats, bits or perplexity) to map from",
           "task": "no downstream metric (accuracy, error, score) beside its loss"}
HELDOUT = {"largest": "largest model", "best": "lowest-loss 20%", "none": "nothing (AICc)"}

navigation.page("Downstream")
st.caption("Fit a map from a loss (nats) to a task metric at matched checkpoints (exponential, sigmoid or linear), "
           "back-test it on the largest models, and chain it with a fitted loss law to predict the metric at scale.")


def loss_and_task(d) -> bool:
    """The page suits a family publishing a loss and a task metric."""
    loss = d.metrics()["unit"].isin(LOSS_UNITS)
    return bool(loss.any() and (~loss).any())


data = sidebar(example=EXAMPLE, suits=loss_and_task)
if data is None:
    st.stop()

# ---- which loss and which task
metrics = data.metrics()
is_loss = metrics["unit"].isin(LOSS_UNITS)
losses = list(dict.fromkeys(metrics.loc[is_loss, "metric"]))
tasks = list(dict.fromkeys(metrics.loc[~is_loss & (metrics["unit"] != "lr"), "metric"]))
if not losses or not tasks:
    st.warning(f"This family has {MISSING['loss' if not losses else 'task']}: choose a family that publishes a loss "
               "and downstream scores at the same checkpoints (e.g. OLMo, Pythia, Gemstones, over-training).")
    example("Show an example: HellaSwag against C4 loss (over-training suite)", EXAMPLE, key="down_example")
    st.stop()
c0, c1, c2, c3 = st.columns([2, 2, 1, 1])
common = [t for name in COMMON_TASKS for t in tasks if name in t.lower()]
task = widgets.select("Downstream metric", tasks, key="task", where=c0,
                      default=data.metric if data.metric in tasks else (common + tasks)[0],
                      help="Defaults to the sidebar's metric when that is not a loss, else a common task such as "
                           "HellaSwag.")
loss_metric = widgets.select("Loss to map from", losses, key="lossm", where=c1, default=default_loss_metric(metrics))
published = data.chance_level(task)
chance = widgets.number("Chance level", key="chance", default=published or 0.0, min_value=0.0, max_value=1.0e6,
                        step=0.05, where=c2,
                        help="The task's random baseline in metric units, 0 = unknown (e.g. 0.25 for 4-way multiple "
                             "choice); enables the near-chance check and fixes the sigmoid's floor."
                             + (f" Default: {published:g}, the source's published baseline for this task."
                                if published else ""))
heldout = widgets.select("Held out", list(HELDOUT), key="heldout", where=c3, format_func=HELDOUT.get)
task_data, loss_data = data.with_family(data.family, task), data.with_family(data.family, loss_metric)

# ---- loss and task at matched checkpoints (the loss in nats)
with output.stop_on_error("These metrics cannot be paired"):
    j, _ = downstream_pairs(loss_data.points(), task_data.points())
if j.empty:
    st.warning(f"No checkpoint has both {code(loss_metric)} and {code(task)}: choose another pair.")
    st.stop()
held, scale = downstream_holdout(heldout, j["params"].to_numpy(float))
runs = j["run_id"].astype(str).to_numpy()

# ---- the map
with output.stop_on_error("No map"):
    res = compute.map_downstream(j["loss"].to_numpy(float), j["value"].to_numpy(float), runs,
                                 chance=chance if chance > 0 else None, higher_is_better=task_data.higher_is_better(),
                                 heldout=held, scale=scale, bootstrap=bootstrap_for("downstream"))
k = st.columns(4)
k[0].metric("Maps?", "yes" if res.maps else "no")
k[1].metric("Chosen form", res.model or "none")
k[2].metric("Held-out relative error", quantity(res.heldout_rel_error, "%"), help=res.protocol)
k[3].metric("R² over all points", quantity(res.r2))
if res.maps:
    st.success(escape(res.summary()), icon=":material/check_circle:")
else:
    st.warning(escape(res.summary()) + " Predict the loss instead (Fit page), or choose a task further from chance "
               "with a clearer trend; a metric that does not map cannot be extrapolated.", icon=":material/warning:")
for note in res.notes:
    st.caption(escape(note))
output.chart(compute.figure(figures.downstream_figure, res, j["loss"], j["value"], runs=runs, metric=task,
                            unit=task_data.unit(), loss_name=loss_metric, title=f"{task} against {loss_metric}"),
             f"downstream_{data.family}_{task}", key="down_fig")
forms = pd.DataFrame([{"form": f, "held-out rel. error": mf.heldout_rel_error, "max held-out rel. error":
                       mf.heldout_max_rel_error, "RMSE (fit part)": mf.rmse_fit,
                       "parameters": ", ".join(f"{p} = {v:.4g}" for p, v in mf.params.items())}
                      for f, mf in res.forms.items()])
output.table(forms, "down_forms", static=True, **{c: st.column_config.NumberColumn(format="percent")
                                                  for c in ("held-out rel. error", "max held-out rel. error")})

field_views.emergence_view(j, chance, task_data.higher_is_better())

# ---- chained with a loss law
st.subheader("Chain with a loss law")
loss_fit = frame = None
try:
    frame = fit_controls.envelope(loss_data, loss_data.frame())      # a sweep: its envelope, as on Fit and the CLI
    loss_fit = compute.fit(frame, fit_controls.defaults(loss_data, frame, bootstrap=bootstrap_for("context")))
except compute.AnalysisError as e:
    st.info(f"The loss law could not be fitted, so there is no chained prediction: {escape(e)}", icon=":material/info:")
if res.model is None:
    st.info("No map form fits, so there is nothing to chain: choose another task or loss.", icon=":material/info:")
target = None
if loss_fit is not None and res.model is not None:
    target = fit_controls.target(loss_fit, frame, key="dtarget", label="Predict at")
if target is not None:
    law = loss_fit.law
    if law.allocatable:
        at = allocate(loss_fit, target)
        X = pd.DataFrame({"N": [at.N_opt], "D": [at.D_opt], "C": [target]})
        where = f"the compute-optimal model at {quantity(target, 'FLOPs')} (N* = {quantity(at.N_opt, 'params')})"
    else:
        X = pd.DataFrame({law.x_axis: [target]})
        where = quantity(target, law.variable_unit(law.x_axis))
    med, lo, hi = predict_downstream(res, loss_fit, X)
    loss_at = float(loss_fit.predict(X)[0])
    q = st.columns(2)
    q[0].metric(f"Predicted {task} ({task_data.unit()})", quantity(med[0], task_data.unit(), short=True))
    q[0].caption(interval((lo[0], hi[0]), task_data.unit()))
    q[1].metric(f"Predicted {loss_metric} (nats)", quantity(loss_at, "nats", short=True))
    st.caption(f"At {escape(where)}; loss law {loss_fit.law} fitted to {code(loss_metric)} "
               f"({loss_fit.n_boot} resamples), pushed through the {res.model} map's bootstrap: both "
               "uncertainties are in the interval." + ("" if res.maps else " The map failed its checks, so "
                                                       "treat this number as illustrative only."))
    low = float(j["loss"].min())
    beyond = ([f"the predicted {loss_metric} ({quantity(loss_at, 'nats')}) is below every loss the map was fitted "
               f"on (lowest {quantity(low, 'nats')}): the map is extrapolated too. Treat the prediction as a trend, "
               "and check it against a run nearer the target."] if loss_at < low else [])
    output.warn([*diagnostics.at_target(loss_fit, target), *beyond, *loss_fit.warnings])

with output.export_box() as box:
    if box.open:                      # built when opened (lazy)
        output.download_json(res.to_dict(), f"downstream_{data.family}_{task}", key="down_json",
                             label="Map result (JSON)")
        if loss_fit is not None:
            output.report_downloads(
                loss_fit, frame, loss_data, f"downstream_{data.family}_{task}", "down_report",
                title=f"{task} from {loss_metric} in {data.family}", downstream=res,
                settings={"downstream_task": task, "downstream_loss": loss_metric, "downstream_chance": chance or None,
                          "downstream_heldout": heldout, **fit_controls.data_settings(),
                          **({"compute": [target]} if target is not None and loss_fit.law.allocatable else {})},
                allocation=at if target is not None and loss_fit.law.allocatable else None,
                extra_commands=[cli_command("downstream", data.describe() | {"metric": task},
                                            [("--loss-metric", loss_metric), ("--chance", chance or None),
                                             ("--heldout", heldout)])])
