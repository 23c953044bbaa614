"""Scatter and bar traces as Vega-Lite layers: markers, lines (broken at missing points), text, bands
(``fill="toself"``), error bars and bars."""
from __future__ import annotations

import numpy as np

from analysis.figures.vega.axes import _Scale, _xy
from analysis.figures.vega.common import DASHES, SHAPES, Unsupported, _colour
from analysis.figures.vega.grids import _contour, _heatmap
from analysis.figures.vega.legend import SERIES, _Legend, _colour_bar, _colour_scale, _legend_only
from analysis.figures.vega.tooltips import _tooltip
from analysis.jsonable import jsonable


def _trace_layers(t, xs: _Scale, ys: _Scale, legend: _Legend, fig, index: int) -> list[dict]:
    if t.visible is False:
        return []
    if t.type in ("scatter", "scattergl"):
        return _scatter(t, xs, ys, legend, fig, _default_colour(fig, index))
    if t.type == "bar":
        return _bar(t, xs, ys, legend, fig)
    if t.type == "heatmap":
        return _heatmap(t, xs, ys)
    if t.type == "contour":
        return _contour(t, xs, ys)
    raise Unsupported(f"a {t.type} trace")


def _default_colour(fig, index: int) -> str:
    """Plotly's colour for trace ``index`` when the trace sets none (the template's colour way)."""
    way = fig.layout.template.layout.colorway or ("#636efa", "#EF553B", "#00cc96", "#ab63fa", "#FFA15A", "#19d3f3",
                                                   "#FF6692", "#B6E880")
    return way[index % len(way)]


def _shows_legend(t) -> bool:
    return bool(t.name) and t.showlegend is not False


def _rows(t, xs: _Scale, ys: _Scale):
    """(index, x, y) of each point of trace ``t`` (x or y None where it cannot be drawn)."""
    x, y = np.asarray(t.x, dtype=object), np.asarray(t.y, dtype=object)
    for i in range(min(len(x), len(y))):
        xv, yv = xs.value(x[i]), ys.value(y[i])
        yield i, xv, yv


def _scatter(t, xs, ys, legend, fig, default: str) -> list[dict]:
    if t.x is None or t.y is None:
        return []
    mode = t.mode or ("lines+markers" if len(t.x) < 20 else "lines")     # plotly's default
    if t.fill not in (None, "none"):
        return [_band(t, xs, ys, legend, fig)]
    tip, tip_fields = _tooltip(t, xs, ys)
    marker, line = t.marker, t.line
    per_point = marker.color is not None and not isinstance(marker.color, str) and "markers" in mode
    cvals = np.asarray(marker.color, dtype=object).ravel() if per_point else None
    numeric = per_point and len(cvals) > 0 and not any(isinstance(v, str) for v in cvals[:20])
    values, kept, seg = [], [], 0        # kept: the trace's index of each row (for its text and error bars)
    for i, xv, yv in _rows(t, xs, ys):
        if xv is None or yv is None:
            seg += 1            # plotly breaks a line at a missing point
            continue
        kept.append(i)
        row = {"x": xv, "y": yv, "seg": seg}
        for f, get in tip_fields:
            row[f] = get(i)
        if per_point and i < len(cvals):
            row["c"] = jsonable(cvals[i]) if numeric else _colour(cvals[i])
        values.append(row)
    if not values:       # a trace that only makes a legend entry or a colour bar (x=[None])
        if numeric:
            return _colour_bar(marker)
        colour = _colour(marker.color) or _colour(line.color) or default
        if not _shows_legend(t):
            return []
        return [_legend_only(legend.colour(t.name, colour), marker.symbol)]
    colour = (_colour(marker.color) if "markers" in mode else None) or _colour(line.color) \
        or _colour(marker.color) or ("#21918c" if numeric else default)
    out = []
    enc_colour = legend.colour(t.name, colour) if _shows_legend(t) else {"value": colour}
    if "lines" in mode:
        if (line.shape or "linear") != "linear":
            raise Unsupported(f"line shape {line.shape}")
        mark = {"type": "line", "strokeWidth": float(line.width) if line.width is not None else 2.0, "clip": True}
        if DASHES.get(line.dash or "solid"):
            mark["strokeDash"] = list(DASHES[line.dash])
        if t.opacity is not None and t.opacity < 1:
            mark["opacity"] = float(t.opacity)
        enc = {**_xy(xs, ys), "color": enc_colour, "detail": {"field": "seg", "type": "nominal"}}
        if tip:     # a line is one path, whose tooltip would show its first row: transparent points carry them
            enc["tooltip"] = tip
            mark["point"] = "transparent"
        out.append({"description": t.name or "", "data": {"values": values}, "mark": mark, "encoding": enc})
        enc_colour = {"value": colour}       # markers of a line trace: no second legend entry
    if "markers" in mode:
        if per_point:           # a colour per point: the trace's legend entry (if any) drawn on its own
            if SERIES in enc_colour:
                out.append(_legend_only(enc_colour, marker.symbol))
            enc_colour = None
        out.append(_points(t, values, xs, ys, colour, enc_colour, tip, bool(numeric) if per_point else None,
                           described="lines" not in mode))
    if "text" in mode and t.text is not None:
        texts = list(np.asarray(t.text, dtype=object).ravel())
        pos = t.textposition or "middle center"
        font = t.textfont
        above, below = pos.startswith("top"), pos.startswith("bottom")
        out.append({"data": {"values": [dict(r, label=str(texts[i]) if i < len(texts) else "")
                                        for i, r in zip(kept, values)]},
                    "mark": {"type": "text", "clip": True, "fontSize": float(font.size or 11),
                             "baseline": "bottom" if above else "top" if below else "middle",
                             "dy": -7 if above else 7 if below else 0, "color": _colour(font.color) or "#333"},
                    "encoding": {**_xy(xs, ys), "text": {"field": "label", "type": "nominal"}}})
    for axis in ("x", "y"):
        err = getattr(t, f"error_{axis}")
        if err and err.visible is not False:
            out.append(_error_bars(values, kept, axis, err, colour, xs, ys))
    return out


