"""A plotly figure as plain data: ``Figure.to_dict()`` read with attribute access (reading the figure's
own properties through plotly's validators took 80% of the translation time)."""
from __future__ import annotations

import base64

import numpy as np


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
