"""Figures of the Hyperparameters page: pure functions from a sweep frame and an
:class:`analysis.hparams.HparamsResult` to plotly figures.

* :func:`heatmap_figure` -- one cell's loss relative to its minimum [%] over (learning rate, batch
  [tokens]), contours at 0.25 / 0.5 / 1 / 2%, diverged runs marked, the optimum and published rules drawn.
* :func:`slices_figure` -- the same cell through its best run: loss against lr at the best batch, and
  against batch at the best lr.
* :func:`law_figure` -- each cell's optimum with its 95% interval against D [tokens], one line and
  bootstrap band per model size N for the fitted law, StepLaw's published law dashed.
* :func:`law_residual_figure` -- ln(observed / fitted) per cell.
* :func:`rules_figure` -- each published rule's mean and max loss gap [%].
* :func:`sensitivity_figure` -- median loss penalty [%] of moving lr or batch by x1/4 ... x4.

Axes are logarithmic for lr, batch, N, D; every title names its unit. Text from data reaches plotly only
as data (trace names, ``customdata``).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from analysis.figures.style import (BAND_FILL, FIT_COLOUR, GROUP_COLOURS, HELDOUT_COLOUR, band_trace, layout,
                                    size_colours, si, themed)
from analysis.hparams.rules import STEPLAW_PUBLISHED
from analysis.hparams.sensitivity import factor_label

__all__ = ["CONTOUR_LEVELS", "heatmap_figure", "slices_figure", "law_figure", "law_residual_figure",
           "rules_figure", "sensitivity_figure", "cell_label"]

CONTOUR_LEVELS = (0.25, 0.5, 1.0, 2.0)     # % above the cell's minimum
GAP_CAP = 5.0                              # colour scale saturates at 5% above the minimum
LR_TITLE, BATCH_TITLE = "Peak learning rate", "Batch size B (tokens)"


def cell_label(N: float, D: float) -> str:
    """``"N 215M, D 4B"``."""
    return f"N {si(N)}, D {si(D)}"


def _cell(frame: pd.DataFrame, cell: int) -> pd.DataFrame:
    g = frame[frame["cell"] == cell]
    if g.empty:
        raise ValueError(f"no cell {cell} in the sweep (cells 0-{int(frame['cell'].max())})")
    return g


def _grid(values: np.ndarray) -> np.ndarray:
    """Snap nearly equal log values (0.000345 vs 0.0003453) to one grid coordinate (log10)."""
    lv = np.log10(values)
    order = np.sort(np.unique(np.round(lv, 2)))
    return order[np.abs(lv[:, None] - order[None, :]).argmin(axis=1)]


def heatmap_figure(frame: pd.DataFrame, cell: int, *, optimum=None, rules=(), title: str | None = None) -> go.Figure:
    """Loss above the cell's minimum [%] over the (lr, batch) grid of one cell.

    ``optimum``: a :class:`~analysis.hparams.CellOptimum` (drawn as a star with its interval);
    ``rules``: ``(name, lr, batch tokens, gap fraction)`` tuples drawn as labelled markers.
    """
    g = _cell(frame, cell)
    ok = ~g["diverged"].to_numpy(bool)
    best = g.loc[ok, "loss"].min()
    gap = 100.0 * (g["loss"].to_numpy(float) / best - 1.0)
    gx, gy = _grid(g["lr"].to_numpy(float)), _grid(g["batch"].to_numpy(float))
    xs, ys = np.unique(gx), np.unique(gy)
    z = np.full((len(ys), len(xs)), np.nan)
    for x, y, v, conv in zip(gx, gy, gap, ok):
        i, j = np.searchsorted(ys, y), np.searchsorted(xs, x)
        if conv and (np.isnan(z[i, j]) or v < z[i, j]):
            z[i, j] = v
    fig = go.Figure()
    fig.add_trace(go.Heatmap(x=xs, y=ys, z=np.minimum(z, GAP_CAP), zmin=0, zmax=GAP_CAP, colorscale="Viridis_r",
                             colorbar=dict(title="% above min"), customdata=z, name="loss gap",
                             hovertemplate="lr %{x:.2f} (log10)<br>batch %{y:.2f} (log10)<br>"
                                           "%{customdata:.3f}% above the minimum<extra></extra>"))
    for level, dash in zip(CONTOUR_LEVELS, ("solid", "dash", "dot", "dashdot")):
        fig.add_trace(go.Contour(x=xs, y=ys, z=z, autocontour=False, showscale=False, hoverinfo="skip",
                                 colorscale=[[0, "white"], [1, "white"]],
                                 contours=dict(start=level, end=level, size=1.0, coloring="lines", showlabels=True,
                                               labelfont=dict(color="white", size=10)),
                                 line=dict(width=1.3, color="white", dash=dash), name=f"{level:g}% contour"))
    if (~ok).any():
        fig.add_trace(go.Scatter(x=gx[~ok], y=gy[~ok], mode="markers", name="diverged",
                                 marker=dict(symbol="x", size=9, color=HELDOUT_COLOUR),
                                 hovertemplate="diverged<extra></extra>"))
    if optimum is not None:
        ex = [math.log10(optimum.lr_ci.lo), math.log10(optimum.lr_ci.hi)] if optimum.lr_ci.finite else None
        ey = [math.log10(optimum.batch_ci.lo), math.log10(optimum.batch_ci.hi)] if optimum.batch_ci.finite else None
        x0, y0 = math.log10(optimum.lr_opt), math.log10(optimum.batch_opt)
        fig.add_trace(go.Scatter(
            x=[x0], y=[y0], mode="markers", name=f"optimum ({optimum.method})",
            marker=dict(symbol="star", size=16, color="white", line=dict(color="black", width=1)),
            error_x=dict(type="data", symmetric=False, array=[ex[1] - x0], arrayminus=[x0 - ex[0]]) if ex else None,
            error_y=dict(type="data", symmetric=False, array=[ey[1] - y0], arrayminus=[y0 - ey[0]]) if ey else None,
            customdata=[[optimum.lr_opt, optimum.batch_opt]],
            hovertemplate="optimum lr %{customdata[0]:.3g}<br>batch %{customdata[1]:.3s} tokens<extra></extra>"))
    for k, (name, lr, b, pen) in enumerate(rules):
        if not (lr and b and math.isfinite(lr) and math.isfinite(b)):
            continue
        fig.add_trace(go.Scatter(
            x=[math.log10(lr)], y=[math.log10(b)], mode="markers+text", name=f"{name}: +{100 * pen:.2f}%",
            text=[name], textposition="top center", textfont=dict(color="white", size=10),
            marker=dict(symbol="diamond", size=10, color=GROUP_COLOURS[(k + 1) % len(GROUP_COLOURS)],
                        line=dict(color="white", width=1)),
            customdata=[[lr, b, 100 * pen]],
            hovertemplate="lr %{customdata[0]:.3g}<br>batch %{customdata[1]:.3s} tokens<br>"
                          "nearest run +%{customdata[2]:.3f}%<extra></extra>"))
    n, d = float(g["N"].iloc[0]), float(g["D"].iloc[0])
    layout(fig, title=title or f"Loss above the cell minimum, {cell_label(n, d)}", x=f"{LR_TITLE} (log10)",
           y=f"{BATCH_TITLE} (log10)", log_x=False, log_y=False, height=520)
    _log_ticks(fig, xs, "x")
    _log_ticks(fig, ys, "y")
    return fig


def _log_ticks(fig: go.Figure, grid: np.ndarray, which: str) -> None:
    vals = np.asarray(grid, float)
    step = max(1, len(vals) // 8)
    ticks = vals[::step]
    text = [f"{10 ** v:.3g}" if which == "x" else si(10 ** v) for v in ticks]
    (fig.update_xaxes if which == "x" else fig.update_yaxes)(tickvals=list(ticks), ticktext=text)


def slices_figure(frame: pd.DataFrame, cell: int, *, optimum=None, unit: str | None = "nats",
                  title: str | None = None) -> go.Figure:
    """Loss against lr at the best run's batch (left) and against batch at its lr (right)."""
    g = _cell(frame, cell)
    conv = g[~g["diverged"].to_numpy(bool)]
    j = conv["loss"].idxmin()
    glr, gb = _grid(g["lr"].to_numpy(float)), _grid(g["batch"].to_numpy(float))
    pos = int(np.flatnonzero(g.index == j)[0])
    at_b, at_lr = np.isclose(gb, gb[pos]), np.isclose(glr, glr[pos])
    fig = make_subplots(rows=1, cols=2, shared_yaxes=True, horizontal_spacing=0.06,
                        subplot_titles=(f"batch {si(conv.loc[j, 'batch'])} tokens", f"lr {conv.loc[j, 'lr']:.3g}"))
    for col, mask, x, name in ((1, at_b, "lr", "lr slice"), (2, at_lr, "batch", "batch slice")):
        s = g[mask & ~g["diverged"].to_numpy(bool)].sort_values(x)
        fig.add_trace(go.Scatter(x=s[x], y=s["loss"], mode="lines+markers", name=name,
                                 line=dict(color=FIT_COLOUR), showlegend=False,
                                 hovertemplate=f"{x} %{{x:.3g}}<br>loss %{{y:.4f}}<extra></extra>"), row=1, col=col)
        if optimum is not None:
            v = optimum.lr_opt if x == "lr" else optimum.batch_opt
            fig.add_vline(x=float(v), line=dict(color=HELDOUT_COLOUR, dash="dot"), row=1, col=col)
    n, d = float(g["N"].iloc[0]), float(g["D"].iloc[0])
    themed(fig).update_layout(height=420, title=title or f"Slices through the best run, "
                      f"{cell_label(n, d)}", margin=dict(l=60, r=20, t=70, b=55))
    fig.update_xaxes(type="log", exponentformat="power")
    fig.update_xaxes(title_text=LR_TITLE, row=1, col=1)
    fig.update_xaxes(title_text=BATCH_TITLE, row=1, col=2)
    fig.update_yaxes(title_text=f"loss ({unit})" if unit else "loss", row=1, col=1)
    return fig


