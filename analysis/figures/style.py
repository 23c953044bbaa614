"""Shared look of every figure: colours, axis titles with units, layout, bands, hover data, markers.

Conventions (see :mod:`analysis.figures`): scale axes are logarithmic and every axis title names its
unit; losses get a log y axis, bounded metrics a linear one; text from data reaches plotly only as
data (``customdata``, trace names), never inside a hover *template*.
"""
from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from plotly.colors import sample_colorscale

from analysis.laws import LAWS
from analysis.prepare import FLOPS_PER_PARAM_TOKEN
from datasets.vocabulary import LOSS_UNITS, axis

SIZE_SCALE = "Viridis"
BAND_FILL = "rgba(31, 119, 180, 0.18)"
FIT_COLOUR = "#1f77b4"
HELDOUT_COLOUR = "#d62728"
EXCLUDED_COLOUR = "rgba(120, 120, 120, 0.45)"
CLIPPED_NOTE = "curves drawn only where the fitted value lies in [0, 1]"
GROUP_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")
MAX_LEGEND = 25            # runs listed in a legend; more are coloured by size with a colour bar
DENSE_CURVE = 40           # a run with more checkpoints is drawn as a line without markers
N_GRID = 120               # points on a fitted curve
TEMPLATE = "plotly_white"  # every figure's plotly template (set once: see themed)
WEBGL_POINTS = 2_000       # a trace with more points is drawn with WebGL (see scatter)
MAX_POINTS = 20_000        # points of data one figure draws at most; more are thinned evenly (downloads keep all)


