"""Allocate page figures: the efficient frontier N*(C), D*(C) and loss along iso-FLOP lines."""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from analysis.figures.style import GROUP_COLOURS, axis_title, band_trace, layout, metric_title, rgba, sci, vmark


def frontier_figure(front: pd.DataFrame, *, budget: float | None = None, title: str | None = None) -> go.Figure:
    """The efficient frontier: N*(C) and D*(C) on log-log axes with their 95% bands (``allocate.frontier``)."""
    fig = go.Figure()
    c = front["compute"].to_numpy(float)
    for col, name, colour, unit in (("N_opt", "N*", "#1f77b4", "parameters"), ("D_opt", "D*", "#d62728", "tokens")):
        lo, hi = front.get(f"{col}_lo"), front.get(f"{col}_hi")
        if lo is not None and np.isfinite(lo.to_numpy(float)).any():
            fig.add_trace(band_trace(c, lo.to_numpy(float), hi.to_numpy(float), name=f"{name}: 95% band",
                                      colour=rgba(colour, 0.15), legendgroup=col, showlegend=False))
        fig.add_trace(go.Scatter(x=c, y=front[col], mode="lines", name=f"{name} ({unit}; shaded: 95% band)",
                                 legendgroup=col,
                                 line=dict(color=colour, width=2.5),
                                 hovertemplate=f"C %{{x:.3s}} FLOPs<br>{name} %{{y:.3s}} {unit}<extra></extra>"))
    if budget:
        vmark(fig, budget, "budget")
    return layout(fig, title=title, x=axis_title("C"), y="N* (parameters) and D* (tokens)", log_y=True)


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
            fig.add_trace(band_trace(df["N"].to_numpy(float), df["loss_lo"].to_numpy(float),
                                      df["loss_hi"].to_numpy(float), name=f"{name}: 95% band",
                                      colour=rgba(colour, 0.12), legendgroup=name, showlegend=False))
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
    return layout(fig, title=title, x=axis_title("N"), y=metric_title(metric, unit), log_y=False)
