"""A store as a Hive-partitioned Parquet dataset: the same tables and views, read through DuckDB.

Layout of a Parquet store (a local directory, or a prefix on object storage)::

    meta.parquet                                   key/value: schema_version, input_digest, sources ...
    runs/source=<s>/part-<uuid>.parquet            RUN_COLUMNS except source (it is the directory)
    points/source=<s>/family=<f>/part-<uuid>.parquet   POINT_COLUMNS, sorted by run, metric, split, tokens ...
    sources/source=<s>/part-<uuid>.parquet         one row per source (and per append to it: counts add up)
    files/source=<s>/part-<uuid>.parquet
    exclusions/source=<s>/part-<uuid>.parquet
    extra/<table>/part-<uuid>.parquet              source-specific extra tables (``meta.extra_tables``)

Partition values are percent-encoded (``family=chinchilla-epoch%2Fchinchilla``) as DuckDB writes and
reads them. :func:`open_parquet` attaches an in-memory catalog named ``store`` and defines one view per
table over ``read_parquet(..., hive_partitioning = true)``, plus the schema's views, so every query of
:class:`datasets.store.Store` runs unchanged. ``points_partitioned`` is ``points`` with its partition
columns ``source`` and ``family``: the store's queries join points to runs on ``(run_id, family)``, so a
family filter reads only that family's files (DuckDB pushes it into the scan as a partition filter).

Remote stores: ``s3://``, ``gs://``, ``gcs://``, ``r2://`` and ``az://``/``abfss://`` prefixes are read
with DuckDB's ``httpfs`` (``azure``) extension; credentials come from a DuckDB secret (e.g. once:
``CREATE PERSISTENT SECRET (TYPE s3, PROVIDER credential_chain)``), never from this code. Plain
``http(s)://`` cannot list files, so it is refused.

Writers (:mod:`datasets.store.parquet_write`) only ever add files and then replace ``meta.parquet``
atomically; readers key their caches on ``meta.parquet`` (:func:`signature`).
"""
from __future__ import annotations

import os
import re
import threading
import time
from pathlib import Path

import duckdb

from datasets.schema import SCHEMA_VERSION, TABLE_COLUMNS, extra_table_name_ok, views
from datasets.store.connection import first_line
from datasets.store.errors import StoreError, build_command

META_FILE = "meta.parquet"
#: table -> its partition columns (directory levels), in order
PARTITIONS: dict[str, tuple[str, ...]] = {"runs": ("source",), "points": ("source", "family"),
                                          "sources": ("source",), "files": ("source",), "exclusions": ("source",)}
COLUMNS: dict[str, dict[str, str]] = {table: TABLE_COLUMNS[table] for table in PARTITIONS}
REMOTE_SCHEMES = ("s3", "s3a", "gs", "gcs", "r2", "az", "azure", "abfss")
_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
URL_TTL_SECONDS = 60.0          # a remote store's meta is re-read at most this often
POINTS_JOIN = "store.points_partitioned p JOIN store.runs r ON p.run_id = r.run_id AND p.family = r.family"

# The schema's views, with points joined to runs on (run_id, family) so that a filter on the family
# prunes the points' partitions. Same columns and rows as the DuckDB file's views.
VIEWS = views("points_partitioned", ("run_id", "family"))

_CONNECTIONS: dict[str, tuple[tuple, duckdb.DuckDBPyConnection]] = {}
_LOCK = threading.Lock()


# ------------------------------------------------------------------------------------------ locations
def is_url(location) -> bool:
    """Whether ``location`` is a URL (``scheme://...``) rather than a local path."""
    return isinstance(location, str) and bool(_URL.match(location))


def is_parquet_store(location) -> bool:
    """A Parquet store: a URL, an existing directory, or a path written with a trailing ``/``.

    Anything else (in particular a ``.duckdb`` path, existing or not) is a DuckDB store file.
    """
    if location is None:
        return False
    if is_url(location):
        return True
    text = os.fspath(location)
    return text.endswith(("/", os.sep)) or Path(text).expanduser().is_dir()


def root_of(location) -> str:
    """The store's root as DuckDB reads it: the URL without a trailing slash, or the absolute path."""
    if is_url(location):
        scheme = _URL.match(location).group(1).lower()
        if scheme not in REMOTE_SCHEMES:
            raise StoreError(f"cannot read a Parquet store from {location}: {scheme}:// cannot list files",
                             "use an object-storage prefix (s3://, gs://, r2://, az://) or a local directory",
                             "missing")
        return location.rstrip("/")
    return str(Path(os.fspath(location)).expanduser().resolve())