def plot_config(filename: str) -> dict:
    """Plotly modebar configuration: PNG download named ``filename`` (sanitised), no logo."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", filename).strip("_") or "figure"
    return {"displaylogo": False,
            "toImageButtonOptions": {"format": "png", "filename": safe[:120], "scale": 2},
            "modeBarButtonsToRemove": ["lasso2d", "select2d"]}


def themed(fig: go.Figure) -> go.Figure:
    """``fig`` with the workbench's plotly template (:data:`TEMPLATE`), set the cheap way.

    ``update_layout(template=...)`` validates and copies the whole template, ~50 ms a figure, while
    plotly applies its *default* template to a new figure without validation (~1 ms). So the template
    is made plotly's default once; a figure made while another default was in force (streamlit sets
    its own when imported after this module) gets the template explicitly, and the default is restored.
    """
    if pio.templates.default != TEMPLATE:
        pio.templates.default = TEMPLATE
        fig.update_layout(template=TEMPLATE)
    return fig


pio.templates.default = TEMPLATE


def scatter(n_points: int, **kwargs):
    """A scatter trace of ``n_points`` points: ``go.Scattergl`` (WebGL, one canvas) past :data:`WEBGL_POINTS`,
    else ``go.Scatter`` (SVG, one element per marker).

    WebGL pays a fixed start-up (context, shaders) that software rendering makes large. Measured in a new
    tab of chromium without a GPU (``bench/bench_first_chart.py``, 8 marker traces, load ~5): WebGL / SVG
    time to the first chart 1.21 at 2,000 points in all, 0.75 at 5,000 and 0.76 at 10,000; break-even
    between 2,000 and 5,000 points, where :data:`WEBGL_POINTS` is."""
    return (go.Scattergl if n_points > WEBGL_POINTS else go.Scatter)(**kwargs)


def thin(n_rows: int, limit: int = MAX_POINTS) -> np.ndarray:
    """Positions of at most ``limit`` of ``n_rows`` rows, evenly spaced (first and last kept): the points a
    figure draws when there are more than it can draw quickly."""
    if n_rows <= limit:
        return np.arange(n_rows)
    return np.unique(np.round(np.linspace(0, n_rows - 1, limit)).astype(int))


def thinned_note(fig: go.Figure, shown: int, total: int) -> None:
    """Say on the figure that it shows ``shown`` of ``total`` points (nothing when it shows them all)."""
    if shown < total:
        fig.add_annotation(text=f"showing {shown:,} of {total:,} points, evenly thinned; the downloads keep all",
                           xref="paper", yref="paper", x=1.0, y=1.0, xanchor="right", yanchor="bottom",
                           showarrow=False, font=dict(size=10, color="#777"))


def metric_title(metric: str | None, unit: str | None) -> str:
    """Axis title of a metric: ``"val_loss (nats)"``."""
    name = metric or "value"
    return f"{name} ({unit})" if unit else name


def axis_title(var: str) -> str:
    """Axis title of a scale variable with its unit: a scale axis of :mod:`datasets.vocabulary` (by
    symbol, store column or alias), or a variable some registered law derives (``S1``)."""
    try:
        return axis(var).title
    except ValueError:
        pass
    for law in LAWS.values():
        if law.derived is not None and var in law.derived.names:
            return law.derived.title(var)
    return var


def use_log_y(unit: str | None, y=None) -> bool:
    if unit in LOSS_UNITS:
        return True
    if y is None:
        return False
    y = np.asarray(y, float)
    y = y[np.isfinite(y)]
    return bool(len(y) and y.min() > 0 and y.max() / y.min() > 20)


def layout(fig: go.Figure, *, title: str | None, x: str, y: str, log_x: bool = True, log_y: bool = False,
            legend: bool = True, height: int = 460, legend_below: bool = True) -> go.Figure:
    where = dict(orientation="h", yanchor="top", y=-0.16, xanchor="left", x=0) if legend_below else {}
    themed(fig).update_layout(title=title, height=height + (70 if legend and legend_below else 0),
                      hovermode="closest", showlegend=legend,
                      margin=dict(l=60, r=20, t=50 if title else 20, b=55),
                      legend=dict(font=dict(size=11), itemsizing="constant", **where))
    fig.update_xaxes(title_text=x, type="log" if log_x else "linear", exponentformat="power", showgrid=True)
    fig.update_yaxes(title_text=y, type="log" if log_y else "linear", showgrid=True)
    return fig


def size_colours(sizes) -> dict:
    """A Viridis colour per distinct size, by log size (small = dark, large = yellow)."""
    s = np.unique(np.asarray([v for v in sizes if v is not None and np.isfinite(v) and v > 0], float))
    if len(s) == 0:
        return {}
    ls = np.log10(s)
    t = (ls - ls.min()) / (np.ptp(ls) or 1.0)
    return dict(zip(s, sample_colorscale(SIZE_SCALE, list(np.clip(t * 0.92, 0, 1)))))


def colour_bins(colours: dict, n_bins: int = 16) -> dict:
    """Map each size to one of ``n_bins`` colours (by log size), so that many runs draw as few traces."""
    if not colours:
        return {}
    s = np.array(sorted(colours))
    ls = np.log10(s)
    t = (ls - ls.min()) / (np.ptp(ls) or 1.0)
    k = np.minimum((t * n_bins).astype(int), n_bins - 1)
    palette = sample_colorscale(SIZE_SCALE, list(np.linspace(0, 0.92, n_bins)))
    return {v: palette[j] for v, j in zip(s, k)}


def log_grid(lo: float, hi: float, n: int = N_GRID) -> np.ndarray:
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


def with_compute(frame: pd.DataFrame) -> pd.DataFrame:
    """A positional copy of ``frame`` with N, D, C present and C filled as 6 N D where missing."""
    df = frame.reset_index(drop=True).copy()
    for col in ("N", "D", "C"):
        if col not in df:
            df[col] = np.nan
    df["C"] = df["C"].fillna(FLOPS_PER_PARAM_TOKEN * df["N"] * df["D"])
    return df


def hover_data(*cols) -> np.ndarray:
    """An object array of per-point hover data (keeps numbers numeric next to strings)."""
    out = np.empty((len(cols[0]), len(cols)), dtype=object)
    for j, c in enumerate(cols):
        out[:, j] = list(c)
    return out


def step_labels(df: pd.DataFrame) -> list[str]:
    if "step" not in df:
        return ["n/a"] * len(df)
    return ["n/a" if pd.isna(v) else f"{v:.0f}" for v in df["step"]]


def hover_template(x_label: str, unit: str | None) -> str:
    u = f" {unit}" if unit else ""
    return ("run %{customdata[0]}<br>N %{customdata[1]:.3s} params<br>step %{customdata[2]}<br>"
            f"{x_label} %{{x:.3s}}<br>value %{{y:.4g}}{u}<extra></extra>")


def band_trace(x, lo, hi, name="95% bootstrap band", colour=BAND_FILL, legendgroup=None, showlegend=True):
    xs = np.concatenate([x, x[::-1]])
    ys = np.concatenate([hi, lo[::-1]])
    return go.Scatter(x=xs, y=ys, fill="toself", fillcolor=colour, line=dict(width=0), hoverinfo="skip",
                      name=name, legendgroup=legendgroup, showlegend=showlegend)


def rgba(hex_colour: str, alpha: float) -> str:
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r}, {g}, {b}, {alpha})"
