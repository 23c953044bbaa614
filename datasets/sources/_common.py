"""Helpers shared by the single-folder ingesters (pythia, overtrain, gemstones, ...).

* :class:`Provenance`: repository, commit, licence and paper of a source folder, and the upstream
  path of every local file (from ``SOURCE.txt``), so each run names the file it came from.
* :func:`numeric`: a column as float64, failing with the file, row and column of the first cell that
  is not a number (pandas 3 may read huge integers as strings).
* :func:`finish`: sort, conform to the schema, and check what every ingester must guarantee: no
  duplicate points, finite values, and every file of the folder either read or recorded as left out.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from datasets.manifest import parse_source_txt
from datasets.sources import SourceTables, make_points, make_runs, read_source_txt

POINT_KEY = ["run_id", "metric", "tokens", "step"]


@dataclass(frozen=True)
class Provenance:
    """Where a source folder's bytes came from.

    ``repo``/``commit`` are the repository the bytes were taken from at the pinned commit (for
    ``revisiting`` that is IBM/ColPret, which copied the google-research files), so that
    ``repo @ commit : upstream[path]`` always names a file that exists.
    """

    source: str
    repo: str
    commit: str
    licence: str
    paper: str
    upstream: dict[str, str]        # local path (relative to the folder) -> path in ``repo``
    origin_repo: str                # the repository named first in SOURCE.txt (the data's origin)

    @classmethod
    def of(cls, folder: Path) -> "Provenance":
        folder = Path(folder)
        info = read_source_txt(folder)
        header, files = parse_source_txt(folder)
        return cls(source=folder.name, repo=header["download_repo"], commit=info["commit"],
                   licence=info["licence"].split(". ")[0], paper=info["paper"],
                   upstream={f["path"]: f["upstream"] for f in files}, origin_repo=info["repo"])

    @property
    def files(self) -> list[str]:
        """Every local data file listed in ``SOURCE.txt``, sorted."""
        return sorted(self.upstream)

    def run_fields(self, path: str) -> dict[str, str]:
        """``source, repo, commit, licence, paper, file`` for a run read from local ``path``."""
        return dict(source=self.source, repo=self.repo, commit=self.commit, licence=self.licence,
                    paper=self.paper, file=self.upstream[path])


def numeric(series: pd.Series, file: str, column: str) -> pd.Series:
    """``series`` as float64; a cell that is not a number raises ``ValueError`` naming file/row/column."""
    out = pd.to_numeric(series, errors="coerce").astype("float64")
    bad = out.isna() & series.notna()
    if bad.any():
        row = bad.idxmax()
        raise ValueError(f"{file}: row {row}, column {column!r}: not a number: {series[row]!r}")
    return out


def numeric_block(df: pd.DataFrame, columns: list[str], file: str) -> np.ndarray:
    """``df[columns]`` as a float64 array (rows x columns); raises like :func:`numeric` on a non-number."""
    block = df[columns]
    out = block.apply(pd.to_numeric, errors="coerce").to_numpy(dtype="float64")
    bad = np.isnan(out) & block.notna().to_numpy()
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise ValueError(f"{file}: row {df.index[i]}, column {columns[j]!r}: not a number: {block.iat[i, j]!r}")
    return out


def finish(tables: SourceTables, prov: Provenance, runs: pd.DataFrame, points: pd.DataFrame) -> SourceTables:
    """Conform, sort and check one source's tables; return ``tables`` filled in.

    Raises ``ValueError`` when a point has no run, two points share (run, metric, tokens, step), a
    value is not finite, or a file listed in ``SOURCE.txt`` was neither read nor recorded as left out.
    """
    orphans = ~points["run_id"].isin(runs["run_id"])
    if orphans.any():
        raise ValueError(f"{prov.source}: points reference runs that were not created: "
                         f"{sorted(points.loc[orphans, 'run_id'].unique())[:3]}")
    dup = points.duplicated(POINT_KEY)
    if dup.any():
        row = points[dup].iloc[0]
        raise ValueError(f"{prov.source}: duplicate point {row['run_id']} {row['metric']} "
                         f"tokens={row['tokens']} step={row['step']}")
    values = points["value"].astype("float64")
    if not np.isfinite(values).all():
        row = points[~np.isfinite(values)].iloc[0]
        raise ValueError(f"{prov.source}: non-finite value for {row['run_id']} {row['metric']}")
    left_out = {e["file"] for e in tables.exclusions if e["action"] == "dropped" and e["what"] == "whole file"}
    missing = [f for f in prov.files if f not in tables.rows_read and f not in left_out]
    if missing:
        raise ValueError(f"{prov.source}: files neither read nor recorded as left out: {missing[:3]}")
    unknown = sorted(set(tables.rows_read) - set(prov.files))
    if unknown:
        raise ValueError(f"{prov.source}: read files not listed in SOURCE.txt: {unknown[:3]}")

    points = points.sort_values(POINT_KEY, na_position="last", kind="mergesort")
    # conform() maps every string cell through Python; on a categorical it maps only the categories
    text = [c for c in ("run_id", "metric", "split", "unit") if c in points]
    points = points.astype({c: "category" for c in text})
    tables.runs = make_runs(runs.sort_values("run_id", kind="mergesort"))
    tables.points = make_points(points)
    tables.exclusions.sort(key=lambda e: (e["file"] or "", e["what"], e["action"], e["reason"]))
    tables.rows_read = dict(sorted(tables.rows_read.items()))
    return tables


def drop_file(tables: SourceTables, file: str, reason: str, n_rows: int = 0) -> None:
    """Record that a whole file is left out (``what = 'whole file'``, ``action = 'dropped'``)."""
    tables.exclude(file, "whole file", "dropped", reason, n_rows)


def clean_extra(extra: dict) -> dict | None:
    """Drop ``None``/NaN entries and unwrap numpy scalars so the JSON says only what is known."""
    out = {}
    for key, value in extra.items():
        if isinstance(value, np.generic):
            value = value.item()
        if value is None or (isinstance(value, float) and np.isnan(value)):
            continue
        out[key] = value
    return out or None
