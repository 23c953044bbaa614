"""Write a store as a Hive-partitioned Parquet dataset (:mod:`datasets.store.parquet`), or append to one.

* :func:`write_parquet_store` (the build's ``--format parquet``): every table goes through the same typed,
  sorted in-memory DuckDB tables as a store file (:func:`datasets.store.write.create_tables`), then
  ``COPY ... (PARTITION_BY ...)`` writes them into a staging directory beside the target, which is
  swapped into place: a failed or interrupted build leaves an existing store untouched.
* :func:`append_tables` (the build's ``--append`` and ``--append-runs``): new runs and points, of a new
  source or of one already there (a lab's own runs, job after job), are written as **new** partition
  files; nothing already in the store is read back or rewritten, except ``meta.parquet`` (a few rows,
  replaced atomically last, which is how readers and caches learn of the new data). Appends to one
  directory are serialised by a lock file; a run id already in the store is refused.

Files are written to a staging directory inside the store and renamed into place (points first, then
runs, then the small tables), so a reader never sees half a file. On object storage, append by running
the same ``COPY ... (FORMAT parquet, PARTITION_BY ..., FILENAME_PATTERN 'part-{uuid}', APPEND)`` against
the bucket prefix (docs/scale-out.md); this module writes local directories.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import duckdb
import pandas as pd

from datasets.schema import SCHEMA_VERSION, extra_table_name_ok
from datasets.store import memory
from datasets.store.errors import StoreError
from datasets.store.locate import _file_lock
from datasets.store.parquet import META_FILE, PARTITIONS, is_parquet_store, is_url, open_parquet, sql_text
from datasets.store.write import POINT_ORDER, create_tables, fsync_path

_ORDER = {"runs": "run_id", "points": "r.source, r.family, " + ", ".join(f"p.{c} NULLS FIRST" for c in POINT_ORDER)}
LOCK_FILE = ".append.lock"


@dataclass(frozen=True)
class AppendReport:
    """What :func:`append_tables` added: sources, runs, points and files written, seconds."""

    root: str
    sources: tuple[str, ...]
    n_runs: int
    n_points: int
    n_files: int
    seconds: float

    def to_dict(self) -> dict:
        return asdict(self)


# ------------------------------------------------------------------------------------------ writing
def _copy_partitions(con: duckdb.DuckDBPyConnection, root: Path, extras: tuple[str, ...]) -> None:
    """``COPY`` every table of ``con``'s current catalog into ``root`` as partitioned Parquet files."""
    root.mkdir(parents=True, exist_ok=True)
    for table, keys in PARTITIONS.items():
        if table == "points":
            sql = f"SELECT r.source, r.family, p.* FROM points p JOIN runs r USING (run_id) ORDER BY {_ORDER['points']}"
        else:
            sql = f"SELECT * FROM {table} ORDER BY {_ORDER.get(table, 'ALL')}"
        con.execute(f"COPY ({sql}) TO {sql_text(root / table)} (FORMAT parquet, PARTITION_BY ({', '.join(keys)}), "
                    "FILENAME_PATTERN 'part-{uuid}', COMPRESSION zstd, OVERWRITE_OR_IGNORE)")
    for name in extras:
        folder = root / "extra" / name
        folder.mkdir(parents=True, exist_ok=True)
        target = sql_text(folder / f"part-{uuid.uuid4()}.parquet")
        con.execute(f'COPY (SELECT * FROM "{name}" ORDER BY ALL) TO {target} (FORMAT parquet, COMPRESSION zstd)')


def _write_meta(con: duckdb.DuckDBPyConnection, root: Path, meta: pd.DataFrame) -> None:
    """Write ``meta.parquet`` beside a temporary name, then rename it over the old one (atomic)."""
    tmp = root / f".{META_FILE}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
    con.register("_meta", meta[["key", "value"]].astype(str))
    try:
        con.execute(f"COPY (SELECT key, value FROM _meta) TO {sql_text(tmp)} (FORMAT parquet)")
    finally:
        con.unregister("_meta")
    fsync_path(tmp)
    os.replace(tmp, root / META_FILE)


def _staged(tables: Mapping[str, pd.DataFrame], extras: Mapping[str, pd.DataFrame], staging: Path) -> None:
    con = duckdb.connect(":memory:")
    try:
        create_tables(con, tables, extras)
        _copy_partitions(con, staging, tuple(sorted(extras)))
    finally:
        con.close()


