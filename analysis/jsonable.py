"""The one conversion of results to plain JSON types, used by the CLI, the reports and the app's downloads.

:func:`jsonable` turns anything a result or a table holds into ``dict`` / ``list`` / ``str`` / ``int`` /
``float`` / ``bool`` / ``None`` so that ``json.dumps(jsonable(x), allow_nan=False)`` never fails:

* NaN and infinities -> ``None`` (strict JSON has neither); numpy scalars and arrays unwrapped;
* an :class:`analysis.interval.Interval` -> ``[lo, hi]`` (the CLI's JSON contract for a CI);
* a DataFrame -> a list of records, a Series -> a list; tuples and sets -> lists;
* DuckDB ``DECIMAL`` sums -> ``int`` when whole, else ``float``;
* dates and timestamps -> ISO 8601 text; paths -> text;
* a result object with ``to_dict()`` -> its dict; another dataclass -> its fields;
* anything else -> ``str(obj)``.

:func:`number` is the scalar case: a finite ``float`` or ``None``.
"""
from __future__ import annotations

import dataclasses
import datetime as _dt
import decimal
import math
from pathlib import PurePath

import numpy as np
import pandas as pd

from analysis.interval import Interval

__all__ = ["jsonable", "number"]


def number(value) -> float | None:
    """``value`` as a finite float, or None (missing, NaN, infinite or not a number)."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def jsonable(obj):
    """``obj`` as plain JSON types (see the module docstring for each rule)."""
    if obj is None or isinstance(obj, str):
        return str(obj) if isinstance(obj, np.str_) else obj
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, Interval):
        return [number(obj.lo), number(obj.hi)]
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return number(obj)
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, pd.DataFrame):
        return jsonable(obj.to_dict(orient="records"))
    if isinstance(obj, pd.Series):
        return jsonable(obj.tolist())
    if isinstance(obj, decimal.Decimal):
        return int(obj) if obj.is_finite() and obj == obj.to_integral_value() else number(obj)
    if obj is pd.NA or obj is pd.NaT:
        return None
    if isinstance(obj, (pd.Timestamp, _dt.datetime, _dt.date)):
        return obj.isoformat()
    if isinstance(obj, PurePath):
        return str(obj)
    if isinstance(obj, np.generic):
        return jsonable(obj.item())
    if hasattr(obj, "to_dict") and not isinstance(obj, type):
        return jsonable(obj.to_dict())
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return jsonable({f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)})
    return str(obj)
