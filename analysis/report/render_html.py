"""HTML rendering of a report: ONE self-contained page that works offline, or a small one that loads plotly.js.

plotly.js (4.8 MB minified) is most of a report's weight. ``plotlyjs="inline"`` (the default) embeds it
once, gzip-compressed and base64-encoded (~2 MB), and the page inflates it with the browser's own
``DecompressionStream``: the file works offline and makes no request at all (a Content-Security-Policy
forbids them). ``plotlyjs="cdn"`` instead loads the same plotly.js version from cdn.plot.ly, pinned by
its subresource-integrity hash (a report of ~0.2 MB that needs a network to draw its figures; the CSP
allows that one host). Each figure is a ``<div>`` plus its JSON; one script draws them all once
plotly.js is there.

Every string from data is escaped with :func:`html.escape`; the embedded JSON (the report's content and
the figures) escapes ``<``, ``>`` and ``&`` so nothing in it can close its ``<script>`` element.
"""
from __future__ import annotations

import base64
import functools
import gzip
import hashlib
import html
import json

from analysis.report.blocks import Bullets, Code, Details, Figure, Section, Table, Text, cell

PLOTLYJS_MODES = ("inline", "cdn")
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
CSP = ("default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'{cdn}; style-src 'unsafe-inline'; "
       "img-src data: blob:; font-src data:")
CDN_HOST = "https://cdn.plot.ly"
_INLINE = {"strong": "<strong>{}</strong>", "code": "<code>{}</code>", "formula": '<code class="formula">{}</code>'}


def _json_for_script(obj) -> str:
    """JSON text safe inside ``<script type="application/json">`` (no ``<``, ``>`` or ``&``)."""
    text = obj if isinstance(obj, str) else json.dumps(obj, allow_nan=False)
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


@functools.lru_cache(maxsize=1)
def plotlyjs_gzip_base64() -> str:
    """The bundled plotly.js, gzip-compressed (reproducibly: no timestamp) and base64-encoded."""
    from plotly.offline import get_plotlyjs

    return base64.b64encode(gzip.compress(get_plotlyjs().encode("utf-8"), compresslevel=9, mtime=0)).decode("ascii")


@functools.lru_cache(maxsize=1)
def _cdn_script() -> str:
    """The script tag loading this plotly.py's own plotly.js version from its CDN, pinned by its
    subresource-integrity hash (sha256 of the bundled file, as plotly.py's own ``include_plotlyjs="cdn"``;
    hashed once per process: the bundled file does not change)."""
    from plotly.offline import get_plotlyjs, get_plotlyjs_version

    sri = "sha256-" + base64.b64encode(hashlib.sha256(get_plotlyjs().encode("utf-8")).digest()).decode("ascii")
    return (f'<script src="{CDN_HOST}/plotly-{e(get_plotlyjs_version())}.min.js" integrity="{sri}" '
            'crossorigin="anonymous"></script>')


# draws every figure of #report-figures into its div; the config hides the plotly logo
_DRAW = ("function drawFigures(){var specs=JSON.parse(document.getElementById('report-figures').textContent);"
         "Object.keys(specs).forEach(function(id){var f=specs[id];"
         "Plotly.newPlot(id,f.data||[],f.layout||{},{displaylogo:false,responsive:true});});}")
# inflates the embedded plotly.js (gzip, base64) with the browser's DecompressionStream, runs it, then draws
_INFLATE = ("(async function(){var b=atob(document.getElementById('plotlyjs-gzip').textContent);"
            "var u=new Uint8Array(b.length);for(var i=0;i<b.length;i++){u[i]=b.charCodeAt(i);}"
            "var js=await new Response(new Blob([u]).stream().pipeThrough(new DecompressionStream('gzip'))).text();"
            "(0,eval)(js);drawFigures();})();")


class _Figures:
    """Collects the figures in order: a ``<div>`` each, their JSON in one script, plotly.js once."""

    def __init__(self):
        self.specs: dict[str, str] = {}          # div id -> the figure's JSON text, serialised once by plotly

    def render(self, block: Figure) -> str:
        try:
            fig = block.draw()
        except Exception as exc:  # noqa: BLE001 - a figure failure must not lose the report
            return f'<p class="missing">{e(f"{block.caption}: not drawn ({exc.__class__.__name__}: {exc})")}</p>'
        if fig is None:
            return f'<p class="missing">{e(block.caption)}</p>'
        div_id = f"figure-{len(self.specs)}"
        self.specs[div_id] = fig.to_json()        # strict JSON: plotly writes NaN and infinities as null
        height = fig.layout.height or 450
        return (f'<figure><div id="{div_id}" class="plotly-graph-div" style="height:{int(height)}px;width:100%">'
                f"</div><figcaption>{e(block.caption)}</figcaption></figure>")

    def scripts(self, plotlyjs: str) -> str:
        """The figures' JSON, plotly.js (inline or from the CDN) and the script that draws them."""
        if not self.specs:
            return ""
        specs = "{" + ",".join(f"{json.dumps(div_id)}:{spec}" for div_id, spec in self.specs.items()) + "}"
        data = f'<script type="application/json" id="report-figures">{_json_for_script(specs)}</script>'
        if plotlyjs == "cdn":
            return data + _cdn_script() + f"<script>{_DRAW}drawFigures();</script>"
        return (data + f'<script type="application/octet-stream" id="plotlyjs-gzip">{plotlyjs_gzip_base64()}'
                f"</script><script>{_DRAW}{_INFLATE}</script>")


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


def render_html(title: str, meta: str, sections: list[Section], content: dict, plotlyjs: str = "inline") -> str:
    """The report as one HTML page: title, meta line, each section's blocks, and ``content`` embedded as
    JSON (``<script type="application/json" id="report-data">``). ``plotlyjs``: ``"inline"`` (offline, ~2 MB)
    or ``"cdn"`` (~0.2 MB; figures need cdn.plot.ly), see the module docstring."""
    if plotlyjs not in PLOTLYJS_MODES:
        raise ValueError(f"plotlyjs must be one of {', '.join(PLOTLYJS_MODES)}, not {plotlyjs!r}")
    figures = _Figures()
    body = [f"<h1>{e(title)}</h1>", _text(Text.plain(meta, kind="meta"))]
    for section in sections:
        blocks = section.blocks_for("html")
        if blocks:
            body.append(f"<h2>{e(section.title)}</h2>")
            body += [_block(b, figures) for b in blocks]
    csp = CSP.format(cdn=f" {CDN_HOST}" if plotlyjs == "cdn" else "")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta http-equiv=\"Content-Security-Policy\" content=\"{csp}\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{e(title)}</title><style>{CSS}</style></head><body><main>"
            + "\n".join(body)
            + f'\n<script type="application/json" id="report-data">{_json_for_script(content)}</script>'
            + figures.scripts(plotlyjs)
            + "</main></body></html>\n")
