"""Where the store is, and making sure there is a usable one (building it on first start)."""
from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path

from datasets.store.connection import probe
from datasets.store.errors import DEFAULT_STORE, PROJECT_ROOT, StoreError, build_command
from datasets.store.parquet import is_parquet_store, is_url

Progress = Callable[[float, str], None]


def locate_store() -> Path | str:
    """``$SCALING_STORE`` if set, else ``<project root>/store.duckdb``.

    The store is a DuckDB file or a Parquet store: a directory (an existing one, or a path ending in ``/``),
    or an object-storage URL such as ``s3://bucket/scaling`` (returned as a str, see
    :mod:`datasets.store.parquet`)."""
    env = os.environ.get("SCALING_STORE")
    if not env:
        return DEFAULT_STORE
    if is_url(env):
        return env
    return Path(env).expanduser()


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
    starting at once build it once. A Parquet store (``$SCALING_STORE`` a directory, or ending in ``/``) is
    built as one; a remote one (a URL) is never built here.

    Raises
    ------
    StoreError
        When the store is locked by another process, or the data cannot be found, fetched or built.
    """
    path = locate_store()
    err = probe(path)
    if err is None:
        return path
    if err.kind == "locked" or is_url(path):     # a remote store is built elsewhere and copied there
        raise err
    # a Parquet store: an existing directory, or $SCALING_STORE written with a trailing "/" (Path drops it)
    fmt = "parquet" if is_parquet_store(path) or is_parquet_store(os.environ.get("SCALING_STORE")) else "duckdb"
    from datasets import build as builder
    from datasets import fetch
    with _file_lock(path.with_name(path.name + ".lock")):
        if probe(path) is None:  # another process built it while we waited
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
                          else None, format=fmt)
        except (builder.BuildError, fetch.FetchError, StoreError, OSError) as e:
            why = "" if err.kind == "missing" else f"{err.message}, and "   # say why it was being rebuilt
            raise StoreError(f"{why}building the store at {path} failed: {e}",
                             f"fix the cause and run {build_command(path)}", "build_failed") from e
    err = probe(path)
    if err is not None:
        raise err
    return path
