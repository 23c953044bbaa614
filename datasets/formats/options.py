"""The reader's options as a command line or a form gives them, and its report as one line.

:func:`column_map_from_pairs` turns ``--column ROLE=NAME`` pairs (repeatable; ``value`` may repeat to keep
several metrics) into a ``column_map``; :func:`rejection_summary` says in one line how many values were
rejected and the first few (row, column, reason), for a CLI's ``warnings`` and stderr; :func:`check_strict`
turns any rejection into an :class:`~datasets.upload.UploadError` (``--strict``).
"""
from __future__ import annotations

from typing import Iterable

from datasets.formats.roles import ROLE_FIELDS
from datasets.upload import ALIASES, Upload, UploadError
from datasets.upload.report import UploadReport
from datasets.vocabulary import name_key

_FIELDS = tuple(dict.fromkeys(ROLE_FIELDS + tuple(ALIASES)))


def column_map_from_pairs(pairs: Iterable[str] | None) -> dict | None:
    """``["N=params", "value=eval/loss", "value=train/loss", "U=none"]`` -> ``{"N": "params", "value":
    ["eval/loss", "train/loss"], "U": None}`` (``none``/empty switches a field off); None for no pairs.

    Fields are matched ignoring case (``n=params`` is N); names are kept exactly as written (they may hold
    ``=``, ``/`` or ``.``: the first ``=`` splits). A bad pair raises :class:`UploadError` saying how to write it.
    """
    out: dict = {}
    for pair in pairs or ():
        role, sep, name = str(pair).partition("=")
        field = next((f for f in _FIELDS if f == role.strip() or name_key(f) == name_key(role)), None)
        if not sep or not role.strip():
            raise UploadError(f"--column {pair!r} is not ROLE=NAME.",
                              fix="Write e.g. --column N=n_params --column value=eval/loss "
                                  f"(roles: {', '.join(_FIELDS)}).")
        if field is None:
            raise UploadError(f"--column {pair!r}: unknown role {role.strip()!r}.", fix=f"Roles: {', '.join(_FIELDS)}.")
        value = None if name.strip().casefold() in ("", "none") else name.strip()
        if field == "value" and value is not None:
            out.setdefault("value", [])
            if isinstance(out["value"], list):
                out["value"].append(value)
        elif field in out and field != "value":
            raise UploadError(f"--column gives the role {field!r} twice.",
                              fix="Give each role once (only value repeats).")
        else:
            out[field] = value
    if isinstance(out.get("value"), list) and len(out["value"]) == 1:
        out["value"] = out["value"][0]
    return out or None


def rejection_summary(report: UploadReport, limit: int = 3) -> str | None:
    """``"3 values rejected (row 6, column 'eval/loss': not a number: 'abc'; ...)"``, or None when none were."""
    n = report.n_rejected
    if not n:
        return None
    first = "; ".join(f"row {r}, column {c!r}: {why}" for r, c, why in report.rejected[:limit])
    more = f"; and {n - limit:,} more" if n > limit else ""
    return f"{n:,} value{'s' if n != 1 else ''} rejected in {report.filename or 'the upload'} ({first}{more})."


def check_strict(upload: Upload) -> Upload:
    """``upload`` unchanged when nothing was rejected; else an :class:`UploadError` naming the first rejections."""
    summary = rejection_summary(upload.report)
    if summary:
        raise UploadError(f"Strict reading: {summary}", fix="Fix those cells, or read without --strict to "
                                                             "skip them (they are listed in the report).")
    return upload
