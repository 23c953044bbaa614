"""Plotly figures of the workbench: pure functions from data and results to ``plotly.graph_objects.Figure``.

The dashboard (``ui.py`` and ``pages/``) and the HTML report (:mod:`analysis.report`) draw every chart
with these builders, so a chart looks the same in the app and in an exported report. Nothing here
imports streamlit.

Conventions
-----------
* Scale axes (parameters N, tokens D, FLOPs C, steps) are logarithmic; every axis title names its unit.
* Losses are drawn on a log y axis (the fits are in log space); bounded metrics (accuracy, error) on a
  linear one.
* Bands are pointwise 95% percentile intervals over the run-level bootstrap resamples of a fit.
* Text from data (run, family and metric names) only ever reaches plotly as data (``customdata``,
  trace names), never inside a hover *template*.
* :func:`plot_config` gives the modebar configuration, including the PNG file name of the camera button.
"""
from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import sample_colorscale
from plotly.subplots import make_subplots

from analysis.allocate import frontier
from analysis.fit import FitError, prepare
from analysis.laws import VAR_UNITS, get_law

AXIS_TITLES = {"N": "Parameters N", "D": "Tokens D", "C": "Training compute C (FLOPs)", "step": "Optimiser step",
               "tokens": "Tokens D", "flops": "Training compute C (FLOPs)", "params": "Parameters N",
               "S1": "LR area S1 (steps x LR)"}
LOSS_UNITS = frozenset({"nats", "bits", "perplexity", "log10_perplexity"})
SIZE_SCALE = "Viridis"
BAND_FILL = "rgba(31, 119, 180, 0.18)"
FIT_COLOUR = "#1f77b4"
HELDOUT_COLOUR = "#d62728"
EXCLUDED_COLOUR = "rgba(120, 120, 120, 0.45)"
BOUNDED_UNITS = frozenset({"accuracy", "error", "fraction", "f1"})     # metrics that live in [0, 1]
CLIPPED_NOTE = "curves drawn only where the fitted value lies in [0, 1]"
GROUP_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")
MAX_LEGEND = 25            # runs listed in a legend; more are coloured by size with a colour bar
DENSE_CURVE = 40           # a run with more checkpoints is drawn as a line without markers
N_GRID = 120               # points on a fitted curve


