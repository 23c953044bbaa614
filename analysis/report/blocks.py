"""What a report is made of: titled :class:`Section` s holding blocks (text, bullets, tables, code, figures).

A result contributes sections (:mod:`analysis.report.sections`); each renderer walks them
(:mod:`~analysis.report.render_markdown`, :mod:`~analysis.report.render_html`,
:mod:`~analysis.report.render_json`). A block may be limited to some formats (``only``): figures and
the JSON details of an analysis are HTML-only, a "see the JSON report" line is Markdown-only. Every
section also carries ``data``, its part of the report's JSON content.

Values in blocks are raw (numbers, None, text from data); the renderers format them with
:func:`cell` and escape them for their format.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

ALL_FORMATS = frozenset({"html", "md"})


def cell(value, digits: int = 4) -> str:
    """A table cell: a number in ``digits`` significant figures (whole numbers >= 10,000 with thousands
    separators), ``yes``/``no`` for booleans, ``n/a`` for missing values; text unchanged."""
    if value is None:
        return "n/a"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}" if abs(int(value)) >= 10_000 else str(int(value))
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.{digits}g}" if math.isfinite(float(value)) else "n/a"
    return str(value)


def interval_text(lo, hi) -> str:
    """``[lo, hi]`` in 4 significant figures, or ``n/a``."""
    return "n/a" if lo is None or hi is None else f"[{cell(lo)}, {cell(hi)}]"


def percent_text(value) -> str:
    """A share as a percentage with two decimals, or ``n/a``."""
    return "n/a" if value is None else f"{value:.2%}"


@dataclass(frozen=True)
class Block:
    only: frozenset = field(default=ALL_FORMATS, kw_only=True)


@dataclass(frozen=True)
class Text(Block):
    """A paragraph of runs ``(style, text)``; style "" (plain), "strong", "code" or "formula".
    ``kind`` "meta" marks the line under the title."""

    runs: tuple[tuple[str, str], ...]
    kind: str = "p"

    @classmethod
    def plain(cls, text: str, **kw) -> "Text":
        return cls((("", str(text)),), **kw)


@dataclass(frozen=True)
class Bullets(Block):
    """A list; ``kind`` "warnings" draws each item as a warning."""

    items: tuple[str, ...]
    kind: str = ""


@dataclass(frozen=True)
class Table(Block):
    """A table: ``header`` and ``rows`` of raw values; ``kind`` names it for styling (params, runs, alloc)."""

    header: tuple[str, ...]
    rows: tuple[tuple, ...]
    kind: str = ""


@dataclass(frozen=True)
class Code(Block):
    """Text shown verbatim (a command line)."""

    text: str


@dataclass(frozen=True)
class Details(Block):
    """Collapsed detail: ``text`` (pre-formatted JSON) under the label ``details``."""

    text: str


@dataclass(frozen=True)
class Figure(Block):
    """A plotly figure drawn when rendered: ``draw()`` returns it (a failure is reported in its place)."""

    caption: str
    draw: Callable[[], object]


@dataclass(frozen=True)
class Section:
    """A titled part of a report: blocks for the readable formats and ``data`` for the JSON content."""

    title: str
    blocks: tuple[Block, ...] = ()
    data: dict = field(default_factory=dict)

    def blocks_for(self, fmt: str) -> list[Block]:
        """The blocks shown in format ``fmt`` ("html" or "md")."""
        return [b for b in self.blocks if fmt in b.only]


HTML_ONLY = frozenset({"html"})
MD_ONLY = frozenset({"md"})
