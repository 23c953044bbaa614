"""Each run's sizes: N (parameters), D (tokens) and C (FLOPs), and where each came from.

Per run and in this order, a size comes from

* the log: a column or logged series (``params``, ``tokens``, ``flops`` ...; D may change with the step);
* the log's config (W&B config columns, MLflow params, TensorBoard hparams), run constants;
* ``run_info``: a small table ``run, params, tokens[, tokens_per_step][, flops]`` given by the user
  (:func:`read_run_info`);
* for D only, derivation: ``D = step x tokens_per_step``, the tokens seen at each checkpoint, with the
  tokens per step from the config (``tokens_per_step``, ``batch_tokens`` ...), then ``run_info``, then
  the ``tokens_per_step`` argument for every run; step 0 has seen no tokens and keeps D unknown;
* otherwise unknown (left empty). C becomes 6ND in the upload reader when N and D are known.

``run_info`` tokens are the run's total: without a tokens-per-step every checkpoint of the run gets that
D (what the final-loss fits need). Where the log and ``run_info`` disagree the log wins, with a warning.
:func:`settle_sizes` fills the points and returns, per run, ``{"N": "given: column 'params'", "D":
"derived: step x 524,288 (tokens_per_step)", "C": "unknown"}``; :func:`size_lines` summarises that for
the report.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Mapping

import numpy as np
import pandas as pd

from datasets.upload import ALIASES, UploadError
from datasets.upload.cells import parse_numbers
from datasets.vocabulary import name_key

if TYPE_CHECKING:
    from datasets.formats.draft import Draft

SIZE_COLUMNS = {"N": "params", "D": "tokens", "C": "flops", "U": "unique_tokens"}
"""Size field -> column of the long table (and of ``Draft.runs``)."""
TPS_KEYS = frozenset({"tokensperstep", "tps", "batchtokens", "tokensperbatch", "batchsizetokens",
                      "globalbatchtokens"})
"""Names (as :func:`datasets.vocabulary.name_key`) of a tokens-per-step setting, in run_info or a config."""


def is_missing(v) -> bool:
    return v is None or (isinstance(v, float) and np.isnan(v)) or (isinstance(v, str) and not v.strip())


def read_run_info(run_info) -> pd.DataFrame:
    """``run_info`` -> DataFrame ``run, params, tokens, flops, tokens_per_step`` (float64, NaN when not given).

    Accepts a DataFrame, a path to a CSV or Parquet file, the file's bytes, a list of dicts, or a
    mapping ``{run: {"params": ..., "tokens": ...}}``. Columns are matched like upload columns
    (``N``/``params``/``n_params``, ``D``/``tokens``, ``C``/``flops``, ``tokens_per_step``); numbers may
    carry SI suffixes (``125M``, ``2.5B``). Any problem raises :class:`UploadError` naming the row and
    column of ``run_info``.
    """
    from datasets.upload.sniff import parse

    if isinstance(run_info, pd.DataFrame):
        df = run_info.reset_index(drop=True)
    elif isinstance(run_info, Mapping):
        df = pd.DataFrame([{"run": k, **(dict(v) if isinstance(v, Mapping) else {"params": v})}
                           for k, v in run_info.items()])
    elif isinstance(run_info, (list, tuple)):
        df = pd.DataFrame(list(run_info))
    elif isinstance(run_info, (str, Path, bytes)):
        if isinstance(run_info, bytes):
            raw, name = run_info, "run_info.csv"
        else:
            p = Path(run_info)
            try:
                raw, name = p.read_bytes(), p.name
            except OSError as e:
                raise UploadError(f"Cannot read the run_info file {str(p)!r}: {e.strerror or e}.",
                                  fix="Pass a CSV with columns run, params, tokens[, tokens_per_step].") from None
        table = parse(raw, name, 100_000)
        df = table.frame.copy()
        df.columns = table.header
    else:
        raise TypeError("run_info takes a DataFrame, a path, bytes, a list or a mapping, "
                        f"not {type(run_info).__name__}")
    if df.empty:
        raise UploadError("run_info has no rows.", fix="Give one row per run: run, params, tokens.")
    keys = {c: name_key(c) for c in df.columns}
    want = {"run": tuple(name_key(a) for a in ALIASES["run"]), "params": tuple(name_key(a) for a in ALIASES["N"]),
            "tokens": tuple(name_key(a) for a in ALIASES["D"]), "flops": tuple(name_key(a) for a in ALIASES["C"]),
            "tokens_per_step": tuple(TPS_KEYS)}
    cols: dict[str, str] = {}
    for f, aliases in want.items():
        hits = [c for c in df.columns if keys[c] in aliases]
        if hits:
            cols[f] = hits[0]
    if "run" not in cols:
        raise UploadError(f"run_info has no run column (columns: {', '.join(map(repr, df.columns))}).",
                          fix="Name the column holding the run names 'run'.")
    unknown = [c for c in df.columns if c not in cols.values()]
    if unknown:
        raise UploadError(f"run_info has columns it does not use: {', '.join(map(repr, unknown))}.",
                          fix="Use run, params, tokens, tokens_per_step and flops (sizes in parameters, "
                              "tokens and FLOPs; SI suffixes such as 125M allowed).")
    out = pd.DataFrame({"run": [None if is_missing(v) else str(v).strip() for v in df[cols["run"]]]})
    empty = out["run"].isna()
    if empty.any():
        r = int(np.flatnonzero(empty)[0]) + 1
        raise UploadError(f"run_info row {r}: the run name is empty.", row=r, column=cols["run"],
                          fix="Give every row a run name.")
    dup = out["run"].duplicated()
    if dup.any():
        r = int(np.flatnonzero(dup)[0]) + 1
        raise UploadError(f"run_info row {r} repeats the run {out['run'][r - 1]!r}.", row=r, column=cols["run"],
                          fix="Give each run one row.")
    for f in ("params", "tokens", "flops", "tokens_per_step"):
        if f not in cols:
            out[f] = np.nan
            continue
        text = pd.Series(["" if is_missing(v) else str(v) for v in df[cols[f]]], dtype=str)
        vals, _, status = parse_numbers(text, si=True, decimal_comma=False)
        bad = (status > 0) | (vals <= 0)
        if bad.any():
            r = int(np.flatnonzero(bad)[0]) + 1
            raise UploadError(f"run_info row {r}, column {cols[f]!r}: {text[r - 1]!r} is not a positive number.",
                              row=r, column=cols[f], fix="Write sizes as numbers (e.g. 125000000 or 125M).")
        out[f] = vals
    if not out[["params", "tokens", "flops", "tokens_per_step"]].notna().any().any():
        raise UploadError("run_info gives no sizes.", fix="Add params and tokens (or tokens_per_step) columns.")
    return out


def check_tps(tokens_per_step) -> float | None:
    if tokens_per_step is None:
        return None
    try:
        v = float(tokens_per_step)
    except (TypeError, ValueError):
        v = float("nan")
    if not np.isfinite(v) or v <= 0:
        raise UploadError(f"tokens_per_step must be a positive number, not {tokens_per_step!r}.",
                          fix="Give the tokens per optimiser step (batch size x sequence length), e.g. 524288.")
    return v


def _match_run_info(info: pd.DataFrame, runs: pd.DataFrame, warnings: list[str]) -> dict[str, int]:
    """Draft run -> row of ``info``: exact name, then alias (e.g. MLflow run id), then case-insensitive."""
    names = list(runs["run"])
    alias = dict(zip(runs["run"], runs["alias"])) if "alias" in runs else {}
    exact = {r: i for i, r in enumerate(info["run"])}
    loose: dict[str, list[int]] = {}
    for i, r in enumerate(info["run"]):
        loose.setdefault(name_key(r), []).append(i)
    out, used = {}, set()
    for r in names:
        i = exact.get(r)
        if i is None and alias.get(r):
            i = exact.get(alias[r])
        if i is None and len(loose.get(name_key(r), [])) == 1:
            i = loose[name_key(r)][0]
        if i is not None:
            out[r] = i
            used.add(i)
    unused = [info["run"][i] for i in range(len(info)) if i not in used]
    if unused:
        shown = ", ".join(map(repr, unused[:8])) + (f" and {len(unused) - 8} more" if len(unused) > 8 else "")
        known = ", ".join(map(repr, names[:8])) + (" ..." if len(names) > 8 else "")
        warnings.append(f"run_info names {len(unused)} run{'s' if len(unused) != 1 else ''} not in the data "
                        f"({shown}); the runs are {known}.")
    return out


# ----------------------------------------------------------------------------- sizes

def blank(values) -> np.ndarray:
    """Missing cells of an object column: None, NaN, or text that is empty after stripping."""
    v = values if isinstance(values, pd.Series) else pd.Series(values, dtype=object)
    na = v.isna().to_numpy(dtype=bool)
    if pd.api.types.is_numeric_dtype(v.dtype):
        return na
    if pd.api.types.is_string_dtype(v.dtype) and v.dtype != object:
        return na | v.str.strip().eq("").to_numpy(dtype=bool, na_value=True)
    return na | np.fromiter((isinstance(x, str) and not x.strip() for x in v.to_numpy(object)), bool, len(v))


def as_text(values) -> pd.Series:
    """An object column as text cells (``""`` where missing), for the upload reader's number parser."""
    v = values if isinstance(values, pd.Series) else pd.Series(values, dtype=object)
    return v.where(~v.isna(), "").astype(str).reset_index(drop=True)