# ----------------------------------------------------------------------------------------------
# Shared helpers
# ----------------------------------------------------------------------------------------------
def plot_config(filename: str) -> dict:
    """Plotly modebar configuration: PNG download named ``filename`` (sanitised), no logo."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", filename).strip("_") or "figure"
    return {"displaylogo": False,
            "toImageButtonOptions": {"format": "png", "filename": safe[:120], "scale": 2},
            "modeBarButtonsToRemove": ["lasso2d", "select2d"]}


def metric_title(metric: str | None, unit: str | None) -> str:
    """Axis title of a metric: ``"val_loss (nats)"``."""
    name = metric or "value"
    return f"{name} ({unit})" if unit else name


def axis_title(var: str) -> str:
    """Axis title of a scale variable, with its unit."""
    return AXIS_TITLES.get(var, f"{var} ({VAR_UNITS.get(var, 'units')})")


def _log_y(unit: str | None, y=None) -> bool:
    if unit in LOSS_UNITS:
        return True
    if y is None:
        return False
    y = np.asarray(y, float)
    y = y[np.isfinite(y)]
    return bool(len(y) and y.min() > 0 and y.max() / y.min() > 20)


def _layout(fig: go.Figure, *, title: str | None, x: str, y: str, log_x: bool = True, log_y: bool = False,
            legend: bool = True, height: int = 460, legend_below: bool = True) -> go.Figure:
    where = dict(orientation="h", yanchor="top", y=-0.16, xanchor="left", x=0) if legend_below else {}
    fig.update_layout(template="plotly_white", title=title, height=height + (70 if legend and legend_below else 0),
                      hovermode="closest", showlegend=legend,
                      margin=dict(l=60, r=20, t=50 if title else 20, b=55),
                      legend=dict(font=dict(size=11), itemsizing="constant", **where))
    fig.update_xaxes(title_text=x, type="log" if log_x else "linear", exponentformat="power", showgrid=True)
    fig.update_yaxes(title_text=y, type="log" if log_y else "linear", showgrid=True)
    return fig


def _size_colours(sizes) -> dict:
    """A Viridis colour per distinct size, by log size (small = dark, large = yellow)."""
    s = np.unique(np.asarray([v for v in sizes if v is not None and np.isfinite(v) and v > 0], float))
    if len(s) == 0:
        return {}
    ls = np.log10(s)
    t = (ls - ls.min()) / (np.ptp(ls) or 1.0)
    return dict(zip(s, sample_colorscale(SIZE_SCALE, list(np.clip(t * 0.92, 0, 1)))))


def _colour_bins(colours: dict, n_bins: int = 16) -> dict:
    """Map each size to one of ``n_bins`` colours (by log size), so that many runs draw as few traces."""
    if not colours:
        return {}
    s = np.array(sorted(colours))
    ls = np.log10(s)
    t = (ls - ls.min()) / (np.ptp(ls) or 1.0)
    k = np.minimum((t * n_bins).astype(int), n_bins - 1)
    palette = sample_colorscale(SIZE_SCALE, list(np.linspace(0, 0.92, n_bins)))
    return {v: palette[j] for v, j in zip(s, k)}


def x_axis(law_name: str) -> str:
    """The x axis a law is drawn against: C for laws in N and D, the step for the annealing law, else its variable."""
    law = get_law(law_name)
    if {"N", "D"} <= set(law.variables):
        return "C"
    if law.variables[0] == "S1":
        return "step"
    return law.variables[0]


def _grid(lo: float, hi: float, n: int = N_GRID) -> np.ndarray:
    return np.logspace(math.log10(lo), math.log10(hi), n)


def si(x: float) -> str:
    """A count with an SI suffix for legends and labels: ``57M``, ``1.6B``, ``2T``."""
    for scale, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if abs(x) >= scale:
            return f"{x / scale:.3g}{suffix}"
    return f"{x:.3g}"


def sci(x: float) -> str:
    """A number in compact scientific notation for legends: ``5.76e21``."""
    return f"{x:.3g}".replace("e+", "e").replace("e0", "e").replace("e-0", "e-")


def vmark(fig: go.Figure, x: float, text: str | None = None, *, log_x: bool = True, colour: str = "#555",
          dash: str = "dot", x1: float | None = None, left: bool = True) -> None:
    """A vertical line at ``x`` (or a shaded span to ``x1``) labelled ``text`` at the top.

    Plotly places a shape's own annotation at the raw value even on a log axis (off the chart), so
    the label is a separate annotation at log10(x) there.
    """
    if x1 is None:
        fig.add_vline(x=float(x), line=dict(color=colour, dash=dash))
    else:
        fig.add_vrect(x0=float(x), x1=float(x1), fillcolor="rgba(0,0,0,0.07)", line_width=0, layer="below")
    if text:
        at = math.log10(float(x)) if log_x else float(x)
        fig.add_annotation(x=at, xref="x", y=1.0, yref="paper", yanchor="bottom", text=text, showarrow=False,
                           xanchor="right" if left else "left", font=dict(size=11, color=colour))


def used_points(fit, frame: pd.DataFrame) -> pd.Series:
    """Boolean mask of the frame rows the fit used (its cuts, exclusions and validity checks)."""
    s = fit.settings or {}
    df = frame.reset_index(drop=True).assign(_row=np.arange(len(frame)))
    try:
        prep = prepare(df, fit.law_obj, min_tokens=s.get("min_tokens"), min_fraction=s.get("min_fraction"),
                       exclude_runs=s.get("exclude_runs", ()), y_transform=s.get("y_transform", "none"))
    except FitError:
        return pd.Series(False, index=range(len(frame)))
    mask = np.zeros(len(frame), bool)
    mask[prep.frame["_row"].to_numpy(int)] = True
    return pd.Series(mask)


def _completed(frame: pd.DataFrame) -> pd.DataFrame:
    df = frame.reset_index(drop=True).copy()
    for col in ("N", "D", "C"):
        if col not in df:
            df[col] = np.nan
    df["C"] = df["C"].fillna(6.0 * df["N"] * df["D"])
    return df


def _custom(*cols) -> np.ndarray:
    """An object array of per-point hover data (keeps numbers numeric next to strings)."""
    out = np.empty((len(cols[0]), len(cols)), dtype=object)
    for j, c in enumerate(cols):
        out[:, j] = list(c)
    return out


def _steps(df: pd.DataFrame) -> list[str]:
    if "step" not in df:
        return ["n/a"] * len(df)
    return ["n/a" if pd.isna(v) else f"{v:.0f}" for v in df["step"]]


def _hover(x_label: str, unit: str | None) -> str:
    u = f" {unit}" if unit else ""
    return ("run %{customdata[0]}<br>N %{customdata[1]:.3s} params<br>step %{customdata[2]}<br>"
            f"{x_label} %{{x:.3s}}<br>value %{{y:.4g}}{u}<extra></extra>")


def _data_traces(fig, df: pd.DataFrame, x: str, used: pd.Series, unit: str | None, row=None, col=None):
    """Observed points: used ones coloured by model size, left-out ones grey."""
    colours = _size_colours(df["N"])
    kw = {} if row is None else dict(row=row, col=col)
    custom = _custom(df["run"].astype(str), df["N"], _steps(df))
    hover = _hover(axis_title(x), unit)
    u = used.to_numpy(bool)
    if (~u).any():
        fig.add_trace(go.Scatter(x=df.loc[~u, x], y=df.loc[~u, "y"], mode="markers", name="left out of the fit",
                                 marker=dict(color=EXCLUDED_COLOUR, symbol="x", size=6),
                                 customdata=custom[~u], hovertemplate=hover), **kw)
    if u.any():
        sub = df[u]
        cvals = np.log10(sub["N"].where(sub["N"] > 0))
        has_n = np.isfinite(cvals).any()
        marker = dict(size=6, opacity=0.85)
        if has_n:
            marker.update(color=cvals, colorscale=SIZE_SCALE, showscale=True,
                          colorbar=dict(title="log10 N<br>(params)", thickness=12, len=0.6))
        else:
            marker.update(color=FIT_COLOUR)
        fig.add_trace(go.Scatter(x=sub[x], y=sub["y"], mode="markers", name="data used in the fit",
                                 marker=marker, customdata=custom[u], hovertemplate=hover), **kw)
    return colours


def _band_trace(x, lo, hi, name="95% bootstrap band", colour=BAND_FILL, legendgroup=None, showlegend=True):
    xs = np.concatenate([x, x[::-1]])
    ys = np.concatenate([hi, lo[::-1]])
    return go.Scatter(x=xs, y=ys, fill="toself", fillcolor=colour, line=dict(width=0), hoverinfo="skip",
                      name=name, legendgroup=legendgroup, showlegend=showlegend)


# ----------------------------------------------------------------------------------------------
# Browsing
# ----------------------------------------------------------------------------------------------
def curves_figure(points: pd.DataFrame, *, x: str = "tokens", metric: str | None = None, unit: str | None = None,
                  title: str | None = None, max_points_per_run: int = 600) -> go.Figure:
    """Metric against tokens, FLOPs or steps, one line per run, coloured by model size.

    Up to ``MAX_LEGEND`` runs are listed in the legend; beyond that the runs are coloured by size with a
    colour bar, and runs of similar size share one trace (gaps between runs), which keeps a family of
    hundreds of runs quick to draw. The hover always names the run.

    Parameters
    ----------
    points : a ``Store.points()`` table (columns run_id, model, params, tokens, flops, step, value).
    x : "tokens", "flops", "step" or "params" (log axis). FLOPs missing from the table are drawn as 6 N D.
    metric, unit : names for the y axis; losses get a log y axis.
    max_points_per_run : longer curves are thinned to about this many evenly spaced checkpoints (first
        and last kept) so that the browser stays responsive; the downloads keep every point.
    """
    df = points.copy()
    if x == "flops":
        df["flops"] = df["flops"].fillna(6.0 * df["params"] * df["tokens"])
    df = df[np.isfinite(pd.to_numeric(df[x], errors="coerce")) & (df[x] > 0) & np.isfinite(df["value"])]
    fig = go.Figure()
    runs = df.drop_duplicates("run_id")[["run_id", "params"]].sort_values(["params", "run_id"], na_position="last")
    colours = _size_colours(runs["params"])
    legend = len(runs) <= MAX_LEGEND
    x_label = {"tokens": "tokens", "flops": "FLOPs", "step": "step", "params": "N"}[x]
    u = f" {unit}" if unit else ""
    hover = (f"run %{{customdata[0]}}<br>N %{{customdata[1]}} params<br>step %{{customdata[2]}}<br>{x_label} %{{x:.3s}}"
             f"<br>value %{{y:.4g}}{u}<extra></extra>")
    groups = {k: g for k, g in df.groupby("run_id", sort=False)}
    bins = _colour_bins(colours) if not legend else {}
    merged: dict = {}                       # colour bin -> list of run segments (drawn as one trace)
    for rid, n in zip(runs["run_id"], runs["params"]):
        g = groups[rid].sort_values([x, "step"], na_position="first")
        if len(g) > max_points_per_run:
            keep = np.unique(np.round(np.linspace(0, len(g) - 1, max_points_per_run)).astype(int))
            g = g.iloc[keep]
        colour = colours.get(n, "#555555") if pd.notna(n) else "#555555"
        custom = _custom([str(rid)] * len(g), ["n/a" if pd.isna(n) else si(n)] * len(g), _steps(g))
        if not legend:
            merged.setdefault(bins.get(n, colour), []).append((g, custom))
            continue
        label = str(g["model"].iloc[0]) if "model" in g and pd.notna(g["model"].iloc[0]) else str(rid)
        mode = "markers" if len(g) == 1 else "lines+markers" if len(g) <= DENSE_CURVE else "lines"
        fig.add_trace(go.Scatter(x=g[x], y=g["value"], mode=mode,
                                 name=label, line=dict(color=colour, width=1.6),
                                 marker=dict(color=colour, size=5 if len(g) > 1 else 8),
                                 customdata=custom, hovertemplate=hover))
    for colour, parts in merged.items():     # many runs: one trace per colour, runs separated by gaps
        xs, ys, cd = [], [], []
        for g, custom in parts:
            xs += list(g[x]) + [None]
            ys += list(g["value"]) + [None]
            cd += [list(r) for r in custom] + [[None, None, None]]
        single = all(len(g) == 1 for g, _ in parts)
        dense = all(len(g) > DENSE_CURVE for g, _ in parts)
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="markers" if single else "lines" if dense else "lines+markers",
                                 showlegend=False,
                                 line=dict(color=colour, width=1.4), connectgaps=False,
                                 marker=dict(color=colour, size=7 if single else 4), customdata=cd,
                                 hovertemplate=hover))
    if not legend and len(colours):
        ls = np.log10(np.array(sorted(colours)))
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", showlegend=False, hoverinfo="skip",
                                 marker=dict(colorscale=SIZE_SCALE, cmin=ls.min(), cmax=ls.max(), color=[ls.min()],
                                             showscale=True, colorbar=dict(title="log10 N<br>(params)",
                                                                           thickness=12))))
    return _layout(fig, title=title, x=axis_title(x), y=metric_title(metric, unit),
                   log_y=_log_y(unit, df["value"]), legend=legend, legend_below=False)


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
                             customdata=_custom(sub["n_runs"], sub["min_params"], sub["max_params"]),
                             hovertemplate="%{y}<br>%{customdata[0]} runs<br>N %{customdata[1]:.3s} to "
                                           "%{customdata[2]:.3s} params<extra></extra>"))
    height = max(320, 18 * len(df) + 120)
    fig = _layout(fig, title=title, x="log10 parameters N", y="", log_x=False, height=height, legend_below=False)
    fig.update_layout(barmode="overlay", legend_title_text="source")
    return fig


# ----------------------------------------------------------------------------------------------
# Fits
# ----------------------------------------------------------------------------------------------
def fit_figure(fit, frame: pd.DataFrame, *, metric: str | None = None, unit: str | None = None,
               target: float | None = None, title: str | None = None, n_sizes: int = 6) -> go.Figure:
    """The fitted law over the data, with its bootstrap band, extended to ``target``.

    One-variable laws are drawn against their variable (``target`` in its units). Laws in N and D are
    drawn against compute C = 6ND (``target`` in FLOPs): the predicted loss of up to ``n_sizes`` model
    sizes from the data along their token range, and the compute-optimal frontier L*(C) with its band.
    The annealing law is drawn against the step, per run. Points left out of the fit (early-token cut,
    excluded runs) are grey crosses.
    """
    df = _completed(frame)
    used = used_points(fit, df)
    x = x_axis(fit.law)
    fig = go.Figure()
    df_plot = df[np.isfinite(df[x]) & (df[x] > 0) & np.isfinite(df["y"])] if x in df else df.iloc[0:0]
    _data_traces(fig, df_plot, x, used[df_plot.index].reset_index(drop=True) if len(df_plot) else used[:0],
                 unit, None, None)
    law = fit.law_obj
    if x == "C":
        _nd_curves(fig, fit, df[used.to_numpy(bool)], target, n_sizes)
    elif law.variables[0] == "S1":
        _anneal_curves(fig, fit, df[used.to_numpy(bool)])
    else:
        u = df.loc[used.to_numpy(bool), x]
        lo, hi = float(u.min()), float(u.max())
        if target and target > hi:
            hi = float(target)
        xs = _grid(lo / 1.2, hi * 1.05)
        X = pd.DataFrame({x: xs})
        if fit.n_boot:
            blo, bhi = fit.band(X)
            fig.add_trace(_band_trace(xs, blo, bhi))
        fig.add_trace(go.Scatter(x=xs, y=fit.predict(X), mode="lines", name=f"fit: {law.name}",
                                 line=dict(color=FIT_COLOUR, width=2.5),
                                 hovertemplate=f"{x} %{{x:.3s}}<br>predicted %{{y:.4g}}<extra>fit</extra>"))
    if target:
        vmark(fig, target, "target")
    yvals = df_plot["y"] if len(df_plot) else None
    return _layout(fig, title=title, x=axis_title(x), y=metric_title(metric, unit), log_y=_log_y(unit, yvals))


def _nd_curves(fig, fit, used_df: pd.DataFrame, target, n_sizes: int):
    sizes = np.unique(used_df["N"].dropna())
    if len(sizes) > n_sizes:
        idx = np.unique(np.round(np.linspace(0, len(sizes) - 1, n_sizes)).astype(int))
        sizes = sizes[idx]
    colours = _size_colours(used_df["N"])
    d_lo, d_hi = float(used_df["D"].min()), float(used_df["D"].max())
    for i, n in enumerate(sizes):
        D = _grid(d_lo, d_hi, 60)
        C = 6.0 * n * D
        y = fit.predict(pd.DataFrame({"N": np.full_like(D, n), "D": D, "C": C, "U": np.nan}))
        fig.add_trace(go.Scatter(x=C, y=y, mode="lines", name="fit at fixed N (dashed, coloured by N)",
                                 legendgroup="sizes", showlegend=i == 0,
                                 line=dict(color=colours.get(n, "#777"), width=1.3, dash="dash"),
                                 hovertemplate=f"fit at N = {si(n)} params<br>C %{{x:.3s}} FLOPs<br>"
                                               "predicted %{y:.4g}<extra></extra>"))
    c_lo, c_hi = float(used_df["C"].min()), float(used_df["C"].max())
    if target and target > c_hi:
        c_hi = float(target)
    try:
        front = frontier(fit, _grid(c_lo, c_hi, 40))
    except ValueError:
        return
    if "loss_lo" in front and front["loss_lo"].notna().any():
        fig.add_trace(_band_trace(front["compute"].to_numpy(), front["loss_lo"].to_numpy(),
                                  front["loss_hi"].to_numpy(), name="95% band of L*(C)"))
    fig.add_trace(go.Scatter(x=front["compute"], y=front["loss"], mode="lines", name="compute-optimal L*(C)",
                             line=dict(color=FIT_COLOUR, width=2.8),
                             customdata=_custom(front["N_opt"], front["D_opt"]),
                             hovertemplate="C %{x:.3s} FLOPs<br>L* %{y:.4g}<br>N* %{customdata[0]:.3s} params"
                                           "<br>D* %{customdata[1]:.3s} tokens<extra>frontier</extra>"))


def _anneal_curves(fig, fit, used_df: pd.DataFrame):
    runs = list(dict.fromkeys(used_df["run"]))[:MAX_LEGEND]
    for i, r in enumerate(runs):
        g = used_df[used_df["run"] == r].sort_values("step")
        fig.add_trace(go.Scatter(x=g["step"], y=fit.predict(g), mode="lines", name=f"fit: {r}",
                                 line=dict(color=GROUP_COLOURS[i % len(GROUP_COLOURS)], width=2)))


def residual_figure(fit, frame: pd.DataFrame, *, title: str | None = None) -> go.Figure:
    """Log residuals log(predicted) - log(observed) of every point the fit used, against its x axis."""
    df = _completed(frame)
    used = used_points(fit, df).to_numpy(bool)
    sub = df[used].reset_index(drop=True)
    x = x_axis(fit.law)
    pred = fit.predict(sub)
    with np.errstate(all="ignore"):
        r = np.log(pred) - np.log(sub["y"].to_numpy(float))
    fig = go.Figure()
    cvals = np.log10(sub["N"].where(sub["N"] > 0)) if "N" in sub else pd.Series(np.nan, index=sub.index)
    marker = dict(size=6, opacity=0.85)
    if np.isfinite(cvals).any():
        marker.update(color=cvals, colorscale=SIZE_SCALE, showscale=True, colorbar=dict(title="log10 N<br>(params)", thickness=12))
    custom = _custom(sub["run"].astype(str), sub["N"], _steps(sub))
    fig.add_trace(go.Scatter(x=sub[x], y=r, mode="markers", marker=marker, name="residual", customdata=custom,
                             hovertemplate="run %{customdata[0]}<br>N %{customdata[1]:.3s}<br>step %{customdata[2]}"
                                           f"<br>{x} %{{x:.3s}}<br>log residual %{{y:.4f}}<extra></extra>"))
    fig.add_hline(y=0.0, line=dict(color="#333", width=1))
    return _layout(fig, title=title, x=axis_title(x), y="log(predicted) - log(observed)", legend=False,
                   height=360)


def comparison_figure(fits: dict, frame: pd.DataFrame, *, metric: str | None = None, unit: str | None = None,
                      target: float | None = None, title: str | None = None) -> go.Figure:
    """Two or more fits over the same data: each law's curve (or compute-optimal frontier) with its band."""
    df = _completed(frame)
    labels = list(fits)
    xs_axes = {x_axis(f.law) for f in fits.values()}
    x = "C" if "C" in xs_axes else next(iter(xs_axes))
    fig = go.Figure()
    first = fits[labels[0]]
    used = used_points(first, df)
    ok = np.isfinite(df[x]) & (df[x] > 0) & np.isfinite(df["y"])
    _data_traces(fig, df[ok].reset_index(drop=True), x, used[ok.to_numpy()].reset_index(drop=True), unit, None, None)
    src = df[used.to_numpy(bool)]
    lo, hi = float(src[x].min()), float(src[x].max())
    if target and target > hi:
        hi = float(target)
    xs = _grid(lo / 1.2, hi * 1.05, 60)
    for i, label in enumerate(labels):
        fit = fits[label]
        colour = GROUP_COLOURS[i % len(GROUP_COLOURS)]
        fill = _rgba(colour, 0.15)
        if {"N", "D"} <= set(fit.law_obj.variables):
            try:
                front = frontier(fit, xs)
            except ValueError:
                continue
            y, ylo, yhi = front["loss"], front.get("loss_lo"), front.get("loss_hi")
            name = f"{label}: L*(C)"
        elif x_axis(fit.law) == x:
            X = pd.DataFrame({x: xs})
            y = fit.predict(X)
            ylo, yhi = fit.band(X) if fit.n_boot else (None, None)
            name = label
        else:
            continue
        if ylo is not None and np.isfinite(np.asarray(ylo, float)).any():
            fig.add_trace(_band_trace(xs, np.asarray(ylo, float), np.asarray(yhi, float), name=f"{label}: 95% band",
                                      colour=fill, legendgroup=label))
        fig.add_trace(go.Scatter(x=xs, y=y, mode="lines", name=name, legendgroup=label,
                                 line=dict(color=colour, width=2.5, dash="solid" if i == 0 else "dash")))
    if target:
        vmark(fig, target, "target")
    return _layout(fig, title=title, x=axis_title(x), y=metric_title(metric, unit), log_y=_log_y(unit, df["y"]))


