"""The one module of store queries: the app, the CLI and the tests read the corpus only through it.

The store is a DuckDB file built by :mod:`datasets.build` (schema in :mod:`datasets.schema`). Each process
keeps ONE read-only connection per store file (a module-level cache keyed by path and file identity, so a
store rebuilt in place is reopened); every query runs on its own ``cursor()``, is parameterised (``?``), and
fetches its result fully into a pandas DataFrame. Identifiers (column and table names) only ever come from
allow-lists in this module.

The file is attached read-only into a private in-memory database under the name ``store`` (rather than
opened directly), so that a rebuilt file replacing the old one is seen as a new database by DuckDB.

Units: ``points.unit`` is the unit of ``points.value`` as published. :func:`to_nats` converts losses to
nats explicitly (bits x ln 2, perplexity -> ln, log10 perplexity x ln 10); :func:`to_fit_frame` records
what it converted in ``DataFrame.attrs``.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from datasets.schema import SCHEMA_VERSION

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_STORE = PROJECT_ROOT / "store.duckdb"
# a run the source flags as an outlier: ``runs.extra`` (JSON text) holds ``"..._outlier": true``
OUTLIER_FLAG = r'outlier"\s*:\s*true'
_HEADER_BYTES = 3 * 4096   # DuckDB's file header and its two database headers precede the blocks

LOSS_UNITS = ("nats", "bits", "perplexity", "log10_perplexity")
_NATS_FACTOR = {"bits": math.log(2.0), "log10_perplexity": math.log(10.0)}
_RUN_FILTERS = ("family", "source", "arch", "data")
_RUN_JOIN_COLUMNS = ["family", "model", "params", "data", "arch"]
_FIT_POINT_COLUMNS = ("run_id", "step", "tokens", "flops", "metric", "unit", "value", "higher_is_better")
_FINAL_ORDER = "p.tokens DESC NULLS LAST, p.step DESC NULLS LAST, p.value NULLS LAST"

Progress = Callable[[float, str], None]


class StoreError(Exception):
    """The store cannot be used: ``message`` says what is wrong, ``fix`` what to do.

    ``kind`` is one of ``missing``, ``corrupt``, ``locked``, ``old_schema``, ``build_failed``.
    """

    def __init__(self, message: str, fix: str, kind: str = "corrupt"):
        super().__init__(f"{message} -- {fix}")
        self.message, self.fix, self.kind = message, fix, kind


# ----------------------------------------------------------------------------------------- units
def to_nats(values, unit: str):
    """Convert loss values to nats: returns ``(values, "nats")``, or ``(values, unit)`` unchanged for
    units that are not a loss.

    ``bits``: x ln 2. ``perplexity``: ln(ppl) (per-token cross-entropy = ln perplexity).
    ``log10_perplexity``: x ln 10. ``nats``: unchanged. Accepts scalars, arrays and Series.
    """
    if unit not in LOSS_UNITS or unit == "nats":
        return values, unit
    if unit == "perplexity":
        return np.log(values), "nats"
    return values * _NATS_FACTOR[unit], "nats"


def _final_rows(points: pd.DataFrame) -> pd.DataFrame:
    """The last checkpoint of every (run, metric): largest tokens, then step (NaN last), then value."""
    order = points.sort_values(["run_id", "metric", "tokens", "step", "value"],
                               ascending=[True, True, False, False, True], na_position="last", kind="stable")
    return order.drop_duplicates(["run_id", "metric"], keep="first")


def to_fit_frame(runs: pd.DataFrame, points: pd.DataFrame, metric: str, *, as_nats: bool = True,
                 final_only: bool = False) -> pd.DataFrame:
    """The canonical fit frame for ``metric`` from long-form ``runs`` and ``points`` (pure function).

    One row per observation with columns ``run`` (run id), ``N`` (params), ``D`` (tokens at the point),
    ``C`` (FLOPs at the point; 6*N*D where not published), ``step``, ``y`` (the value, in nats when
    ``as_nats`` and the unit is a loss), ``group`` (family), plus ``U`` (unique tokens) when any run has
    it and ``lr`` (the learning rate at that step) when ``points`` holds a series with unit ``lr`` for
    these runs. ``D`` falls back to the run's total tokens for a run with a single point.

    ``attrs`` records ``metric``, ``unit`` (after conversion), ``converted`` ({unit: rows}),
    ``c_from_6nd`` (rows whose C was computed), ``dropped_nonfinite`` and ``higher_is_better``.

    Raises
    ------
    ValueError
        When the metric has several units and ``as_nats`` cannot make them one.
    """
    points = points[[c for c in _FIT_POINT_COLUMNS if c in points]]
    pts = points[points["metric"] == metric]
    if final_only:
        pts = _final_rows(pts)
    lr_series = points[(points["unit"] == "lr") & (points["metric"] != metric)
                       & points["run_id"].isin(pts["run_id"].unique())]
    runs = runs.drop_duplicates("run_id").set_index("run_id")
    pts = pts[pts["run_id"].isin(runs.index.unique())].reset_index(drop=True)

    y = pts["value"].astype("float64").to_numpy(copy=True)
    units = sorted(pts["unit"].dropna().unique())
    converted: dict[str, int] = {}
    if as_nats:
        out_units = set()
        for u in units:
            mask = (pts["unit"] == u).to_numpy()
            y[mask], new = to_nats(y[mask], u)
            out_units.add(new)
            if new != u:
                converted[u] = int(mask.sum())
    else:
        out_units = set(units)
    if len(out_units) > 1:
        raise ValueError(f"metric {metric!r} comes in several units {sorted(out_units)}; "
                         f"pick one family or convert to nats (as_nats=True) first")

    cols = [c for c in ("params", "tokens", "family", "unique_tokens") if c in runs]
    r = runs[cols].iloc[runs.index.get_indexer(pts["run_id"])]
    N = r["params"].to_numpy(dtype="float64")
    D = pts["tokens"].to_numpy(dtype="float64", copy=True)
    codes, _ = pd.factorize(pts["run_id"])
    single = np.bincount(codes, minlength=1)[codes] == 1 if len(codes) else np.zeros(0, bool)
    fill = np.isnan(D) & single
    D[fill] = r["tokens"].to_numpy(dtype="float64")[fill]
    C = pts["flops"].to_numpy(dtype="float64", copy=True)
    c_missing = np.isnan(C)
    C[c_missing] = 6.0 * N[c_missing] * D[c_missing]
    frame = pd.DataFrame({"run": pts["run_id"].astype("str").to_numpy(), "N": N, "D": D, "C": C,
                          "step": pts["step"].to_numpy(dtype="float64"), "y": y,
                          "group": r["family"].astype("str").to_numpy()})
    if "unique_tokens" in r and r["unique_tokens"].notna().any():
        frame["U"] = r["unique_tokens"].to_numpy(dtype="float64")
    if len(lr_series):
        frame["lr"] = _lr_at(frame, lr_series)
    keep = np.isfinite(frame["y"].to_numpy())
    frame = frame[keep].reset_index(drop=True)
    hib = pts["higher_is_better"].dropna()
    frame.attrs.update(metric=metric, unit=next(iter(out_units), None), converted=converted,
                       c_from_6nd=int(c_missing[keep].sum()), dropped_nonfinite=int((~keep).sum()),
                       higher_is_better=bool(hib.iloc[0]) if len(hib) else None)
    return frame


def _lr_at(frame: pd.DataFrame, lr_points: pd.DataFrame) -> np.ndarray:
    """Learning rate of each frame row: the ``lr`` series value at the same (run, step), else (run, D)."""
    name = "lr" if (lr_points["metric"] == "lr").any() else sorted(lr_points["metric"].unique())[0]
    lr = lr_points[lr_points["metric"] == name]
    out = np.full(len(frame), np.nan)
    for key_f, key_p in (("step", "step"), ("D", "tokens")):
        table = lr[["run_id", key_p, "value"]].dropna(subset=[key_p]).drop_duplicates(["run_id", key_p])
        keys = pd.DataFrame({"run_id": frame["run"].to_numpy(), key_p: frame[key_f].to_numpy()})
        found = keys.merge(table, on=["run_id", key_p], how="left")["value"].to_numpy(dtype="float64")
        out = np.where(np.isnan(out), found, out)
    return out


def build_command(path: Path | str | None = None) -> str:
    """The command that (re)builds the store at ``path`` (``--out store.duckdb`` for the default location)."""
    import shlex
    data = os.environ.get("SCALING_DATA_DIR") or "../shared/data"
    if path is None or Path(path).expanduser().resolve() == DEFAULT_STORE.resolve():
        out = "store.duckdb"
    else:
        out = str(path)
    return f"python -m datasets.build --source {shlex.quote(data)} --out {shlex.quote(out)}"


# ----------------------------------------------------------------------------------------- location
def locate_store() -> Path:
    """``$SCALING_STORE`` if set, else ``<project root>/store.duckdb``."""
    env = os.environ.get("SCALING_STORE")
    return Path(env).expanduser() if env else DEFAULT_STORE


def _data_dir() -> Path | None:
    env = os.environ.get("SCALING_DATA_DIR")
    if env:
        p = Path(env).expanduser()
        if not p.is_dir():
            raise StoreError(f"SCALING_DATA_DIR={env} is not a directory",
                             "point it at the data directory (one folder per source) or unset it", "missing")
        return p
    shared = PROJECT_ROOT.parent / "shared" / "data"
    return shared if shared.is_dir() else None


@contextlib.contextmanager
def _file_lock(path: Path):
    """An exclusive advisory lock on ``path`` (created if needed), released on exit or process death."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as fh:
        try:
            import fcntl
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            unlock = lambda: fcntl.flock(fh.fileno(), fcntl.LOCK_UN)  # noqa: E731
        except ImportError:  # Windows
            import msvcrt
            fh.seek(0)
            msvcrt.locking(fh.fileno(), msvcrt.LK_LOCK, 1)
            unlock = lambda: (fh.seek(0), msvcrt.locking(fh.fileno(), msvcrt.LK_UNLCK, 1))  # noqa: E731
        try:
            yield
        finally:
            unlock()