def glob(root: str, table: str) -> str:
    """The file pattern of ``table`` (one ``*`` per partition level)."""
    levels = "/".join("*" for _ in PARTITIONS.get(table, ()))
    return f"{root}/{table}/{levels + '/' if levels else ''}*.parquet"


def sql_text(text: str) -> str:
    """A SQL string literal of ``text`` (paths and URLs only; values are always parameters)."""
    return "'" + str(text).replace("'", "''") + "'"


def signature(location) -> tuple:
    """Identity of a local store's contents: ``meta.parquet``'s (device, inode, size, mtime). Every writer
    replaces that file last, so an append or a rebuild changes it."""
    st = Path(root_of(location), META_FILE).stat()
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


# ------------------------------------------------------------------------------------------ opening
def _load_extensions(con: duckdb.DuckDBPyConnection, root: str) -> None:
    if not is_url(root):
        return
    ext = "azure" if _URL.match(root).group(1).lower() in ("az", "azure", "abfss") else "httpfs"
    try:
        con.execute(f"LOAD {ext}")
    except duckdb.Error:
        try:
            con.execute(f"INSTALL {ext}")
            con.execute(f"LOAD {ext}")
        except duckdb.Error as e:
            raise StoreError(f"cannot load DuckDB's {ext} extension to read {root} ({first_line(e)})",
                             f"install it once with network access: python -c \"import duckdb; "
                             f"duckdb.sql('INSTALL {ext}')\"", "missing") from None


def _typed(cols: dict[str, str], present: list[str]) -> str:
    """The select list casting each column to its schema type (NULL for a column the files lack)."""
    return ", ".join(f'CAST("{c}" AS {t}) AS "{c}"' if c in present else f'CAST(NULL AS {t}) AS "{c}"'
                     for c, t in cols.items())


def _table_view(con: duckdb.DuckDBPyConnection, root: str, table: str, name: str) -> None:
    """``CREATE VIEW name`` over ``table``'s files, or an empty typed view when it has none yet."""
    cols = COLUMNS[table]
    parts = PARTITIONS[table]
    pattern = glob(root, table)
    n_files = con.execute("SELECT count(*) FROM glob(?)", [pattern]).fetchone()[0]
    if not n_files:
        body = f"SELECT {_typed(cols, [])}" + (", CAST(NULL AS VARCHAR) AS family" if table == "points" else "") \
            + " WHERE false"
    else:
        hive = "{" + ", ".join(f"'{p}': 'VARCHAR'" for p in parts) + "}"
        src = f"read_parquet({sql_text(pattern)}, hive_partitioning = true, hive_types = {hive})"
        present = [d[0] for d in con.execute(f"DESCRIBE SELECT * FROM {src}").fetchall()]
        extra = ", family" if table == "points" else ""
        body = f"SELECT {_typed(cols, present)}{extra} FROM {src}"
    if table == "points":
        con.execute(f"CREATE VIEW points_partitioned AS {body}")
        con.execute(f"CREATE VIEW points AS SELECT {', '.join(chr(34) + c + chr(34) for c in cols)} "
                    "FROM points_partitioned")
    else:
        con.execute(f"CREATE VIEW {name} AS {body}")


def _views(con: duckdb.DuckDBPyConnection, root: str, extra_tables: list[str]) -> None:
    for table in PARTITIONS:
        # a source appended to several times has one sources row per append: the view sums the counts
        _table_view(con, root, table, "sources_parts" if table == "sources" else table)
    con.execute("""CREATE VIEW sources AS
                   SELECT source, any_value(title) AS title, any_value(paper) AS paper, any_value(repo) AS repo,
                          any_value("commit") AS "commit", any_value(licence) AS licence,
                          CAST(sum(n_files) AS INTEGER) AS n_files, CAST(sum(n_runs) AS INTEGER) AS n_runs,
                          CAST(sum(n_points) AS INTEGER) AS n_points
                   FROM sources_parts GROUP BY source""")
    con.execute(f"CREATE VIEW meta AS SELECT key, value FROM read_parquet({sql_text(root + '/' + META_FILE)})")
    for name in extra_tables:
        con.execute(f'CREATE VIEW "{name}" AS SELECT * FROM read_parquet({sql_text(glob(root, "extra/" + name))})')
    for view in VIEWS:
        con.execute(view)


def _unusable(location, what: str, kind: str = "corrupt") -> StoreError:
    return StoreError(f"Parquet store {location} {what}", f"rebuild it: {build_command(location)}", kind)