def _rgba(hex_colour: str, alpha: float) -> str:
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r}, {g}, {b}, {alpha})"


def backtest_figure(bt, *, metric: str | None = None, unit: str | None = None, title: str | None = None) -> go.Figure:
    """Predicted against actual for the back-test: held-out points red, fitted points grey, y = x line.

    Rows the back-test's fit did not use although they were not held out (runs the user excluded or the
    source flags as outliers, checkpoints before the early cut) are grey crosses "left out of the fit",
    read from the fit's own settings (``bt.fit.settings``).
    """
    df = bt.predictions.reset_index(drop=True)
    held = df["heldout"].to_numpy(bool)
    role = np.where(held, "held out", "used to fit").astype(object)
    if bt.fit is not None and (~held).any():
        train = df[~held]
        used = used_points(bt.fit, train).to_numpy(bool)
        if used.any():                    # none: the rows could not be re-prepared; keep the plain labels
            idx = np.flatnonzero(~held)
            role[idx[~used]] = "left out of the fit"
    df = df.assign(_role=role)
    df = df[np.isfinite(df["y"]) & np.isfinite(df["y_pred"])]
    fig = go.Figure()
    for name, colour, symbol, size in (("left out of the fit", EXCLUDED_COLOUR, "x", 6),
                                       ("used to fit", "rgba(90, 90, 90, 0.55)", "circle", 5),
                                       ("held out", HELDOUT_COLOUR, "circle", 7)):
        sub = df[df["_role"] == name]
        if sub.empty:
            continue
        custom = _custom(sub["run"].astype(str), sub["N"], sub["D"])
        fig.add_trace(go.Scatter(x=sub["y"], y=sub["y_pred"], mode="markers", name=name,
                                 marker=dict(color=colour, size=size, symbol=symbol),
                                 customdata=custom,
                                 hovertemplate="run %{customdata[0]}<br>N %{customdata[1]:.3s}<br>D %{customdata[2]:.3s}"
                                               "<br>actual %{x:.4g}<br>predicted %{y:.4g}<extra></extra>"))
    lo = float(min(df["y"].min(), df["y_pred"].min()))
    hi = float(max(df["y"].max(), df["y_pred"].max()))
    fig.add_trace(go.Scatter(x=[lo, hi], y=[lo, hi], mode="lines", name="predicted = actual",
                             line=dict(color="#333", dash="dot", width=1), hoverinfo="skip"))
    label = metric_title(metric, unit)
    log = _log_y(unit, df["y"])
    return _layout(fig, title=title, x=f"actual {label}", y=f"predicted {label}", log_x=log, log_y=log)