def _points(t, values, xs, ys, colour, enc_colour, tip, per_point, described: bool) -> dict:
    """Markers; ``per_point``: None (one colour), True (a numeric colour per point on the marker's colour
    scale) or False (a CSS colour per point)."""
    marker = t.marker
    symbol = str(marker.symbol or "circle")
    open_ = symbol.endswith("-open")
    symbol = symbol.removesuffix("-open")
    if symbol not in SHAPES:
        raise Unsupported(f"marker symbol {symbol}")
    if marker.size is not None and not isinstance(marker.size, (int, float)) or \
            marker.opacity is not None and not isinstance(marker.opacity, (int, float)):
        raise Unsupported("a marker size or opacity per point")
    size = float(marker.size) if marker.size is not None else 6.0
    mark = {"type": "point", "filled": not open_, "shape": SHAPES[symbol], "clip": True,
            "size": round(size * size * (0.6 if symbol == "star" else 0.85), 1),
            "opacity": float(marker.opacity) if isinstance(marker.opacity, (int, float)) else 1.0}
    if symbol == "x":
        mark.update(angle=45, strokeWidth=2, filled=False)
    ml = marker.line
    if ml is not None and ml.width and symbol != "x":
        mark.update(stroke=_colour(ml.color) or "#fff", strokeWidth=float(ml.width))
    enc = {**_xy(xs, ys), **({"color": enc_colour} if enc_colour else {})}
    if per_point is True:
        enc["stroke" if not mark["filled"] else "fill"] = _colour_scale(marker, "c")
    elif per_point is False:
        enc["fill"] = enc["stroke"] = {"field": "c", "type": "nominal", "scale": None}
    if tip:
        enc["tooltip"] = tip
    layer = {"data": {"values": values}, "mark": mark, "encoding": enc}
    if described:
        layer["description"] = t.name or ""
    return layer


