"""Comparative-analysis figures: crossover of two groups, trend shape over model size, loss to downstream."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from analysis.crossover_text import format_scale
from analysis.figures.style import (FIT_COLOUR, GROUP_COLOURS, HELDOUT_COLOUR, CLIPPED_NOTE, MAX_POINTS, axis_title,
                                    band_trace, layout, log_grid, metric_title, rgba, scatter, thin, use_log_y, vmark,
                                    with_compute)
from datasets.vocabulary import BOUNDED_UNITS


def _drawn_range(result) -> tuple[float, float]:
    """The shown range, widened to hold the crossing (a third of a decade either side) and its 95% interval
    (at most a decade beyond the crossing), so the chart always shows the answer it states."""
    lo, hi = (float(v) for v in result.shown_range)
    m = result.main
    if m.crossover_x is not None and np.isfinite(m.crossover_x) and m.crossover_x > 0:
        x = float(m.crossover_x)
        lo, hi = min(lo, x / 2.2), max(hi, x * 2.2)
        if m.ci is not None and all(v is not None and np.isfinite(v) and v > 0 for v in m.ci):
            lo, hi = min(lo, max(float(m.ci[0]), x / 10)), max(hi, min(float(m.ci[1]), x * 10))
    return lo, hi


def crossover_figure(result, *, frames: dict | None = None, metric: str | None = None, unit: str | None = None,
                     title: str | None = None) -> go.Figure:
    """Each group's data points, fitted curve with its 95% bootstrap band, data range (shaded, in the
    legend), the crossing with its 95% interval and the target; the x range always holds the crossing.

    Drawn in the space the groups were compared in: the metric itself, or ``1 - value`` (an error) for a
    higher-is-better metric (the axis title says which). ``frames`` ({group: fit frame}) adds the points.
    """
    from datasets.vocabulary import axis as scale_axis

    ax = result.axis
    lo, hi = _drawn_range(result)
    grid = log_grid(lo, hi, 200)
    bounded = bool(result.higher_is_better) or unit in BOUNDED_UNITS
    clipped = []
    fig = go.Figure()
    for i, g in enumerate(result.groups):
        fit = result.fits[g]
        colour = GROUP_COLOURS[i % len(GROUP_COLOURS)]
        d_lo, d_hi = result.data_ranges[g]
        fig.add_vrect(x0=d_lo, x1=d_hi, fillcolor=rgba(colour, 0.07), line_width=0, layer="below")
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=f"{g}: data range (shaded)",
                                 legendgroup=g, hoverinfo="skip",
                                 marker=dict(symbol="square", size=12, color=rgba(colour, 0.25))))
        xs = grid
        y = np.asarray(fit.law.predict(fit.params, pd.DataFrame({ax: xs})), float)
        if bounded:
            # an error or accuracy lives in [0, 1]: draw the curve only where its prediction does
            ok = np.isfinite(y) & (y >= 0.0) & (y <= 1.0)
            if not ok.all():
                clipped.append(str(g))
            xs, y = xs[ok], y[ok]
        if len(xs) and fit.n_boot:
            s = np.exp(fit.law.logpred(fit.law.to_internal(fit.boot), {ax: xs}))
            blo, bhi = np.nanquantile(s, [0.025, 0.975], axis=0)
            if bounded:
                blo, bhi = np.clip(blo, 0.0, 1.0), np.clip(bhi, 0.0, 1.0)
            fig.add_trace(band_trace(xs, blo, bhi, name=f"{g}: 95% band", colour=rgba(colour, 0.28), legendgroup=g))
        if len(xs):
            fig.add_trace(go.Scatter(x=xs, y=y, mode="lines", name=f"{g}: fit", legendgroup=g,
                                     line=dict(color=colour, width=2.5),
                                     hovertemplate=f"{ax} %{{x:.3s}}<br>fitted %{{y:.4g}}<extra></extra>"))
        if frames is not None and g in frames:
            df = with_compute(frames[g])
            df = df[np.isfinite(df[ax]) & (df[ax] > 0) & np.isfinite(df["y"])]
            df = df.iloc[thin(len(df), MAX_POINTS // len(result.groups))]
            yv = 1.0 - df["y"] if result.higher_is_better else df["y"]
            fig.add_trace(scatter(len(df), x=df[ax], y=yv, mode="markers", name=f"{g}: runs", legendgroup=g,
                                  marker=dict(color=colour, size=6, opacity=0.75, line=dict(width=0.5, color="#fff")),
                                  customdata=df["run"].astype(str),
                                  hovertemplate=f"run %{{customdata}}<br>{ax} %{{x:.3s}}<br>value %{{y:.4g}}"
                                                "<extra></extra>"))
    m = result.main
    unit_x = scale_axis(ax).unit
    if m.crossover_x is not None:
        has_ci = m.ci is not None and all(v is not None and np.isfinite(v) for v in m.ci)
        vmark(fig, m.crossover_x, f"crossing {format_scale(m.crossover_x)} {unit_x}"
              + (" (shaded: 95% CI)" if has_ci else ""), colour="#222", dash="dash", left=False)
        if has_ci:
            vmark(fig, max(m.ci[0], lo), None, x1=min(m.ci[1], hi))
    if result.target:
        vmark(fig, result.target, "target")
    ylab = metric_title(("1 - " + metric) if (result.higher_is_better and metric) else metric, unit)
    fig = layout(fig, title=title, x=axis_title(ax), y=ylab, log_y=use_log_y(None if result.higher_is_better else unit))
    fig.update_xaxes(range=[math.log10(lo) - 0.05, math.log10(hi) + 0.05])
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
        df = with_compute(f)
        df = df[np.isfinite(df[axis]) & (df[axis] > 0) & np.isfinite(df["y"])]
        df = df.iloc[thin(len(df), MAX_POINTS // len(frames))]
        colour = GROUP_COLOURS[i % len(GROUP_COLOURS)]
        fig.add_trace(scatter(len(df), x=df[axis], y=df["y"], mode="markers", name=str(g),
                              marker=dict(color=colour, size=7), customdata=df["run"].astype(str),
                              hovertemplate=f"run %{{customdata}}<br>{axis} %{{x:.3s}}<br>value %{{y:.4g}}"
                                            "<extra></extra>"))
    return layout(fig, title=title, x=axis_title(axis), y=metric_title(metric, unit), log_y=use_log_y(unit))


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
    return layout(fig, title=title, x=axis_title("N"), y=metric_title(metric, unit), log_y=False)


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
            fig.add_trace(band_trace(grid, lo, hi, name=f"{result.model}: 95% band"))
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
    fig = layout(fig, title=title, x=f"{loss_name or 'loss'} (nats; lower loss to the right)",
                  y=metric_title(metric, unit), log_x=False)
    fig.update_xaxes(autorange="reversed")
    return fig
