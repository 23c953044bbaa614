"""One process-wide, read-only DuckDB connection per store file, verified when opened.

The file is attached read-only into a private in-memory database under the name ``store`` (rather than
opened directly), so that a rebuilt file replacing the old one is seen as a new database by DuckDB. The
connection is cached by path and file identity (device, inode, size, mtime): a store rebuilt in place is
reopened. Callers take a ``cursor()`` per query (DuckDB 2.0: one connection, a cursor per thread).
"""
from __future__ import annotations

import threading
from pathlib import Path

import duckdb

from datasets.schema import SCHEMA_VERSION
from datasets.store.errors import StoreError, build_command

_HEADER_BYTES = 3 * 4096   # DuckDB's file header and its two database headers precede the blocks
_CONNECTIONS: dict[str, tuple[tuple, duckdb.DuckDBPyConnection]] = {}
_CONN_LOCK = threading.Lock()


def signature(path: Path) -> tuple:
    st = path.stat()
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


def corrupt(path: Path, what: str) -> StoreError:
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
        raise corrupt(path, first_line(e)) from None
    if row is not None:
        need = _HEADER_BYTES + int(row[0]) * int(row[1])
        size = path.stat().st_size
        if size < need:
            raise corrupt(path, f"truncated: {size:,} bytes, the database needs {need:,}")
    for name in tables:   # names from DuckDB's catalog, quoted: never from a caller
        try:
            con.execute(f'SELECT sum(hash(t)) FROM store."{name.replace(chr(34), chr(34) * 2)}" t').fetchall()
        except duckdb.Error as e:
            raise corrupt(path, f"table {name}: {first_line(e)}") from None


def first_line(e: BaseException) -> str:
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


def connection(path: Path) -> duckdb.DuckDBPyConnection:
    """The process-wide read-only connection for ``path`` (reopened when the file was replaced)."""
    key = str(path.expanduser().resolve())
    with _CONN_LOCK:
        try:
            sig = signature(path)
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


def probe(path) -> StoreError | None:
    """None when the store at ``path`` (a DuckDB file or a Parquet store) opens, else why not."""
    from datasets.store import parquet
    try:
        parquet.connection(path) if parquet.is_parquet_store(path) else connection(path)
    except StoreError as e:
        return e
    return None