def ensure_store(progress: Progress | None = None) -> Path:
    """Return the path of a usable store, building it first when it is missing or out of date.

    Data come from ``$SCALING_DATA_DIR``, else ``../shared/data`` beside the project, else the manifest's
    pinned upstream files are downloaded (sha256-verified) into the cache directory. The build writes a
    temporary file and renames it into place, under a lock file (``<store>.lock``) so two processes
    starting at once build it once.

    Raises
    ------
    StoreError
        When the store is locked by another process, or the data cannot be found, fetched or built.
    """
    path = locate_store()
    err = _probe(path)
    if err is None:
        return path
    if err.kind == "locked":
        raise err
    from datasets import build as builder
    from datasets import fetch
    with _file_lock(path.with_name(path.name + ".lock")):
        if _probe(path) is None:  # another process built it while we waited
            return path
        data = _data_dir()
        try:
            if data is None:
                data = fetch.default_cache_dir()
                fetch.fetch(data, progress=(lambda f, m: progress(0.5 * f, f"downloading {m}")) if progress
                            else None)
                scale, offset = 0.5, 0.5
            else:
                scale, offset = 1.0, 0.0
            builder.build(data, path, progress=(lambda f, m: progress(offset + scale * f, m)) if progress
                          else None)
        except (builder.BuildError, fetch.FetchError, OSError) as e:
            why = "" if err.kind == "missing" else f"{err.message}, and "   # say why it was being rebuilt
            raise StoreError(f"{why}building the store at {path} failed: {e}",
                             f"fix the cause and run {build_command(path)}", "build_failed") from e
    err = _probe(path)
    if err is not None:
        raise err
    return path


