"""Bottom layer of the upload reader: its error type, its limits and the helpers that quote user text.

Everything else in :mod:`datasets.upload` imports from here; this module imports nothing of the package.
"""
from __future__ import annotations

import re

from datasets.errors import WorkbenchError


SOURCE = "upload"
DEFAULT_FAMILY = "my-runs"
MAX_BYTES = 50_000_000        # 50 MB
MAX_ROWS = 2_000_000
MAX_RUNS = 5_000
MAX_NAME = 200                # characters in a run / family / metric name
MAX_DETAIL = 1_000            # rejections listed one by one (all are counted)
DELIMITERS = (",", ";", "\t", "|")
FORMULA_START = frozenset("=+-@\t\r")
CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class UploadError(WorkbenchError, ValueError):
    """A file that cannot be read as runs: ``str(e)`` says what is wrong and what to do.

    Attributes
    ----------
    message : str
        What is wrong, naming the row and column when there is one.
    row : int or None
        1-based data row (row 1 is the first row below the header).
    column : str or None
        The column's name as written in the file.
    fix : str
        What to do about it.
    """

    def __init__(self, message: str, *, fix: str = "", row: int | None = None,
                 column: str | None = None):
        super().__init__(message, fix)
        self.row, self.column = row, column


def quote_list(items) -> str:
    items = [repr(str(i)) for i in items]
    return ", ".join(items[:12]) + (f" and {len(items) - 12} more" if len(items) > 12 else "")


def megabytes(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def quote_cell(cell: object, limit: int = 60) -> str:
    text = str(cell)
    return repr(text if len(text) <= limit else text[:limit] + "...")
