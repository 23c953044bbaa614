"""Plotly hover templates as Vega-Lite tooltips: ``"N %{customdata[1]:.3s} params"`` becomes a row titled
``N (params)`` whose value Vega formats with the same d3 format."""
from __future__ import annotations

import re

import numpy as np

from analysis.figures.vega.common import Unsupported, _text
from analysis.jsonable import jsonable


_FIELD = re.compile(r"%\{(x|y|z|text|customdata(?:\[(\d+)\])?)(?::([^}]*))?\}")


def _tooltip(t, xs, ys, bar: dict | None = None):
    """The Vega-Lite tooltip channel of trace ``t`` and the per-point fields it reads,
    ``([{field, title, format}], [(field, getter(i))])``, from its hover template: each placeholder is a
    row titled by the text before it (its unit after it in parentheses) and formatted by Vega with the
    same d3 format plotly used; text without a placeholder heads the tooltip. ``(None, [])`` when the
    trace has no hover. ``bar`` maps x / y to a bar layer's own fields."""
    if t.hoverinfo in ("skip", "none"):
        return None, []
    template = t.hovertemplate
    if template is None:
        return [{"field": "x", "title": "x"}, {"field": "y", "title": "y", "format": ".4g"}], []
    if not isinstance(template, str):
        raise Unsupported("a hover template per point")
    template = re.sub(r"<extra>.*?</extra>", "", template)
    cd = np.asarray(t.customdata, dtype=object) if t.customdata is not None else None
    text = np.asarray(t.text, dtype=object).ravel() if t.text is not None and not isinstance(t.text, str) else None
    tips, fields, heading = [], [], []
    for k, line in enumerate(template.split("<br>")):
        found = list(_FIELD.finditer(line))
        if not found:
            if "%{" in line:
                raise Unsupported(f"a hover placeholder in {line!r}")
            heading.append(_text(line).strip())
            continue
        for n, m in enumerate(found):
            before = line[found[n - 1].end() if n else 0:m.start()]
            after = line[m.end():found[n + 1].start()] if n + 1 < len(found) else line[m.end():]
            label = _text(before).strip(" :=,")
            unit = _text(after).strip() if n + 1 == len(found) else ""
            var, idx, fmt = m.group(1), m.group(2), m.group(3)
            name = f"t{k}_{n}"
            if var in ("x", "y"):
                name = (bar or {}).get(var, var)
                scale = xs if var == "x" else ys
                nominal = scale.category or bool(bar and bar.get(var) == "cat")
            elif t.type == "heatmap" and (var == "customdata" or var == "z"):
                name, nominal = ("cd" if var == "customdata" else "z"), False
            elif var.startswith("customdata") or var == "text":
                col = text if var == "text" else cd
                if col is None:
                    raise Unsupported(f"a template reads {var} the trace lacks")
                if var != "text" and idx is not None:
                    col = col[:, int(idx)] if col.ndim == 2 else col
                elif var != "text" and col.ndim == 2:
                    col = col[:, 0]
                fields.append((name, lambda i, col=col: jsonable(col[i]) if i < len(col) else None))
                sample = next((v for v in col[:50] if v is not None), None)
                nominal = fmt is None and not isinstance(sample, (int, float, np.number))
            else:
                raise Unsupported(f"placeholder {var}")
            title = label or (unit if unit and not unit.startswith("%") else "") or (t.name or "value")
            if unit and label:
                title += f" {unit}" if unit.startswith("(") else f" ({unit})"
            elif unit.startswith("%"):
                title += f" ({unit})"
            tip = {"field": name, "title": title}
            if nominal:
                tip["type"] = "nominal"
            elif fmt:
                tip["format"] = fmt
            else:
                tip["format"] = ".4~g"
            tips.append(tip)
    if heading and any(heading):
        fields.append(("head", lambda i, h=" · ".join(h for h in heading if h): h))
        tips.insert(0, {"field": "head", "title": "title", "type": "nominal"})
    return tips, fields
