"""The warnings and notes a command's JSON carries, for its text output: text mode must not hide them.

:func:`collect` walks a payload (dicts, lists, objects with ``to_dict``) and gathers every string under a
``warnings`` or ``notes`` key, in order and without repeats; :func:`append_missing` adds to a command's
text the ones it does not already show, under ``[[Warnings]]`` and ``[[Notes]]`` headings.
"""
from __future__ import annotations

from analysis.fit_result import message_sections

KEYS = {"warnings": "Warnings", "notes": "Notes"}


def collect(payload, found: dict[str, list[str]] | None = None) -> dict[str, list[str]]:
    """``{"warnings": [...], "notes": [...]}``: every message under those keys anywhere in ``payload``."""
    found = {k: [] for k in KEYS} if found is None else found
    if hasattr(payload, "to_dict") and not isinstance(payload, dict):
        try:
            payload = payload.to_dict()
        except TypeError:
            return found
    if isinstance(payload, dict):
        for key, value in payload.items():
            if key in KEYS and isinstance(value, (list, tuple)):
                for msg in value:
                    if isinstance(msg, str) and msg.strip() and msg not in found[key]:
                        found[key].append(msg)
            elif isinstance(value, (dict, list, tuple)):
                collect(value, found)
    elif isinstance(payload, (list, tuple)):
        for item in payload:
            if isinstance(item, (dict, list, tuple)):
                collect(item, found)
    return found


def append_missing(text: str, payload) -> str:
    """``text`` followed by the payload's warnings and notes that ``text`` does not already contain."""
    found = collect(payload)
    everything = [m for key in KEYS for m in found[key]]
    # a message already in the text, or inside a longer one (e.g. labelled "group: message"), is shown once
    missing = {key: [m for m in found[key] if m not in text and not any(m != o and m in o for o in everything)]
               for key in KEYS}
    blocks = message_sections(missing["warnings"], missing["notes"])
    return "\n".join([text.rstrip("\n"), *blocks]) if blocks else text