# names the HTML report (analysis/report.py) draws its figures with
report_fit_figure = fit_figure
report_residual_figure = residual_figure
report_backtest_figure = backtest_figure


def parameter_comparison_figure(fit, reference: dict, *, label: str = "ours", reference_label: str = "published",
                                title: str | None = None) -> go.Figure:
    """Each parameter of ``fit`` with its 95% CI beside a published value and interval.

    ``reference`` maps parameter name -> (value, lo, hi) (lo / hi may be None). One small panel per
    parameter (their scales differ by orders of magnitude).
    """
    names = [n for n in fit.param_names if n in reference]
    fig = make_subplots(rows=1, cols=len(names), subplot_titles=names, horizontal_spacing=0.14)
    for j, n in enumerate(names, start=1):
        rows = [(label, fit.params[n], *(fit.ci.get(n) or (None, None)), FIT_COLOUR),
                (reference_label, *reference[n], "#ff7f0e")]
        for k, (who, v, lo, hi, colour) in enumerate(rows):
            err = None
            if lo is not None and hi is not None:
                err = dict(type="data", symmetric=False, array=[hi - v], arrayminus=[v - lo], color=colour)
            fig.add_trace(go.Scatter(x=[who], y=[v], mode="markers", marker=dict(color=colour, size=10),
                                     error_y=err, name=who, showlegend=j == 1, legendgroup=who,
                                     hovertemplate=f"{n} ({who}) %{{y:.4g}}<extra></extra>"), row=1, col=j)
        if n in ("A", "B"):
            fig.update_yaxes(type="log", row=1, col=j)
    fig.update_layout(template="plotly_white", title=title, height=340, margin=dict(l=40, r=20, t=70, b=40),
                      legend=dict(orientation="h", yanchor="top", y=-0.04, xanchor="center", x=0.5))
    fig.update_xaxes(showticklabels=False)
    fig.update_yaxes(tickfont=dict(size=10))
    return fig


