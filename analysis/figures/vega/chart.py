"""The whole chart: panels (one row of subplots as small multiples), layers, title and notes, legend
layout, and the checks that make a figure translatable or not."""
from __future__ import annotations

import json

from analysis.figures.vega.axes import _Scale
from analysis.figures.vega.common import SCHEMA, TRACES, Unsupported, _js, _text
from analysis.figures.vega.decorations import _annotations, _shapes
from analysis.figures.vega.legend import SERIES, _Legend, _legend_layout
from analysis.figures.vega.props import _Figure
from analysis.figures.vega.traces import _trace_layers


PANEL_WIDTH = 120       # px, one panel of a row of subplots ...
PANEL_COLUMNS = 2       # ... drawn two to a row (fits the narrow columns the dashboard puts them in)
SVG_POINTS = 5_000      # rows past which a chart is drawn on a canvas (one SVG element per point is slow); set in
#                         the spec, so it replaces Streamlit's own switch at 2,000 (SVG keeps marks in the DOM,
#                         which the browser tests read)


def to_vega_lite(fig) -> dict | None:
    """The Vega-Lite specification of plotly figure ``fig``, or ``None`` when the figure uses something not
    translated or a value the translation cannot place (then draw it with plotly): never an exception."""
    try:
        spec = _figure(_Figure(fig.to_dict()))
        json.dumps(spec, allow_nan=False)          # strict JSON, as the browser parses it
        return spec
    except (Unsupported, ValueError, TypeError, ArithmeticError, IndexError, KeyError, AttributeError):
        return None         # what this translation cannot draw (odd values included), plotly can


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
        _zoomable(spec["layer"])
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


def _zoomable(layers: list[dict]) -> None:
    """Zoom (wheel) and pan (drag) on quantitative axes, as plotly's charts had: an interval selection bound
    to the scales, on the first layer that draws data fields on both axes (double-click resets)."""
    for lyr in layers:
        enc = lyr.get("encoding", {})
        if all(enc.get(c, {}).get("field") and enc[c].get("type") == "quantitative" for c in ("x", "y")):
            lyr["params"] = [{"name": "zoom", "select": {"type": "interval", "encodings": ["x", "y"]},
                              "bind": "scales"}]
            return