def law_figure(result, target: str = "lr", *, published: bool = True, title: str | None = None) -> go.Figure:
    """Cell optima against D with the fitted law per N (line + 95% band); StepLaw's published law dashed."""
    law = result.lr_law if target == "lr" else result.batch_law
    cells = result.cells
    n_of = (lambda c: c.N_active) if result.n_basis == "active" else (lambda c: c.N)
    sizes = sorted({n_of(c) for c in cells})
    colours = size_colours(sizes)
    fig = go.Figure()
    dmin, dmax = min(c.D for c in cells), max(c.D for c in cells)
    dgrid = np.geomspace(dmin / 1.3, dmax * 1.3, 60)
    per_n = law is not None and any(v == "N" for _, v in law.fitted)
    for k, n in enumerate(sizes):
        mine = [c for c in cells if n_of(c) == n]
        colour = colours.get(n, FIT_COLOUR)
        y = [c.lr_opt if target == "lr" else c.batch_opt for c in mine]
        ci = [c.lr_ci if target == "lr" else c.batch_ci for c in mine]
        lo = [max(0.0, v - i.lo) if i.finite else 0.0 for v, i in zip(y, ci)]
        hi = [max(0.0, i.hi - v) if i.finite else 0.0 for v, i in zip(y, ci)]
        fig.add_trace(go.Scatter(x=[c.D for c in mine], y=y, mode="markers", name=f"N {si(n)}",
                                 legendgroup=str(k), marker=dict(color=colour, size=9),
                                 error_y=dict(type="data", symmetric=False, array=hi, arrayminus=lo, color=colour),
                                 hovertemplate="D %{x:.3s} tokens<br>optimum %{y:.3g}<extra></extra>"))
        if law is None or (k and not per_n):      # a law without N is drawn once
            continue
        colour = colour if per_n else FIT_COLOUR
        pred = np.array([law.predict(N=n, D=d) for d in dgrid])
        if law.boot is not None and len(law.boot):
            band = np.array([[law.interval(N=n, D=d).lo, law.interval(N=n, D=d).hi] for d in dgrid[::6]])
            fig.add_trace(band_trace(dgrid[::6], band[:, 0], band[:, 1], name="95% bootstrap band",
                                     colour=BAND_FILL, legendgroup=str(k), showlegend=k == 0))
        fig.add_trace(go.Scatter(x=dgrid, y=pred, mode="lines", name=f"fit, N {si(n)}" if per_n else "fit",
                                 legendgroup=str(k), showlegend=not per_n, line=dict(color=colour),
                                 hoverinfo="skip"))
        if published:
            p = STEPLAW_PUBLISHED
            pub = (p["c"] * n ** p["a"] * dgrid ** p["b"]) if target == "lr" else p["d"] * dgrid ** p["g"]
            fig.add_trace(go.Scatter(x=dgrid, y=pub, mode="lines", name="StepLaw (published)",
                                     legendgroup="published", showlegend=k == 0,
                                     line=dict(color=colour if target == "lr" else "#555", dash="dash", width=1),
                                     hoverinfo="skip"))
    ytitle = "Optimal peak learning rate" if target == "lr" else "Optimal batch size B* (tokens)"
    head = law.formula if law is not None else "no law (too few cells)"
    layout(fig, title=title or head, x="Tokens D", y=ytitle, log_x=True, log_y=True)
    return fig


