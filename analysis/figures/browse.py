"""Browse figures: metric curves of a family's runs, and the corpus at a glance (per source and per family)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from analysis.figures.style import (DENSE_CURVE, GROUP_COLOURS, MAX_LEGEND, MAX_POINTS, SIZE_SCALE, axis_title,
                                    colour_bins, hover_data, layout, metric_title, scatter, si, size_colours,
                                    step_labels, use_log_y)


FAMILY_STYLES = (("solid", "circle"), ("dash", "square"), ("dot", "diamond"), ("dashdot", "triangle-up"),
                 ("longdash", "triangle-down"))
GLYPHS = {"solid": "──", "dash": "╌╌", "dot": "┈┈", "dashdot": "-·-",
          "longdash": "— —", "circle": "●", "square": "■", "diamond": "◆",
          "triangle-up": "▲", "triangle-down": "▼"}


def curves_figure(points: pd.DataFrame, *, x: str = "tokens", metric: str | None = None, unit: str | None = None,
                  title: str | None = None, max_points_per_run: int = 600) -> go.Figure:
    """Metric against tokens, FLOPs or steps, one line per run, coloured by model size; with several
    families (a ``family`` column) each family has its own line dash and marker (:data:`FAMILY_STYLES`), keyed
    above the plot.

    Up to ``MAX_LEGEND`` runs are listed in the legend; beyond that the runs are coloured by size with a
    colour bar, and runs of similar size share one trace (gaps between runs), which keeps a family of
    hundreds of runs quick to draw. The hover always names the run.

    Parameters
    ----------
    points : a ``Store.points()`` table (columns run_id, model, params, tokens, flops, step, value).
    x : "tokens", "flops", "step" or "params" (log axis). FLOPs missing from the table are drawn as 6 N D.
    metric, unit : names for the y axis; losses get a log y axis.
    max_points_per_run : longer curves are thinned to about this many evenly spaced checkpoints (first
        and last kept), fewer when the family has many runs (``MAX_POINTS`` in all, said on the figure), so
        that the browser stays responsive; traces past ``WEBGL_POINTS`` draw with WebGL. The downloads keep
        every point.
    """
    df = points.copy()
    if x == "flops":
        df["flops"] = df["flops"].fillna(6.0 * df["params"] * df["tokens"])
    df = df[np.isfinite(pd.to_numeric(df[x], errors="coerce")) & (df[x] > 0) & np.isfinite(df["value"])]
    fig = go.Figure()
    runs = df.drop_duplicates("run_id")[["run_id", "params"]].sort_values(["params", "run_id"], na_position="last")
    colours = size_colours(runs["params"])
    legend = len(runs) <= MAX_LEGEND
    x_label = {"tokens": "tokens", "flops": "FLOPs", "step": "step", "params": "N"}[x]
    u = f" {unit}" if unit else ""
    hover = (f"run %{{customdata[0]}}<br>N %{{customdata[1]}} params<br>step %{{customdata[2]}}<br>{x_label} %{{x:.3s}}"
             f"<br>value %{{y:.4g}}{u}<extra></extra>")
    groups = {k: g for k, g in df.groupby("run_id", sort=False)}
    family_of = df.drop_duplicates("run_id").set_index("run_id")["family"] if "family" in df else pd.Series(dtype=str)
    families = sorted(family_of.dropna().astype(str).unique())
    style = {f: FAMILY_STYLES[i % len(FAMILY_STYLES)] for i, f in enumerate(families)} if len(families) > 1 else {}
    bins = colour_bins(colours) if not legend else {}
    # the figure draws at most MAX_POINTS points: a family of many long runs gets fewer checkpoints per run
    max_points_per_run = min(max_points_per_run, max(DENSE_CURVE, MAX_POINTS // max(len(runs), 1)))
    shown = 0
    merged: dict = {}                       # colour bin -> list of run segments (drawn as one trace)
    for rid, n in zip(runs["run_id"], runs["params"]):
        g = groups[rid].sort_values([x, "step"], na_position="first")
        if len(g) > max_points_per_run:
            keep = np.unique(np.round(np.linspace(0, len(g) - 1, max_points_per_run)).astype(int))
            g = g.iloc[keep]
        shown += len(g)
        colour = colours.get(n, "#555555") if pd.notna(n) else "#555555"
        custom = hover_data([str(rid)] * len(g), ["n/a" if pd.isna(n) else si(n)] * len(g), step_labels(g))
        fam = str(family_of.get(rid, ""))
        dash, symbol = style.get(fam, ("solid", "circle"))
        if not legend:
            merged.setdefault((bins.get(n, colour), fam), []).append((g, custom))
            continue
        label = str(g["model"].iloc[0]) if "model" in g and pd.notna(g["model"].iloc[0]) else str(rid)
        mode = "markers" if len(g) == 1 else "lines+markers" if len(g) <= DENSE_CURVE else "lines"
        fig.add_trace(go.Scatter(x=g[x], y=g["value"], mode=mode,
                                 name=f"{fam.split('/', 1)[-1]}: {label}" if style else label,
                                 line=dict(color=colour, width=1.6, dash=dash),
                                 marker=dict(color=colour, size=5 if len(g) > 1 else 8, symbol=symbol),
                                 customdata=custom, hovertemplate=hover))
    gap = np.array([[None, None, None]], dtype=object)
    for (colour, fam), parts in merged.items():  # many runs: one trace per colour (and family), gaps between runs
        dash, symbol = style.get(fam, ("solid", "circle"))
        # numpy arrays, not lists: plotly validates them at once and sends them as typed arrays (base64)
        xs = np.concatenate([np.append(pd.to_numeric(g[x], errors="coerce").to_numpy(float), np.nan)
                             for g, _ in parts])
        ys = np.concatenate([np.append(g["value"].to_numpy(float), np.nan) for g, _ in parts])
        cd = np.concatenate([np.concatenate([custom, gap]) for _, custom in parts])
        single = all(len(g) == 1 for g, _ in parts)
        dense = all(len(g) > DENSE_CURVE for g, _ in parts)
        fig.add_trace(scatter(len(xs), x=xs, y=ys, mode="markers" if single else "lines" if dense else "lines+markers",
                              showlegend=False,
                              line=dict(color=colour, width=1.4, dash=dash), connectgaps=False,
                              marker=dict(color=colour, size=7 if single else 4, symbol=symbol), customdata=cd,
                              hovertemplate=hover))
    if style:                                # colour is model size: a key of the families' line styles
        key = "   ".join(f"{GLYPHS[dash]} {GLYPHS[symbol]} {fam}" for fam, (dash, symbol) in style.items())
        fig.add_annotation(text=key,
                           xref="paper", yref="paper", x=0.0, y=1.0, xanchor="left", yanchor="bottom",
                           showarrow=False, font=dict(size=11, color="#333"))
    if shown < len(df):
        fig.add_annotation(text=f"drawing {shown:,} of {len(df):,} points (each run thinned evenly); the downloads "
                                "keep all", xref="paper", yref="paper", x=1.0, y=1.0, xanchor="right",
                           yanchor="bottom", showarrow=False, font=dict(size=10, color="#777"))
    if not legend and len(colours):
        ls = np.log10(np.array(sorted(colours)))
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", showlegend=False, hoverinfo="skip",
                                 marker=dict(colorscale=SIZE_SCALE, cmin=ls.min(), cmax=ls.max(), color=[ls.min()],
                                             showscale=True, colorbar=dict(title="log10 N<br>(params)",
                                                                           thickness=12))))
    return layout(fig, title=title, x=axis_title(x), y=metric_title(metric, unit),
                   log_y=use_log_y(unit, df["value"]), legend=legend, legend_below=False)


def coverage_figure(families: pd.DataFrame, *, title: str | None = None) -> go.Figure:
    """The corpus at a glance: each family as a bar over its parameter range, coloured by source.

    ``families`` is the ``family_summary`` view (family, source, n_runs, min_params, max_params).
    """
    df = families[np.isfinite(families["min_params"]) & (families["min_params"] > 0)].copy()
    df = df.sort_values(["source", "min_params"], ascending=[False, False])
    fig = go.Figure()
    sources = sorted(df["source"].unique())
    colour = {s: GROUP_COLOURS[i % len(GROUP_COLOURS)] for i, s in enumerate(sources)}
    for s in sources:
        sub = df[df["source"] == s]
        lo, hi = sub["min_params"].to_numpy(float), sub["max_params"].to_numpy(float)
        hi = np.where(hi > lo * 1.08, hi, lo * 1.08)     # single-size families stay visible
        fig.add_trace(go.Bar(y=sub["family"], x=np.log10(hi) - np.log10(lo), base=np.log10(lo),
                             orientation="h", name=str(s), marker_color=colour[s],
                             customdata=hover_data(sub["n_runs"], sub["min_params"], sub["max_params"]),
                             hovertemplate="%{y}<br>%{customdata[0]} runs<br>smallest N %{customdata[1]:.3s} params"
                                           "<br>largest N %{customdata[2]:.3s} params<extra></extra>"))
    height = max(320, 18 * len(df) + 120)
    fig = layout(fig, title=title, x="parameters N (log scale)", y="", log_x=False, height=height,
                 legend_below=False)
    fig.update_layout(barmode="overlay", legend_title_text="source")
    _decade_ticks(fig, df["min_params"], df["max_params"])
    fig.update_yaxes(type="category", automargin=True)   # family names: a linear y axis would draw nothing
    return fig


def corpus_figure(families: pd.DataFrame, *, title: str | None = None) -> go.Figure:
    """The corpus at a glance: each source as a bar over the model sizes N (params) of its families.

    One bar per source, from its smallest to its largest N on a log10 scale, so that the scale range each
    source covers reads at a glance; the hover gives its families, runs, points and token range D.
    ``families`` is the ``family_summary`` view (source, n_runs, n_points, min_params, max_params,
    min_tokens, max_tokens); families without a parameter count are counted but draw no bar.
    """
    lo_n = pd.to_numeric(families["min_params"], errors="coerce")
    sized = np.isfinite(lo_n) & (lo_n > 0)
    df = families.assign(sized=sized, lo=lo_n.where(sized),         # sizes of the sized families only
                         hi=pd.to_numeric(families["max_params"], errors="coerce").where(sized))
    agg = (df.groupby("source", sort=True)
           .agg(n_families=("source", "size"), n_runs=("n_runs", "sum"), n_points=("n_points", "sum"),
                lo=("lo", "min"), hi=("hi", "max"), d_lo=("min_tokens", "min"), d_hi=("max_tokens", "max"),
                sized=("sized", "any"))
           .reset_index())
    agg = agg[agg["sized"]]
    colour = {s: GROUP_COLOURS[i % len(GROUP_COLOURS)] for i, s in enumerate(agg["source"])}  # as coverage_figure
    agg = agg.sort_values("lo", ascending=False)
    fig = go.Figure()
    for row in agg.itertuples(index=False):
        lo, hi = float(row.lo), max(float(row.hi), float(row.lo) * 1.08)     # one size stays visible
        tokens = (f"{si(row.d_lo)} to {si(row.d_hi)}" if np.isfinite(row.d_lo) and np.isfinite(row.d_hi)
                  else "n/a")
        families_ = f"{row.n_families} famil{'y' if row.n_families == 1 else 'ies'}"
        custom = hover_data([families_], [f"{row.n_runs:,}"], [f"{row.n_points:,}"], [si(row.lo)],
                            [si(row.hi)], [tokens])
        fig.add_trace(go.Bar(y=[row.source], x=[np.log10(hi) - np.log10(lo)], base=[np.log10(lo)],
                             orientation="h", name=str(row.source), showlegend=False,
                             marker_color=colour[row.source], customdata=custom,
                             hovertemplate="%{y}<br>%{customdata[0]}, %{customdata[1]} runs, "
                                           "%{customdata[2]} points<br>N %{customdata[3]} to %{customdata[4]} "
                                           "params<br>tokens D %{customdata[5]}<extra></extra>"))
    fig = layout(fig, title=title, x="parameters N (log scale)", y="", log_x=False,
                 height=max(240, 30 * len(agg) + 90), legend=False)
    fig.update_layout(barmode="overlay")
    _decade_ticks(fig, agg["lo"], agg["hi"])
    fig.update_yaxes(type="category", automargin=True)
    return fig


def _decade_ticks(fig: go.Figure, lo: pd.Series, hi: pd.Series) -> None:
    """Label the decades of a log10 N axis as counts (10M, 1B): the range bars are drawn in log10 N."""
    lo, hi = pd.to_numeric(lo, errors="coerce").min(), pd.to_numeric(hi, errors="coerce").max()   # NaN: none
    if np.isfinite(lo) and np.isfinite(hi) and lo > 0:
        decades = np.arange(np.floor(np.log10(lo)), np.ceil(np.log10(hi)) + 1)
        fig.update_xaxes(tickvals=decades, ticktext=[si(10.0 ** d) for d in decades])
