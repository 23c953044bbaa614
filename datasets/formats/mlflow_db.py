"""MLflow's SQLite tracking store (``mlflow.db``, MLflow 3.7+'s default), read with Python's ``sqlite3``.

MLflow keeps runs, params, tags and metric histories in tables of a fixed schema (its SQLAlchemy store)::

    experiments(experiment_id, name, lifecycle_stage, ...)
    runs(run_uuid, name, experiment_id, lifecycle_stage, ...)
    metrics(key, value, timestamp, run_uuid, step, is_nan)
    params(key, value, run_uuid)
    tags(key, value, run_uuid)              -- mlflow.runName

They are read as the folder layout is (:mod:`datasets.formats.mlflow_folder`): runs named by their run
name, experiments as families, params as config (a size-named param is N, D or C), every metric row a
point (a NaN, stored as ``is_nan``, is rejected as not finite with its row). The database is copied into
memory (``sqlite3`` ``deserialize``) and only read: nothing is written, no file is locked. A database
whose MLflow tables are views, not tables, is refused (a view could run any query), and queries stop
after :data:`QUERY_SECONDS`, so a hostile file cannot hang the reader.
"""
from __future__ import annotations

import sqlite3
import time

import pandas as pd

from datasets.formats.draft import Draft
from datasets.formats.limits import MAX_ROWS
from datasets.formats.mlflow_folder import run_row
from datasets.formats.series import series_draft
from datasets.upload import UploadError

MAGIC = b"SQLite format 3\x00"
TABLES = ("experiments", "runs", "metrics", "params", "tags")
QUERY_SECONDS = 30.0


def _connect(raw: bytes, label: str) -> sqlite3.Connection:
    con = sqlite3.connect(":memory:")
    try:
        con.deserialize(raw)
        kinds = dict(con.execute("SELECT name, type FROM sqlite_master WHERE name IN (?, ?, ?, ?, ?)", TABLES))
    except sqlite3.DatabaseError as e:
        con.close()
        raise UploadError(f"{label!r} is not a readable SQLite database ({e}).",
                          fix="Upload the mlflow.db file MLflow wrote, copied while no run was logging.") from None
    missing = [t for t in TABLES if kinds.get(t) != "table"]
    if missing:
        con.close()
        raise UploadError(f"{label!r} is an SQLite database but not MLflow's tracking store (no table "
                          f"{', '.join(map(repr, missing))}).",
                          fix="Upload MLflow's mlflow.db, or export the runs as CSV.")
    deadline = time.monotonic() + QUERY_SECONDS
    con.set_progress_handler(lambda: int(time.monotonic() > deadline), 100_000)
    return con


def is_mlflow_db(raw: bytes) -> bool:
    """An SQLite database holding MLflow's tables."""
    if not raw.startswith(MAGIC):
        return False
    try:
        _connect(raw, "").close()
    except UploadError:
        return False
    return True


def read_mlflow_db(raw: bytes, *, label: str, column_map=None) -> Draft:
    """An ``mlflow.db`` file's bytes -> :class:`Draft` (format ``"mlflow"``)."""
    con = _connect(raw, label)
    try:
        n = con.execute("SELECT count(*) FROM metrics").fetchone()[0]
        if n > MAX_ROWS:
            raise UploadError(f"{label!r} holds {n:,} metric values, above the limit of {MAX_ROWS:,}.",
                              fix="Export the runs you want to CSV (mlflow.search_runs / get_metric_history).")
        runs = pd.read_sql_query(
            "SELECT r.run_uuid AS run_id, r.name AS run_name, r.lifecycle_stage AS stage, e.name AS experiment, "
            "(SELECT t.value FROM tags t WHERE t.run_uuid = r.run_uuid AND t.key = 'mlflow.runName') AS tag_name "
            "FROM runs r LEFT JOIN experiments e ON e.experiment_id = r.experiment_id "
            "ORDER BY r.start_time, r.run_uuid",
            con)
        params = pd.read_sql_query("SELECT run_uuid, key, value FROM params ORDER BY run_uuid, key", con)
        metrics = pd.read_sql_query("SELECT rowid AS row, run_uuid, key, value, step, is_nan FROM metrics "
                                    "ORDER BY run_uuid, key, step, timestamp", con)
    except sqlite3.DatabaseError as e:   # malformed pages, or a query stopped by the time limit
        raise UploadError(f"{label!r} could not be read ({e}).",
                          fix="Upload the mlflow.db file MLflow wrote, or export the runs as CSV.") from None
    finally:
        con.close()
    deleted = runs["stage"].eq("deleted")
    runs = runs[~deleted]
    by_run = {rid: dict(zip(g["key"], g["value"])) for rid, g in params.groupby("run_uuid")}
    rows, seen = [], {}
    name_of = {}
    for rid, run_name, tag_name, exp in zip(runs["run_id"], runs["run_name"], runs["tag_name"], runs["experiment"]):
        name = str(tag_name or run_name or rid).strip() or str(rid)
        seen[name] = seen.get(name, 0) + 1
        if seen[name] > 1:                 # MLflow allows repeated run names; runs here need their own
            name = f"{name}-{str(rid)[:8]}"
        name_of[rid] = name
        rows.append(run_row(name, exp or None, str(rid), {k: str(v) for k, v in by_run.get(rid, {}).items()}))
    metrics = metrics[metrics["run_uuid"].isin(name_of)]
    if metrics.empty:
        raise UploadError(f"No metric history was found in {label!r} "
                          f"({len(rows)} run{'s' if len(rows) != 1 else ''}).",
                          fix="Log metrics with mlflow.log_metric, or check that this is the tracking database.")
    value = metrics["value"].astype(object).where(metrics["is_nan"].eq(0), "nan")
    rec = pd.DataFrame({"run": metrics["run_uuid"].map(name_of), "name": metrics["key"], "step": metrics["step"],
                        "value": value, "file": "metrics table", "row": metrics["row"]})
    d = series_draft(rec, pd.DataFrame(rows), column_map=column_map, fmt="mlflow", rows_read=len(metrics), files=1,
                     what="metric key")
    d.sources["run"] = "run names (mlflow.runName)"
    d.sources["step"] = "metric step"
    if deleted.any():
        d.notes.append(f"{int(deleted.sum())} deleted run{'s' if deleted.sum() != 1 else ''} were skipped.")
    no_metrics = [name_of[r] for r in name_of if r not in set(metrics["run_uuid"])]
    if no_metrics:
        d.warnings.append(f"{len(no_metrics)} run{'s' if len(no_metrics) != 1 else ''} "
                          f"({', '.join(map(repr, no_metrics[:5]))}) have no metric history; they have no points.")
    d.mapping = {"run": "mlflow.runName", "family": "experiment name", "step": "metric step", **d.mapping}
    return d
