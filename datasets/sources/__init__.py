"""One ingester per source folder of published data.

Each module in this package exposes ``ingest(folder: pathlib.Path) -> SourceTables`` that reads the
source's files (paths relative to ``folder``, as listed in the manifest), converts units knowingly and
returns rows in the store's long form (:mod:`datasets.schema`). Every conversion, flag or
omission is recorded in ``exclusions`` with a reason, so the store says what it left out.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from datasets.schema import POINT_COLUMNS, RUN_COLUMNS, SPLITS


@dataclass
class SourceTables:
    """What one ingester returns: rows for ``runs`` and ``points``, plus the build's decisions."""

    runs: pd.DataFrame
    points: pd.DataFrame
    exclusions: list[dict] = field(default_factory=list)   # {file, what, action, reason, n_rows}
    rows_read: dict[str, int] = field(default_factory=dict)  # local file path -> rows read

    def exclude(self, file: str, what: str, action: str, reason: str, n_rows: int = 0) -> None:
        """Record a decision: ``action`` is one of 'dropped', 'converted', 'flagged', 'deduplicated'."""
        self.exclusions.append(dict(file=file, what=what, action=action, reason=reason, n_rows=int(n_rows)))


def conform(df: pd.DataFrame, columns: dict[str, str]) -> pd.DataFrame:
    """Return ``df`` with exactly the schema's columns, in order, with the schema's dtypes."""
    out = pd.DataFrame(index=range(len(df)))
    df = df.reset_index(drop=True)
    for col, sqltype in columns.items():
        if col in df:
            s = df[col]
        else:
            s = pd.Series([None] * len(df))
        if sqltype == "DOUBLE":
            s = pd.to_numeric(s, errors="raise").astype("float64")
        elif sqltype == "BOOLEAN":
            s = s.astype("boolean")
        else:
            if s.dtype == object and s.map(type).eq(dict).any():
                s = s.map(lambda v: json.dumps(v, sort_keys=True) if isinstance(v, dict) else v)
            s = s.astype("string")
        out[col] = s.values
    return out


def make_runs(df: pd.DataFrame) -> pd.DataFrame:
    """Conform a frame of runs to :data:`RUN_COLUMNS` (missing columns become NULL)."""
    out = conform(df, RUN_COLUMNS)
    dup = out["run_id"].duplicated()
    if dup.any():
        raise ValueError(f"duplicate run_id: {out.loc[dup, 'run_id'].iloc[0]}")
    return out


def make_points(df: pd.DataFrame) -> pd.DataFrame:
    """Conform a frame of points to :data:`POINT_COLUMNS`; drops nothing, checks splits."""
    out = conform(df, POINT_COLUMNS)
    bad = ~out["split"].isin(SPLITS)
    if bad.any():
        raise ValueError(f"unknown split {out.loc[bad, 'split'].iloc[0]!r}")
    return out


def read_source_txt(folder: Path) -> dict[str, str]:
    """Parse the header of a source folder's ``SOURCE.txt`` (repository, commit, licence, paper)."""
    info: dict[str, str] = {}
    text = (folder / "SOURCE.txt").read_text(encoding="utf-8")
    for line in text.splitlines():
        for key, label in (("repo", "Source repository:"), ("commit", "Upstream commit:"),
                           ("licence", "License:"), ("paper", "Paper:")):
            if line.startswith(label) and key not in info:
                value = line[len(label):].strip()
                if key == "repo":
                    value = value.split()[0]
                if key == "commit":
                    value = value.split()[0]
                info[key] = value
    return info