def law_residual_figure(law, cells, *, title: str | None = None) -> go.Figure:
    """``ln(observed / fitted)`` of each cell's optimum against D, coloured by N."""
    colours = size_colours([c.N for c in cells])
    fig = go.Figure()
    fig.add_hline(y=0, line=dict(color="#555", dash="dot"))
    fig.add_trace(go.Scatter(x=[c.D for c in cells], y=list(law.residuals), mode="markers", name="cells",
                             marker=dict(size=9, color=[colours.get(c.N, FIT_COLOUR) for c in cells]),
                             customdata=[[c.N] for c in cells],
                             hovertemplate="N %{customdata[0]:.3s}<br>D %{x:.3s} tokens<br>"
                                           "ln(obs/fit) %{y:.3f}<extra></extra>"))
    layout(fig, title=title or f"Residuals of {law.formula}", x="Tokens D", y="ln(observed / fitted)",
           log_x=True, log_y=False, legend=False, height=340)
    return fig


def rules_figure(scores, *, title: str | None = None) -> go.Figure:
    """Mean and max loss gap [%] of each published rule (nearest converged run, per cell)."""
    names = [s.name for s in scores]
    fig = go.Figure()
    fig.add_trace(go.Bar(x=names, y=[100 * s.mean_penalty for s in scores], name="mean over cells",
                         marker_color=FIT_COLOUR, hovertemplate="%{x}<br>mean +%{y:.3f}%<extra></extra>"))
    fig.add_trace(go.Bar(x=names, y=[100 * s.max_penalty for s in scores], name="worst cell",
                         marker_color=HELDOUT_COLOUR, hovertemplate="%{x}<br>max +%{y:.3f}%<extra></extra>"))
    layout(fig, title=title or "Published rules: loss above each cell's minimum", x="rule",
           y="loss gap (% of the cell minimum)", log_x=False, log_y=False, height=380)
    fig.update_xaxes(type="category")
    fig.update_layout(barmode="group")
    return fig


def sensitivity_figure(sens, *, title: str | None = None) -> go.Figure:
    """Median penalty [%] of moving lr or batch by each factor (the other re-optimised)."""
    fig = go.Figure()
    for param, values, colour in (("learning rate", sens.lr, FIT_COLOUR), ("batch size", sens.batch, HELDOUT_COLOUR)):
        values = {**values, 1.0: 0.0}          # at the optimum the penalty is zero by definition
        ks = sorted(values)
        fig.add_trace(go.Scatter(x=ks, y=[100 * values[k] for k in ks], mode="lines+markers", name=param,
                                 line=dict(color=colour), text=[factor_label(k) if k != 1 else "x1" for k in ks],
                                 hovertemplate="factor %{text}<br>loss penalty +%{y:.3f}% (median over cells)<extra></extra>"))
    layout(fig, title=title or "Cost of mistuning (the other hyperparameter re-optimised)",
           x="factor applied to the optimum", y="loss penalty (% of the cell minimum)", log_x=True, log_y=False,
           height=380)
    fig.update_xaxes(tickvals=[0.25, 0.5, 1, 2, 4], ticktext=["1/4", "1/2", "1", "2", "4"])
    return fig
