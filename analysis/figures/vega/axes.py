"""One axis of a panel as a Vega-Lite position channel: field type (quantitative or nominal), scale (log,
reversed, explicit range) and axis labels (powers of ten, tick values with their texts)."""
from __future__ import annotations

import math

import numpy as np

from analysis.figures.vega.common import TRACES, Unsupported, _js, _text


def _raw(t, which: str) -> list:
    if t.type in TRACES:
        v = getattr(t, which)
        if v is None:
            return []
        return list(np.asarray(v, dtype=object).ravel())
    raise Unsupported(f"a {t.type} trace")


class _Scale:
    """One axis: its Vega-Lite field type, scale and axis properties."""

    def __init__(self, axis, traces, which: str):
        self.which = which
        self.log = axis.type == "log"
        values = [v for t in traces for v in _raw(t, which) if v is not None]
        self.category = axis.type == "category" or bool(values and all(isinstance(v, str) for v in values[:50]))
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


def _xy(xs: _Scale, ys: _Scale, x: str = "x", y: str = "y") -> dict:
    return {"x": {"field": x, **xs.channel()}, "y": {"field": y, **ys.channel()}}