# ----------------------------------------------------------------------------------------------
# Allocation
# ----------------------------------------------------------------------------------------------
def frontier_figure(front: pd.DataFrame, *, budget: float | None = None, title: str | None = None) -> go.Figure:
    """The efficient frontier: N*(C) and D*(C) on log-log axes with their 95% bands (``allocate.frontier``)."""
    fig = go.Figure()
    c = front["compute"].to_numpy(float)
    for col, name, colour, unit in (("N_opt", "N*", "#1f77b4", "parameters"), ("D_opt", "D*", "#d62728", "tokens")):
        lo, hi = front.get(f"{col}_lo"), front.get(f"{col}_hi")
        if lo is not None and np.isfinite(lo.to_numpy(float)).any():
            fig.add_trace(_band_trace(c, lo.to_numpy(float), hi.to_numpy(float), name=f"{name}: 95% band",
                                      colour=_rgba(colour, 0.15), legendgroup=col, showlegend=False))
        fig.add_trace(go.Scatter(x=c, y=front[col], mode="lines", name=f"{name} ({unit}; shaded: 95% band)",
                                 legendgroup=col,
                                 line=dict(color=colour, width=2.5),
                                 hovertemplate=f"C %{{x:.3s}} FLOPs<br>{name} %{{y:.3s}} {unit}<extra></extra>"))
    if budget:
        vmark(fig, budget, "budget")
    return _layout(fig, title=title, x=axis_title("C"), y="N* (parameters) and D* (tokens)", log_y=True)