# ----------------------------------------------------------------------------------------- connection
_CONNECTIONS: dict[str, tuple[tuple, duckdb.DuckDBPyConnection]] = {}
_CONN_LOCK = threading.Lock()


def _signature(path: Path) -> tuple:
    st = path.stat()
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


def _corrupt(path: Path, what: str) -> StoreError:
    return StoreError(f"store {path} is damaged ({what})", f"delete it and rebuild: {build_command(path)}", "corrupt")


def _verify(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """Detect a truncated or damaged file now rather than in the middle of a page.

    The file must be as long as DuckDB's own block count says, and every table is read once (each block's
    checksum is verified as it is read): ~0.1 s for the full corpus, once per process and file.
    """
    try:
        row = con.execute("SELECT block_size, total_blocks FROM pragma_database_size() "
                          "WHERE database_name = 'store'").fetchone()
        tables = [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables() WHERE database_name = 'store' "
                                            "ORDER BY table_name").fetchall()]
    except duckdb.Error as e:
        raise _corrupt(path, _first_line(e)) from None
    if row is not None:
        need = _HEADER_BYTES + int(row[0]) * int(row[1])
        size = path.stat().st_size
        if size < need:
            raise _corrupt(path, f"truncated: {size:,} bytes, the database needs {need:,}")
    for name in tables:   # names from DuckDB's catalog, quoted: never from a caller
        try:
            con.execute(f'SELECT sum(hash(t)) FROM store."{name.replace(chr(34), chr(34) * 2)}" t').fetchall()
        except duckdb.Error as e:
            raise _corrupt(path, f"table {name}: {_first_line(e)}") from None


def _first_line(e: BaseException) -> str:
    lines = [ln for ln in str(e).splitlines() if ln.strip()]
    return lines[0] if lines else type(e).__name__


