"""Stage 3 of the upload reader: text cells -> numbers, names, units and metric names.

Numbers are parsed from text here (pandas 3 would read an integer above int64, e.g. a FLOP count written
out in digits, as a string): decimals, scientific notation, SI suffixes in sizes, a size column's unit in its
header (``Params (M)``, :func:`header_scale`), a decimal comma in a ``;``-separated file. Names are checked
for CSV injection, control characters and length.
"""
from __future__ import annotations

import re
import unicodedata

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from datasets.upload.errors import CONTROL_RE, FORMULA_START, MAX_NAME


_MISSING = frozenset({"", "na", "n/a", "null", "none"})
_NOT_FINITE = frozenset({"nan", "+nan", "-nan"})
_SI = {"k": 1e3, "m": 1e6, "b": 1e9, "g": 1e9, "t": 1e12, "p": 1e15}


SPLIT_ALIASES = {
    "train": "train", "training": "train",
    "validation": "validation", "val": "validation", "valid": "validation", "eval": "validation",
    "evaluation": "validation", "dev": "validation", "test": "validation", "heldout": "validation",
    "downstream": "downstream", "benchmark": "downstream",
}


def to_float(t: pd.Series) -> np.ndarray:
    """Text -> float64 (NaN where not numeric): Arrow's parser when every cell parses, else pandas'."""
    try:
        return pc.cast(pa.array(t, type=pa.large_string(), from_pandas=True), pa.float64()).to_numpy(
            zero_copy_only=False).astype("float64", copy=True)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        codes, uniques = pd.factorize(t, use_na_sentinel=True)
        parsed = pd.to_numeric(pd.Series(uniques, dtype=object), errors="coerce")
        return np.append(parsed.to_numpy(dtype="float64", na_value=np.nan), np.nan)[codes]


def parse_numbers(s: pd.Series, *, si: bool, decimal_comma: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Text cells -> (float64 values, missing mask, status: 0 ok or missing, 1 not a number, 2 not finite).

    Values are NaN where missing or rejected. See the module docstring for what is accepted.
    """
    t = s.str.strip()
    low = t.str.lower()
    missing = low.isin(_MISSING).to_numpy()
    vals = to_float(t.where(~missing))
    failed = np.isnan(vals) & ~missing
    if failed.any():
        sub = t[failed]
        if decimal_comma:
            sub = sub.where(~sub.str.fullmatch(r"[^.,]*,[^.,]*"), sub.str.replace(",", ".", regex=False))
        got = to_float(sub)
        if si:
            suffix = sub.str[-1:].str.lower()
            base = to_float(sub.str[:-1].str.rstrip())
            with np.errstate(over="ignore", invalid="ignore"):
                for letter, mult in _SI.items():
                    use = np.isnan(got) & (suffix == letter).to_numpy()
                    got[use] = base[use] * mult
        vals[failed] = got
    status = np.zeros(len(s), np.int8)
    status[np.isnan(vals) & ~missing] = 1
    status[np.isinf(vals) | (low.isin(_NOT_FINITE).to_numpy() & ~missing)] = 2
    vals[status > 0] = np.nan
    return vals, missing, status


def parse_names(s: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Text cells -> (cleaned names, None when empty; problem per cell, None when fine)."""
    codes, uniques = pd.factorize(s, use_na_sentinel=False)
    clean = np.empty(len(uniques), object)
    problem = np.empty(len(uniques), object)
    for k, u in enumerate(uniques):
        v = str(u).strip(" ")
        clean[k] = v or None
        if not v:
            continue
        if v[0] in FORMULA_START:
            problem[k] = (f"starts with {v[0]!r}, which spreadsheets run as a formula (CSV injection); "
                          "rename it")
        elif (m := CONTROL_RE.search(v)) is not None:
            problem[k] = f"contains the control character U+{ord(m.group()):04X}"
        elif len(v) > MAX_NAME:
            problem[k] = f"is {len(v)} characters long (at most {MAX_NAME})"
    return clean[codes], problem[codes]


def unit_from_name(name: str) -> str | None:
    """Unit implied by a metric or column name, or None (see the module docstring)."""
    tokens = set(re.split(r"[^a-z0-9]+", name.casefold()))
    for unit, words in (("perplexity", {"ppl", "perplexity"}), ("bits", {"bpb", "bpc", "bits", "bpt"}),
                        ("accuracy", {"acc", "accuracy"}), ("f1", {"f1"}), ("error", {"err", "error"}),
                        ("nats", {"loss", "nll", "ce", "xent", "crossentropy", "logloss"}),
                        ("score", {"score"})):
        if tokens & words:
            return unit
    return None


_HEADER_SCALE = re.compile(r"[(\[]\s*(?:in\s+)?(k|thousands?|m|mn|millions?|b|bn|g|billions?|t|trillions?|1e\d{1,2})"
                           r"\s*[)\]]\s*$", re.IGNORECASE)
_SCALE_WORDS = {"k": 1e3, "thousand": 1e3, "m": 1e6, "mn": 1e6, "million": 1e6, "b": 1e9, "bn": 1e9, "g": 1e9,
                "billion": 1e9, "t": 1e12, "trillion": 1e12}


def has_si_suffix(s: pd.Series) -> np.ndarray:
    """Cells written with their own SI suffix ('70M'): a unit in the column's header does not apply to them."""
    return s.str.strip().str[-1:].str.lower().isin(list(_SI)).to_numpy(dtype=bool)


def header_scale(header: str) -> float | None:
    """The multiplier a size column's header states in brackets at its end: ``Params (M)`` 1e6, ``Tokens [B]``
    1e9, ``FLOPs (1e21)`` 1e21, ``N (in billions)`` 1e9; None when it states none."""
    m = _HEADER_SCALE.search(str(header))
    if m is None:
        return None
    word = m.group(1).lower()
    return float(word) if word.startswith("1e") else _SCALE_WORDS[word.rstrip("s")]


def metric_name(header: str, only: bool) -> str:
    snake = re.sub(r"[^0-9a-z]+", "_", unicodedata.normalize("NFKC", header).casefold()).strip("_")
    if only and snake in ("value", "loss", ""):
        return "loss"
    return snake or "value"


def si_label(x: float) -> str:
    for div, suffix in ((1e15, "P"), (1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if x >= div:
            return f"{x / div:.6g}{suffix}"
    return f"{x:.6g}"
