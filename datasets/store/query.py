"""The store's query API: the app, the CLI and the tests read runs and points only through :class:`Store`.

One interface for the published corpus and for uploads alike: ``Store(path)`` opens a built store file
(one shared read-only connection per process, see :mod:`datasets.store.connection`) or a Parquet store
(a directory or an object-storage URL, read through views over ``read_parquet``, see
:mod:`datasets.store.parquet`), and
:meth:`Store.from_tables` puts runs and points (an upload, say) into a private in-memory database with
the same tables and views (:mod:`datasets.store.memory`), so every method answers the same way on both.

Every query runs on its own ``cursor()`` (safe across Streamlit's session threads), is parameterised
(``?``), and fetches its result fully into a pandas DataFrame. Identifiers (column and table names) only
ever come from allow-lists in this module.
"""
from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import duckdb
import pandas as pd

from datasets.schema import POINT_COLUMNS
from datasets.store import memory, parquet
from datasets.store.connection import connection, corrupt, first_line, signature
from datasets.store.fit_frame import FIT_POINT_COLUMNS, to_fit_frame
from datasets.store.locate import locate_store
from datasets.store.write import POINT_ORDER
from datasets.vocabulary import LOSS_UNITS

# a run the source flags as an outlier: ``runs.extra`` (JSON text) holds ``"..._outlier": true``
OUTLIER_FLAG = r'outlier"\s*:\s*true'
_RUN_FILTERS = ("family", "source", "arch", "data")
_RUN_JOIN_COLUMNS = ["family", "model", "params", "data", "arch"]
_FINAL_ORDER = "p.tokens DESC NULLS LAST, p.step DESC NULLS LAST, p.value NULLS LAST, p.split, p.unit"
# every point column, as the rows are stored: a total order, so results never depend on the query plan
_POINT_SORT = ", ".join(f"p.{c} NULLS FIRST" for c in POINT_ORDER)
_POINT_COLS = ", ".join(f"p.{c}" for c in POINT_COLUMNS)
# points joined to their runs (a Parquet store joins on (run_id, family) too: a family filter prunes files)
_POINTS_JOIN = "store.points p JOIN store.runs r ON p.run_id = r.run_id"


def _values(name: str, value) -> list[str]:
    """A filter value as a list of strings (a str, or an iterable of str)."""
    vals = [value] if isinstance(value, str) else list(value) if isinstance(value, Iterable) else None
    if vals is None or not all(isinstance(v, str) for v in vals):
        raise TypeError(f"{name} must be a string or a list of strings, got {value!r}")
    return vals


def _text(name: str, value) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, got {value!r}")
    return value


def _number(name: str, value) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(x):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return x


