"""The chart's one colour legend (trace names and their colours) and the colour scales of numeric marker
colours and heatmaps (plotly's Viridis as Vega's ``viridis`` scheme)."""
from __future__ import annotations

from analysis.figures.vega.common import SHAPES, Unsupported, _one_row, _text


SERIES = "_series"      # (in a colour channel while a chart is made) the legend entry a layer draws
SCHEMES = {"viridis": ("viridis", False), "viridis_r": ("viridis", True)}
LEGEND_WIDTH = 400      # px a legend below a chart may take (the narrowest column the pages draw charts in)


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


def _legend_only(colour: dict, symbol=None) -> dict:
    """A mark drawn off the chart whose only effect is the legend entry of ``colour`` (a legend datum)."""
    shape = SHAPES.get(str(symbol or "circle").removesuffix("-open"), "circle")
    return {"data": _one_row(), "mark": {"type": "point", "filled": True, "shape": shape, "clip": True},
            "encoding": {"x": {"value": -100}, "y": {"value": -100}, "color": colour}}


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
