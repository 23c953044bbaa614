"""Markdown rendering of a report: headings, paragraphs, lists and pipe tables (figures are HTML-only).

Every string that comes from data is HTML-escaped (Markdown renderers pass raw HTML through) and its
pipes and newlines neutralised, so a run named ``<script>`` or ``a|b`` stays text in its table cell; a
command line sits verbatim in a code fence longer than any run of backticks inside it.
"""
from __future__ import annotations

import html
import re

from analysis.report.blocks import Bullets, Code, Section, Table, Text, cell


def md_text(value) -> str:
    """Text from data made safe for Markdown: HTML-escaped, pipes and newlines neutralised."""
    return html.escape(cell(value)).replace("|", "\\|").replace("\n", " ").replace("\r", " ")


def fence(text: str) -> str:
    """``text`` in a code fence longer than any run of backticks it contains."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}\n{text}\n{ticks}"


def _runs(block: Text) -> str:
    out = []
    for style, text in block.runs:
        if style == "strong":
            out.append(f"**{md_text(text)}**")
        elif style in ("code", "formula"):
            out.append(f"`{text}`")
        else:
            out.append(md_text(text))
    line = "".join(out)
    return f"_{line}_" if block.kind == "meta" else line


def _table(block: Table) -> str:
    lines = ["| " + " | ".join(md_text(h) for h in block.header) + " |", "|" + "---|" * len(block.header)]
    lines += ["| " + " | ".join(md_text(c) for c in row) + " |" for row in block.rows]
    return "\n".join(lines)


def _block(block) -> str:
    if isinstance(block, Text):
        return _runs(block)
    if isinstance(block, Bullets):
        return "\n".join(f"- {md_text(item)}" for item in block.items)
    if isinstance(block, Table):
        return _table(block)
    if isinstance(block, Code):
        return fence(block.text)
    raise TypeError(f"no Markdown rendering for {type(block).__name__}")


def render_markdown(title: str, meta: str, sections: list[Section]) -> str:
    """The report as Markdown: ``# title``, the meta line, then ``## section`` with its blocks."""
    parts = [f"# {md_text(title)}", _runs(Text.plain(meta, kind="meta"))]
    for section in sections:
        blocks = section.blocks_for("md")
        if blocks:
            parts.append(f"## {md_text(section.title)}")
            parts += [_block(b) for b in blocks]
    return "\n\n".join(parts) + "\n"
