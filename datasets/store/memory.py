"""An in-memory store: runs and points (an upload, a family, a test's tables) in the store's schema.

:func:`open_memory` creates a private in-memory DuckDB database, attaches a second in-memory database
under the name ``store`` and writes the same tables and views there as a built store file has, so every
query of :class:`datasets.store.Store` runs unchanged on it. The non-run tables are filled from the
runs and points unless given:

``sources``     one row per ``runs.source``: title (``name`` when there is one source), the paper, repo,
                commit and licence when the source's runs agree on one, ``n_files``, ``n_runs``, ``n_points``.
``files``       one row per distinct ``runs.file`` (no sha256 or size: nothing was verified).
``exclusions``  empty (nothing was left out), or the given rows (an upload's rejections).
``meta``        ``schema_version``, ``input_digest`` (sha256 over the tables' contents), ``name``,
                ``sources``, ``extra_tables``.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping

import duckdb
import pandas as pd

from datasets.schema import SCHEMA_VERSION, TABLE_COLUMNS, extra_table_name_ok, row_problem
from datasets.sources import make_points, make_runs
from datasets.store.write import create_tables

_COLUMNS = {name: list(TABLE_COLUMNS[name]) for name in ("sources", "files", "exclusions")}


def digest(frames: Mapping[str, pd.DataFrame]) -> str:
    """sha256 over the contents of ``frames`` (names, columns and values; row order counts)."""
    h = hashlib.sha256()
    for name in sorted(frames):
        df = frames[name]
        h.update(f"{name}\0{','.join(map(str, df.columns))}\0{len(df)}\0".encode())
        if len(df):
            h.update(pd.util.hash_pandas_object(df.astype("string"), index=False).to_numpy().tobytes())
    return h.hexdigest()


def _one(values: pd.Series):
    """The single distinct non-null value of ``values``, else None."""
    distinct = values.dropna().unique()
    return distinct[0] if len(distinct) == 1 else None


def _sources(runs: pd.DataFrame, points: pd.DataFrame, name: str) -> pd.DataFrame:
    n_points = points["run_id"].map(runs.set_index("run_id")["source"]).value_counts()
    rows = []
    sources = sorted(runs["source"].unique())
    for source, g in runs.groupby("source", sort=True):
        rows.append(dict(source=source, title=name if len(sources) == 1 else source, paper=_one(g["paper"]),
                         repo=_one(g["repo"]), commit=_one(g["commit"]), licence=_one(g["licence"]),
                         n_files=int(g["file"].nunique()), n_runs=len(g), n_points=int(n_points.get(source, 0))))
    return pd.DataFrame(rows, columns=_COLUMNS["sources"])


def _files(runs: pd.DataFrame) -> pd.DataFrame:
    f = runs.dropna(subset=["file"]).drop_duplicates(["source", "file"])
    return pd.DataFrame({"source": f["source"].to_numpy(), "path": f["file"].to_numpy(), "sha256": None,
                         "bytes": pd.array([None] * len(f), dtype="Int64"),
                         "rows_read": pd.array([None] * len(f), dtype="Int64")}, columns=_COLUMNS["files"])


def _given(name: str, df: pd.DataFrame | None) -> pd.DataFrame | None:
    if df is None:
        return None
    missing = [c for c in _COLUMNS[name] if c not in df]
    if missing:
        raise ValueError(f"{name} lacks the column(s) {', '.join(missing)}; expected {_COLUMNS[name]}")
    return df[_COLUMNS[name]].reset_index(drop=True)


def memory_tables(runs: pd.DataFrame, points: pd.DataFrame, *, name: str, sources: pd.DataFrame | None = None,
                  files: pd.DataFrame | None = None, exclusions: pd.DataFrame | None = None,
                  extra_tables: tuple[str, ...] = (), with_digest: bool = True) -> dict[str, pd.DataFrame]:
    """The six core tables of a store holding ``runs`` and ``points`` (see the module docstring);
    ``meta.input_digest`` is left empty unless ``with_digest`` (hashing costs ~1 s per million points).

    Raises
    ------
    ValueError
        Columns outside the schema's types, a duplicated or empty run id, a run without source or family,
        a point without a run, an unknown split or unit, an empty metric.
    """
    runs, points = make_runs(runs), make_points(points)
    problem = row_problem(runs, points)
    if problem:
        raise ValueError(f"the tables are not a store: {problem}")
    sources = _given("sources", sources)
    files = _given("files", files)
    exclusions = _given("exclusions", exclusions)
    tables = {"runs": runs, "points": points,
              "sources": sources if sources is not None else _sources(runs, points, name),
              "files": files if files is not None else _files(runs),
              "exclusions": exclusions if exclusions is not None else pd.DataFrame(columns=_COLUMNS["exclusions"])}
    tables["exclusions"] = tables["exclusions"].astype({"n_rows": "Int64"})
    tables["meta"] = pd.DataFrame(
        [("schema_version", str(SCHEMA_VERSION)), ("input_digest", digest(tables) if with_digest else ""),
         ("name", name),
         ("sources", json.dumps(sorted(runs["source"].unique().tolist()))),
         ("extra_tables", json.dumps(sorted(extra_tables)))], columns=["key", "value"])
    return tables


def open_memory(tables: Mapping[str, pd.DataFrame],
                extras: Mapping[str, pd.DataFrame] | None = None) -> duckdb.DuckDBPyConnection:
    """A private in-memory DuckDB connection whose database ``store`` holds ``tables`` and ``extras``
    with the store's schema and views."""
    extras = dict(extras or {})
    for extra in extras:
        if not extra_table_name_ok(extra):
            raise ValueError(f"extra table name {extra!r} is not allowed (lower-case letters, digits and _, "
                             "not a core table)")
    con = duckdb.connect(":memory:")
    try:
        con.execute("ATTACH ':memory:' AS store")
        con.execute("USE store")
        create_tables(con, tables, extras)
        con.execute("USE memory")
    except BaseException:
        con.close()
        raise
    return con


def upload_tables(upload) -> dict[str, pd.DataFrame]:
    """A :class:`datasets.upload.Upload` as store tables: its ``runs`` and ``points``, its file in ``files``
    (rows read) and its rejections in ``exclusions`` (one row per column and reason)."""
    rep = upload.report
    source = str(upload.runs["source"].iloc[0]) if len(upload.runs) else "upload"
    files = pd.DataFrame([dict(source=source, path=rep.filename, sha256=None, bytes=None, rows_read=rep.rows_read)]
                         if rep.filename else [], columns=_COLUMNS["files"])
    excl = [dict(source=source, file=rep.filename, what=k.split(": ", 1)[0], action="dropped",
                 reason=k.split(": ", 1)[-1], n_rows=n) for k, n in rep.rejection_counts.items()]
    return {"runs": upload.runs, "points": upload.points, "files": files,
            "exclusions": pd.DataFrame(excl, columns=_COLUMNS["exclusions"])}
