"""Shapes and annotations: vertical and horizontal rules, shaded spans and their labels."""
from __future__ import annotations

from analysis.figures.vega.axes import _Scale
from analysis.figures.vega.common import DASHES, Unsupported, _colour, _one_row, _text


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
