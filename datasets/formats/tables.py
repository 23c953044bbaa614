"""A table of logged values (a W&B history export, one run's CSV or Parquet file) as a :class:`Draft`.

Each column gets a role (:func:`datasets.formats.roles.assign_roles`): run name, family, step, sizes,
learning rates, metrics or run constants (config). Every metric column becomes a metric named as written
(``train/loss``, ``eval/loss``, ``val.loss``); a table with a ``metric`` column and a ``value`` column is
read in the long form instead. An empty cell in a metric column means *not logged at that step* (W&B
writes one row per logging call, so an evaluation metric is empty on training-only rows): it is skipped
and counted in the report, not rejected. Text such as ``nan`` or ``abc`` in a metric cell is kept, so the
upload reader rejects it with the file's row and column.
"""
from __future__ import annotations

import re
from collections import Counter

import numpy as np
import pandas as pd

from datasets.formats.draft import SIZE_COLUMNS, Draft
from datasets.formats.roles import assign_roles
from datasets.upload import UploadError
from datasets.upload.cells import parse_numbers
from datasets.upload.table import Table
from datasets.vocabulary import name_key

_UTF8_MULTIBYTE = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}")


def check_encoding(raw: bytes, file: str) -> None:
    """Refuse a text file that mixes UTF-8 with another encoding (no single decoding reads it right).

    A file that is wholly Windows-1252 is left to the upload reader (read as such, with a warning); one
    that holds valid UTF-8 characters *and* bytes that are not UTF-8 was pasted together from two
    encodings: decoding it either way garbles part of the names.
    """
    if raw.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff", b"PAR1")):
        return
    try:
        raw.decode("utf-8")
        return
    except UnicodeDecodeError as e:
        bad = e.start
    if _UTF8_MULTIBYTE.search(raw):
        line = raw.count(b"\n", 0, bad) + 1
        raise UploadError(f"{file!r} mixes encodings: it holds UTF-8 text, but byte {bad} (line {line}, "
                          f"{raw[bad:bad + 1]!r}) is not UTF-8, so no single decoding reads every name right.",
                          fix="Open it in an editor, save it as UTF-8, and upload it again.")


def _cells(frame: pd.DataFrame, i: int) -> pd.Series:
    return frame[i].astype(str)