class Store:
    """Read-only queries over a store: a built file, or tables held in memory (see the module docstring).

    Parameters
    ----------
    path : the DuckDB file, or a Parquet store (a directory, or a ``s3://``/``gs://``... URL);
        default :func:`locate_store`.

    Attributes
    ----------
    path : Path, str or None
        The store file or directory (a remote Parquet store's URL as a str; None for an in-memory store).
    parquet : bool
        Whether the store is a Parquet dataset (:mod:`datasets.store.parquet`).
    name : str
        The file's path, or the name given to :meth:`from_tables`.

    Raises
    ------
    StoreError
        Missing, corrupt, locked, or built with another schema version.
    """

    def __init__(self, path: Path | str | None = None):
        location = path if path is not None else locate_store()
        self.parquet = parquet.is_parquet_store(location)
        # a local store is a Path; a remote Parquet store keeps its URL (a str)
        self.path: Path | str | None = location if parquet.is_url(location) else Path(location)
        self.name = str(self.path)
        self._con = parquet.connection(self.path) if self.parquet else connection(self.path)
        self._points_join = parquet.POINTS_JOIN if self.parquet else _POINTS_JOIN
        self._digest: str | None = None

    @classmethod
    def from_tables(cls, runs: pd.DataFrame, points: pd.DataFrame, *, name: str = "upload",
                    sources: pd.DataFrame | None = None, files: pd.DataFrame | None = None,
                    exclusions: pd.DataFrame | None = None,
                    extras: Mapping[str, pd.DataFrame] | None = None) -> "Store":
        """An in-memory store of ``runs`` and ``points`` (the schema's columns; missing ones are NULL) with
        the same tables, views and query API as a built store.

        ``sources``, ``files`` and ``exclusions`` default to what the runs say (one row per source, one per
        ``runs.file``, none); ``extras`` are extra tables (e.g. ``task_metadata`` for chance levels). The
        tables are copied: later changes to the frames do not reach the store.

        Raises
        ------
        ValueError
            When the tables are not a consistent store (see :func:`datasets.schema.row_problem`).
        """
        extras = dict(extras or {})
        tables = memory.memory_tables(runs, points, name=name, sources=sources, files=files,
                                      exclusions=exclusions, extra_tables=tuple(extras))
        self = cls.__new__(cls)
        self.path, self.name, self.parquet, self._points_join = None, name, False, _POINTS_JOIN
        self._con = memory.open_memory(tables, extras)
        self._digest = tables["meta"].set_index("key").at["input_digest", "value"]
        return self

    @classmethod
    def from_upload(cls, upload, *, name: str | None = None) -> "Store":
        """An in-memory store of a :class:`datasets.upload.Upload`: its runs and points, its file in
        ``files`` (rows read) and its rejections in ``exclusions`` (one row per column and reason)."""
        t = memory.upload_tables(upload)
        return cls.from_tables(t["runs"], t["points"], name=name or upload.report.filename or "upload",
                               files=t["files"] if len(t["files"]) else None, exclusions=t["exclusions"])

    @property
    def in_memory(self) -> bool:
        """Whether this store lives in memory (:meth:`from_tables`) rather than in a file."""
        return self.path is None

    @property
    def key(self) -> str:
        """Identifies the data for caches: the file's path and identity (device, inode, size, mtime), or
        ``memory:<name>:<sha256 of the tables>``. Equal keys mean equal query results."""
        if self.path is None:
            return f"memory:{self.name}:{self._digest}"
        if self.parquet:
            return parquet.content_key(self.path)
        return f"{self.path.expanduser().resolve()}:{':'.join(map(str, signature(self.path)))}"

    def close(self) -> None:
        """Release an in-memory store's database (a file store's shared connection stays open)."""
        if self.path is None:
            self._con.close()

    def __repr__(self) -> str:
        return f"Store({'memory: ' if self.path is None else ''}{self.name!r})"

    def _query(self, sql: str, params: Sequence = ()) -> pd.DataFrame:
        cur = self._con.cursor()
        try:  # Arrow, then pandas: fetched fully, and ~3x faster than .df() for long results
            return cur.sql(sql, params=list(params) or None).to_arrow_table().to_pandas()
        except (duckdb.IOException, duckdb.InternalException) as e:   # the file changed or broke under us
            raise corrupt(self.path or self.name, first_line(e)) from None
        except duckdb.InvalidInputException as e:   # a Parquet file damaged or replaced under us
            if not self.parquet:
                raise
            raise corrupt(self.path, first_line(e)) from None
        finally:
            cur.close()

    # ---------------------------------------------------------------- overview
    def summary(self) -> dict:
        """Counts: ``n_sources``, ``n_families``, ``n_runs``, ``n_points``."""
        row = self._query("""SELECT (SELECT count(*) FROM store.sources) AS n_sources,
                                    (SELECT count(DISTINCT family) FROM store.runs) AS n_families,
                                    (SELECT count(*) FROM store.runs) AS n_runs,
                                    (SELECT count(*) FROM store.points) AS n_points""").iloc[0]
        return {k: int(v) for k, v in row.items()}

    def meta(self) -> dict[str, str]:
        """The ``meta`` table as a dict (schema_version, input_digest, code_digest, sources, extra_tables)."""
        df = self._query("SELECT key, value FROM store.meta ORDER BY key")
        return dict(zip(df["key"], df["value"]))

    def sources(self) -> pd.DataFrame:
        """One row per source: title, paper, repo, commit, licence, n_files, n_runs, n_points."""
        return self._query("SELECT * FROM store.sources ORDER BY source")

    def families(self, source: str | None = None) -> pd.DataFrame:
        """The ``family_summary`` view (optionally of one source), sorted by family."""
        if source is None:
            return self._query("SELECT * FROM store.family_summary ORDER BY family")
        return self._query("SELECT * FROM store.family_summary WHERE source IN (SELECT unnest(?)) ORDER BY family",
                           [_values("source", source)])

    def metrics(self, family: str) -> pd.DataFrame:
        """The ``family_metrics`` rows of ``family``: most-measured first."""
        return self._query("""SELECT * FROM store.family_metrics WHERE family = ?
                              ORDER BY n_runs DESC, n_points DESC, metric, split, unit""",
                           [_text("family", family)])

    def default_metric(self, family: str) -> str | None:
        """The metric to show first: a validation loss, else a train loss, else the most-measured metric.

        Among candidates, prefer the most runs, then the most points, then nats over other loss units.
        """
        m = self.metrics(family)
        if m.empty:
            return None
        unit_rank = {u: i for i, u in enumerate(LOSS_UNITS)}
        m = m.assign(_u=m["unit"].map(unit_rank).fillna(len(LOSS_UNITS)))
        for split in ("validation", "train"):
            c = m[(m["split"] == split) & m["unit"].isin(LOSS_UNITS)]
            if len(c):
                return str(c.sort_values(["n_runs", "n_points", "_u", "metric"],
                                         ascending=[False, False, True, True]).iloc[0]["metric"])
        return str(m.sort_values(["n_points", "n_runs", "metric"], ascending=[False, False, True]).iloc[0]["metric"])

    def exclusions(self, source: str | None = None) -> pd.DataFrame:
        """What the build left out or changed, and why."""
        if source is None:
            return self._query("SELECT * FROM store.exclusions ORDER BY ALL")
        return self._query("SELECT * FROM store.exclusions WHERE source IN (SELECT unnest(?)) ORDER BY ALL",
                           [_values("source", source)])

    def extra_tables(self) -> list[str]:
        """Names of the source-specific extra tables (e.g. ``task_metadata``, ``revisiting_split``)."""
        return list(json.loads(self.meta().get("extra_tables", "[]")))

    def extra_table(self, name: str) -> pd.DataFrame:
        """One extra table by name (only names listed in :meth:`extra_tables`)."""
        allowed = self.extra_tables()
        if name not in allowed:
            raise KeyError(f"no extra table {name!r}; the store has {allowed}")
        return self._query(f'SELECT * FROM store."{name}" ORDER BY ALL')

    def flagged_runs(self, family: str) -> list[str]:
        """Runs of ``family`` that their source flags as outliers (``runs.extra`` holds ``"..._outlier": true``,
        e.g. the five points Epoch's Chinchilla replication leaves out). Fits leave them out by default."""
        rows = self._query("SELECT run_id FROM store.runs WHERE family = ? AND "
                           "regexp_matches(CAST(extra AS VARCHAR), ?) ORDER BY run_id",
                           [_text("family", family), OUTLIER_FLAG])
        return rows["run_id"].astype(str).tolist()

    def chance_level(self, source: str, metric: str) -> float | None:
        """A task's random baseline in its metric's units, from the source's ``task_metadata`` table
        (the over-training suite publishes one per task); None when the store does not know it."""
        if "task_metadata" not in self.extra_tables():
            return None
        rows = self._query("SELECT random_baseline FROM store.task_metadata WHERE source = ? AND metric = ? "
                           "AND random_baseline IS NOT NULL", [_text("source", source), _text("metric", metric)])
        return float(rows.iloc[0, 0]) if len(rows) else None

    # ---------------------------------------------------------------- runs and points
    def runs(self, family=None, source=None, arch=None, data=None, min_params=None, max_params=None) -> pd.DataFrame:
        """Runs matching every given filter (strings or lists of strings; params bounds inclusive)."""
        where, params = [], []
        for col, val in zip(_RUN_FILTERS, (family, source, arch, data)):
            if val is not None:
                where.append(f'"{col}" IN (SELECT unnest(?))')
                params.append(_values(col, val))
        if min_params is not None:
            where.append("params >= ?")
            params.append(_number("min_params", min_params))
        if max_params is not None:
            where.append("params <= ?")
            params.append(_number("max_params", max_params))
        sql = "SELECT * FROM store.runs" + (" WHERE " + " AND ".join(where) if where else "")
        return self._query(sql + " ORDER BY family, params NULLS LAST, run_id", params)

    def points(self, family=None, metric=None, run_ids=None, split=None, final_only: bool = False) -> pd.DataFrame:
        """Points joined with their run's family, model, params, data and arch.

        ``final_only`` keeps the last checkpoint (largest tokens, then step) of each (run, metric), as
        the ``final_points`` view does, with the value as a last tie-break so the result is deterministic.
        """
        where, params = [], []
        for col, val in (("r.family", family), ("p.metric", metric), ("p.run_id", run_ids), ("p.split", split)):
            if val is not None:
                where.append(f"{col} IN (SELECT unnest(?))")
                params.append(_values(col.split(".")[1], val))
        cols = ", ".join(f"r.{c}" for c in _RUN_JOIN_COLUMNS)
        sql = (f"SELECT {_POINT_COLS}, {cols} FROM {self._points_join}"
               + (" WHERE " + " AND ".join(where) if where else ""))
        if final_only:
            sql += f" QUALIFY row_number() OVER (PARTITION BY p.run_id, p.metric ORDER BY {_FINAL_ORDER}) = 1"
        sql += f" ORDER BY r.family, r.params NULLS LAST, {_POINT_SORT}"
        return self._query(sql, params)

    def fit_frame(self, family: str, metric: str, *, final_only: bool = False, as_nats: bool = True) -> pd.DataFrame:
        """The canonical fit frame of ``metric`` in ``family`` (see :func:`to_fit_frame`)."""
        fam, met = _text("family", family), _text("metric", metric)
        cols = ", ".join(f"p.{c}" for c in FIT_POINT_COLUMNS)
        pts = self._query(f"""SELECT {cols} FROM {self._points_join}
                              WHERE r.family = ? AND (p.metric = ? OR p.unit = 'lr')
                              ORDER BY {_POINT_SORT}""", [fam, met])
        return to_fit_frame(self.runs(family=fam), pts, met, as_nats=as_nats, final_only=final_only)

    def metric_across_families(self, metric: str) -> pd.DataFrame:
        """The final point of ``metric`` for every run of every family that measured it."""
        return self.points(metric=metric, final_only=True)