def isoflop_figure(curves: list, *, optima: list | None = None, plan: dict | None = None, unit: str | None = None,
                   metric: str | None = None, title: str | None = None) -> go.Figure:
    """Predicted loss along iso-FLOP lines, with each budget's optimum marked.

    curves : list of (compute, DataFrame from ``allocate.isoflop``: N, D, loss[, loss_lo, loss_hi]).
    optima : list of ``Allocation`` (same order), drawn as stars.
    plan : optional {"N", "loss", "label"}: a planned model drawn as a diamond.
    """
    fig = go.Figure()
    for i, (compute, df) in enumerate(curves):
        colour = GROUP_COLOURS[i % len(GROUP_COLOURS)]
        name = f"C = {sci(compute)} FLOPs"
        if "loss_lo" in df and np.isfinite(df["loss_lo"]).any():
            fig.add_trace(_band_trace(df["N"].to_numpy(float), df["loss_lo"].to_numpy(float),
                                      df["loss_hi"].to_numpy(float), name=f"{name}: 95% band",
                                      colour=_rgba(colour, 0.12), legendgroup=name, showlegend=False))
        fig.add_trace(go.Scatter(x=df["N"], y=df["loss"], mode="lines", name=name, legendgroup=name,
                                 line=dict(color=colour, width=2), customdata=df["D"],
                                 hovertemplate="N %{x:.3s} params<br>D %{customdata:.3s} tokens<br>loss %{y:.4g}"
                                               "<extra></extra>"))
        if optima is not None and i < len(optima):
            a = optima[i]
            fig.add_trace(go.Scatter(x=[a.N_opt], y=[a.loss], mode="markers", legendgroup=name, showlegend=False,
                                     marker=dict(symbol="star", size=14, color=colour, line=dict(color="#222", width=1)),
                                     hovertemplate=f"optimum at C = {sci(compute)} FLOPs<br>N* %{{x:.3s}} params"
                                                   "<br>loss %{y:.4g}<extra></extra>"))
    if plan is not None:
        fig.add_trace(go.Scatter(x=[plan["N"]], y=[plan["loss"]], mode="markers", name=plan.get("label", "planned"),
                                 marker=dict(symbol="diamond", size=13, color="#000"),
                                 hovertemplate="planned N %{x:.3s}<br>loss %{y:.4g}<extra></extra>"))
    return _layout(fig, title=title, x=axis_title("N"), y=metric_title(metric, unit), log_y=False)