def _open(path: Path) -> duckdb.DuckDBPyConnection:
    """Attach ``path`` read-only as ``store``, check ``meta.schema_version`` and that the file is whole."""
    con = duckdb.connect(":memory:")
    try:
        con.execute("ATTACH ? AS store (READ_ONLY)", [str(path)])
    except duckdb.Error as e:
        con.close()
        text = str(e)
        if "could not set lock" in text.lower() or "conflicting lock" in text.lower():
            raise StoreError(f"store {path} is locked by another process (it is being written)",
                             "wait for that process (a build?) to finish, or close it, then retry",
                             "locked") from None
        raise StoreError(f"store {path} is not a readable DuckDB database ({text.splitlines()[0]})",
                         f"delete it and rebuild: {build_command(path)}", "corrupt") from None
    try:
        _verify(con, path)
    except StoreError:
        con.close()
        raise
    try:
        row = con.execute("SELECT value FROM store.meta WHERE key = 'schema_version'").fetchone()
    except duckdb.Error:
        con.close()
        raise StoreError(f"store {path} has no meta table (not a workbench store, or a very old one)",
                         f"rebuild it: {build_command(path)}", "old_schema") from None
    if row is None or row[0] != str(SCHEMA_VERSION):
        con.close()
        found = row[0] if row else "none"
        raise StoreError(f"store {path} has schema version {found}, this code needs {SCHEMA_VERSION}",
                         f"rebuild it: {build_command(path)}", "old_schema")
    return con


def _connection(path: Path) -> duckdb.DuckDBPyConnection:
    """The process-wide read-only connection for ``path`` (reopened when the file was replaced)."""
    key = str(path.expanduser().resolve())
    with _CONN_LOCK:
        try:
            sig = _signature(path)
        except FileNotFoundError:
            _CONNECTIONS.pop(key, None)
            raise StoreError(f"no store at {path}", f"build it: {build_command(path)} (or set SCALING_STORE)",
                             "missing") from None
        cached = _CONNECTIONS.get(key)
        if cached is not None and cached[0] == sig:
            return cached[1]
        con = _open(path)
        _CONNECTIONS[key] = (sig, con)
        return con


def _probe(path: Path) -> StoreError | None:
    try:
        _connection(path)
    except StoreError as e:
        return e
    return None


# ----------------------------------------------------------------------------------------- queries
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
    """Read-only queries over a built store (see the module docstring).

    Parameters
    ----------
    path : the DuckDB file; default :func:`locate_store`.

    Raises
    ------
    StoreError
        Missing, corrupt, locked, or built with another schema version.
    """

    def __init__(self, path: Path | str | None = None):
        self.path = Path(path) if path is not None else locate_store()
        self._con = _connection(self.path)

    def _query(self, sql: str, params: Sequence = ()) -> pd.DataFrame:
        cur = self._con.cursor()
        try:  # Arrow, then pandas: fetched fully, and ~3x faster than .df() for long results
            return cur.sql(sql, params=list(params) or None).to_arrow_table().to_pandas()
        except (duckdb.IOException, duckdb.InternalException) as e:   # the file changed or broke under us
            raise _corrupt(self.path, _first_line(e)) from None
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
        return self._query(f'SELECT * FROM store."{name}"')

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
        sql = (f"SELECT p.*, {cols} FROM store.points p JOIN store.runs r ON p.run_id = r.run_id"
               + (" WHERE " + " AND ".join(where) if where else ""))
        if final_only:
            sql += f" QUALIFY row_number() OVER (PARTITION BY p.run_id, p.metric ORDER BY {_FINAL_ORDER}) = 1"
        sql += " ORDER BY r.family, r.params NULLS LAST, p.run_id, p.metric, p.tokens NULLS FIRST, p.step NULLS FIRST"
        return self._query(sql, params)

    def fit_frame(self, family: str, metric: str, *, final_only: bool = False, as_nats: bool = True) -> pd.DataFrame:
        """The canonical fit frame of ``metric`` in ``family`` (see :func:`to_fit_frame`)."""
        fam, met = _text("family", family), _text("metric", metric)
        cols = ", ".join(f"p.{c}" for c in _FIT_POINT_COLUMNS)
        pts = self._query(f"""SELECT {cols} FROM store.points p JOIN store.runs r ON p.run_id = r.run_id
                              WHERE r.family = ? AND (p.metric = ? OR p.unit = 'lr')""", [fam, met])
        return to_fit_frame(self.runs(family=fam), pts, met, as_nats=as_nats, final_only=final_only)

    def metric_across_families(self, metric: str) -> pd.DataFrame:
        """The final point of ``metric`` for every run of every family that measured it."""
        return self.points(metric=metric, final_only=True)