def _band(t, xs, ys, legend, fig) -> dict:
    """A ``fill="toself"`` polygon drawn as x then x reversed (:func:`band_trace`): an area from the
    lower to the upper edge."""
    if t.fill != "toself":
        raise Unsupported(f"fill {t.fill}")
    x, y = np.asarray(t.x, dtype=object), np.asarray(t.y, dtype=object)
    n = len(x) // 2
    if len(x) != 2 * n or n == 0 or list(x[:n]) != list(x[n:][::-1]):
        raise Unsupported("a filled shape that is not a band")
    values = []
    for xv, hi, lo in zip(x[:n], y[:n], y[n:][::-1]):
        xv, hi, lo = xs.value(xv), ys.value(hi), ys.value(lo)
        if None not in (xv, hi, lo):
            values.append({"x": xv, "y": hi, "y2": lo})
    colour = _colour(t.fillcolor) or "rgba(31, 119, 180, 0.18)"
    enc = {**_xy(xs, ys), "y2": {"field": "y2"},
           "color": legend.colour(t.name, colour) if _shows_legend(t) else {"value": colour}}
    return {"description": t.name or "", "data": {"values": values},
            "mark": {"type": "area", "clip": True, "opacity": 1, "tooltip": False}, "encoding": enc}


def _error_bars(values, kept, axis: str, err, colour, xs, ys) -> dict:
    """``error_x`` / ``error_y`` of type ``data`` (``array`` and ``arrayminus`` per point) as rules."""
    if (err.type or "data") != "data" or err.array is None or (xs if axis == "x" else ys).category:
        raise Unsupported(f"error bars of type {err.type}")
    plus = np.asarray(err.array, float).ravel()
    minus = np.asarray(err.arrayminus if err.arrayminus is not None else err.array, float).ravel()
    scale = xs if axis == "x" else ys
    rows = []
    for r, i in zip(values, kept):
        if i >= min(len(plus), len(minus)):
            continue
        lo, hi = scale.value(r[axis] - minus[i]), scale.value(r[axis] + plus[i])
        if None not in (lo, hi):
            rows.append({"x": r["x"], "y": r["y"], "lo": lo, "hi": hi})
    enc = _xy(xs, ys)
    enc[axis] = {**enc[axis], "field": "lo"}
    enc[f"{axis}2"] = {"field": "hi"}
    enc["color"] = {"value": _colour(err.color) or colour}
    return {"data": {"values": rows}, "mark": {"type": "rule", "strokeWidth": 1.5, "clip": True}, "encoding": enc}


def _bar(t, xs, ys, legend, fig) -> list[dict]:
    horizontal = t.orientation == "h"
    cat, num = (t.y, t.x) if horizontal else (t.x, t.y)
    cats = list(np.asarray(cat, dtype=object).ravel())
    nums = np.asarray(num, float).ravel()
    base = np.asarray(t.base, float).ravel() if t.base is not None else np.zeros(len(nums))
    if len(base) == 1:
        base = np.full(len(nums), base[0])
    c_axis, n_axis = ("y", "x") if horizontal else ("x", "y")
    tip, fields = _tooltip(t, xs, ys, bar={c_axis: "cat", n_axis: "v"})
    values = []
    for i, (c, v, b) in enumerate(zip(cats, nums, base)):
        if not (np.isfinite(v) and np.isfinite(b)):
            continue
        row = {"cat": str(c), "lo": float(b), "hi": float(b + v), "v": float(v)}
        for f, get in fields:
            row[f] = get(i)
        values.append(row)
    colour = _colour(t.marker.color) or "#1f77b4"
    c_scale, n_scale = (ys, xs) if horizontal else (xs, ys)
    enc = {c_axis: {"field": "cat", **c_scale.channel()}, n_axis: {"field": "lo", **n_scale.channel()},
           f"{n_axis}2": {"field": "hi"},
           "color": legend.colour(t.name, colour) if _shows_legend(t) else {"value": colour}}
    bars = [b.name for b in fig.data if b.type == "bar"]
    if fig.layout.barmode == "group" and len(bars) > 1:
        enc[f"{c_axis}Offset"] = {"datum": t.name, "scale": {"domain": bars}}
    if tip:
        enc["tooltip"] = tip
    return [{"description": t.name or "", "data": {"values": values},
             "mark": {"type": "bar", "clip": True}, "encoding": enc}]