def _numbers(values) -> np.ndarray:
    """Numbers (SI suffixes allowed) of an object column; NaN where missing or not a number."""
    vals, _, _ = parse_numbers(as_text(values), si=True, decimal_comma=False)
    return vals


def _count(x: float) -> str:
    """``524288.0`` -> ``"524,288"``; non-integers keep 6 significant digits."""
    return f"{x:,.0f}" if float(x).is_integer() and abs(x) < 1e15 else f"{x:.6g}"


def _runs_list(names) -> str:
    names = list(names)
    return ", ".join(map(repr, names[:6])) + (f" and {len(names) - 6} more" if len(names) > 6 else "")


def _put(cell: pd.Series | None, sel: np.ndarray, values: np.ndarray) -> pd.Series:
    """``cell`` with ``values`` written where ``sel``; numbers stay numbers when every cell is one.

    A column whose cells all parse (or a new column) becomes float64; otherwise the cells stay text so
    the upload reader rejects the bad ones with their reason, and the new values are written as text.
    """
    n = len(sel)
    new = _numbers(values) if values.dtype == object else values.astype(float)
    if cell is None:
        base, ok = np.full(n, np.nan), True
    elif pd.api.types.is_numeric_dtype(cell.dtype):
        base, ok = cell.to_numpy(dtype=float, na_value=np.nan).copy(), True
    else:
        base, _, status = parse_numbers(as_text(cell), si=True, decimal_comma=False)
        ok = bool((status == 0).all())
    if ok and not np.isnan(new[sel]).any():
        base[sel] = new[sel]
        return pd.Series(base)
    text = as_text(cell) if cell is not None else pd.Series([""] * n, dtype=str)
    out = text.to_numpy(object).copy()
    out[sel] = as_text(pd.Series(values[sel], dtype=object)).to_numpy(object)
    return pd.Series(out, dtype=str)