def _parsed(s: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return parse_numbers(s, si=True, decimal_comma=False)


def table_draft(table: Table, *, file: str, column_map=None, fmt: str, run_default: str | None = None,
                family_default: str | None = None, run_column: bool = True) -> Draft:
    """One parsed table -> :class:`Draft` (see the module docstring).

    ``run_default`` names the run when the table has no run column (a single run's history: the file
    name); with ``run_column=False`` a run-like column is never used (per-run files: one file, one run).
    """
    header = [str(h).strip() for h in table.header]
    dup = [h for h, n in Counter(header).items() if n > 1 and h]
    if dup:
        raise UploadError(f"{file!r}: the column name {dup[0]!r} appears twice.",
                          fix="Rename one of the columns so each has its own name.")
    frame = table.frame
    col = {h: _cells(frame, i) for i, h in enumerate(header)}
    keys = {h: name_key(h) for h in header}
    long_form = any(keys[h] in ("metric", "metricname") for h in header) and any(keys[h] == "value" for h in header)
    if long_form:
        return _long_table(table, header, col, file=file, column_map=column_map, fmt=fmt,
                           run_default=run_default, family_default=family_default, run_column=run_column)
    cmap = dict(column_map or {})
    if not run_column and "run" not in cmap:
        cmap["run"] = None
    first = assign_roles(header, cmap)
    run_cells = col[first.run] if first.run else None
    parsed = {h: _parsed(col[h]) for h in header}

    def numeric(h: str) -> bool:
        vals, missing, status = parsed[h]
        ok = int((status == 0).sum() - missing.sum())
        return ok > 0 and ok >= int((status == 1).sum())

    def varies(h: str) -> bool:
        s = col[h].str.strip()
        present = s != ""
        if not present.any():
            return False
        if run_cells is None:
            return s[present].nunique() > 1
        return bool((s[present].groupby(run_cells[present]).nunique() > 1).any())

    roles = assign_roles(header, cmap, numeric=numeric, varies=varies)
    if not roles.metrics and not roles.lr:
        shown = ", ".join(map(repr, header[:15])) + (" ..." if len(header) > 15 else "")
        raise UploadError(f"{file!r} has no metric column: the columns are {shown}.",
                          fix="Metric columns hold numbers logged over steps (e.g. train/loss, eval/loss); name them "
                              "under Column mapping (command line: --column value=NAME, repeatable).")
    n = len(frame)
    runs_s = (col[roles.run].str.strip() if roles.run
              else pd.Series([run_default or "run"] * n, dtype=str))
    names = roles.metrics + roles.lr
    picked, values, not_logged = [], [], {}
    for h in names:
        _, missing, _ = parsed[h]
        if missing.any():
            not_logged[h] = int(missing.sum())
        idx = np.flatnonzero(~missing)
        picked.append(idx)
        values.append(col[h].iloc[idx])
    rows = np.concatenate(picked)
    which = np.repeat(np.arange(len(names)), [len(i) for i in picked])
    metric = pd.Series(np.asarray(names, object)[which], dtype=str)
    points = pd.DataFrame({"run": runs_s.iloc[rows].reset_index(drop=True), "metric": metric,
                           "value": pd.concat(values, ignore_index=True), "lr": which >= len(roles.metrics),
                           "file": file, "row": table.rownum[rows], "column": metric})
    if roles.step:
        points["step"] = col[roles.step].iloc[rows].reset_index(drop=True)
    for f, c in roles.sizes.items():
        points[SIZE_COLUMNS[f]] = col[c].iloc[rows].reset_index(drop=True)
    runs_of = runs_s
    notes = []
    if not_logged:
        parts = ", ".join(f"{h} {m:,} of {n:,}" for h, m in not_logged.items())
        notes.append(f"Empty cells read as 'not logged at that step' (not rejected): {parts} rows"
                     + (f" in {file}" if fmt == "runfiles" else "") + ".")
    run_names = list(pd.unique(runs_of))
    runs = pd.DataFrame({"run": run_names})
    fam = None
    if roles.family:
        fam = col[roles.family].str.strip()
        first_fam = fam[fam != ""].groupby(runs_of[fam != ""]).first()
        runs["family"] = runs["run"].map(first_fam).where(lambda s: s.notna(), family_default)
    else:
        runs["family"] = family_default
    configs = {}
    for h in roles.config:
        s = col[h].str.strip()
        present = s != ""
        configs[h] = s[present].groupby(runs_of[present]).first()
    runs["config"] = [{h: c.get(r) for h, c in configs.items() if r in c.index} or None
                      for r in run_names]
    sources = {"run": f"column {roles.run!r}" if roles.run else f"file name {file!r}"}
    if roles.step:
        sources["step"] = f"column {roles.step!r}"
    if roles.family:
        sources["family"] = f"column {roles.family!r}"
    for f, c in roles.sizes.items():
        sources[SIZE_COLUMNS[f]] = f"column {c!r}"
    mapping = roles.mapping()
    if roles.config:
        mapping["config"] = list(roles.config)
    if roles.ignored:
        why: dict[str, list[str]] = {}
        for c, reason in roles.ignored.items():
            why.setdefault(reason, []).append(c)
        notes.append("Ignored columns" + (f" of {file}" if fmt == "runfiles" else "") + ": " + "; ".join(
            f"{', '.join(map(repr, cs[:8]))}{' ...' if len(cs) > 8 else ''} ({reason})" for reason, cs in why.items()))
    return Draft(format=fmt, points=points, runs=runs, rows_read=n, mapping=mapping, ignored=tuple(roles.ignored),
                 sources=sources, notes=notes, warnings=[(f"{file}: {w}" if fmt == "runfiles" else w)
                                                         for w in table.warnings],
                 encoding=table.encoding, delimiter=table.delimiter, layout="wide")


def _long_table(table: Table, header: list[str], col: dict, *, file: str, column_map, fmt: str,
                run_default: str | None, family_default: str | None, run_column: bool) -> Draft:
    """A long table (run, step, metric, value, ...): rows kept as they are, sizes and names recognised."""
    keys = {h: name_key(h) for h in header}
    metric = next(h for h in header if keys[h] in ("metric", "metricname"))
    value = next(h for h in header if keys[h] == "value")
    extra = {f: next((h for h in header if keys[h] in ks), None) for f, ks in (("unit", ("unit", "units")),
                                                                               ("split", ("split",)))}
    rest = [h for h in header if h not in (metric, value) and h not in extra.values()]
    cmap = {k: v for k, v in (column_map or {}).items() if k != "value"}
    if not run_column and "run" not in cmap:
        cmap["run"] = None
    roles = assign_roles(rest, cmap, numeric=lambda h: True, varies=lambda h: False)
    n = len(table.frame)
    missing = parse_numbers(col[value], si=False, decimal_comma=False)[1]
    idx = np.flatnonzero(~missing)
    runs_of = (col[roles.run].str.strip().to_numpy(object) if roles.run
               else np.full(n, run_default or "run", object))
    points = pd.DataFrame({"run": runs_of[idx], "metric": col[metric].str.strip().to_numpy(object)[idx],
                           "value": col[value].to_numpy(object)[idx], "lr": np.zeros(len(idx), bool),
                           "file": file, "row": table.rownum[idx], "column": value})
    if roles.step:
        points["step"] = col[roles.step].to_numpy(object)[idx]
    for f, c in roles.sizes.items():
        points[SIZE_COLUMNS[f]] = col[c].to_numpy(object)[idx]
    for f, c in extra.items():
        if c is not None:
            points[f] = col[c].str.strip().to_numpy(object)[idx]
    runs = pd.DataFrame({"run": pd.unique(runs_of)})
    runs["family"] = family_default
    if roles.family:
        fam = col[roles.family].str.strip()
        first_fam = fam[fam != ""].groupby(pd.Series(runs_of)[fam != ""]).first()
        runs["family"] = runs["run"].map(first_fam).where(lambda s: s.notna(), family_default)
    notes = [f"Empty {value!r} cells read as 'not logged' (not rejected): {int(missing.sum()):,} rows"
             + (f" in {file}" if fmt == "runfiles" else "") + "."] if missing.any() else []
    sources = {"run": f"column {roles.run!r}" if roles.run else f"file name {file!r}"}
    if roles.step:
        sources["step"] = f"column {roles.step!r}"
    for f, c in roles.sizes.items():
        sources[SIZE_COLUMNS[f]] = f"column {c!r}"
    mapping = {**roles.mapping(), "metric": metric, "value": value, **{f: c for f, c in extra.items() if c}}
    return Draft(format=fmt, points=points, runs=runs, rows_read=n, mapping=mapping,
                 ignored=tuple(h for h in rest if h in roles.ignored or h in roles.config or h in roles.metrics),
                 sources=sources, notes=notes, warnings=list(table.warnings), encoding=table.encoding,
                 delimiter=table.delimiter, layout="long")