# ----------------------------------------------------------------------------------------------
# Comparative analyses
# ----------------------------------------------------------------------------------------------
def crossover_figure(result, *, metric: str | None = None, unit: str | None = None,
                     title: str | None = None) -> go.Figure:
    """Each group's fitted curve with its band over the shown range, the data, and the crossing with its CI.

    Drawn in the space the groups were compared in: the metric itself, or ``1 - value`` (an error) for a
    higher-is-better metric (the axis title says which).
    """
    ax = result.axis
    lo, hi = result.shown_range
    grid = _grid(lo, hi, 150)
    bounded = bool(result.higher_is_better) or unit in BOUNDED_UNITS
    clipped = []
    fig = go.Figure()
    for i, g in enumerate(result.groups):
        fit = result.fits[g]
        colour = GROUP_COLOURS[i % len(GROUP_COLOURS)]
        xs = grid
        y = np.asarray(fit.law_obj.predict(fit.params, pd.DataFrame({ax: xs})), float)
        if bounded:
            # an error or accuracy lives in [0, 1]: draw the curve only where its prediction does
            ok = np.isfinite(y) & (y >= 0.0) & (y <= 1.0)
            if not ok.all():
                clipped.append(str(g))
            xs, y = xs[ok], y[ok]
            if len(xs) == 0:
                continue
        if fit.n_boot:
            s = np.exp(fit.law_obj.logpred(fit.law_obj.to_internal(fit.boot), {ax: xs}))
            blo, bhi = np.nanquantile(s, [0.025, 0.975], axis=0)
            if bounded:
                blo, bhi = np.clip(blo, 0.0, 1.0), np.clip(bhi, 0.0, 1.0)
            fig.add_trace(_band_trace(xs, blo, bhi, name=f"{g}: 95% band", colour=_rgba(colour, 0.15), legendgroup=g))
        fig.add_trace(go.Scatter(x=xs, y=y, mode="lines", name=str(g), legendgroup=g, line=dict(color=colour, width=2.5),
                                 hovertemplate=f"{ax} %{{x:.3s}}<br>fitted %{{y:.4g}}<extra></extra>"))
        d_lo, d_hi = result.data_ranges[g]
        fig.add_vrect(x0=d_lo, x1=d_hi, fillcolor=_rgba(colour, 0.04), line_width=0, layer="below")
    m = result.main
    if m.crossover_x is not None:
        has_ci = m.ci is not None and all(v is not None and np.isfinite(v) for v in m.ci)
        vmark(fig, m.crossover_x, "crossing (shaded: 95% CI)" if has_ci else "crossing", colour="#222", dash="dash",
              left=False)
        if has_ci:
            vmark(fig, m.ci[0], None, x1=m.ci[1])
    if result.target:
        vmark(fig, result.target, "target")
    ylab = metric_title(("1 - " + metric) if (result.higher_is_better and metric) else metric, unit)
    fig = _layout(fig, title=title, x=axis_title(ax), y=ylab, log_y=_log_y(None if result.higher_is_better else unit))
    if clipped:
        fig.add_annotation(text=f"{CLIPPED_NOTE} ({len(clipped)} of {len(result.groups)} curves)", xref="paper",
                           yref="paper", x=0.01, y=0.02, xanchor="left", yanchor="bottom", showarrow=False,
                           bgcolor="rgba(255, 255, 255, 0.8)", font=dict(size=11, color="#555"))
    return fig