def open_parquet(location, *, verify: bool = True) -> duckdb.DuckDBPyConnection:
    """A private connection whose catalog ``store`` has a view per table of the Parquet store at
    ``location``; checks ``meta.schema_version`` and (local stores, unless not ``verify``) that every
    file's footer reads.

    Raises
    ------
    StoreError
        No store there (``missing``), another schema version (``old_schema``), a damaged file (``corrupt``).
    """
    root = root_of(location)
    con = duckdb.connect(":memory:")
    try:
        _load_extensions(con, root)
        try:
            meta = dict(con.execute(f"SELECT key, value FROM read_parquet({sql_text(root + '/' + META_FILE)})")
                        .fetchall())
        except duckdb.IOException as e:
            if "no files found" in str(e).lower() or "no such file" in str(e).lower() or not is_url(root):
                raise StoreError(f"no store at {location} (no {META_FILE})",
                                 f"build it: {build_command(location)} (or set SCALING_STORE)", "missing") from None
            raise _unusable(location, f"cannot be read ({first_line(e)})") from None
        except duckdb.Error as e:
            raise _unusable(location, f"has a damaged {META_FILE} ({first_line(e)})") from None
        found = meta.get("schema_version")
        if found != str(SCHEMA_VERSION):
            raise StoreError(f"store {location} has schema version {found or 'none'}, this code needs "
                             f"{SCHEMA_VERSION}", f"rebuild it: {build_command(location)}", "old_schema")
        extra = _extra_names(meta, location)
        con.execute("ATTACH ':memory:' AS store")
        con.execute("USE store")
        try:
            _views(con, root, extra)
            if verify and not is_url(root):
                _verify_footers(con, root, extra)
        except duckdb.Error as e:
            raise _unusable(location, f"is damaged ({first_line(e)})") from None
        con.execute("USE memory")
    except BaseException:
        con.close()
        raise
    return con


def _extra_names(meta: dict, location) -> list[str]:
    import json
    try:
        names = json.loads(meta.get("extra_tables", "[]"))
    except ValueError:
        raise _unusable(location, "has an unreadable meta.extra_tables") from None
    bad = [n for n in names if not isinstance(n, str) or not extra_table_name_ok(n)]
    if bad:
        raise _unusable(location, f"names a disallowed extra table {bad[0]!r}")
    return names


def _verify_footers(con: duckdb.DuckDBPyConnection, root: str, extra: list[str]) -> None:
    """Read the footer of every data file once (a truncated or foreign file fails here, not mid-page)."""
    for pattern in [glob(root, t) for t in PARTITIONS] + [glob(root, "extra/" + n) for n in extra]:
        if con.execute("SELECT count(*) FROM glob(?)", [pattern]).fetchone()[0]:
            con.execute(f"SELECT count(*) FROM parquet_file_metadata({sql_text(pattern)})").fetchall()


def connection(location) -> duckdb.DuckDBPyConnection:
    """The process-wide connection for the Parquet store at ``location``: reopened when ``meta.parquet`` was
    replaced (local), or re-checked every :data:`URL_TTL_SECONDS` (remote)."""
    root = root_of(location)
    with _LOCK:
        if is_url(root):
            cached = _CONNECTIONS.get(root)
            if cached is not None and time.monotonic() - cached[0][0] < URL_TTL_SECONDS:
                return cached[1]
            con = open_parquet(location)
            _CONNECTIONS[root] = ((time.monotonic(), _digest(con)), con)
            return con
        try:
            sig = signature(root)
        except FileNotFoundError:
            _CONNECTIONS.pop(root, None)
            raise StoreError(f"no store at {location} (no {META_FILE})",
                             f"build it: {build_command(location)} (or set SCALING_STORE)", "missing") from None
        cached = _CONNECTIONS.get(root)
        if cached is not None and cached[0] == sig:
            return cached[1]
        con = open_parquet(location)
        _CONNECTIONS[root] = (sig, con)
        return con


def _digest(con: duckdb.DuckDBPyConnection) -> str:
    row = con.execute("SELECT value FROM store.meta WHERE key = 'input_digest'").fetchone()
    return row[0] if row else ""


def content_key(location) -> str:
    """A cache key that changes when the store's contents do (see :attr:`datasets.store.Store.key`)."""
    root = root_of(location)
    if is_url(root):
        connection(location)
        return f"{root}:{_CONNECTIONS[root][0][1]}"
    return f"{root}:{':'.join(map(str, signature(root)))}"
