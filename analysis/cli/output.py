"""What a command prints: one JSON object with ``--json`` (strict: NaN and infinities as null), else text."""
from __future__ import annotations

import json

from analysis.cli.messages import append_missing
from analysis.jsonable import jsonable


def emit(args, payload: dict, text: str) -> None:
    """Print ``payload`` as JSON (``--json``; one line with ``--compact``) or ``text``."""
    if getattr(args, "json", False):
        read = [w for w in getattr(args, "read_warnings", None) or () if w not in (payload.get("warnings") or ())]
        if read:      # what the reader left out (analysis.cli.data_options; in text mode already on stderr)
            payload = {**payload, "warnings": [*read, *(payload.get("warnings") or ())]}
        print(json.dumps(jsonable(payload), indent=None if args.compact else 2, allow_nan=False))
    else:
        print(append_missing(text, payload))     # text shows every warning and note the JSON carries


def dump(obj) -> str:
    """``obj`` as strict JSON text on one line (files written by ``--out``)."""
    return json.dumps(jsonable(obj), allow_nan=False)
