"""Shared pieces of the translation: the error it raises for what it does not draw, plotly's dash and
symbol names in Vega terms, and small conversions (plain text, CSS colours, string literals of Vega's
expression language); data values go through :func:`analysis.jsonable.jsonable`."""
from __future__ import annotations

import json
import re


SCHEMA = "https://vega.github.io/schema/vega-lite/v6.json"
TRACES = ("scatter", "scattergl", "bar", "heatmap", "contour")      # the trace types translated
DASHES = {"solid": None, "dash": [6, 4], "dot": [2, 3], "dashdot": [6, 3, 2, 3], "longdash": [10, 4],
          "longdashdot": [10, 3, 2, 3]}
SHAPES = {"circle": "circle", "square": "square", "diamond": "diamond", "cross": "cross", "x": "cross",
          "triangle-up": "triangle-up", "triangle-down": "triangle-down", "star": "M0,-1L0.24,-0.33L0.95,-0.31L0.39,"
          "0.12L0.59,0.81L0,0.4L-0.59,0.81L-0.39,0.12L-0.95,-0.31L-0.24,-0.33Z"}


class Unsupported(ValueError):
    """The figure uses something this translation does not draw."""


def _one_row() -> dict:
    """The data of a layer drawn from constants (a rule, a label): one empty row."""
    return {"values": [{}]}


def _js(s) -> str:
    """``s`` as a string literal of Vega's expression language: JSON's quoting (quotes, backslashes, line
    breaks and every non-ASCII character escaped), so that no name from data can end the literal."""
    return json.dumps(str(s))


def _text(s) -> str:
    """Plotly label text as plain text (``<br>`` as a space, other tags dropped)."""
    s = re.sub(r"<br\s*/?>", " ", str(s))
    return re.sub(r"<[^>]+>", "", s)


def _colour(c) -> str | None:
    return c if isinstance(c, str) and c else None
