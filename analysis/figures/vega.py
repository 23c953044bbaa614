"""A plotly figure of :mod:`analysis.figures` as a Vega-Lite specification, for the dashboard.

Why: a new browser tab evaluates Streamlit's 4.7 MB plotly.js bundle before it draws the first plotly
chart (1.6-2.4 s on this machine, measured with ``bench/bench_first_chart.py``), while its Vega-Lite
bundle draws the same chart in 0.47x the time. The figure builders stay the one description of every
chart (the HTML report still draws them with plotly); :func:`to_vega_lite` translates what they use:

* ``Scatter`` / ``Scattergl`` traces (markers, lines, text, ``fill="toself"`` bands of
  :func:`~analysis.figures.style.band_trace`, ``error_x`` / ``error_y``, a numeric marker colour with a
  colour bar), ``Bar`` traces (horizontal with ``base``, grouped), ``Heatmap`` and ``Contour`` traces
  (iso-lines by marching squares);
* log / linear / category axes, reversed axes, explicit ranges, ``tickvals`` / ``ticktext``;
* ``add_vline`` / ``add_hline`` / ``add_vrect`` shapes and annotations (data or paper positioned);
* one row of subplots (``make_subplots(rows=1, cols=k)``) as small multiples, two to a row.

Hover templates become tooltips: ``"N %{customdata[1]:.3s} params"`` is a tooltip row titled
``N (params)`` whose value Vega formats with the same d3 format plotly used. Every layer carries its
trace's name as its ``description`` (see :func:`series`) and on each of its marks (their ARIA label).
Legend entries are one shared colour scale over the traces' names (a ``series`` field each layer
computes). A figure using anything else gives ``None``: draw it with plotly.
"""
from __future__ import annotations

import base64
import json
import math
import re

import numpy as np

SCHEMA = "https://vega.github.io/schema/vega-lite/v6.json"
PANEL_WIDTH = 120       # px, one panel of a row of subplots ...
PANEL_COLUMNS = 2       # ... drawn two to a row (fits the narrow columns the dashboard puts them in)
LEGEND_WIDTH = 400      # px a legend below a chart may take (the narrowest column the pages draw charts in)
SVG_POINTS = 5_000      # more points than this are drawn on a canvas (one SVG element per mark is slow)
TRACES = ("scatter", "scattergl", "bar", "heatmap", "contour")      # the trace types translated
DASHES = {"solid": None, "dash": [6, 4], "dot": [2, 3], "dashdot": [6, 3, 2, 3], "longdash": [10, 4],
          "longdashdot": [10, 3, 2, 3]}
SHAPES = {"circle": "circle", "square": "square", "diamond": "diamond", "cross": "cross", "x": "cross",
          "triangle-up": "triangle-up", "triangle-down": "triangle-down", "star": "M0,-1L0.24,-0.33L0.95,-0.31L0.39,"
          "0.12L0.59,0.81L0,0.4L-0.59,0.81L-0.39,0.12L-0.95,-0.31L-0.24,-0.33Z"}
SCHEMES = {"viridis": ("viridis", False), "viridis_r": ("viridis", True)}
SERIES = "_series"      # (in a colour channel while a chart is made) the legend entry a layer draws
_FIELD = re.compile(r"%\{(x|y|z|text|customdata(?:\[(\d+)\])?)(?::([^}]*))?\}")


class Unsupported(ValueError):
    """The figure uses something this translation does not draw."""


# ---------------------------------------------------------------------------------------------- the API
def to_vega_lite(fig) -> dict | None:
    """The Vega-Lite specification of plotly figure ``fig``, or ``None`` when the figure uses something not
    translated or a value the translation cannot place (then draw it with plotly): never an exception."""
    try:
        spec = _figure(_Figure(fig.to_dict()))
        json.dumps(spec, allow_nan=False)          # strict JSON, as the browser parses it
        return spec
    except (Unsupported, ValueError, TypeError, ArithmeticError, IndexError, KeyError, AttributeError):
        return None         # what this translation cannot draw (odd values included), plotly can


