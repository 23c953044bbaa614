"""Trends: does a metric improve with model size, get worse (inverse scaling), or turn (U shapes)?"""
import shlex

import numpy as np
import pandas as pd
import streamlit as st

import ui
from analysis import figures
from analysis.report import cli_command

ui.page("Trends")
EXAMPLE = {"source": "obsscaling", "family": "obsscaling/Pythia", "metric": "TruthfulQA"}
st.title("Inverse and U-shaped trends")
st.caption("The final value of each run against its size N: Mann-Kendall for a monotone trend, Simonsohn's two-lines "
           "test for a U shape. 'Improving' always means the metric gets better with scale.")
data = ui.sidebar()
if data is None:
    st.stop()

pts = data.points(final_only=True)
pts = pts[np.isfinite(pd.to_numeric(pts["params"], errors="coerce")) & (pts["params"] > 0) & np.isfinite(pts["value"])]
hib = data.higher_is_better()
unit = data.unit()
c1, c2 = st.columns(2)
alpha = ui.select("Significance level", [0.01, 0.05, 0.1], key="alpha", default=0.05, where=c1)
boot = ui.number("Bootstrap resamples (turning point)", key="tboot", default=min(ui.BOOTSTRAP, 500), min_value=0,
                 max_value=5000, step=100, integer=True, where=c2)
res = found = None
if pts["params"].nunique() < 2:
    st.warning("This family has fewer than two model sizes with this metric: choose a family with several sizes "
               "(a scaling family) to judge a trend.")
    if data.kind == "corpus":
        ui.example("Show an example: TruthfulQA falls with size in Pythia (inverse scaling)", EXAMPLE,
                   key="trend_example")
else:
    x = pts["params"].to_numpy(float)
    y = pts["value"].to_numpy(float)
    runs = pts["run_id"].astype(str).to_numpy()
    try:
        res = ui.compute("trend_shape", data.cache_key(final_only=True), x, y, higher_is_better=hib, alpha=alpha,
                         n_boot=int(boot), runs=runs)
    except ui.AnalysisError as e:
        st.error(f"No verdict: {ui.md(e)}")
        st.stop()
    k = st.columns(4)
    k[0].metric("Shape", res.shape, help="in terms of the metric getting better or worse with scale")
    k[1].metric("Evidence", res.strength, help=res.evidence)
    k[1].caption(ui.md(res.evidence))
    k[2].metric(f"Slope per 10x N ({unit})", ui.fmt(res.slope_per_decade, unit, short=True),
                help="Theil-Sen slope of the raw metric per decade of parameters")
    k[2].caption(ui.fmt_ci(res.slope_ci, unit))
    if res.turning_point is not None:
        k[3].metric("Turning point (parameters)", ui.fmt(res.turning_point, "params", short=True))
        k[3].caption(ui.fmt_ci(res.turning_point_ci, "params"))
    st.markdown(ui.md(res.summary()))
    if res.shape in ("inverse", "U-shaped", "inverted-U"):
        st.warning("This metric does not simply improve with scale: do not extrapolate it with a monotone law; "
                   "check the turning point's interval and, for U shapes, whether larger models recover.", icon=":material/warning:")
    elif res.shape == "too few sizes":
        st.info("Too few model sizes for a verdict: at least 4 are needed (5 for a U test).", icon=":material/info:")
    ui.chart(figures.trend_figure(x, y, res, metric=data.metric, unit=unit, labels=pts["model"].astype(str).to_numpy(),
                                  title=f"{data.metric} against model size"),
             f"trend_{data.family}_{data.metric}", key="trend_fig")
    ui.download_json(res.to_dict(), f"trend_{data.family}_{data.metric}", key="trend_json", label="Trend result (JSON)")

st.subheader("Scan for non-monotone trends")
scope = "source " + str(data.source) if data.kind == "corpus" else "your uploads"
scan = ui.toggle(f"Scan every family and metric of the {scope}", key="scan", default=False,
                 help="Lists the inverse, U-shaped and inverted-U findings, strongest first (final checkpoints).")
if scan:
    if data.kind == "corpus":
        fams = list(ui.query(data.store, "families", source=data.source)["family"])
        table_pts = ui.query(data.store, "points", family=fams, final_only=True)
        key = f"{data.key.rsplit('|', 1)[0]}|source={data.source}"
    else:
        fams = ui.upload_families()
        table_pts = pd.concat([data.sibling(f).points(metric=m, final_only=True)
                               for f in fams for m in data.sibling(f).metrics()["metric"].unique()],
                              ignore_index=True)
        key = data.key.rsplit("|", 1)[0]
    try:
        found = ui.compute("scan_trends", key, table_pts, spinner="Scanning ...", alpha=alpha,
                           n_boot=min(int(boot), 200))
    except ui.AnalysisError as e:
        st.error(f"The scan failed: {ui.md(e)}")
    else:
        if found.empty:
            st.success("No inverse or U-shaped trend at this significance level.", icon=":material/check_circle:")
        else:
            ui.table(found, "trend_scan", p_value=st.column_config.NumberColumn(format="%.2g"))
            ui.download_table(found, f"trend_scan_{scope}", key="trend_scan_dl", label="findings")

if res is not None:
    st.subheader("Report")
    st.caption("The trend verdict (and the scan, when run) beside the Fit page's default law for this metric, "
               "fitted with its bootstrap as context.")
    try:
        frame = data.frame()
        fit = ui.run_fit(data, frame, ui.default_settings(data, frame, bootstrap=min(ui.BOOTSTRAP, 200)))
    except ui.AnalysisError as e:
        st.info(f"No law could be fitted to this metric ({ui.md(e)}), so there is no report; the trend result is "
                "downloadable as JSON above.", icon=":material/info:")
    else:
        scan_cmd = None
        if found is not None and data.kind == "corpus":
            scan_cmd = " ".join(shlex.quote(a) for a in ["python", "-m", "analysis", "scan", "--store",
                                                         str(data.store.path), "--source", str(data.source),
                                                         "--alpha", str(alpha)])
        ui.report_downloads(fit, frame, data, f"trend_{data.family}_{data.metric}", "trend_report",
                            title=f"Trend of {data.metric} with model size in {data.family}",
                            trend=res if found is None else [res, found],
                            settings={"trend_alpha": alpha, "trend_bootstrap": int(boot), "trend_x": "N",
                                      "trend_final_only": True},
                            extra_commands=[cli_command("trend", data.describe(), [("--final-only", True),
                                                                                    ("--x", "N"), ("--alpha", alpha)]),
                                            scan_cmd])
