"""Text and numbers for the dashboard: every number with its unit, every name from a file escaped.

No streamlit here (plain functions, unit-tested in ``tests/test_ui_format.py``):

* :func:`quantity` -- ``70M parameters``, ``1.2e21 FLOPs``, ``2,300 GPU-hours``, ``1.817 nats``, ``12.50%``;
* :func:`interval` -- ``95% CI 1B to 2B parameters``;
* :func:`escape` and :func:`code` -- text from files made safe for Streamlit Markdown;
* :func:`slug` -- a file-name fragment; :func:`url_value` -- a widget value as written in the URL;
* :func:`scale_options` -- round values (1, 1.8, 3.2, 5.6 x 10^k) for log-scale sliders;
* :func:`parameter_table` -- a fit's parameters with their 95% intervals, units and meanings;
* :func:`number_format` -- how a table column of numbers is drawn (never as raw digits like 88000000000000);
* :func:`table_scale` and :func:`scaled_header` -- the power of ten a column past 2^53 (FLOPs) is shown in.
"""
from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd

from datasets.vocabulary import AXES

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:=])")
_SI = ((1e15, "P"), (1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K"))
# counts, written with an SI suffix (70M parameters): the counted scale axes' units, by unit and by column name
COUNT_UNITS = {**{name: a.unit for a in AXES.values() if a.symbol != "C" for name in (a.unit, a.column)},
               "samples": "samples", "runs": "runs", "points": "points"}


def finite(x) -> bool:
    """True when ``x`` is a finite number (False for None, NaN, infinities and non-numbers)."""
    try:
        return x is not None and not isinstance(x, bool) and math.isfinite(float(x))
    except (TypeError, ValueError, OverflowError):
        return False


def escape(text: object) -> str:
    """``text`` (a name or message that may come from a file) with every Markdown special escaped."""
    return _MD_SPECIAL.sub(r"\\\1", str(text))


def code(text: object) -> str:
    """``text`` as an inline code span (Markdown escapes do not apply inside one; backticks are replaced)."""
    return "`" + str(text).replace("`", "'").replace("\n", " ") + "`"


def quantity(x, unit: str | None = None, digits: int = 3, short: bool = False) -> str:
    """A number with its unit: ``70M parameters``, ``1.2e21 FLOPs``, ``2,300 GPU-hours``, ``1.82 nats``.

    ``unit`` ``"%"`` reads ``x`` as a fraction (0.125 -> ``12.50%``). ``short`` drops the unit word
    (for a label that already names the unit): ``70M``, ``1.2e21``. Not a finite number: ``n/a``.
    """
    if short:
        text, word = quantity(x, unit, digits), COUNT_UNITS.get(unit, unit)
        return text[: -len(word) - 1] if unit and text.endswith(" " + word) else text
    if not finite(x):
        return "n/a"
    x, u = float(x), unit or ""
    if u in COUNT_UNITS:
        scale, suffix = next(((s, p) for s, p in _SI if abs(x) >= s), (1.0, ""))
        text = f"{x / scale:.{digits}g}"
        return f"{text if 'e' not in text else f'{x / scale:.0f}'}{suffix} {COUNT_UNITS[u]}"
    if u == "FLOPs":
        mant, exp = f"{x:.{digits}e}".split("e")
        return f"{mant.rstrip('0').rstrip('.')}e{int(exp)} FLOPs"
    if u == "GPU-hours":
        return f"{x:,.0f} GPU-hours" if x >= 100 else f"{x:.{digits}g} GPU-hours"
    if u == "%":
        return f"{100 * x:.{max(digits - 1, 1)}f}%"
    return f"{x:.{digits + 1}g} {u}".strip()


def interval(ci, unit: str | None = None, digits: int = 3) -> str:
    """``95% CI a to b unit``, the unit written once (or why there is no interval)."""
    if not ci or not all(finite(v) for v in ci):
        return "no interval (bootstrap off or too few runs)"
    lo, hi = (quantity(v, unit, digits) for v in tuple(ci)[:2])
    word = lo.split(" ", 1)[1] if " " in lo else ""
    if word and hi.endswith(" " + word):
        lo = lo[: -len(word) - 1]
    return f"95% CI {lo} to {hi}"


def slug(text: object) -> str:
    """A safe file-name fragment (letters, digits, ``_.-``; at most 80 characters)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(text)).strip("_")[:80] or "data"


def url_value(v) -> str:
    """A widget value as written in the URL: booleans as ``1``/``0``; floats short and exact to 10
    digits (``5.76e23``, ``0.3``); anything else as ``str``."""
    if isinstance(v, (bool, np.bool_)):
        return "1" if v else "0"
    if isinstance(v, (float, np.floating)):
        v = float(v)
        if v and math.isfinite(v) and not 1e-4 <= abs(v) < 1e5:
            mant, exp = f"{v:.9e}".split("e")
            return f"{mant.rstrip('0').rstrip('.')}e{int(exp)}"
        return format(v, ".10g")
    return str(v)


def scale_options(lo: float, hi: float, per_decade: int = 4) -> list[float]:
    """Round values from ``lo`` to ``hi`` on a log scale: 1, 1.8, 3.2, 5.6 x 10^k (``per_decade`` per decade)."""
    k0 = math.floor(math.log10(lo) * per_decade)
    k1 = math.ceil(math.log10(hi) * per_decade)
    return [float(f"{10 ** (k / per_decade):.2g}") for k in range(k0, k1 + 1)]


def parameter_table(fit, unit: str | None) -> pd.DataFrame:
    """The parameters of ``fit`` (a :class:`analysis.fit.FitResult` of a metric in ``unit``): value,
    95% interval (NaN without a bootstrap), unit and meaning, one row per parameter."""
    law = fit.law
    rows = []
    for p in law.params:
        lo, hi = tuple(fit.ci.get(p.name, (np.nan, np.nan)))[:2]
        rows.append({"parameter": p.name, "value": fit.params[p.name], "95% CI low": lo, "95% CI high": hi,
                     "unit": law.param_unit(p.name, unit), "meaning": p.meaning})
    return pd.DataFrame(rows)


SCIENTIFIC = "%.3e"        # Streamlit's sprintf: 8.800e+13, 9.470e-2
_PLAIN = (0.01, 1e5)       # floats Streamlit's default draws readably (up to 4 decimals, no exponent)


def number_format(values) -> str | None:
    """The ``st.column_config.NumberColumn`` format for a column of ``values``, or None where Streamlit's
    default draws them well.

    Streamlit's default writes a number with up to 4 decimals and never an exponent (Kaplan's
    N_c = 8.8e13 as ``88000000000000``, 3e-4 as ``0.0003``), and its printf ``%g`` does the same (it
    formats through a JavaScript number). So: integer counts from 100,000 -> ``"localized"``
    (``243,000``); floats all zero or with ``0.01 <= |x| < 1e5`` -> None; any other float column ->
    :data:`SCIENTIFIC` (``8.800e+13``)."""
    series = pd.Series(values)
    if pd.api.types.is_bool_dtype(series.dtype):
        return None
    arr = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float)
    arr = np.abs(arr[np.isfinite(arr)])
    if arr.size == 0:
        return None
    if pd.api.types.is_integer_dtype(series.dtype):
        return "localized" if arr.max() >= _PLAIN[1] else None
    nonzero = arr[arr > 0]
    if nonzero.size == 0 or (nonzero.min() >= _PLAIN[0] and nonzero.max() < _PLAIN[1]):
        return None
    return SCIENTIFIC


MAX_SAFE_INTEGER = 2 ** 53 - 1   # JavaScript's Number.MAX_SAFE_INTEGER (9.007e15)
TABLE_SCALE = 18                 # FLOPs past 2^53 are shown in units of 1e18 FLOPs


def table_scale(values) -> int:
    """The power of ten ``k`` a table column is shown divided by: 0 for a column Streamlit can draw, else
    :data:`TABLE_SCALE` (18; more, in steps of 3, for a column past ~9e33).

    Every double from 2^53 = 9.007e15 up is an integer, and Streamlit's number column writes an integer
    that JavaScript cannot hold exactly as raw digits with an error marker, whatever its ``format``
    (6.986e17 FLOPs as ``698600000000000000``). FLOPs of language models are past it. Divided by 1e18
    the column stays a number (it sorts, and draws as ``6.986e-1``) with the scale in its header."""
    arr = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=float)
    arr = np.abs(arr[np.isfinite(arr)])
    if arr.size == 0 or arr.max() <= MAX_SAFE_INTEGER:
        return 0
    k = TABLE_SCALE
    while arr.max() / 10.0 ** k > MAX_SAFE_INTEGER:
        k += 3
    return k


def scaled_header(header: str, k: int) -> str:
    """``compute (FLOPs)`` in units of 10^k: ``compute (1e18 FLOPs)``; a header without a unit in
    parentheses (a word: not ``(2022)`` or ``(%)``) gets ``(× 1e18)`` appended."""
    if k == 0:
        return header
    m = re.fullmatch(r"(.*)\(([A-Za-z][A-Za-z -]*)\)(.*)", header)
    if m:
        return f"{m.group(1)}(1e{k} {m.group(2)}){m.group(3)}"
    return f"{header} (× 1e{k})"
