"""What a command prints: one JSON object with ``--json`` (strict: NaN and infinities as null), else text."""
from __future__ import annotations

import json

from analysis.jsonable import jsonable


def emit(args, payload: dict, text: str) -> None:
    """Print ``payload`` as JSON (``--json``; one line with ``--compact``) or ``text``."""
    if getattr(args, "json", False):
        print(json.dumps(jsonable(payload), indent=None if args.compact else 2, allow_nan=False))
    else:
        print(text)


def dump(obj) -> str:
    """``obj`` as strict JSON text on one line (files written by ``--out``)."""
    return json.dumps(jsonable(obj), allow_nan=False)