class _Props:
    """Attribute access to one plotly object of ``Figure.to_dict()``, as on the figure itself (an unset
    property is None, an unset nested object an empty one), at the cost of a dict lookup: reading the
    figure's own properties through plotly's validators took 80% of the translation time."""

    __slots__ = ("_d",)
    NESTED = {"marker", "line", "title", "font", "error_x", "error_y", "colorbar", "contours", "textfont", "legend",
              "template", "layout", "labelfont"}
    LISTS = {"annotations", "shapes"}

    def __init__(self, d: dict | None):
        self._d = d or {}

    def __bool__(self) -> bool:
        return bool(self._d)

    def __getattr__(self, key: str):
        return self._get(key, key in self.NESTED)

    def __getitem__(self, axis: str):
        """A layout axis by name (``"xaxis2"``): empty when unset, as plotly's."""
        return self._get(axis, True)

    def _get(self, key: str, nested: bool):
        v = self._d.get(key)
        if isinstance(v, dict) and "bdata" in v:        # a numeric array, base64-typed by to_dict()
            return _typed_array(v)
        if isinstance(v, dict) or (v is None and nested):
            return _Props(v)
        if isinstance(v, (list, tuple)) and v and isinstance(v[0], dict):
            return [_Props(x) for x in v]
        if v is None and key in self.LISTS:
            return []
        return v


def _typed_array(v: dict) -> np.ndarray:
    """Plotly's typed array ``{"dtype", "bdata"[, "shape"]}`` as the numpy array it was."""
    a = np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"]))
    if v.get("shape"):
        a = a.reshape([int(n) for n in str(v["shape"]).split(",")])
    return a


class _Figure:
    """A figure's traces and layout as :class:`_Props`."""

    def __init__(self, d: dict):
        self.data = [_Props(t) for t in d.get("data", [])]
        self.layout = _Props(d.get("layout"))


def series(spec: dict) -> list[dict]:
    """The drawn series of a specification made by :func:`to_vega_lite`: one dict per trace layer with
    its ``name``, ``mark`` type and its ``x`` / ``y`` values (bands: ``y`` is the upper edge and ``y2``
    the lower one); for tests and tools that read a chart."""
    out = []
    for view in spec.get("concat", [spec]):
        for layer in view.get("layer", []):
            if "description" not in layer:
                continue
            rows = layer.get("data", {}).get("values", [])
            mark = layer["mark"]["type"] if isinstance(layer["mark"], dict) else layer["mark"]
            s = {"name": layer["description"], "mark": mark, "x": [r.get("x") for r in rows],
                 "y": [r.get("y") for r in rows]}
            if mark == "area":
                s["y2"] = [r.get("y2") for r in rows]
            out.append(s)
    return out


