"""Stage 4a of the upload reader: the points of each value column (and the learning rate).
"""
from __future__ import annotations

import re
from typing import Sequence

import numpy as np
import pandas as pd

from datasets.upload.cells import metric_name, parse_numbers, unit_from_name
from datasets.upload.errors import quote_cell
from datasets.upload.rejections import Rejections, cell_quote
from datasets.upload.table import Table
from datasets.vocabulary import LOSS_UNITS, name_key


def normalise(rej: Rejections, names: dict, f: str, aliases: dict[str, str], name_of: dict,
               allowed: Sequence[str]) -> np.ndarray | None:
    """Map unit/split cells to the schema's vocabulary; reject unknown words."""
    if f not in names:
        return None
    raw = names[f]
    codes, uniques = pd.factorize(pd.Series(raw, dtype=object), use_na_sentinel=True)
    mapped = np.array([aliases.get(name_key(u)) for u in uniques] + [None], object)
    out = mapped[codes]
    unknown = (codes >= 0) & pd.isna(out)
    rej.row(unknown, name_of[f], f"unknown {f}",
            lambda i: f": {quote_cell(raw[i])} (use one of {', '.join(allowed)})")
    return out


def value_block(rej: Rejections, table: Table, j: int, names: dict, units: np.ndarray | None,
                 splits: np.ndarray | None, stderr: tuple | None, defaults: list[str], warnings: list[str], *,
                 only: bool, long: bool) -> dict[str, np.ndarray]:
    """Points of value column ``j`` (frame positions, metric, value, unit, split, stderr)."""
    s = table.frame[j]
    column = table.header[j]
    vals, missing, status = parse_numbers(s, si=False, decimal_comma=table.delimiter == ";")
    alive = rej.alive
    rej.cell(np.flatnonzero(alive & missing), column, "value is empty")
    rej.cell(np.flatnonzero(alive & (status == 1)), column, "not a number", cell_quote(s))
    rej.cell(np.flatnonzero(alive & (status == 2)), column,
             "not finite (leave the cell empty if the value is missing)", cell_quote(s))
    ok = alive & ~np.isnan(vals)
    n = len(s)
    if long:
        m_codes, m_names = pd.factorize(pd.Series(names["metric"], dtype=object), use_na_sentinel=True)
        m_names = list(m_names)
    else:
        m_codes, m_names = np.zeros(n, np.int64), [metric_name(column, only)]
        if only and name_key(column) == "value":
            defaults.append(f"metric = 'loss' (column {column!r}, no metric column)")
    live = set(np.unique(m_codes[ok]).tolist())
    guessed = [unit_from_name(str(m)) or unit_from_name(column) for m in m_names]
    for k, (m, g) in enumerate(zip(m_names, guessed)):
        if g is None and k in live and (units is None or pd.isna(units[ok & (m_codes == k)]).any()):
            warnings.append(f"The unit of metric {m!r} is unknown, recorded as 'other': add a unit column "
                            "(nats, bits, perplexity, accuracy, ...).")
    metric = np.array(m_names + [None], object)[m_codes]
    unit_guess = np.array([g or "other" for g in guessed] + ["other"], object)[m_codes]
    defaulted_unit = np.ones(n, bool) if units is None else pd.isna(units)
    unit = unit_guess if units is None else np.where(defaulted_unit, unit_guess, units)
    trains = ["train" in re.split(r"[^a-z0-9]+", str(m).casefold()) for m in m_names]
    split_guess = np.array(["train" if t else "validation" for t in trains] + ["validation"], object)[m_codes]
    defaulted_split = np.ones(n, bool) if splits is None else pd.isna(splits)
    split = split_guess if splits is None else np.where(defaulted_split, split_guess, splits)
    for u_name in sorted(LOSS_UNITS):
        floor = 1.0 if u_name == "perplexity" else 0.0
        bad = ok & (unit == u_name) & (vals < floor)
        rej.cell(np.flatnonzero(bad), column, "a perplexity cannot be below 1" if floor else
                 f"a loss in {u_name} cannot be negative", cell_quote(s))
        ok &= ~bad
    err = np.full(n, np.nan)
    if stderr is not None:
        e_vals, e_status, e_column = stderr
        bad = ok & ((e_status > 0) | (e_vals < 0))
        rej.cell(np.flatnonzero(bad), e_column, "stderr must be a finite number >= 0 (or empty)",
                 cell_quote(table.frame[table.header.index(e_column)]))
        ok &= ~bad
        err = e_vals
    pos = np.flatnonzero(ok)
    for mask, text in ((defaulted_split[pos] & (split[pos] == "validation"), "split = validation"),
                       (defaulted_split[pos] & (split[pos] == "train"), "split = train (metric name says train)"),
                       (defaulted_unit[pos] & (unit[pos] == "nats"), "unit = nats (loss-like name)")):
        if mask.any():
            defaults.append(f"{text} for {int(mask.sum()):,} points of column {column!r}")
    return {"pos": pos, "metric": metric[pos], "value": vals[pos], "unit": unit[pos], "split": split[pos],
            "stderr": err[pos], "quiet": np.zeros(len(pos), bool), "column": np.full(len(pos), column, object),
            "defaulted_unit": defaulted_unit[pos]}


def lr_block(rej: Rejections, s: pd.Series, column: str, decimal_comma: bool) -> dict[str, np.ndarray]:
    """Learning-rate points (metric ``lr``); repeated (run, step) copies are dropped without a report."""
    vals, _, status = parse_numbers(s, si=False, decimal_comma=decimal_comma)
    alive = rej.alive
    rej.cell(np.flatnonzero(alive & (status == 1)), column, "not a number", cell_quote(s))
    rej.cell(np.flatnonzero(alive & (status == 2)), column, "not finite", cell_quote(s))
    rej.cell(np.flatnonzero(alive & (vals < 0)), column, "a learning rate cannot be negative", cell_quote(s))
    pos = np.flatnonzero(alive & (vals >= 0))
    k = len(pos)
    return {"pos": pos, "metric": np.full(k, "lr", object), "value": vals[pos], "unit": np.full(k, "lr", object),
            "split": np.full(k, "train", object), "stderr": np.full(k, np.nan), "quiet": np.ones(k, bool),
            "column": np.full(k, column, object), "defaulted_unit": np.zeros(k, bool)}


def dedup(rej: Rejections, pts: dict[str, np.ndarray], codes: np.ndarray, step: np.ndarray,
           D: np.ndarray) -> dict[str, np.ndarray]:
    """Keep the first point of each (run, split, metric, checkpoint); report later value duplicates.

    The checkpoint is the step, or D when the step is unknown.
    """
    pos = pts["pos"]
    st = step[pos]
    keys = pd.DataFrame({"run": codes[pos], "split": pd.factorize(pts["split"])[0],
                         "metric": pd.factorize(pts["metric"])[0], "step": st,
                         "D": np.where(np.isnan(st), D[pos], np.nan)})
    dup = keys.duplicated().to_numpy()
    if not dup.any():
        return pts
    first = pd.Series(pos).groupby([keys[c] for c in keys.columns], sort=False, dropna=False).transform("first")
    first = first.to_numpy()
    loud = dup & ~pts["quiet"]
    rownum = rej.table.rownum
    for column in pd.unique(pts["column"][loud]):
        sel = loud & (pts["column"] == column)
        ref = dict(zip(pos[sel].tolist(), first[sel].tolist()))
        rej.cell(pos[sel], column, "duplicated point (same run, split, metric and checkpoint), first kept",
                 lambda i, ref=ref: f": row {rownum[ref[i]]} has it")
    return {k: v[~dup] for k, v in pts.items()}
