"""Heatmap and contour traces: cells as rectangles, a contour level as the iso-line marching squares
traces through the grid."""
from __future__ import annotations

import math

import numpy as np

from analysis.figures.vega.axes import _xy
from analysis.figures.vega.common import DASHES, Unsupported, _colour, _text
from analysis.figures.vega.legend import _scheme
from analysis.figures.vega.tooltips import _tooltip
from analysis.jsonable import jsonable


def _edges(centres: np.ndarray) -> np.ndarray:
    c = np.asarray(centres, float)
    if len(c) == 1:
        return np.array([c[0] - 0.5, c[0] + 0.5])
    mid = (c[1:] + c[:-1]) / 2
    return np.concatenate([[c[0] - (mid[0] - c[0])], mid, [c[-1] + (c[-1] - mid[-1])]])


def _heatmap(t, xs, ys) -> list[dict]:
    if xs.log or ys.log or xs.category or ys.category:
        raise Unsupported("a heatmap on a log or category axis")
    x, y = np.asarray(t.x, float), np.asarray(t.y, float)
    z = np.asarray(t.z, float)
    ex, ey = _edges(x), _edges(y)
    tip, _ = _tooltip(t, xs, ys)
    cd = np.asarray(t.customdata, dtype=object) if t.customdata is not None else None
    values = []
    for i in range(len(y)):
        for j in range(len(x)):
            if not np.isfinite(z[i, j]):
                continue
            row = {"x": float(x[j]), "y": float(y[i]), "x0": float(ex[j]), "x1": float(ex[j + 1]),
                   "y0": float(ey[i]), "y1": float(ey[i + 1]), "z": float(z[i, j])}
            if cd is not None:
                row["cd"] = jsonable(cd[i, j])
            values.append(row)
    scheme, reverse = _scheme(t.colorscale)
    scale: dict = {"scheme": scheme, "reverse": reverse}
    if t.zmin is not None and t.zmax is not None:
        scale["domain"] = [float(t.zmin), float(t.zmax)]
    cb = t.colorbar
    title = _text(cb.title.text) if cb is not None and cb.title and cb.title.text else None
    enc = {**_xy(xs, ys, "x0", "y0"), "x2": {"field": "x1"}, "y2": {"field": "y1"},
           "fill": {"field": "z", "type": "quantitative", "scale": scale,
                    "legend": {"title": title, "gradientLength": 160, "orient": "right"}}}
    if tip:
        enc["tooltip"] = tip
    return [{"description": t.name or "", "data": {"values": values}, "mark": {"type": "rect", "clip": True},
             "encoding": enc}]


def _contour(t, xs, ys) -> list[dict]:
    """The iso-line of a single-level ``Contour`` trace (``contours.start == end``), by marching squares."""
    c = t.contours
    if c is None or c.start is None or c.end is None or c.start != c.end:
        raise Unsupported("a contour with several levels")
    level = float(c.start)
    segs = iso_segments(np.asarray(t.x, float), np.asarray(t.y, float), np.asarray(t.z, float), level)
    values = [{"x": a, "y": b, "x2": p, "y2": q} for a, b, p, q in segs]
    mark = {"type": "rule", "clip": True, "strokeWidth": float(t.line.width or 1.3),
            "color": _colour(t.line.color) or "#fff"}
    if DASHES.get(t.line.dash or "solid"):
        mark["strokeDash"] = list(DASHES[t.line.dash])
    layers = [{"description": t.name or "", "data": {"values": values}, "mark": mark,
               "encoding": {**_xy(xs, ys), "x2": {"field": "x2"}, "y2": {"field": "y2"}}}]
    if c.showlabels and segs:       # the level, at the middle of its longest segment (plotly's contour label)
        a, b, p, q = max(segs, key=lambda g: math.hypot(g[2] - g[0], g[3] - g[1]))
        font = c.labelfont
        layers.append({"data": {"values": [{"x": (a + p) / 2, "y": (b + q) / 2}]},
                       "mark": {"type": "text", "clip": True, "fontSize": float(font.size or 10), "dy": -6,
                                "color": _colour(font.color) or mark["color"]},
                       "encoding": {**_xy(xs, ys), "text": {"value": f"{level:g}"}}})
    return layers


def iso_segments(x: np.ndarray, y: np.ndarray, z: np.ndarray, level: float) -> list[tuple]:
    """Line segments ``(x0, y0, x1, y1)`` where the grid ``z[i, j]`` (at ``x[j]``, ``y[i]``) crosses
    ``level``, linearly interpolated along each cell edge (marching squares; a cell with a missing corner
    draws nothing, a saddle cell joins its crossings in edge order)."""
    out = []
    for i in range(len(y) - 1):
        for j in range(len(x) - 1):
            corners = ((x[j], y[i], z[i, j]), (x[j + 1], y[i], z[i, j + 1]),
                       (x[j + 1], y[i + 1], z[i + 1, j + 1]), (x[j], y[i + 1], z[i + 1, j]))
            if not all(np.isfinite(v) for *_, v in corners):
                continue
            pts = []
            for (xa, ya, za), (xb, yb, zb) in zip(corners, corners[1:] + corners[:1]):
                if (za < level) != (zb < level):
                    f = (level - za) / (zb - za)
                    pts.append((float(xa + f * (xb - xa)), float(ya + f * (yb - ya))))
            for k in range(0, len(pts) - 1, 2):
                out.append((*pts[k], *pts[k + 1]))
    return out
