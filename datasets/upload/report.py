"""What the upload reader returns: the runs and points in the store's long form, and the report.
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class UploadReport:
    """What :func:`read_upload` read, assumed and rejected.

    ``rejected`` lists ``(row, column, reason)`` for the first :data:`MAX_DETAIL` problems in row
    order; ``n_rejected`` and ``rejection_counts`` (``"column: reason" -> count``) cover all.
    """

    filename: str | None
    format: str                      # "csv" | "parquet"
    encoding: str | None
    delimiter: str | None
    layout: str                      # "long" | "wide"
    rows_read: int                   # data rows, blank lines excluded
    points_kept: int
    runs: int
    families: int
    mapping: dict[str, str | list[str]]
    ignored_columns: tuple[str, ...]
    defaults: tuple[str, ...]
    rejected: tuple[tuple[int, str, str], ...]
    n_rejected: int
    rejection_counts: dict[str, int]
    warnings: tuple[str, ...]

    def to_dict(self) -> dict:
        return {"filename": self.filename, "format": self.format, "encoding": self.encoding,
                "delimiter": self.delimiter, "layout": self.layout, "rows_read": self.rows_read,
                "points_kept": self.points_kept, "runs": self.runs, "families": self.families,
                "mapping": dict(self.mapping), "ignored_columns": list(self.ignored_columns),
                "defaults": list(self.defaults), "rejected": [list(r) for r in self.rejected],
                "n_rejected": self.n_rejected, "rejection_counts": dict(self.rejection_counts),
                "warnings": list(self.warnings)}


@dataclass(frozen=True)
class Upload:
    """An uploaded file in the store's long form: ``runs`` (RUN_COLUMNS), ``points`` (POINT_COLUMNS)."""

    runs: pd.DataFrame
    points: pd.DataFrame
    report: UploadReport

    def to_dict(self) -> dict:
        return {"runs": self.runs.astype(object).where(self.runs.notna(), None).to_dict("records"),
                "points": self.points.astype(object).where(self.points.notna(), None).to_dict("records"),
                "report": self.report.to_dict()}
