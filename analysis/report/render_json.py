"""JSON rendering of a report: the sections' ``data`` merged under the report's header keys (strict JSON)."""
from __future__ import annotations

import json

from analysis.jsonable import jsonable
from analysis.report.blocks import Section


def report_content(header: dict, sections: list[Section]) -> dict:
    """The report's plain content: ``header`` (title, created, tool) then every section's data, in order."""
    content = dict(header)
    for section in sections:
        content.update(section.data)
    return jsonable(content)


def render_json(content: dict, indent: int | None = 2) -> str:
    """Strict JSON (NaN and infinities already null)."""
    return json.dumps(content, indent=indent, allow_nan=False)
