"""The limits every format reader enforces, as constants the Upload page and the README quote.

A limit is checked *before* the work it bounds: an archive's member count and declared sizes before
anything is unpacked (and the bytes actually unpacked while unpacking, since a header can lie), a
folder's entries while it is walked, and a file's size before it is read.

==========================  ===============  ==============================================================
constant                    value            what it bounds
==========================  ===============  ==============================================================
``MAX_BYTES``               50 MB            one uploaded file or archive, as uploaded (compressed)
``MAX_UNPACKED_BYTES``      200 MB           bytes read from a folder or unpacked from an archive, in total
``MAX_ENTRIES``             20,000           files and folders in an archive, or walked in a folder
``MAX_FILES``               5,000            files read (per-run tables, MLflow meta/metric/param files)
``MAX_EVENT_FILES``         500              TensorBoard event files
``MAX_EVENT_BYTES``         50 MB            TensorBoard event files in total (read at ~2 us per byte)
``MAX_ROWS``                2,000,000        points (run x step x metric) in the long form
``MAX_RUNS``                5,000            runs
==========================  ===============  ==============================================================
"""
from __future__ import annotations

from datasets.upload import MAX_BYTES, MAX_ROWS, MAX_RUNS

__all__ = ["MAX_BYTES", "MAX_UNPACKED_BYTES", "MAX_ENTRIES", "MAX_FILES", "MAX_EVENT_FILES", "MAX_EVENT_BYTES",
           "MAX_ROWS", "MAX_RUNS", "LIMITS", "describe_limits"]

MAX_UNPACKED_BYTES = 200_000_000   # 200 MB read from a folder or unpacked from an archive
MAX_ENTRIES = 20_000               # entries (files and folders) in an archive or walked in a folder
MAX_FILES = 5_000                  # files read: per-run tables, MLflow meta / metric / param files
MAX_EVENT_FILES = 500              # TensorBoard event files
MAX_EVENT_BYTES = 50_000_000       # 50 MB of event files: TensorBoard's pure-Python CRC check reads ~0.5 MB/s

LIMITS: dict[str, tuple[int, str, str]] = {
    "MAX_BYTES": (MAX_BYTES, "bytes", "in one uploaded file or archive"),
    "MAX_UNPACKED_BYTES": (MAX_UNPACKED_BYTES, "bytes", "read from a folder or unpacked from an archive"),
    "MAX_ENTRIES": (MAX_ENTRIES, "entries", "(files and folders) in an archive or a folder"),
    "MAX_FILES": (MAX_FILES, "files", "read (per-run tables, MLflow metric and parameter files)"),
    "MAX_EVENT_FILES": (MAX_EVENT_FILES, "event files", "(TensorBoard)"),
    "MAX_EVENT_BYTES": (MAX_EVENT_BYTES, "bytes", "of TensorBoard event files"),
    "MAX_ROWS": (MAX_ROWS, "points", "(run x step x metric)"),
    "MAX_RUNS": (MAX_RUNS, "runs", ""),
}
"""Name -> (value, unit, what it bounds), for pages and reports."""


def describe_limits() -> list[str]:
    """One line per limit, e.g. ``"200 MB read from a folder or unpacked from an archive"``."""
    out = []
    for value, unit, what in LIMITS.values():
        amount = f"{value / 1e6:,.0f} MB" if unit == "bytes" else f"{value:,} {unit}"
        out.append(f"{amount} {what}".strip())
    return out
