"""Row- and cell-level rejections of the upload reader, reported as ``(row, column, reason)``.
"""
from __future__ import annotations

from collections import Counter
from typing import Callable

import numpy as np
import pandas as pd

from datasets.upload.errors import MAX_DETAIL, quote_cell
from datasets.upload.table import Table


class Rejections:
    """Row-level problems: first problem per row for row checks, per cell for value cells."""

    def __init__(self, table: Table):
        self.table = table
        self.alive = np.ones(len(table.frame), bool)
        self.entries: list[tuple[np.ndarray, str, str, Callable[[int], str] | None]] = []

    def row(self, mask: np.ndarray, column: str, reason: str, detail: Callable[[int], str] | None = None) -> None:
        """Reject rows in ``mask`` that are still alive."""
        new = mask & self.alive
        if new.any():
            self.entries.append((np.flatnonzero(new), column, reason, detail))
            self.alive &= ~new

    def cell(self, idx: np.ndarray, column: str, reason: str, detail: Callable[[int], str] | None = None) -> None:
        """Reject single points (frame rows ``idx``) without rejecting their row."""
        if len(idx):
            self.entries.append((np.asarray(idx), column, reason, detail))

    def summary(self) -> tuple[tuple[tuple[int, str, str], ...], int, dict[str, int]]:
        counts = Counter()
        for idx, column, reason, _ in self.entries:
            counts[f"{column}: {reason}"] += len(idx)
        if not self.entries:
            return (), 0, {}
        rows = np.concatenate([self.table.rownum[e[0]] for e in self.entries])
        which = np.concatenate([np.full(len(e[0]), k) for k, e in enumerate(self.entries)])
        pos = np.concatenate([e[0] for e in self.entries])
        order = np.lexsort((which, rows))[:MAX_DETAIL]
        detail = []
        for o in order:
            _, column, reason, extra = self.entries[which[o]]
            detail.append((int(rows[o]), column, reason + (extra(int(pos[o])) if extra else "")))
        return tuple(detail), int(sum(counts.values())), dict(counts.most_common())


def cell_quote(s: pd.Series) -> Callable[[int], str]:
    return lambda i: f": {quote_cell(s.iat[i])}"


def check_numeric(rej: Rejections, s: pd.Series, column: str, status: np.ndarray) -> None:
    rej.row(status == 1, column, "not a number", cell_quote(s))
    rej.row(status == 2, column, "not finite (leave the cell empty if the value is missing)", cell_quote(s))
