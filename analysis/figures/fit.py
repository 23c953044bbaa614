"""Fit page figures: the fitted law over its data, residuals, comparisons, back-tests, parameters.

Every figure reads the rows a fit used from the fit itself (``FitResult.used`` / ``FitResult.data``,
see :func:`fit_rows`) and how to draw the law from the law (``Law.x_axis``, ``Law.allocatable``,
``Law.per_run``), so a newly registered law is drawn with no edit here.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from analysis.allocate import frontier
from analysis.figures.style import (EXCLUDED_COLOUR, FIT_COLOUR, GROUP_COLOURS, HELDOUT_COLOUR, MAX_LEGEND,
                                    SIZE_SCALE, axis_title, band_trace, hover_data, hover_template, layout,
                                    log_grid, metric_title, rgba, scatter, si, size_colours, step_labels, themed,
                                    thin, thinned_note, use_log_y, vmark, with_compute)
from analysis.prepare import FLOPS_PER_PARAM_TOKEN, FitError, prepare


def fit_rows(fit, frame: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame | None]:
    """(mask of the ``frame`` rows the fit used, those rows as the fit prepared them).

    ``frame`` is the frame given to ``fit_law``: the fit's own record (``fit.used``, ``fit.data``) is
    read. A fit without one (loaded from JSON) re-applies its settings; a frame it cannot prepare gives
    an all-False mask and None.
    """
    if fit.used is not None and len(fit.used) == len(frame):
        return np.asarray(fit.used, bool), fit.data
    s = fit.settings or {}
    try:
        prep = prepare(frame, fit.law, min_tokens=s.get("min_tokens"), min_fraction=s.get("min_fraction"),
                       exclude_runs=s.get("exclude_runs", ()), y_transform=s.get("y_transform", "none"))
    except FitError:
        return np.zeros(len(frame), bool), None
    return prep.used_mask(), prep.frame


def data_traces(fig, df: pd.DataFrame, x: str, used: pd.Series, unit: str | None, row=None, col=None):
    """Observed points: used ones coloured by model size, left-out ones grey (at most ``MAX_POINTS`` drawn,
    evenly thinned, with WebGL past ``WEBGL_POINTS``)."""
    colours = size_colours(df["N"])
    keep = thin(len(df))
    thinned_note(fig, len(keep), len(df))
    df, used = df.iloc[keep], pd.Series(used.to_numpy(bool)[keep], index=df.index[keep])
    kw = {} if row is None else dict(row=row, col=col)
    custom = hover_data(df["run"].astype(str), df["N"], step_labels(df))
    hover = hover_template(axis_title(x), unit)
    u = used.to_numpy(bool)
    if (~u).any():
        fig.add_trace(scatter(int((~u).sum()), x=df.loc[~u, x], y=df.loc[~u, "y"], mode="markers",
                              name="left out of the fit", marker=dict(color=EXCLUDED_COLOUR, symbol="x", size=6),
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
        fig.add_trace(scatter(len(sub), x=sub[x], y=sub["y"], mode="markers", name="data used in the fit",
                              marker=marker, customdata=custom[u], hovertemplate=hover), **kw)
    return colours


def fit_figure(fit, frame: pd.DataFrame, *, metric: str | None = None, unit: str | None = None,
               target: float | None = None, title: str | None = None, n_sizes: int = 6) -> go.Figure:
    """The fitted law over the data, with its bootstrap band, extended to ``target``.

    Laws in N and D (``law.allocatable``) are drawn against compute C = 6ND (``target`` in FLOPs): the
    predicted loss of up to ``n_sizes`` model sizes from the data along their token range, and the
    compute-optimal frontier L*(C) with its band. Laws whose curve depends on each run's history
    (``law.per_run``, e.g. LR annealing) are drawn per run against their x axis. Other laws are drawn
    against their variable (``target`` in its units). Points left out of the fit (early-token cut,
    excluded runs) are grey crosses.
    """
    df = with_compute(frame)
    used, prepared = fit_rows(fit, df)
    law = fit.law
    x = law.x_axis
    fig = go.Figure()
    df_plot = df[np.isfinite(df[x]) & (df[x] > 0) & np.isfinite(df["y"])] if x in df else df.iloc[0:0]
    data_traces(fig, df_plot, x, pd.Series(used[df_plot.index.to_numpy()]), unit)
    if law.allocatable:
        _nd_curves(fig, fit, df[used], target, n_sizes)
    elif law.per_run:
        _run_curves(fig, fit, prepared if prepared is not None else df[used], x)
    else:
        u = df.loc[used, x]
        lo, hi = float(u.min()), float(u.max())
        if target and target > hi:
            hi = float(target)
        xs = log_grid(lo / 1.2, hi * 1.05)
        # a law with other variables (ParScale's streams P): one curve per value (up to 6), else at the largest
        other = [v for v in law.variables if v != x and v in df]
        levels = [{}]
        if other:
            vals = np.unique(pd.to_numeric(df.loc[used, other[0]], errors="coerce").dropna())
            levels = [{other[0]: float(v)} for v in (vals if len(vals) <= 6 else vals[-1:])]
            for v in other[1:]:
                for lev in levels:
                    lev[v] = float(pd.to_numeric(df.loc[used, v], errors="coerce").max())
        for k, lev in enumerate(levels):
            X = pd.DataFrame({x: xs, **{v: np.full(len(xs), val) for v, val in lev.items()}})
            label = ", ".join(f"{v} = {val:g}" for v, val in lev.items())
            if fit.n_boot:
                blo, bhi = fit.band(X)
                fig.add_trace(band_trace(xs, blo, bhi))
            fig.add_trace(go.Scatter(x=xs, y=fit.predict(X), mode="lines",
                                     name=f"fit: {law.name}" + (f" ({label})" if label else ""),
                                     line=dict(color=FIT_COLOUR, width=2.5 if k == len(levels) - 1 else 1.5),
                                     hovertemplate=f"{x} %{{x:.3s}}<br>predicted %{{y:.4g}}<extra>fit</extra>"))
    if target:
        vmark(fig, target, "target")
    yvals = df_plot["y"] if len(df_plot) else None
    return layout(fig, title=title, x=axis_title(x), y=metric_title(metric, unit), log_y=use_log_y(unit, yvals))


def _nd_curves(fig, fit, used_df: pd.DataFrame, target, n_sizes: int):
    sizes = np.unique(used_df["N"].dropna())
    if len(sizes) > n_sizes:
        idx = np.unique(np.round(np.linspace(0, len(sizes) - 1, n_sizes)).astype(int))
        sizes = sizes[idx]
    colours = size_colours(used_df["N"])
    d_lo, d_hi = float(used_df["D"].min()), float(used_df["D"].max())
    for i, n in enumerate(sizes):
        D = log_grid(d_lo, d_hi, 60)
        C = FLOPS_PER_PARAM_TOKEN * n * D
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
        front = frontier(fit, log_grid(c_lo, c_hi, 40))
    except ValueError:
        return
    if "loss_lo" in front and front["loss_lo"].notna().any():
        fig.add_trace(band_trace(front["compute"].to_numpy(), front["loss_lo"].to_numpy(),
                                  front["loss_hi"].to_numpy(), name="95% band of L*(C)"))
    fig.add_trace(go.Scatter(x=front["compute"], y=front["loss"], mode="lines", name="compute-optimal L*(C)",
                             line=dict(color=FIT_COLOUR, width=2.8),
                             customdata=hover_data(front["N_opt"], front["D_opt"]),
                             hovertemplate="C %{x:.3s} FLOPs<br>L* %{y:.4g}<br>N* %{customdata[0]:.3s} params"
                                           "<br>D* %{customdata[1]:.3s} tokens<extra>frontier</extra>"))


def _run_curves(fig, fit, rows: pd.DataFrame, x: str):
    """The fitted curve of each run (up to ``MAX_LEGEND``) at its own rows, against ``x``."""
    runs = list(dict.fromkeys(rows["run"]))[:MAX_LEGEND]
    for i, r in enumerate(runs):
        g = rows[rows["run"] == r].sort_values(x)
        fig.add_trace(go.Scatter(x=g[x], y=fit.predict(g), mode="lines", name=f"fit: {r}",
                                 line=dict(color=GROUP_COLOURS[i % len(GROUP_COLOURS)], width=2)))


def residual_figure(fit, frame: pd.DataFrame, *, title: str | None = None) -> go.Figure:
    """Log residuals log(predicted) - log(observed) of every point the fit used, against its x axis."""
    df = with_compute(frame)
    used, prepared = fit_rows(fit, df)
    sub = df[used].reset_index(drop=True)
    x = fit.law.x_axis
    pred = fit.predict(prepared if prepared is not None and len(prepared) == len(sub) else sub)
    with np.errstate(all="ignore"):
        r = np.log(pred) - np.log(sub["y"].to_numpy(float))
    fig = go.Figure()
    keep = thin(len(sub))
    thinned_note(fig, len(keep), len(sub))
    sub, r = sub.iloc[keep].reset_index(drop=True), r[keep]
    cvals = np.log10(sub["N"].where(sub["N"] > 0)) if "N" in sub else pd.Series(np.nan, index=sub.index)
    marker = dict(size=6, opacity=0.85)
    if np.isfinite(cvals).any():
        marker.update(color=cvals, colorscale=SIZE_SCALE, showscale=True, colorbar=dict(title="log10 N<br>(params)", thickness=12))
    custom = hover_data(sub["run"].astype(str), sub["N"], step_labels(sub))
    fig.add_trace(scatter(len(sub), x=sub[x], y=r, mode="markers", marker=marker, name="residual", customdata=custom,
                             hovertemplate="run %{customdata[0]}<br>N %{customdata[1]:.3s}<br>step %{customdata[2]}"
                                           f"<br>{x} %{{x:.3s}}<br>log residual %{{y:.4f}}<extra></extra>"))
    fig.add_hline(y=0.0, line=dict(color="#333", width=1))
    return layout(fig, title=title, x=axis_title(x), y="log(predicted) - log(observed)", legend=False,
                   height=360)


def comparison_figure(fits: dict, frame: pd.DataFrame, *, metric: str | None = None, unit: str | None = None,
                      target: float | None = None, title: str | None = None) -> go.Figure:
    """Two or more fits over the same data: each law's curve (or compute-optimal frontier) with its band."""
    df = with_compute(frame)
    labels = list(fits)
    xs_axes = {f.law.x_axis for f in fits.values()}
    x = "C" if "C" in xs_axes else next(iter(xs_axes))
    fig = go.Figure()
    first = fits[labels[0]]
    used = fit_rows(first, df)[0]
    ok = (np.isfinite(df[x]) & (df[x] > 0) & np.isfinite(df["y"])).to_numpy()
    data_traces(fig, df[ok].reset_index(drop=True), x, pd.Series(used[ok]), unit)
    src = df[used]
    lo, hi = float(src[x].min()), float(src[x].max())
    if target and target > hi:
        hi = float(target)
    xs = log_grid(lo / 1.2, hi * 1.05, 60)
    for i, label in enumerate(labels):
        fit = fits[label]
        colour = GROUP_COLOURS[i % len(GROUP_COLOURS)]
        fill = rgba(colour, 0.15)
        if fit.law.allocatable:
            try:
                front = frontier(fit, xs)
            except ValueError:
                continue
            y, ylo, yhi = front["loss"], front.get("loss_lo"), front.get("loss_hi")
            name = f"{label}: L*(C)"
        elif fit.law.x_axis == x and not fit.law.per_run:
            X = pd.DataFrame({x: xs})
            y = fit.predict(X)
            ylo, yhi = fit.band(X) if fit.n_boot else (None, None)
            name = label
        else:
            continue
        if ylo is not None and np.isfinite(np.asarray(ylo, float)).any():
            fig.add_trace(band_trace(xs, np.asarray(ylo, float), np.asarray(yhi, float), name=f"{label}: 95% band",
                                      colour=fill, legendgroup=label))
        fig.add_trace(go.Scatter(x=xs, y=y, mode="lines", name=name, legendgroup=label,
                                 line=dict(color=colour, width=2.5, dash="solid" if i == 0 else "dash")))
    if target:
        vmark(fig, target, "target")
    return layout(fig, title=title, x=axis_title(x), y=metric_title(metric, unit), log_y=use_log_y(unit, df["y"]))


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
        used = fit_rows(bt.fit, train)[0]
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
        custom = hover_data(sub["run"].astype(str), sub["N"], sub["D"])
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
    log = use_log_y(unit, df["y"])
    return layout(fig, title=title, x=f"actual {label}", y=f"predicted {label}", log_x=log, log_y=log)


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
        values = [abs(float(v)) for _, *vals, _ in rows for v in vals if v is not None and np.isfinite(v)]
        if values and fit.law.params[fit.param_names.index(n)].log and min(values) > 0 and max(values) > 3 * min(values):
            fig.update_yaxes(type="log", row=1, col=j)     # a coefficient spanning orders of magnitude
    themed(fig).update_layout(title=title, height=340, margin=dict(l=40, r=20, t=70, b=40),
                      legend=dict(orientation="h", yanchor="top", y=-0.04, xanchor="center", x=0.5))
    fig.update_xaxes(showticklabels=False)
    fig.update_yaxes(tickfont=dict(size=10))
    return fig
