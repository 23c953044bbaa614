"""Weights & Biases exports: run histories and chart (panel) CSVs.

History export
--------------
What ``wandb.Api().run(...).history()`` (or ``scan_history``) writes out, or the project's runs table
exported as CSV: one row per logging call (or per run), W&B's own ``_step``, ``_runtime`` and
``_timestamp`` columns, metrics named by their namespaces (``train/loss``, ``eval/loss``, ``val.loss``)
and, merged in or exported with the runs table, the run's name (``Name``, ``run``, ``run_name``), its
group and its config (``params``, ``tokens``, ``lr`` ...). Example::

    Name,_step,_runtime,_timestamp,train/loss,eval/loss,params,tokens
    gpt-125m,100,61.2,1717171717,3.91,,125000000,2500000000
    gpt-125m,200,122.0,1717171778,3.52,3.60,125000000,2500000000

Every metric column becomes a metric under its own name; an empty cell means "not logged at that step";
``_step`` is the step unless the trainer logged its own (``trainer/global_step``, ``train/global_step``);
``_runtime``/``_timestamp`` and W&B's run-table bookkeeping (State, User, Created, ...) are ignored;
constant non-metric columns are the run's config (kept in ``runs.extra``). See
:mod:`datasets.formats.roles` for the rules.

Chart export
------------
A panel's "Export CSV": an x column (``Step``, or the chosen x axis) and for each run and metric a
column ``<run> - <metric>``, with ``<run> - <metric>__MIN`` and ``__MAX`` (the range W&B draws when it
samples a long history) beside it. Example::

    Step,gpt-125m - eval/loss,gpt-125m - eval/loss__MIN,gpt-125m - eval/loss__MAX,gpt-350m - eval/loss
    100,3.60,3.58,3.61,3.31

The ``__MIN``/``__MAX`` columns are ignored (the plotted value is kept). An x axis that is a step is the
step; one that counts tokens is D; a time axis (``Wall Time``, ``Relative Time``) is refused, since a
curve over time cannot be placed on a scaling axis.
"""
from __future__ import annotations

import re

import numpy as np
import pandas as pd

from datasets.formats.draft import SIZE_COLUMNS, Draft
from datasets.formats.roles import classify, looks_like_metric, segments
from datasets.formats.tables import table_draft
from datasets.upload import UploadError
from datasets.upload.cells import parse_numbers
from datasets.upload.table import Table

_CHART_RE = re.compile(r"^(?P<run>.+?) - (?P<metric>.+?)(?P<bound>__MIN|__MAX)?$")
_WANDB_MARKERS = frozenset({"_step", "_runtime", "_timestamp", "_wandb"})


def _chart_column(name: str) -> re.Match | None:
    """``"<run> - <metric>[__MIN|__MAX]"`` split at the last `` - `` (run names may hold one)."""
    head, sep, metric = name.rpartition(" - ")
    if not sep or not head.strip() or not metric.strip():
        return None
    return _CHART_RE.match(f"{head} - {metric}")


def is_chart(header: list[str]) -> bool:
    """A W&B chart export: an x column, then only ``<run> - <metric>`` columns."""
    header = [h.strip() for h in header]
    return len(header) >= 2 and _chart_column(header[0]) is None and all(_chart_column(h) for h in header[1:])


def is_history(header: list[str]) -> bool:
    """A W&B history (or runs-table) export: W&B's ``_step``/``_runtime``/``_timestamp`` columns, or
    metric names with W&B namespaces (``train/loss``) or dots (``val.loss``) that the plain CSV reader
    would not split into metrics."""
    names = [h.strip() for h in header]
    if _WANDB_MARKERS & set(names):
        return True
    return any(("/" in h or "." in h) and len(segments(h)) > 1 and looks_like_metric(h) for h in names)


def read_history(table: Table, *, file: str, column_map=None, run_default: str | None = None) -> Draft:
    """A W&B history or runs-table export -> :class:`Draft` (format ``"wandb"``)."""
    return table_draft(table, file=file, column_map=column_map, fmt="wandb", run_default=run_default)


def read_chart(table: Table, *, file: str, column_map=None) -> Draft:
    """A W&B chart export -> :class:`Draft` (format ``"wandb-chart"``)."""
    header = [h.strip() for h in table.header]
    x = header[0]
    role = classify(x)
    if column_map:
        raise UploadError("A W&B chart export has fixed columns (x axis, then '<run> - <metric>'); a column "
                          "mapping does not apply.", fix="Leave the column mapping empty for this file.")
    if role not in ("step", "D"):
        raise UploadError(f"The chart's x axis is {x!r}, not a step or token count, so its points cannot be "
                          "placed on a scaling axis.", column=x,
                          fix="In W&B, set the panel's x axis to Step (or a tokens metric) and export the CSV again.")
    frame = table.frame
    xcells = frame[0].astype(str).to_numpy(object)
    blocks, ignored, not_logged = [], [], {}
    for i, h in enumerate(header[1:], start=1):
        m = _chart_column(h)
        if m.group("bound"):
            ignored.append(h)
            continue
        cells = frame[i].astype(str)
        _, missing, _ = parse_numbers(cells, si=False, decimal_comma=False)
        idx = np.flatnonzero(~missing)
        if missing.any():
            not_logged[h] = int(missing.sum())
        blk = {"run": np.full(len(idx), m.group("run").strip(), object),
               "metric": np.full(len(idx), m.group("metric").strip(), object),
               "value": cells.to_numpy(object)[idx], "lr": np.full(len(idx), classify(m.group("metric")) == "lr"),
               "file": file, "row": table.rownum[idx], "column": h}
        blk["step" if role == "step" else SIZE_COLUMNS["D"]] = xcells[idx]
        blocks.append(pd.DataFrame(blk))
    if not blocks:
        raise UploadError("The chart export has only __MIN/__MAX columns.", fix="Export the chart's CSV again.")
    points = pd.concat(blocks, ignore_index=True)
    runs = pd.DataFrame({"run": pd.unique(points["run"]), "family": None})
    notes = []
    if ignored:
        notes.append(f"Ignored {len(ignored)} __MIN/__MAX columns (the range W&B draws around a sampled curve); "
                     "the plotted values were read.")
    if not_logged:
        notes.append(f"Empty cells read as 'not logged at that step' (not rejected): {sum(not_logged.values()):,} "
                     f"cells in {len(not_logged)} columns (runs logged at different steps).")
    mapping = {("step" if role == "step" else "D"): x, "value": [h for h in header[1:] if h not in ignored]}
    sources = {"run": "the '<run> - <metric>' column names", ("step" if role == "step" else "tokens"): f"column {x!r}"}
    return Draft(format="wandb-chart", points=points, runs=runs, rows_read=len(frame), mapping=mapping,
                 ignored=tuple(ignored), sources=sources, notes=notes, warnings=list(table.warnings),
                 encoding=table.encoding, delimiter=table.delimiter, layout="wide")
