"""Logged series (TensorBoard tags, MLflow metric keys) as a :class:`Draft`.

Loggers keep one series per name: ``(run, name, step, value)`` records. :func:`series_draft` gives each
name its role (:mod:`datasets.formats.roles`): metrics and learning rates become points, a series that
counts tokens or FLOPs becomes D or C at each step, one that holds the parameter count becomes the run's
N, and step or time counters are ignored. Repeated ``(run, name, step)`` records, left by a run resumed
from a checkpoint, keep the last one logged (what TensorBoard shows), and the report says how many.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from datasets.formats.draft import SIZE_COLUMNS, Draft
from datasets.formats.roles import assign_roles
from datasets.upload.cells import parse_numbers


def series_draft(records: pd.DataFrame, runs: pd.DataFrame, *, column_map=None, fmt: str, rows_read: int,
                 files: int, what: str = "logged name") -> Draft:
    """``records`` (run, name, step, value, file, row) and ``runs`` (run, family, config, ...) -> Draft."""
    names = list(pd.unique(records["name"]))
    roles = assign_roles(names, column_map, table=False)
    notes: list[str] = []
    dup = records.duplicated(["run", "name", "step"], keep="last") if len(records) else pd.Series([], dtype=bool)
    if dup.any():
        notes.append(f"{int(dup.sum()):,} repeated (run, {what}, step) records (a run resumed from a "
                     "checkpoint logs its steps again) were replaced by the last one logged.")
        records = records.loc[~dup]
    runs = runs.copy()
    sources: dict[str, str] = {"run": "folder" if fmt == "tensorboard" else "run name", "step": f"{what} step"}
    points = records[records["name"].isin(roles.metrics + roles.lr)].copy()
    points = points.rename(columns={"name": "metric"})
    points["lr"] = points["metric"].isin(roles.lr).to_numpy()
    points["column"] = points["metric"]
    for f, name in roles.sizes.items():
        col = SIZE_COLUMNS[f]
        s = records[records["name"] == name]
        vals, _, _ = parse_numbers(s["value"].map(str), si=True, decimal_comma=False)
        s = s.assign(v=vals)
        if f in ("N", "U"):
            last = s.dropna(subset=["v"]).groupby("run")["v"].last()
            runs[col] = runs["run"].map(last)
            runs[col + "_from"] = f"logged {name!r}"
        else:
            at = s.dropna(subset=["v"]).drop_duplicates(["run", "step"], keep="last").set_index(["run", "step"])["v"]
            key = pd.MultiIndex.from_arrays([points["run"], points["step"]])
            points[col] = at.reindex(key).to_numpy()
            sources[col] = f"logged {name!r}"
    ignored = dict(roles.ignored)
    if ignored:
        why: dict[str, list[str]] = {}
        for c, reason in ignored.items():
            why.setdefault(reason, []).append(c)
        notes.append(f"Ignored {what}s: " + "; ".join(
            f"{', '.join(map(repr, cs[:8]))}{' ...' if len(cs) > 8 else ''} ({reason})" for reason, cs in why.items()))
    mapping = {k: v for k, v in roles.mapping().items()}
    return Draft(format=fmt, points=points.reset_index(drop=True), runs=runs, rows_read=rows_read, mapping=mapping,
                 ignored=tuple(ignored), sources=sources, notes=notes, layout="long", files=files)


def step_text(values: np.ndarray) -> np.ndarray:
    """Integer steps as text (``"100"``), the way a CSV would hold them."""
    return np.asarray([str(int(v)) for v in values], object)
