"""HTML rendering of a report: ONE self-contained page that works offline.

plotly.js is inlined once (with the first figure), then each figure is a ``<div>``; no external request
is made (a Content-Security-Policy forbids them). Every string from data is escaped with
:func:`html.escape`; the embedded JSON copy of the content escapes ``<``, ``>`` and ``&`` so nothing in
it can close its ``<script>`` element.
"""
from __future__ import annotations

import html
import json

from analysis.report.blocks import Bullets, Code, Details, Figure, Section, Table, Text, cell

e = html.escape

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2933;margin:0;background:#fafbfc}
main{max-width:1100px;margin:0 auto;padding:1.5rem 2rem 4rem;background:#fff}
h1{font-size:1.7rem;margin-bottom:.2rem} h2{font-size:1.25rem;margin-top:2rem;border-bottom:1px solid #e4e7eb}
.meta{color:#616e7c;margin-top:0} code,pre{font-family:ui-monospace,Menlo,Consolas,monospace}
code.formula{font-size:1.05rem;background:#f0f4f8;padding:.1rem .4rem;border-radius:4px}
table{border-collapse:collapse;margin:.5rem 0;font-size:.9rem} th,td{border:1px solid #e4e7eb;padding:.25rem .6rem;text-align:left}
th{background:#f5f7fa} td{font-variant-numeric:tabular-nums}
ul.warnings li{background:#fff8e1;border-left:4px solid #f0b429;padding:.3rem .6rem;margin:.3rem 0;list-style:none}
pre.command{background:#f0f4f8;padding:.6rem;white-space:pre-wrap;word-break:break-all}
figure{margin:1rem 0} figcaption{color:#616e7c;font-size:.9rem} p.missing{color:#8d2b0b}
"""
CSP = ("default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; style-src 'unsafe-inline'; "
       "img-src data: blob:; font-src data:")
_INLINE = {"strong": "<strong>{}</strong>", "code": "<code>{}</code>", "formula": '<code class="formula">{}</code>'}


class _Figures:
    """Draws figures in order; the first one drawn carries plotly.js."""

    def __init__(self):
        self.drawn = 0

    def render(self, block: Figure) -> str:
        import plotly.io as pio

        try:
            fig = block.draw()
        except Exception as exc:  # noqa: BLE001 - a figure failure must not lose the report
            return f'<p class="missing">{e(f"{block.caption}: not drawn ({exc.__class__.__name__}: {exc})")}</p>'
        if fig is None:
            return f'<p class="missing">{e(block.caption)}</p>'
        div = pio.to_html(fig, full_html=False, include_plotlyjs=(self.drawn == 0), div_id=f"figure-{self.drawn}",
                          config={"displaylogo": False, "responsive": True})
        self.drawn += 1
        return f"<figure>{div}<figcaption>{e(block.caption)}</figcaption></figure>"


def _text(block: Text) -> str:
    inner = "".join(_INLINE.get(style, "{}").format(e(text)) for style, text in block.runs)
    return f'<p class="meta">{inner}</p>' if block.kind == "meta" else f"<p>{inner}</p>"


def _table(block: Table) -> str:
    head = "".join(f"<th>{e(str(h))}</th>" for h in block.header)
    body = "".join("<tr>" + "".join(f"<td>{e(cell(v))}</td>" for v in row) + "</tr>" for row in block.rows)
    return f'<table class="{e(block.kind)}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _block(block, figures: _Figures) -> str:
    if isinstance(block, Text):
        return _text(block)
    if isinstance(block, Bullets):
        items = "".join(f"<li>{e(item)}</li>" for item in block.items)
        return f'<ul class="{e(block.kind)}">{items}</ul>' if block.kind else f"<ul>{items}</ul>"
    if isinstance(block, Table):
        return _table(block)
    if isinstance(block, Code):
        return f'<pre class="command">{e(block.text)}</pre>'
    if isinstance(block, Details):
        return f"<details><summary>details</summary><pre>{e(block.text)}</pre></details>"
    if isinstance(block, Figure):
        return figures.render(block)
    raise TypeError(f"no HTML rendering for {type(block).__name__}")


def render_html(title: str, meta: str, sections: list[Section], content: dict) -> str:
    """The report as one HTML page: title, meta line, each section's blocks, and ``content`` embedded as
    JSON (``<script type="application/json" id="report-data">``)."""
    figures = _Figures()
    body = [f"<h1>{e(title)}</h1>", _text(Text.plain(meta, kind="meta"))]
    for section in sections:
        blocks = section.blocks_for("html")
        if blocks:
            body.append(f"<h2>{e(section.title)}</h2>")
            body += [_block(b, figures) for b in blocks]
    payload = (json.dumps(content, allow_nan=False).replace("&", "\\u0026").replace("<", "\\u003c")
               .replace(">", "\\u003e"))
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{e(title)}</title><style>{CSS}</style></head><body><main>"
            + "\n".join(body)
            + f'\n<script type="application/json" id="report-data">{payload}</script>'
            + "</main></body></html>\n")