def crossover_data_figure(frames: dict, *, axis: str, metric: str | None = None, unit: str | None = None,
                          title: str | None = None) -> go.Figure:
    """The raw final points of each group against the shared axis (companion of :func:`crossover_figure`)."""
    fig = go.Figure()
    for i, (g, f) in enumerate(frames.items()):
        df = _completed(f)
        df = df[np.isfinite(df[axis]) & (df[axis] > 0) & np.isfinite(df["y"])]
        colour = GROUP_COLOURS[i % len(GROUP_COLOURS)]
        fig.add_trace(go.Scatter(x=df[axis], y=df["y"], mode="markers", name=str(g), marker=dict(color=colour, size=7),
                                 customdata=df["run"].astype(str),
                                 hovertemplate=f"run %{{customdata}}<br>{axis} %{{x:.3s}}<br>value %{{y:.4g}}<extra></extra>"))
    return _layout(fig, title=title, x=axis_title(axis), y=metric_title(metric, unit), log_y=_log_y(unit))


def trend_figure(x, y, result, *, metric: str | None = None, unit: str | None = None, labels=None,
                 title: str | None = None) -> go.Figure:
    """A metric against model size with the trend verdict: per-size means, the two lines of the U test and
    the turning point with its interval."""
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    fig = go.Figure()
    custom = np.asarray(labels, dtype=object) if labels is not None else np.full(len(x), "")
    fig.add_trace(go.Scatter(x=x, y=y, mode="markers", name="runs", marker=dict(color="#555", size=7, opacity=0.75),
                             customdata=custom, hovertemplate="%{customdata}<br>N %{x:.3s}<br>value %{y:.4g}<extra></extra>"))
    sizes = np.unique(x)
    means = np.array([y[x == s].mean() for s in sizes])
    fig.add_trace(go.Scatter(x=sizes, y=means, mode="lines+markers", name="mean per size",
                             line=dict(color=FIT_COLOUR, width=2)))
    tl = result.two_lines
    if tl is not None:
        u = np.log10(sizes)
        uc = math.log10(tl.break_x)
        for side, slope, colour in (("before", tl.slope_before, "#2ca02c"), ("after", tl.slope_after, "#d62728")):
            sel = u <= uc if side == "before" else u >= uc
            if sel.sum() < 1:
                continue
            xs = np.array([u[sel].min(), u[sel].max()])
            anchor = np.interp(uc, u, means)
            ys = anchor + slope * (xs - uc)
            fig.add_trace(go.Scatter(x=10 ** xs, y=ys, mode="lines", name=f"line {side} the break",
                                     line=dict(color=colour, dash="dash", width=2)))
    if result.turning_point is not None:
        vmark(fig, result.turning_point, "turning point", colour="#222")
        if result.turning_point_ci is not None and all(v is not None and np.isfinite(v) for v in result.turning_point_ci):
            vmark(fig, result.turning_point_ci[0], None, x1=result.turning_point_ci[1])
    return _layout(fig, title=title, x=axis_title("N"), y=metric_title(metric, unit), log_y=False)


def downstream_figure(result, loss, metric_values, *, runs=None, metric: str | None = None,
                      unit: str | None = None, loss_name: str | None = None, title: str | None = None) -> go.Figure:
    """A downstream metric against the loss: the observations (held-out ones red), every fitted map form
    (the chosen one solid, with its 95% bootstrap band) over the loss range."""
    from analysis.downstream import PARAM_NAMES, evaluate

    L = np.asarray(loss, float)
    y = np.asarray(metric_values, float)
    labels = np.asarray(runs if runs is not None else np.full(len(L), ""), dtype=object)
    held = {(h["run"], h["loss"]) for h in result.heldout}
    is_held = np.array([(str(r), float(v)) in held for r, v in zip(labels, L)], bool)
    fig = go.Figure()
    for mask, name, colour in ((~is_held, "observations", "rgba(60, 60, 60, 0.7)"), (is_held, "held out", HELDOUT_COLOUR)):
        if mask.any():
            fig.add_trace(go.Scatter(x=L[mask], y=y[mask], mode="markers", name=name, marker=dict(color=colour, size=7),
                                     customdata=labels[mask],
                                     hovertemplate="%{customdata}<br>loss %{x:.4g}<br>metric %{y:.4g}<extra></extra>"))
    if len(L):
        grid = np.linspace(L.min() - 0.05 * np.ptp(L), L.max() + 0.05 * np.ptp(L), 150)
        if result.model is not None and result.boot is not None and len(result.boot):
            names = PARAM_NAMES[result.model]
            s = np.array([evaluate(result.model, dict(zip(names, row)), grid, result.higher_is_better)
                          for row in result.boot])
            lo, hi = np.nanquantile(s, [0.025, 0.975], axis=0)
            fig.add_trace(_band_trace(grid, lo, hi, name=f"{result.model}: 95% band"))
        for i, (form, mf) in enumerate(result.forms.items()):
            chosen = form == result.model
            params = result.params if chosen else mf.params
            if not all(k in params for k in PARAM_NAMES[form]):
                continue
            fig.add_trace(go.Scatter(x=grid, y=evaluate(form, params, grid, result.higher_is_better), mode="lines",
                                     name=f"{form}{' (chosen)' if chosen else ''}",
                                     line=dict(color=FIT_COLOUR if chosen else GROUP_COLOURS[(i + 2) % len(GROUP_COLOURS)],
                                               width=3 if chosen else 1.5, dash="solid" if chosen else "dot")))
    if result.chance is not None:
        fig.add_hline(y=result.chance, line=dict(color="#999", dash="dash"), annotation_text="chance")
    fig = _layout(fig, title=title, x=f"{loss_name or 'loss'} (nats; lower loss to the right)",
                  y=metric_title(metric, unit), log_x=False)
    fig.update_xaxes(autorange="reversed")
    return fig