# ---------------------------------------------------------------------------------------------- figure
def _figure(fig) -> dict:
    lay = fig.layout
    panels = _panels(fig)
    legend = _Legend(_text(lay.legend.title.text) if lay.legend.title.text else None)
    views = []
    n_points = 0
    titles = _subplot_titles(fig, panels) if len(panels) > 1 else {}
    for (xa, ya), traces in panels.items():
        xaxis, yaxis = lay[_axis_name(xa)], lay[_axis_name(ya)]
        x_scale, y_scale = _Scale(xaxis, [t for _, t in traces], "x"), _Scale(yaxis, [t for _, t in traces], "y")
        layers = _shapes(fig, xa, ya, x_scale, y_scale, below=True)       # plotly's layer="below": under the data
        for index, t in traces:
            new = _trace_layers(t, x_scale, y_scale, legend, fig, index)
            n_points += sum(len(lyr.get("data", {}).get("values", [])) for lyr in new)
            layers += new
        layers += _shapes(fig, xa, ya, x_scale, y_scale, below=False)
        layers += _annotations(fig, xa, ya, x_scale, y_scale)
        if not layers:
            continue
        for lyr in layers:
            if lyr.get("description"):      # the trace's name on each of its marks (aria-label; browser tests)
                lyr["mark"]["description"] = lyr["description"]
            colour = lyr.get("encoding", {}).get("color") or {}
            if SERIES in colour:            # a legend entry: its name as the layer's series field
                lyr["transform"] = [{"calculate": _js(colour.pop(SERIES)), "as": "series"}]
        view = {"layer": layers}
        if (xa, ya) in titles:
            view["title"] = {"text": titles[(xa, ya)], "fontSize": 12}
        views.append(view)
    if not views:
        raise Unsupported("nothing to draw")
    height = max(200, int(lay.height or 450) - 40)      # the whole chart's: Streamlit fits it, legends included
    spec: dict = {"$schema": SCHEMA,
                  "usermeta": {"embedOptions": {"renderer": "svg" if n_points <= SVG_POINTS else "canvas"}},
                  "config": {"legend": {"labelLimit": 360, "symbolLimit": 60}, "axis": {"labelFontSize": 11},
                             "view": {"stroke": "#ddd"}}}
    title = _text(lay.title.text) if lay.title and lay.title.text else None
    if title:
        spec["title"] = {"text": title, "anchor": "start"}
    notes = _notes(fig)
    if notes:
        spec.setdefault("title", {"text": "", "anchor": "start"})["subtitle"] = notes
        spec["title"].update(subtitleColor="#777", subtitleFontSize=11)
    if len(views) == 1:
        spec.update(views[0], width="container", height=height)
    else:           # small multiples
        wide = len(views) <= PANEL_COLUMNS       # one row: panels as wide as a half-width chart
        for v in views:
            v.update(width=2 * PANEL_WIDTH if wide else PANEL_WIDTH, height=height - 120 if wide else 110)
        shared = {"color": "shared"}
        for xa, ya in panels:               # make_subplots(shared_yaxes=True): an axis that matches another
            for ref in (xa, ya):
                if lay[_axis_name(ref)].matches:
                    shared[ref[0]] = "shared"
        spec.update(concat=views, columns=min(PANEL_COLUMNS, len(views)), resolve={"scale": shared})
    if legend.domain:
        show = lay.showlegend is not False
        spec["config"]["legend"].update(_legend_layout(lay, legend) if show else {"disable": True})
        if show and "columns" in spec["config"]["legend"]:      # a tall legend takes its room, not the plot's
            rows = -(-len(legend.domain) // spec["config"]["legend"]["columns"])
            if "height" in spec:
                spec["height"] += 20 * max(0, rows - 2)
    return spec


def _legend_below(lay) -> bool:
    return lay.legend is not None and lay.legend.orientation == "h"


def _legend_layout(lay, legend) -> dict:
    """A legend below the chart (plotly's horizontal one) in as many columns as fit :data:`LEGEND_WIDTH`."""
    if _legend_below(lay):
        longest = max(len(d) for d in legend.domain)
        columns = max(1, min(len(legend.domain), LEGEND_WIDTH // (longest * 7 + 40)))
        return {"orient": "bottom", "direction": "horizontal", "columns": columns, "columnPadding": 14,
                "labelLimit": LEGEND_WIDTH - 40}
    return {"orient": "right"}


def _axis_name(ref: str) -> str:
    return ref[0] + "axis" + ref[1:]


def _panels(fig) -> dict:
    """(index, trace) pairs by their (x axis, y axis), in the left-to-right order of the x axes' domains."""
    panels: dict = {}
    for i, t in enumerate(fig.data):
        if t.type not in TRACES:
            raise Unsupported(f"a {t.type} trace")
        panels.setdefault((t.xaxis or "x", t.yaxis or "y"), []).append((i, t))
    for xa, ya in list(panels):
        if xa[1:] != ya[1:]:
            raise Unsupported("a trace on a shared axis of another panel")
    if len(panels) > 1:
        ydomains = {tuple(fig.layout[_axis_name(ya)].domain or (0, 1)) for _, ya in panels}
        if len(ydomains) > 1:
            raise Unsupported("subplots in more than one row")
        panels = dict(sorted(panels.items(), key=lambda kv: (fig.layout[_axis_name(kv[0][0])].domain or (0, 1))[0]))
    return panels


def _subplot_titles(fig, panels) -> dict:
    """Subplot titles (annotations centred above a panel's x domain) by panel."""
    out = {}
    for a in fig.layout.annotations:
        if a.xref == "paper" and a.yref == "paper" and a.y is not None and a.y >= 0.99:
            for xa, ya in panels:
                d = fig.layout[_axis_name(xa)].domain or (0, 1)
                if abs((d[0] + d[1]) / 2 - (a.x or 0)) < 1e-6:
                    out[(xa, ya)] = _text(a.text)
    return out


def _notes(fig) -> list[str]:
    """Paper-positioned annotations that are not subplot titles: notes shown under the title."""
    out = []
    multi = len({t.xaxis or "x" for t in fig.data}) > 1
    for a in fig.layout.annotations:
        if a.xref in ("paper", "x domain") and a.yref in ("paper", "y domain") and a.text:
            if multi and a.y is not None and a.y >= 0.99 and a.yanchor == "bottom" and a.xanchor == "center":
                continue
            out.append(_text(a.text))
    return out


# ---------------------------------------------------------------------------------------------- axes
class _Scale:
    """One axis: its Vega-Lite field type, scale and axis properties."""

    def __init__(self, axis, traces, which: str):
        self.which = which
        self.log = axis.type == "log"
        values = [v for t in traces for v in _raw(t, which) if v is not None]
        self.category = axis.type == "category" or (values and all(isinstance(v, str) for v in values[:50]))
        self.axis = axis
        nums = np.asarray([v for v in values if isinstance(v, (int, float, np.floating, np.integer))], float)
        self.data = nums[np.isfinite(nums) & ((nums > 0) if self.log else True)]
        self._channel = None

    def value(self, v) -> float | None:
        """A data value for this scale (None when it cannot be drawn: missing, or <= 0 on a log axis)."""
        if v is None:
            return None
        if self.category:
            return str(v)
        v = float(v)
        if not math.isfinite(v) or (self.log and v <= 0):
            return None
        return v

    def fraction(self, v: float) -> float:
        """Where ``v`` lies across the axis, 0 (left) to 1 (right): on the explicit range, else on the data."""
        r = self.axis.range
        if r is not None and None not in r:
            lo, hi = (float(r[0]), float(r[1]))
            if self.log:
                v = math.log10(v)
        elif len(self.data):
            lo, hi = float(self.data.min()), float(self.data.max())
            if self.log:
                lo, hi, v = math.log10(lo), math.log10(hi), math.log10(v)
        else:
            return 0.5
        return (v - lo) / (hi - lo) if hi > lo else 0.5

    def channel(self) -> dict:
        if self._channel is None:
            self._channel = self._make_channel()
        return self._channel

    def _make_channel(self) -> dict:
        axis = self.axis
        title = _text(axis.title.text) if axis.title and axis.title.text else None
        ch: dict = {"type": "nominal" if self.category else "quantitative", "title": title}
        ax: dict = {"grid": True}
        scale: dict = {}
        if self.category:
            ax["labelLimit"] = 260
            if self.which == "x":
                ax["labelAngle"] = 0
            if axis.showticklabels is False:
                ax.update(labels=False, ticks=False)
            ch["sort"] = None
            if self.which == "y":
                scale["reverse"] = True        # plotly draws the first category at the bottom
        else:
            if self.log:
                scale["type"] = "log"
            else:
                scale["zero"] = False
            if axis.range is not None and None not in axis.range:
                lo, hi = (10 ** float(r) for r in axis.range) if self.log else (float(r) for r in axis.range)
                scale["domain"] = [lo, hi]
            else:
                scale["nice"] = False
                scale["padding"] = 8
            if axis.tickvals is not None and axis.ticktext is not None:
                ax["values"] = [float(v) for v in axis.tickvals]
                ax["labelExpr"] = _label_lookup(axis.tickvals, axis.ticktext)
            elif self.log:
                ax.update(_log_labels(self.data))
            if axis.showticklabels is False:
                ax.update(labels=False, ticks=False)
        if axis.autorange == "reversed":
            scale["reverse"] = not scale.get("reverse", False)
        if scale:
            ch["scale"] = scale
        ch["axis"] = ax
        return ch


def _log_labels(data: np.ndarray) -> dict:
    """Axis labels of a log scale: powers of ten (``1e21``) across decades, plain numbers within one."""
    if len(data) == 0:
        return {}
    lo, hi = float(data.min()), float(data.max())
    if hi / lo >= 30:
        decades = [float(f"1e{k}") for k in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)]
        step = max(1, len(decades) // 8)
        return {"values": decades[::step], "labelExpr": "replace(format(datum.value, '.0e'), 'e+', 'e')"}
    return {"labelExpr": "replace(format(datum.value, '.3~g'), 'e+', 'e')", "tickCount": 6}


def _label_lookup(vals, texts) -> str:
    expr = "''"
    for v, s in reversed(list(zip(vals, texts))):
        expr = f"abs(datum.value - {float(v)!r}) < 1e-9 ? {_js(s)} : {expr}"
    return expr


def _one_row() -> dict:
    """The data of a layer drawn from constants (a rule, a label): one empty row."""
    return {"values": [{}]}


def _js(s) -> str:
    """``s`` as a string literal of Vega's expression language: JSON's quoting (quotes, backslashes, line
    breaks and every non-ASCII character escaped), so that no name from data can end the literal."""
    return json.dumps(str(s))


# ---------------------------------------------------------------------------------------------- traces
def _raw(t, which: str) -> list:
    if t.type in TRACES:
        v = getattr(t, which)
        if v is None:
            return []
        return list(np.asarray(v, dtype=object).ravel())
    raise Unsupported(f"a {t.type} trace")


class _Legend:
    """The one colour legend of a chart: trace names and their colours."""

    def __init__(self, title: str | None = None):
        self.domain: list[str] = []
        self.range: list[str] = []
        self.title = title

    def entry(self, name: str, colour: str) -> str:
        while name in self.domain:
            if self.range[self.domain.index(name)] == colour:
                return name
            name += "\u200b"            # the same name for a different colour: a distinct entry
        self.domain.append(name)
        self.range.append(colour)
        return name

    def colour(self, name: str, colour: str) -> dict:
        """The colour channel of a layer that is legend entry ``name`` (:func:`_figure` adds the calculate
        transform that makes its ``series`` field)."""
        return {"field": "series", "type": "nominal", "scale": {"domain": self.domain, "range": self.range},
                "legend": {"title": self.title}, SERIES: self.entry(name, colour)}


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
    try:
        way = fig.layout.template.layout.colorway
    except AttributeError:
        way = None
    way = way or ("#636efa", "#EF553B", "#00cc96", "#ab63fa", "#FFA15A", "#19d3f3", "#FF6692", "#B6E880")
    return way[index % len(way)]


def _xy(xs: "_Scale", ys: "_Scale", x: str = "x", y: str = "y") -> dict:
    return {"x": {"field": x, **xs.channel()}, "y": {"field": y, **ys.channel()}}


def _shows_legend(t, fig) -> bool:
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
            row["c"] = _jsonable(cvals[i]) if numeric else _colour(cvals[i])
        values.append(row)
    if not values:       # a trace that only makes a legend entry or a colour bar (x=[None])
        if numeric:
            return _colour_bar(marker)
        colour = _colour(marker.color) or _colour(line.color) or default
        if not _shows_legend(t, fig):
            return []
        return [_legend_only(legend.colour(t.name, colour), marker.symbol)]
    colour = (_colour(marker.color) if "markers" in mode else None) or _colour(line.color) \
        or _colour(marker.color) or ("#21918c" if numeric else default)
    out = []
    enc_colour = legend.colour(t.name, colour) if _shows_legend(t, fig) else {"value": colour}
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


def _legend_only(colour: dict, symbol=None) -> dict:
    """A mark drawn off the chart whose only effect is the legend entry of ``colour`` (a legend datum)."""
    shape = SHAPES.get(str(symbol or "circle").removesuffix("-open"), "circle")
    return {"data": _one_row(), "mark": {"type": "point", "filled": True, "shape": shape, "clip": True},
            "encoding": {"x": {"value": -100}, "y": {"value": -100}, "color": colour}}


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


def _colour_bar(marker) -> list[dict]:
    """A trace that draws nothing but its colour bar (``x=[None]``): invisible marks at the colour scale's
    ends, which make its gradient legend."""
    if not marker.showscale or marker.cmin is None or marker.cmax is None:
        return []
    return [{"data": {"values": [{"c": float(marker.cmin)}, {"c": float(marker.cmax)}]},
             "mark": {"type": "point", "opacity": 0, "filled": True},
             "encoding": {"x": {"value": 0}, "y": {"value": 0}, "fill": _colour_scale(marker, "c")}}]


def _colour_scale(marker, field: str) -> dict:
    scale_name = marker.colorscale
    name = _scheme(scale_name)
    scale: dict = {"scheme": name[0], "reverse": name[1]}
    if marker.cmin is not None and marker.cmax is not None:
        scale["domain"] = [float(marker.cmin), float(marker.cmax)]
    cb = marker.colorbar
    title = _text(cb.title.text) if cb is not None and cb.title and cb.title.text else None
    enc = {"field": field, "type": "quantitative", "scale": scale}
    enc["legend"] = {"title": title, "gradientLength": 110, "gradientThickness": 10, "orient": "right"} \
        if marker.showscale else None
    return enc


def _scheme(scale) -> tuple[str, bool]:
    """The Vega colour scheme of a plotly colour scale (only the ones the figures use)."""
    if isinstance(scale, str):
        key = scale.lower()
    else:        # a resolved scale: plotly gives the Viridis stops as a tuple of (t, colour)
        stops = [str(c).lower() for _, c in scale] if scale else []
        key = "viridis" if stops and stops[0] == "#440154" else "viridis_r" if stops and stops[-1] == "#440154" else ""
    if key not in SCHEMES:
        raise Unsupported(f"colour scale {scale}")
    return SCHEMES[key]


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
           "color": legend.colour(t.name, colour) if _shows_legend(t, fig) else {"value": colour}}
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
           "color": legend.colour(t.name, colour) if _shows_legend(t, fig) else {"value": colour}}
    bars = [b.name for b in fig.data if b.type == "bar"]
    if fig.layout.barmode == "group" and len(bars) > 1:
        enc[f"{c_axis}Offset"] = {"datum": t.name, "scale": {"domain": bars}}
    if tip:
        enc["tooltip"] = tip
    return [{"description": t.name or "", "data": {"values": values},
             "mark": {"type": "bar", "clip": True}, "encoding": enc}]


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
                row["cd"] = _jsonable(cd[i, j])
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


# ---------------------------------------------------------------------------------------------- tooltips
def _tooltip(t, xs, ys, bar: dict | None = None):
    """The Vega-Lite tooltip channel of trace ``t`` and the per-point fields it reads,
    ``([{field, title, format}], [(field, getter(i))])``, from its hover template: each placeholder is a
    row titled by the text before it (its unit after it in parentheses) and formatted by Vega with the
    same d3 format plotly used; text without a placeholder heads the tooltip. ``(None, [])`` when the
    trace has no hover. ``bar`` maps x / y to a bar layer's own fields."""
    if t.hoverinfo in ("skip", "none"):
        return None, []
    template = t.hovertemplate
    if template is None:
        return [{"field": "x", "title": "x"}, {"field": "y", "title": "y", "format": ".4g"}], []
    if not isinstance(template, str):
        raise Unsupported("a hover template per point")
    template = re.sub(r"<extra>.*?</extra>", "", template)
    cd = np.asarray(t.customdata, dtype=object) if t.customdata is not None else None
    text = np.asarray(t.text, dtype=object).ravel() if t.text is not None and not isinstance(t.text, str) else None
    tips, fields, heading = [], [], []
    for k, line in enumerate(template.split("<br>")):
        found = list(_FIELD.finditer(line))
        if not found:
            if "%{" in line:
                raise Unsupported(f"a hover placeholder in {line!r}")
            heading.append(_text(line).strip())
            continue
        for n, m in enumerate(found):
            before = line[found[n - 1].end() if n else 0:m.start()]
            after = line[m.end():found[n + 1].start()] if n + 1 < len(found) else line[m.end():]
            label = _text(before).strip(" :=,")
            unit = _text(after).strip() if n + 1 == len(found) else ""
            var, idx, fmt = m.group(1), m.group(2), m.group(3)
            name = f"t{k}_{n}"
            if var in ("x", "y"):
                name = (bar or {}).get(var, var)
                scale = xs if var == "x" else ys
                nominal = scale.category or bool(bar and bar.get(var) == "cat")
            elif t.type == "heatmap" and (var == "customdata" or var == "z"):
                name, nominal = ("cd" if var == "customdata" else "z"), False
            elif var.startswith("customdata") or var == "text":
                col = text if var == "text" else cd
                if col is None:
                    raise Unsupported(f"a template reads {var} the trace lacks")
                if var != "text" and idx is not None:
                    col = col[:, int(idx)] if col.ndim == 2 else col
                elif var != "text" and col.ndim == 2:
                    col = col[:, 0]
                fields.append((name, lambda i, col=col: _jsonable(col[i]) if i < len(col) else None))
                sample = next((v for v in col[:50] if v is not None), None)
                nominal = fmt is None and not isinstance(sample, (int, float, np.number))
            else:
                raise Unsupported(f"placeholder {var}")
            title = label or (unit if unit and not unit.startswith("%") else "") or (t.name or "value")
            if unit and label:
                title += f" {unit}" if unit.startswith("(") else f" ({unit})"
            elif unit.startswith("%"):
                title += f" ({unit})"
            tip = {"field": name, "title": title}
            if nominal:
                tip["type"] = "nominal"
            elif fmt:
                tip["format"] = fmt
            else:
                tip["format"] = ".4~g"
            tips.append(tip)
    if heading and any(heading):
        fields.append(("head", lambda i, h=" · ".join(h for h in heading if h): h))
        tips.insert(0, {"field": "head", "title": "title", "type": "nominal"})
    return tips, fields


def _jsonable(v):
    if v is None:
        return None
    if isinstance(v, (np.floating, float)):
        v = float(v)
        return v if math.isfinite(v) else None
    if isinstance(v, (np.integer, int)) and not isinstance(v, bool):
        return int(v)
    return str(v)


# ---------------------------------------------------------------------------------------------- shapes
def _shapes(fig, xa, ya, xs: _Scale, ys: _Scale, below: bool) -> list[dict]:
    """``add_vline`` / ``add_hline`` rules and ``add_vrect`` spans of the panel on axes (xa, ya): those
    drawn below the data (``layer="below"``) or the others."""
    out = []
    for s in fig.layout.shapes:
        if (s.layer == "below") != below:
            continue
        xref, yref = s.xref or "x", s.yref or "y"
        if xref.split(" ")[0] not in (xa, "paper") or yref.split(" ")[0] not in (ya, "paper"):
            continue
        line = s.line
        mark: dict = {"color": _colour(line.color) or "#555", "strokeWidth": float(line.width or 1.5), "clip": True}
        if DASHES.get(line.dash or "solid"):
            mark["strokeDash"] = list(DASHES[line.dash])
        x_data, y_data = xref == xa, yref == ya
        if s.type == "line" and x_data and not y_data and s.x0 == s.x1 and xs.value(s.x0) is not None:
            out.append({"data": _one_row(), "mark": {"type": "rule", **mark},
                        "encoding": {"x": {"datum": xs.value(s.x0), **xs.channel()}}})
        elif s.type == "line" and y_data and not x_data and s.y0 == s.y1 and ys.value(s.y0) is not None:
            out.append({"data": _one_row(), "mark": {"type": "rule", **mark},
                        "encoding": {"y": {"datum": ys.value(s.y0), **ys.channel()}}})
        elif s.type == "rect" and x_data and not y_data and None not in (xs.value(s.x0), xs.value(s.x1)):
            out.append({"data": _one_row(), "mark": {"type": "rect", "clip": True,
                                                  "color": _colour(s.fillcolor) or "rgba(0,0,0,0.07)"},
                        "encoding": {"x": {"datum": xs.value(s.x0), **xs.channel()},
                                     "x2": {"datum": xs.value(s.x1)}}})
        else:
            raise Unsupported(f"a {s.type} shape")
    return out


def _annotations(fig, xa, ya, xs: _Scale, ys: _Scale) -> list[dict]:
    """Annotations at a data position on one axis: labels of vertical and horizontal marks."""
    out = []
    row = 0                     # labels at the top of vertical marks: one line each, so that they never overlap
    for a in fig.layout.annotations:
        if not a.text:
            continue
        xref, yref = a.xref or "x", a.yref or "y"       # plotly's defaults
        font = a.font
        mark = {"type": "text", "fontSize": float(font.size) if font and font.size else 11,
                "color": _colour(font.color) if font and font.color else "#555"}
        if xref == xa and yref.split(" ")[0] in ("paper", ya) and yref != ya:
            x = 10 ** float(a.x) if xs.log else a.x
            if xs.value(x) is None:
                continue
            side = {"right": "right", "left": "left"}.get(a.xanchor, "center")
            if side == "left" and xs.fraction(xs.value(x)) > 0.6:
                side = "right"          # a label to the right of a mark near the right edge would be cut off
            mark.update(align=side, baseline="top", dx=-3 if side == "right" else 3 if side == "left" else 0,
                        dy=3 + 14 * row)
            row += 1
            out.append({"data": _one_row(), "mark": mark, "encoding": {"x": {"datum": xs.value(x), **xs.channel()},
                                                   "y": {"value": 0}, "text": {"value": _text(a.text)}}})
        elif xref == xa and yref == ya:
            raise Unsupported("an annotation at a data point")
        elif yref == ya and xref.split(" ")[0] in ("paper", xa) and xref != xa:
            if ys.value(a.y) is None:
                continue
            mark.update(align="right", baseline="bottom", dy=-2)
            out.append({"data": _one_row(), "mark": mark, "encoding": {"y": {"datum": ys.value(a.y), **ys.channel()},
                                                   "x": {"value": "width"}, "text": {"value": _text(a.text)}}})
    return out


# ---------------------------------------------------------------------------------------------- helpers
def _text(s) -> str:
    """Plotly label text as plain text (``<br>`` as a space, other tags dropped)."""
    s = re.sub(r"<br\s*/?>", " ", str(s))
    return re.sub(r"<[^>]+>", "", s)


def _colour(c) -> str | None:
    return c if isinstance(c, str) and c else None
