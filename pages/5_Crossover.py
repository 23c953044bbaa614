"""Crossover: where do two or more families' scaling curves cross, and how sure is the bootstrap?"""
import pandas as pd
import streamlit as st

from analysis import figures
from analysis.crossover import format_scale
from analysis.fit import complete_axes
from analysis.report import cli_command
from analysis.settings import bootstrap_for
from datasets.vocabulary import axis as scale_axis
from ui import compute, navigation, output, widgets
from ui.data import example, sidebar
from ui.format import code, escape, parameter_table, quantity, slug

EXAMPLE = {"source": "laion-clip-mammut", "family": "laion-clip-mammut/clip", "metric": "imagenet1k/acc1",
           "groups": ["laion-clip-mammut/clip", "laion-clip-mammut/mammut"]}

navigation.page("Crossover")
st.caption("Each group is fitted with a saturating power law along one axis (err = E + A x^-alpha); the curves' "
           "crossings and their bootstrap uncertainty say where one recipe overtakes another.")


def has_partner(d) -> bool:
    """The page suits a family with a second family of its source measuring the same metric."""
    source = d.family.split("/")[0]
    return sum(f.split("/")[0] == source for f in d.metric_across_families()["family"].unique()) >= 2


data = sidebar(example=EXAMPLE, suits=has_partner)
if data is None:
    st.stop()

# ---- groups and settings
runs_per = (data.metric_across_families().groupby("family")["run_id"].nunique()
            .sort_values(ascending=False, kind="stable"))
same_source = sorted(f for f in runs_per.index if f.split("/")[0] == data.family.split("/")[0])
options = same_source + sorted(f for f in runs_per.index if f not in same_source)
if data.family not in options:
    options = [data.family] + options
partners = [f for f in runs_per.index if f != data.family and f in same_source]     # most runs first
groups = widgets.multiselect("Groups to compare", options, key="groups", default=[data.family] + partners[:1],
                             help="Families measuring the sidebar's metric; the same source's families come first.")
c1, c2, c3 = st.columns(3)
axis = widgets.radio("Axis", ["C", "N", "D"], key="axis", where=c1, horizontal=True,
                     format_func=lambda a: {"C": "compute C", "N": "parameters N", "D": "tokens D"}[a])
final = widgets.toggle("Final checkpoints only", key="final", default=True, where=c2,
                       help="Compare the end points of runs (off: every checkpoint along the axis).")
boot = widgets.number("Bootstrap resamples", key="xboot", default=bootstrap_for("crossover"), min_value=0, max_value=2000,
                      step=50, integer=True, where=c3,
                      help="Per group; resample b of one group is paired with b of the other.")
if len(groups) < 2:
    st.info("Choose at least two groups to compare: families that measure the sidebar's metric, e.g. two recipes "
            "of one source" + ("" if partners else " (this source has no second family with this metric)") + ".",
            icon=":material/info:")
    example("Show an example: CLIP against MaMMUT on ImageNet accuracy", EXAMPLE, key="cross_example")
    st.stop()

frames = {}
for g in groups:
    with output.stop_on_error(f"Group {code(g)}"):
        frames[g] = data.with_family(g).frame(final_only=final)
    if frames[g].empty:
        st.error(f"Group {code(g)} has no values of this metric: remove it.")
        st.stop()
ranges = pd.concat([complete_axes(f)[axis] for f in frames.values()])
ranges = ranges[ranges > 0]
unit_x = scale_axis(axis).unit
if ranges.nunique() < 2:
    st.warning(f"The groups do not vary along {unit_x}: choose another axis.")
    st.stop()
target = widgets.scale(f"Target scale ({unit_x})", key="xtarget", lo=float(ranges.min()),
                       hi=float(ranges.max()) * 1e3, default=float(ranges.max()) * 10, unit=unit_x,
                       help="Which group is better here? The shown range extends to it.")
hib = data.higher_is_better()

# ---- the analysis
with output.stop_on_error("The comparison failed", "Check that each group has at least 4 points that vary along "
                                                   "the axis, or choose another axis."):
    res = compute.crossover(frames, axis=axis, target=target, bootstrap=boot, higher_is_better=hib)