def write_parquet_store(out: Path | str, tables: Mapping[str, pd.DataFrame], extras: Mapping[str, pd.DataFrame],
                        log: Callable[[str], None] | None = None) -> None:
    """Write a whole store (the six core tables and the extra tables) as a Parquet directory at ``out``.

    ``out`` must be missing, empty, or a Parquet store (which is replaced); any other directory or file
    is refused, so a mistyped ``--out`` never deletes someone's folder.
    """
    out = Path(out)
    if is_url(str(out)):
        raise StoreError(f"cannot build into {out}", "build into a local directory, then copy it to the bucket")
    if out.exists() and not (out.is_dir() and (not any(out.iterdir()) or (out / META_FILE).is_file())):
        raise StoreError(f"{out} exists and is not a Parquet store", "choose a new or empty directory for --out")
    out.parent.mkdir(parents=True, exist_ok=True)
    for stale in _stale_dirs(out.parent, f".{out.name}."):
        (log or (lambda _m: None))(f"removed {stale.name}, left by an interrupted build")
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir()
        _staged(tables, extras, tmp)
        con = duckdb.connect(":memory:")
        try:
            _write_meta(con, tmp, tables["meta"])
        finally:
            con.close()
        _swap(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _swap(new: Path, out: Path) -> None:
    """Put directory ``new`` at ``out``: a rename when ``out`` is missing or empty, else rename the old
    store aside, rename the new one in and delete the old one."""
    if out.exists() and not any(out.iterdir()):
        out.rmdir()
    if not out.exists():
        os.replace(new, out)
        return
    old = out.with_name(f".{out.name}.{os.getpid()}.old")
    shutil.rmtree(old, ignore_errors=True)
    os.replace(out, old)
    os.replace(new, out)
    shutil.rmtree(old, ignore_errors=True)


def _stale_dirs(parent: Path, prefix: str) -> list[Path]:
    """Staging directories ``<prefix><pid>.tmp|.old`` whose process is gone: removed."""
    removed = []
    for d in parent.glob(prefix + "*"):
        pid = d.name[len(prefix):].split(".")[0]
        if not d.is_dir() or not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
            continue
        except ProcessLookupError:
            pass
        except PermissionError:
            continue
        shutil.rmtree(d, ignore_errors=True)
        removed.append(d)
    return removed


# ------------------------------------------------------------------------------------------ appending
def _existing(root: Path, run_ids: list[str], sources: list[str]) -> tuple[dict, list[str], pd.DataFrame, list[str]]:
    """``(meta, run ids already stored, existing sources rows of these sources, extra tables)``."""
    con = open_parquet(root, verify=False)     # reads runs' ids only: no need to check every footer again
    try:
        meta = dict(con.execute("SELECT key, value FROM store.meta").fetchall())
        taken = [r[0] for r in con.execute("SELECT run_id FROM store.runs WHERE run_id IN (SELECT unnest(?)) "
                                           "ORDER BY run_id", [run_ids]).fetchall()]
        src = con.sql("SELECT * FROM store.sources WHERE source IN (SELECT unnest(?))", params=[sources]) \
            .to_arrow_table().to_pandas()
    finally:
        con.close()
    return meta, taken, src, list(json.loads(meta.get("extra_tables", "[]")))


def _move_into(staging: Path, root: Path) -> list[Path]:
    """Rename every staged data file into the store: points, runs, the small tables, extras."""
    moved = []
    for table in ["points", "runs", "sources", "files", "exclusions", "extra"]:
        for f in sorted((staging / table).rglob("*.parquet")):
            target = root / f.relative_to(staging)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(f, target)
            moved.append(target)
    return moved


def append_tables(root: Path | str, runs: pd.DataFrame, points: pd.DataFrame, *,
                  sources: pd.DataFrame | None = None, files: pd.DataFrame | None = None,
                  exclusions: pd.DataFrame | None = None, extras: Mapping[str, pd.DataFrame] | None = None,
                  input_digest: str | None = None, name: str = "append") -> AppendReport:
    """Add ``runs`` and ``points`` (and their sources, files, exclusions and extra tables) to the Parquet
    store at ``root`` as new partition files.

    ``sources`` rows default to one per new source (title ``name``); for a source already in the store
    the new row carries the counts of this append and the stored title, paper and licence (the store's
    ``sources`` view sums the counts). ``input_digest`` identifies the appended inputs (default: a
    sha256 of the appended tables); the store's ``meta.input_digest`` becomes the sha256 of the old
    digest and this one.

    Raises
    ------
    StoreError
        No Parquet store at ``root`` (or a remote one), another schema version, a run id already stored,
        an extra table already stored.
    ValueError
        Tables that are not a consistent store (:func:`datasets.schema.row_problem`).
    """
    t0 = time.perf_counter()
    if is_url(str(root)):
        raise StoreError(f"cannot append to {root} from here",
                         "append with DuckDB's COPY ... (PARTITION_BY ..., APPEND) to the bucket (docs/scale-out.md), "
                         "or to a local copy")
    root = Path(root)
    if not is_parquet_store(root) or not (root / META_FILE).is_file():
        raise StoreError(f"no Parquet store at {root} to append to",
                         f"build one first: python -m datasets.build --format parquet --out {root}", "missing")
    extras = dict(extras or {})
    tables = memory.memory_tables(runs, points, name=name, sources=sources, files=files, exclusions=exclusions,
                                  extra_tables=tuple(extras), with_digest=input_digest is None)
    new_sources = sorted(tables["runs"]["source"].unique())
    with _file_lock(root / LOCK_FILE):
        meta, taken, stored, stored_extras = _existing(root, tables["runs"]["run_id"].tolist(), new_sources)
        if meta.get("schema_version") != str(SCHEMA_VERSION):
            raise StoreError(f"store {root} has schema version {meta.get('schema_version')}, this code writes "
                             f"{SCHEMA_VERSION}", f"rebuild it: python -m datasets.build --format parquet --out {root}",
                             "old_schema")
        if taken:
            raise StoreError(f"run {taken[0]!r} is already in the store {root} ({len(taken)} of the "
                             f"{len(tables['runs'])} runs are)", "give the new runs other ids (e.g. a job prefix); "
                             "a stored run is never overwritten", "conflict")
        clash = sorted(set(extras) & set(stored_extras))
        if clash:
            raise StoreError(f"extra table {clash[0]!r} is already in the store {root}",
                             "rebuild the store to change an extra table", "conflict")
        for extra in extras:
            if not extra_table_name_ok(extra):
                raise ValueError(f"extra table name {extra!r} is not allowed")
        if len(stored) and sources is None:       # runs added to a source already there: keep its description
            desc = stored.set_index("source")[["title", "paper", "repo", "commit", "licence"]]
            s = tables["sources"].set_index("source")
            s.update(desc)
            tables["sources"] = s.reset_index()[list(tables["sources"].columns)]
        staging = root / f".append-{os.getpid()}-{uuid.uuid4().hex[:12]}"
        staging.mkdir()
        try:
            _staged(tables, extras, staging)
            moved = _move_into(staging, root)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        added = input_digest or tables["meta"].set_index("key").at["input_digest", "value"]
        meta.update(sources=json.dumps(sorted(set(json.loads(meta.get("sources", "[]"))) | set(new_sources))),
                    extra_tables=json.dumps(sorted(set(stored_extras) | set(extras))),
                    input_digest=hashlib.sha256(f"{meta.get('input_digest', '')}\n{added}".encode()).hexdigest())
        con = duckdb.connect(":memory:")
        try:
            _write_meta(con, root, pd.DataFrame(list(meta.items()), columns=["key", "value"]))
        finally:
            con.close()
    return AppendReport(str(root), tuple(new_sources), len(tables["runs"]), len(tables["points"]), len(moved),
                        round(time.perf_counter() - t0, 3))


def rename_source(runs: pd.DataFrame, points: pd.DataFrame, source: str,
                  old: str = "upload") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Runs and points of source ``old`` (run ids and families ``old/...``) as source ``source``."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", source or ""):
        raise ValueError(f"source name {source!r}: use 1-64 letters, digits, '_', '.' or '-' (e.g. my-lab)")
    prefix = f"^{old}/"
    runs = runs.assign(source=source, run_id=runs["run_id"].astype(str).str.replace(prefix, f"{source}/", regex=True),
                       family=runs["family"].astype(str).str.replace(prefix, f"{source}/", regex=True))
    points = points.assign(run_id=points["run_id"].astype(str).str.replace(prefix, f"{source}/", regex=True))
    return runs, points


def store_bytes(root: Path | str) -> int:
    """Total size of a Parquet store's files (0 for a remote one)."""
    if is_url(str(root)):
        return 0
    return sum(f.stat().st_size for f in Path(root).rglob("*.parquet"))
