"""The reader's intermediate form: a table whose every cell is text, whatever the input was.

CSV files (:mod:`datasets.upload.sniff`), Parquet files and in-memory DataFrames
(:func:`table_from_frame`, used by :func:`datasets.upload.read_frame`) all become a :class:`Table`, so the
column, cell and build stages run the same code on each.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from datasets.upload.errors import UploadError


@dataclass
class Table:
    """A parsed file: every column as text (``""`` for missing), positional column labels."""

    header: list[str]
    frame: pd.DataFrame
    rownum: np.ndarray           # 1-based data row of each frame row
    fmt: str
    encoding: str | None = None
    delimiter: str | None = None
    line_offset: int | None = None   # file line = row + line_offset (None when records span lines)
    warnings: list[str] = field(default_factory=list)

    def where(self, row: int) -> str:
        if self.line_offset is None:
            return f"row {row}"
        return f"row {row} (file line {row + self.line_offset})"


def text_column(values: pa.ChunkedArray | pa.Array) -> pd.Series:
    """An Arrow column as text cells: numbers in their shortest round-trip form, null -> ``""``."""
    try:
        text = pc.cast(values, pa.string()).to_pandas()
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid, pa.ArrowTypeError):
        text = pd.Series(["" if v is None else str(v) for v in values.to_pylist()])
    return pd.Series(text, dtype=str).fillna("")


def _frame_column(s: pd.Series) -> pd.Series:
    """One DataFrame column as text cells. Missing values (``NaN``, ``None``, ``NA``, ``NaT``) become
    ``""`` (missing, as an empty CSV cell); infinities stay ``inf`` and are rejected by the cell stage."""
    if isinstance(s.dtype, pd.CategoricalDtype):
        s = s.astype(object)
    if pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype):
        try:
            return text_column(pa.array(s, from_pandas=True))   # from_pandas: NaN -> null
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            pass
    values = s.to_numpy(dtype=object)
    missing = pd.isna(values)
    return pd.Series(["" if m else (v if isinstance(v, str) else str(v)) for v, m in zip(values, missing)],
                     dtype=str)


def table_from_frame(df: pd.DataFrame, *, fmt: str, max_rows: int) -> Table:
    """A :class:`Table` of ``df``: column labels as text, every cell as text, rows numbered from 1 in order.

    The index is ignored (``df.reset_index()`` first to keep it as a column).
    """
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"read_frame takes a pandas DataFrame, not {type(df).__name__}")
    if df.shape[1] == 0:
        raise UploadError("The table has no columns.", fix="Pass a table with a value column and a size column "
                                                           "(N, D or C).")
    if len(df) > max_rows:
        raise UploadError(f"The table has {len(df):,} rows, above the limit of {max_rows:,}.",
                          fix="Keep fewer checkpoints per run, or raise max_rows.")
    if len(df) == 0:
        raise UploadError("The table has no rows.", fix="Pass a table with at least one row.")
    header = [str(c) for c in df.columns]
    frame = pd.DataFrame({i: _frame_column(df.iloc[:, i]).reset_index(drop=True) for i in range(df.shape[1])})
    return Table(header=header, frame=frame, rownum=np.arange(1, len(frame) + 1), fmt=fmt)