m, unit = res.main, data.unit()
st.markdown(f"#### Verdict: {escape(m.status)}")
k = st.columns(3)


def ci_text(ci) -> str:
    return (f"95% CI {format_scale(ci[0])} to {format_scale(ci[1])} {unit_x}" if ci is not None
            else "no interval (bootstrap off)")


if m.crossover_x is not None:    # one number everywhere: the fitted curves' crossing (verdict, figure, table, report)
    k[0].metric(f"Crossing ({unit_x})", format_scale(m.crossover_x),
                help="Where the fitted curves cross; the interval is the bootstrap's 95% percentile interval.")
    k[0].caption(ci_text(m.ci) + f"; {m.location}")
else:
    k[0].metric(f"Crossing ({unit_x})", "none", help="The fitted curves do not cross in the searched range.")
k[1].metric("P(crossing in range)", quantity(m.p_cross, "%"), help="Share of paired resamples whose curves cross "
                                                                   "inside the shown range (descriptive, not a test).")
if res.better_at_target:
    best = max(res.better_at_target, key=res.better_at_target.get)
    k[2].metric("Better at the target", best.split("/", 1)[-1], help=f"{best}: in {res.better_at_target[best]:.0%} "
                                                                      "of resamples")
    k[2].caption(f"in {res.better_at_target[best]:.0%} of resamples at {quantity(target, unit_x)}")
st.markdown(escape(res.verdict))
for note in res.notes:
    st.caption(escape(note))
with st.expander(f"Diagnostics of the group fits ({len(res.warnings)} warnings)", key="cross_diag_open",
                 on_change="rerun") as box:
    if box.open:                  # drawn when opened (lazy: tens of warnings would delay a new tab's first chart)
        output.warn(res.warnings)     # each group fit's checks (analysis.diagnostics), prefixed with its group

# ---- figures and tables
name = slug("_vs_".join(groups))
cross_fig = compute.figure(figures.crossover_figure, res, frames=frames, metric=data.metric, unit=unit)
output.chart(cross_fig, f"crossover_{name}", key="cross_fig")
if any(str(a.text or "").startswith(figures.CLIPPED_NOTE) for a in cross_fig.layout.annotations):
    st.caption("Below the data a fitted error curve can pass 1 (and an accuracy fall below 0); the curves are drawn "
               "only where the fitted value lies in [0, 1], the metric's valid range.")
with st.expander("The data of each group", key="cross_data_open", on_change="rerun") as box:
    if box.open:                      # drawn when opened (lazy)
        output.chart(compute.figure(figures.crossover_data_figure, frames, axis=axis, metric=data.metric, unit=unit),
                     f"crossover_data_{name}", key="cross_data")
pairs = pd.DataFrame([{"group 1": p.groups[0], "group 2": p.groups[1], "status": p.status,
                       f"crossing ({unit_x})": format_scale(p.crossover_x), "where": p.location,
                       "95% CI": ci_text(p.ci),
                       "P(cross)": quantity(p.p_cross, "%"), "better below": p.leader_below,
                       "better above": p.leader_above} for p in res.pairs])
output.table(pairs, "cross_pairs", static=True)
with st.expander("Each group's fit", key="cross_fits_open", on_change="rerun") as box:
    if box.open:                      # drawn when opened (lazy: a table per group)
        for g, f in res.fits.items():
            st.markdown(f"**{escape(g)}**: {f.n_points} points, {f.n_runs} runs")
            output.table(parameter_table(f, "error" if hib else unit), f"cross_fit_{g}", static=True)
            output.warn(f.warnings)
with output.export_box() as box:
    if box.open:                      # built when opened (lazy)
        output.download_json(res.to_dict(), f"crossover_{name}", key="cross_json", label="Crossover result (JSON)")
        output.report_downloads(
            res.fits[groups[0]], frames[groups[0]], data.with_family(groups[0]), f"crossover_{name}", "cross_report",
            title=f"Crossover of {' and '.join(groups)} ({data.metric})", crossover=res,
            settings={"groups": list(groups), "axis": axis, "final_only": final, "target": target},
            command=cli_command("crossover", data.describe(family=list(groups)),
                                [("--final-only", final), ("--x", axis), ("--target", f"{target:.6g}"),
                                 ("--bootstrap", int(boot))]))
