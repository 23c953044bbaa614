"""Trends: does a metric improve with model size, get worse (inverse scaling), or turn (U shapes)?"""
import shlex

import streamlit as st

from analysis import figures
from analysis.report import cli_command
from analysis.settings import TREND_ALPHA, bootstrap_for, final_values
from ui import compute, fit_controls, navigation, output, widgets
from ui.data import example, sidebar
from ui.format import escape, interval, quantity

EXAMPLE = {"source": "obsscaling", "family": "obsscaling/Pythia", "metric": "TruthfulQA"}

navigation.page("Trends")
st.caption("The final value of each run against its size N: Mann-Kendall for a monotone trend, Simonsohn's two-lines "
           "test for a U shape. 'Improving' always means the metric gets better with scale.")


def a_size_ladder(d) -> bool:
    """The page suits a family of at least 4 sizes with about one run each (not a grid of sizes x tokens)."""
    f = final_values(d.frame(final_only=True), x="N")
    return f["N"].nunique() >= 4 and len(f) <= 1.5 * f["N"].nunique()


data = sidebar(example=EXAMPLE, suits=a_size_ladder)
if data is None:
    st.stop()

with output.stop_on_error("This metric cannot be judged"):
    final = final_values(data.frame(final_only=True), x="N")     # as the CLI: each run's last value, losses in nats
hib, unit = data.higher_is_better(), data.unit()
c1, c2 = st.columns(2)
alpha = widgets.select("Significance level", [0.01, 0.05, 0.1], key="alpha", default=TREND_ALPHA, where=c1)
boot = widgets.number("Bootstrap resamples (turning point)", key="tboot", default=bootstrap_for("trend"), min_value=0,
                      max_value=5000, step=100, integer=True, where=c2)
res = found = None
if final["N"].nunique() < 2:
    st.warning("This family has fewer than two model sizes with this metric: choose a family with several sizes "
               "(a scaling family) to judge a trend.")
    example("Show an example: TruthfulQA falls with size in Pythia (inverse scaling)", EXAMPLE, key="trend_example")
else:
    x, y, runs = final["N"].to_numpy(float), final["y"].to_numpy(float), final["run"].astype(str).to_numpy()
    with output.stop_on_error("No verdict"):
        res = compute.trend(x, y, runs, higher_is_better=hib, alpha=alpha, n_boot=boot)
    k = st.columns(4)
    k[0].metric("Shape", res.shape, help="in terms of the metric getting better or worse with scale")
    k[1].metric("Evidence", res.strength, help=res.evidence)
    k[1].caption(escape(res.evidence))
    k[2].metric(f"Slope per 10x N ({unit})", quantity(res.slope_per_decade, unit, short=True),
                help="Theil-Sen slope of the raw metric per decade of parameters")
    k[2].caption(interval(res.slope_ci, unit))
    if res.turning_point is not None:
        k[3].metric("Turning point (parameters)", quantity(res.turning_point, "params", short=True))
        k[3].caption(interval(res.turning_point_ci, "params"))
    st.markdown(escape(res.summary()))
    if res.shape in ("inverse", "U-shaped", "inverted-U"):
        st.warning("This metric does not simply improve with scale: do not extrapolate it with a monotone law; "
                   "check the turning point's interval and, for U shapes, whether larger models recover.",
                   icon=":material/warning:")
    elif res.shape == "too few sizes":
        st.info("Too few model sizes for a verdict: at least 4 are needed (5 for a U test).", icon=":material/info:")
    model = dict(zip(data.runs()["run_id"].astype(str), data.runs()["model"].astype(str)))
    output.chart(compute.figure(figures.trend_figure, x, y, res, metric=data.metric, unit=unit,
                                labels=[model.get(r, r) for r in runs], title=f"{data.metric} against model size"),
                 f"trend_{data.family}_{data.metric}", key="trend_fig")

st.subheader("Scan for non-monotone trends")
if widgets.toggle(f"Scan every family and metric of source {data.source}", key="scan", default=False,
                  help="Lists the inverse, U-shaped and inverted-U findings, strongest first (final checkpoints)."):
    try:
        found = compute.scan_trends(data.source_points(final_only=True), alpha=alpha,
                                    n_boot=bootstrap_for("scan", boot))
    except compute.AnalysisError as e:
        st.error(f"The scan failed: {escape(e)}")
    else:
        if found.empty:
            st.success("No inverse or U-shaped trend at this significance level.", icon=":material/check_circle:")
        else:
            output.table(found, "trend_scan", p_value=st.column_config.NumberColumn(format="%.2g"))
            output.download_table(found, f"trend_scan_{data.source}", key="trend_scan_dl", label="findings")


def export(res, found) -> None:
    """The trend result as JSON, and its report beside the Fit page's default law for this metric (context)."""
    output.download_json(res.to_dict(), f"trend_{data.family}_{data.metric}", key="trend_json",
                         label="Trend result (JSON)")
    st.caption("The trend verdict (and the scan, when run) beside the Fit page's default law for this metric, "
               "fitted with its bootstrap as context.")
    try:
        frame = fit_controls.envelope(data, data.frame())      # a sweep: its envelope, as on Fit and the CLI
        fit = compute.fit(frame, fit_controls.defaults(data, frame, bootstrap=bootstrap_for("context")))
    except compute.AnalysisError as e:
        st.info(f"No law could be fitted to this metric ({escape(e)}), so there is no report; the trend result is "
                "downloadable as JSON above.", icon=":material/info:")
        return
    scan_cmd = None
    if found is not None and data.path:
        scan_cmd = shlex.join(["python", "-m", "analysis", "scan", "--store", str(data.path), "--source",
                               str(data.source), "--alpha", str(alpha),
                               "--bootstrap", str(bootstrap_for("scan", boot))])
    output.report_downloads(fit, frame, data, f"trend_{data.family}_{data.metric}", "trend_report",
                            title=f"Trend of {data.metric} with model size in {data.family}",
                            trend=res if found is None else [res, found],
                            settings={"trend_alpha": alpha, "trend_bootstrap": int(boot), "trend_x": "N",
                                      "trend_final_only": True, **fit_controls.data_settings()},
                            extra_commands=[cli_command("trend", data.describe(),
                                                        [("--final-only", True), ("--x", "N"), ("--alpha", alpha),
                                                         ("--bootstrap", int(boot))]),
                                            scan_cmd])


if res is not None:
    with output.export_box() as box:
        if box.open:                    # built when opened (lazy: the report's context fit too)
            export(res, found)
