"""Stage 2 of the upload reader: which column holds which field (:data:`ALIASES`, ``column_map``).
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from datasets.upload.cells import parse_numbers
from datasets.upload.errors import UploadError, quote_list
from datasets.vocabulary import AXES, name_key


def _axis_names(symbol: str) -> tuple[str, ...]:
    """A scale axis's accepted column names: its symbol, then its aliases (:mod:`datasets.vocabulary`)."""
    return (AXES[symbol].symbol, *AXES[symbol].aliases)


ALIASES: dict[str, tuple[str, ...]] = {
    "run": ("run", "run_id", "run_name", "model", "model_name", "name"),
    "family": ("family", "group", "scaled_set", "method"),
    **{s: _axis_names(s) for s in ("N", "D", "C", "step")},
    "value": ("value", "loss", "val_loss", "valid_loss", "validation_loss", "eval_loss", "test_loss",
              "train_loss", "training_loss", "score", "ppl", "perplexity", "val_ppl", "valid_ppl", "eval_ppl"),
    "metric": ("metric", "metric_name"),
    "unit": ("unit", "units"),
    "split": ("split",),
    "lr": ("lr", "learning_rate"),
    "U": _axis_names("U"),
    "P": ("P", "parallel", "num_parallel", "n_parallel", "streams", "parallel_streams"),   # ParScale's streams
    "stderr": ("stderr", "std_err", "standard_error", "se", "sem"),
}
"""Field -> accepted column names, canonical spelling first (matching ignores case, spaces, ``_-.``).
Scale axes (N, D, C, step, U) take their names from :data:`datasets.vocabulary.AXES`."""

SIZE_FIELDS = ("N", "D", "C")
ALIAS_KEYS = {f: tuple(name_key(a) for a in names) for f, names in ALIASES.items()}


def suggest_mapping(columns: Sequence[str]) -> dict[str, str]:
    """Propose ``{field: column}`` for the UI's column-mapping widget.

    Exact alias matches (ignoring case, spaces and ``_-.``) come first, in :data:`ALIASES` order;
    then a column whose name contains an alias of three or more characters ("Params (M)" -> N,
    "final val loss" -> value), longest alias first. Each column is proposed for one field at most.
    """
    cols = [str(c) for c in columns]
    keys = [name_key(c) for c in cols]
    scored = []
    for f, aliases in ALIAS_KEYS.items():
        for i, k in enumerate(keys):
            if not k:
                continue
            if k in aliases:
                scored.append((10_000 - aliases.index(k), f, i))
            else:
                hits = [len(a) for a in aliases if len(a) >= 3 and a in k]
                if hits:
                    scored.append((max(hits), f, i))
    out: dict[str, str] = {}
    used: set[int] = set()
    for _, f, i in sorted(scored, key=lambda t: (-t[0], t[2])):
        if f not in out and i not in used:
            out[f] = cols[i]
            used.add(i)
    return {f: out[f] for f in ALIASES if f in out}


def resolve_column(header: list[str], name: object, field_name: str) -> int:
    keys = [name_key(h) for h in header]
    if isinstance(name, str) and name in header:
        return header.index(name)
    if isinstance(name, str) and keys.count(name_key(name)) == 1 and name_key(name):
        return keys.index(name_key(name))
    raise UploadError(f"The column mapping maps {field_name!r} to {name!r}, which is not a column of the file.",
                      fix=f"Use one of: {quote_list(header)}.")


def map_columns(header: list[str], column_map: Mapping | None) -> tuple[dict[str, list[int]], list[str]]:
    """Field -> column positions (``value`` may have several), and warnings."""
    seen: dict[str, int] = {}
    for i, h in enumerate(header):
        k = name_key(h)
        if not k:
            continue
        if k in seen:
            j = seen[k]
            same = "are both named" if header[j] == h else "differ only in case, spaces or underscores:"
            raise UploadError(f"Duplicated header: columns {j + 1} and {i + 1} {same} "
                              f"{header[j]!r}" + ("" if header[j] == h else f" and {h!r}") + ".",
                              fix="Rename or delete one of them so each column has its own name.",
                              column=h)
        seen[k] = i
    warnings: list[str] = []
    out: dict[str, list[int]] = {}
    disabled: set[str] = set()
    used: set[int] = set()
    for key, name in (column_map or {}).items():
        f = next((g for g in ALIASES if g == key or name_key(g) == name_key(key)), None)
        if f is None:
            raise UploadError(f"The column mapping has an unknown field {key!r}.",
                              fix=f"Fields are: {quote_list(ALIASES)}.")
        if name is None:
            disabled.add(f)
            continue
        names = list(name) if f == "value" and isinstance(name, (list, tuple)) else [name]
        idx = [resolve_column(header, n, f) for n in names]
        if not idx or set(idx) & used or len(set(idx)) < len(idx):
            raise UploadError(f"The column mapping uses a column twice or maps {f!r} to nothing.",
                              fix="Map each field to a different column.")
        out[f] = idx
        used.update(idx)
    keys = [name_key(h) for h in header]
    for f in ("run", "family", "N", "D", "C", "step", "metric", "value", "unit", "split", "lr", "U",
              "stderr", "P"):
        if f in out or f in disabled:
            continue
        cand = sorted((ALIAS_KEYS[f].index(k), i) for i, k in enumerate(keys)
                      if k in ALIAS_KEYS[f] and i not in used)
        if not cand:
            continue
        idx = [i for _, i in cand]
        if f == "value" and "metric" not in out:
            take = sorted(idx)                       # wide form: every value-like column is a metric
        else:
            take = idx[:1]
            if len(idx) > 1:
                warnings.append(f"Columns {quote_list(header[i] for i in idx)} all look like {f!r}; used "
                                f"{header[idx[0]]!r}. Choose one under Column mapping (command line: --column {f}=NAME).")
        out[f] = take
        used.update(take)
    return out, warnings


def require_columns(header: list[str], mapping: dict[str, list[int]]) -> None:
    """A value column and a scale column: a size (N, D or C), or a step column alone (a training curve
    with no logged size reads with its sizes unknown; step laws fit it)."""
    if "value" in mapping and any(f in mapping for f in (*SIZE_FIELDS, "step")):
        return
    hint = suggest_mapping(header)
    vals, _, _ = parse_numbers(pd.Series(header, dtype=str), si=True, decimal_comma=False)
    prefix = "The first row looks like data, not a header. " if np.isfinite(vals).sum() >= 2 else ""
    if "value" not in mapping:
        guess = f" Perhaps the value is {hint['value']!r}." if "value" in hint else ""
        raise UploadError(f"{prefix}No value column: expected one named like {quote_list(ALIASES['value'][:6])}; "
                          f"the columns are {quote_list(header)}.",
                          fix="Rename the column holding the loss or metric (e.g. to 'loss'), or map it: Column mapping "
                              f"on the Upload page, --column value=NAME on the command line.{guess}")
    if not any(f in mapping for f in SIZE_FIELDS):
        guess = [f"{f} is {hint[f]!r}" for f in SIZE_FIELDS if f in hint]
        raise UploadError(f"{prefix}No size column: need N (params), D (tokens) or C (FLOPs), or at least a "
                          f"step column; the columns are {quote_list(header)}.",
                          fix="Add a column named N, params, tokens, flops or step, or map one: Column mapping on the "
                              "Upload page, --column N=NAME on the command line"
                              + (f" (perhaps {', '.join(guess)})." if guess else "."))