def settle_sizes(d: Draft, info: pd.DataFrame | None, tps: float | None) -> tuple[pd.DataFrame, dict]:
    """Fill per-point sizes; return the points and per-run provenance ``{run: {"N": text, "D": ..., "C": ...}}``."""
    pts = d.points.reset_index(drop=True)
    runs = d.runs.set_index("run", drop=False)
    codes, names = pd.factorize(pts["run"])
    names = list(names)
    code_of = {r: k for k, r in enumerate(names)}
    provenance: dict[str, dict[str, str]] = {r: {} for r in runs.index}
    match = _match_run_info(info, d.runs, d.warnings) if info is not None else {}
    step = _numbers(pts["step"]) if "step" in pts else np.full(len(pts), np.nan)

    def per_point(by: dict) -> np.ndarray:
        """A per-run value spread over the points (NaN / None where the run has none)."""
        table = np.full(len(names) + 1, None, object)
        for r, v in by.items():
            if r in code_of:
                table[code_of[r]] = v
        return table[codes]

    for f in ("N", "D", "C", "U"):
        col = SIZE_COLUMNS[f]
        cell = pts[col] if col in pts else None
        empty = blank(cell) if cell is not None else np.ones(len(pts), bool)
        given_runs = {names[k] for k in np.unique(codes[~empty])}
        by_run: dict[str, tuple[object, str]] = {}
        for r in runs.index:
            if r in given_runs:
                continue
            cfg = runs.at[r, col] if col in runs else None
            if not is_missing(cfg):
                src = runs.at[r, col + "_from"] if col + "_from" in runs else None
                by_run[r] = (cfg, src if not is_missing(src) else f"config {col!r}")
            elif f != "U" and r in match and not np.isnan(info.at[match[r], col]):
                by_run[r] = (float(info.at[match[r], col]), "run_info")
        derived: set[str] = set()
        if f == "D":
            per_run_tps = {r: (float(info.at[match[r], "tokens_per_step"]), "run_info tokens_per_step")
                           for r in match if not np.isnan(info.at[match[r], "tokens_per_step"])}
            for r, cfg in zip(runs.index, runs["config"] if "config" in runs else [None] * len(runs)):
                hit = next(((k, v) for k, v in (cfg or {}).items() if name_key(k) in TPS_KEYS), None)
                rate = _numbers(np.array([hit[1]], object))[0] if hit else np.nan
                if hit and rate > 0:
                    per_run_tps[r] = (float(rate), f"config {hit[0]!r}")
            rates = {r: per_run_tps.get(r, (tps, "tokens_per_step")) for r in runs.index if r not in given_runs}
            rates = {r: v for r, v in rates.items() if v[0] is not None}
            if rates:
                rate_arr = per_point({r: v[0] for r, v in rates.items()}).astype(float)
                sel = empty & ~np.isnan(rate_arr) & (step > 0)   # step 0 has seen no tokens: D stays unknown
                cell = _put(cell, sel, step * np.nan_to_num(rate_arr))
                for k in np.unique(codes[sel]):
                    r = names[k]
                    derived.add(r)
                    provenance[r][f] = f"derived: step x {_count(rates[r][0])} ({rates[r][1]})"
                    by_run.pop(r, None)
                empty &= ~sel
        if by_run:
            fill = per_point({r: v for r, (v, _) in by_run.items()})
            sel = empty & ~blank(fill)
            cell = _put(cell, sel, fill)
        if cell is not None:
            pts[col] = cell.reset_index(drop=True)
        for r in runs.index:
            if r in given_runs:
                provenance[r][f] = f"given: {d.sources.get(col, col)}"
            elif r in by_run:
                provenance[r][f] = f"given: {by_run[r][1]}" + (
                    " (run total on every checkpoint)" if f == "D" and by_run[r][1] == "run_info" else "")
            elif r not in derived and f != "U":
                provenance[r][f] = "unknown"
        if info is not None and f in ("N", "C") and col in pts:
            vals = _numbers(pts[col])
            for r in match:
                want = info.at[match[r], col]
                if np.isnan(want) or provenance[r].get(f, "").startswith("given: run_info") or r not in code_of:
                    continue
                got = vals[(codes == code_of[r]) & ~np.isnan(vals)]
                if len(got) and not np.isclose(got[0], want, rtol=1e-6):
                    d.warnings.append(f"Run {r!r}: the log gives {f} = {got[0]:.6g} but run_info says {want:.6g}; "
                                      "the log's value was used.")
    unknown = [r for r in runs.index if provenance[r].get("N") == "unknown" and provenance[r].get("D") == "unknown"]
    if unknown:
        d.warnings.append(f"No size (N or D) for {len(unknown)} run{'s' if len(unknown) != 1 else ''} "
                          f"({_runs_list(unknown)}): fits over N or D leave them out. Give them with run_info "
                          "(run, params, tokens) or tokens_per_step.")
    return pts, provenance


def size_lines(provenance: dict[str, dict[str, str]]) -> list[str]:
    """One report line per size: how many runs got it from where (naming the runs when it matters)."""
    lines = []
    for f, label in (("N", "N (parameters)"), ("D", "D (tokens)"), ("C", "C (FLOPs)")):
        groups: dict[str, list[str]] = {}
        for r, prov in provenance.items():
            groups.setdefault(prov.get(f, "unknown"), []).append(r)
        parts = [f"{how} for {len(rs)} run{'s' if len(rs) != 1 else ''}" + (f" ({_runs_list(rs)})"
                 if how.startswith("unknown") or len(groups) > 1 else "")
                 for how, rs in sorted(groups.items(), key=lambda kv: -len(kv[1]))]
        lines.append(f"{label}: " + "; ".join(parts))
    return lines
