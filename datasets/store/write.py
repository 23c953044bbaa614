"""Write the store's tables into a DuckDB database: the one place that knows the on-disk layout.

:func:`create_tables` creates the schema of :mod:`datasets.schema` (tables, sorted rows, extra tables, views)
on any connection: :func:`write_store` uses it for a store file, :meth:`datasets.store.Store.from_tables`
for an in-memory store. :func:`write_atomically` writes a file beside the target and renames it into place,
so a failed or interrupted build leaves an existing store untouched.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Mapping

import duckdb
import pandas as pd
import pyarrow as pa

from datasets.schema import DDL, VIEWS

POINT_ORDER = ("run_id", "metric", "split", "tokens", "step", "flops", "unit", "value", "stderr", "higher_is_better")
"""The sort order of ``points`` rows (the same inputs give identical table contents)."""


def _arrow(df: pd.DataFrame) -> pa.Table:
    return pa.Table.from_pandas(df, preserve_index=False)


def _insert(con: duckdb.DuckDBPyConnection, table: str, df: pd.DataFrame, order: tuple[str, ...] | None) -> None:
    """``INSERT INTO table SELECT <schema columns> FROM df ORDER BY ...`` via a registered Arrow table."""
    con.register("_in", _arrow(df))
    try:
        cols = ", ".join(f'"{c}"' for c in df.columns)
        order_sql = ", ".join(f'"{c}" NULLS FIRST' for c in order) if order else "ALL"
        con.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM _in ORDER BY {order_sql}")
    finally:
        con.unregister("_in")


def _create_extra(con: duckdb.DuckDBPyConnection, table: str, df: pd.DataFrame) -> None:
    con.register("_in", _arrow(df))
    try:
        con.execute(f"CREATE TABLE {table} AS SELECT * FROM _in ORDER BY ALL")
    finally:
        con.unregister("_in")


def create_tables(con: duckdb.DuckDBPyConnection, tables: Mapping[str, pd.DataFrame],
                  extras: Mapping[str, pd.DataFrame]) -> None:
    """Create the schema's tables on ``con`` (in its current catalog), insert sorted rows, the extra tables
    (names checked by the caller) and the views."""
    for ddl in DDL:
        con.execute(ddl)
    _insert(con, "runs", tables["runs"], ("run_id",))
    _insert(con, "points", tables["points"], POINT_ORDER)
    for name in ("sources", "files", "exclusions", "meta"):
        _insert(con, name, tables[name], None)
    for name in sorted(extras):
        _create_extra(con, name, extras[name])
    for view in VIEWS:
        con.execute(view)


def write_store(path: Path, tables: dict[str, pd.DataFrame], extras: dict[str, pd.DataFrame]) -> None:
    """Create a fresh DuckDB file at ``path`` with the schema, sorted rows, extra tables and views."""
    con = duckdb.connect(str(path))
    try:
        create_tables(con, tables, extras)
        con.execute("CHECKPOINT")
    finally:
        con.close()


def write_atomically(out: Path, tables: dict[str, pd.DataFrame], extras: dict[str, pd.DataFrame],
                     log: Callable[[str], None] | None = None) -> None:
    """Write the store to a temporary file beside ``out``, fsync it and rename it over ``out``.

    Temporaries left by killed builds are removed first (``log`` says so); on any failure, including an
    interrupt, the temporary file is removed and ``out`` is unchanged.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    for stale in _remove_stale_temporaries(out):
        (log or (lambda _m: None))(f"removed {stale.name}, left by an interrupted build")
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    _remove(tmp)
    try:
        write_store(tmp, tables, extras)
        fsync_path(tmp)
        os.replace(tmp, out)
    except BaseException:
        _remove(tmp)
        raise
    try:
        fsync_path(out.parent)
    except OSError:  # directories cannot be fsynced on every platform
        pass


def fsync_path(path: Path) -> None:
    """Flush ``path`` (a file, or a directory's entries) to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove(path: Path) -> None:
    for p in (path, Path(str(path) + ".wal")):
        try:
            p.unlink()
        except FileNotFoundError:
            pass


def _remove_stale_temporaries(out: Path) -> list[Path]:
    """Delete ``.<out>.<pid>.tmp`` files left by builds that were killed (their process is gone)."""
    removed = []
    for tmp in out.parent.glob(f".{out.name}.*.tmp"):
        pid = tmp.name[len(out.name) + 2:-len(".tmp")]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)          # signal 0: does the process exist?
            continue                       # a build still running: leave its file alone
        except ProcessLookupError:
            pass
        except PermissionError:            # exists, owned by someone else
            continue
        _remove(tmp)
        removed.append(tmp)
    return removed
