"""The files of the upload vault: one token's folder, written so that a crash never leaves it half-done.

A token's folder holds ``index.json`` (the commit point) and one folder per upload (``runs.parquet``,
``points.parquet``, ``report.json``). Every file is written in full and fsynced before it is named:
:func:`write_index` writes a temporary file and renames it over the old index (:func:`os.replace`,
atomic on POSIX); :func:`write_entry` fills a folder the caller renames into place. Writers of one token
hold :func:`writer_lock`; readers never lock. The policy (tokens, expiry, quotas) is
:class:`datasets.upload_vault.UploadVault`'s.
"""
from __future__ import annotations

import fcntl
import io
import json
import os
import secrets
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pandas as pd

from datasets.errors import WorkbenchError
from datasets.upload.report import Upload, UploadReport

__all__ = ["VaultError", "INDEX", "LOCK", "TABLES", "read_index", "write_index", "read_entry", "write_entry",
           "writer_lock", "remove_folder", "mtime"]

INDEX = "index.json"
LOCK = ".lock"
TABLES = ("runs", "points")


class VaultError(WorkbenchError):
    """A token or an upload that cannot be kept or found; ``kind`` says which case (see
    :mod:`datasets.upload_vault`)."""

    def __init__(self, message: str, fix: str | None = None, *, kind: str):
        super().__init__(message, fix)
        self.kind = kind


def _damaged_index() -> VaultError:
    return VaultError("The uploads of this link could not be read (their index is damaged).",
                      "Delete them on the Upload page and upload the runs again.", kind="damaged")


# ------------------------------------------------------------------------------------------ the index
def read_index(folder: Path) -> dict | None:
    """A token folder's index, ``None`` when it has none; :class:`VaultError` ``damaged`` when unreadable."""
    try:
        data = json.loads((folder / INDEX).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        raise _damaged_index() from None
    if not isinstance(data, dict) or not isinstance(data.get("uploads"), dict):
        raise _damaged_index()
    return data


def write_index(folder: Path, data: dict) -> None:
    """Replace a token folder's index by ``data`` atomically (temporary file, fsync, rename)."""
    tmp = folder / f".{INDEX}.{secrets.token_hex(6)}.tmp"
    _fsync_write(tmp, json.dumps(data, sort_keys=True).encode("utf-8"))
    os.replace(tmp, folder / INDEX)


# ------------------------------------------------------------------------------------------ one upload
def write_entry(folder: Path, upload: Upload) -> int:
    """Write ``upload`` (its tables as Parquet, its report as JSON) into the empty ``folder``; returns
    the bytes written."""
    for t in TABLES:
        _fsync_write(folder / f"{t}.parquet", parquet_bytes(getattr(upload, t)))
    _fsync_write(folder / "report.json", json.dumps(upload.report.to_dict(), default=str).encode("utf-8"))
    return sum(f.stat().st_size for f in folder.iterdir())


def read_entry(folder: Path) -> Upload:
    """The upload kept in ``folder``, as it was written (:class:`VaultError` when gone or unreadable)."""
    try:
        tables = {t: pd.read_parquet(folder / f"{t}.parquet") for t in TABLES}
        report = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise VaultError("An upload of this link was deleted meanwhile (in another tab?).",
                         "Reload the page.", kind="unknown") from None
    except (OSError, ValueError) as e:
        raise VaultError(f"An upload of this link could not be read ({type(e).__name__}).",
                         "Delete it on the Upload page and upload it again.", kind="damaged") from None
    return Upload(runs=tables["runs"], points=tables["points"], report=report_from_dict(report))


def parquet_bytes(frame: pd.DataFrame) -> bytes:
    """``frame`` as Parquet bytes (no index)."""
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)
    return buf.getvalue()


def report_from_dict(d: dict) -> UploadReport:
    """An :class:`UploadReport` from its :meth:`~UploadReport.to_dict` (tuples where the report has them)."""
    return UploadReport(
        filename=d.get("filename"), format=d.get("format", "csv"), encoding=d.get("encoding"),
        delimiter=d.get("delimiter"), layout=d.get("layout", "wide"), rows_read=int(d.get("rows_read", 0)),
        points_kept=int(d.get("points_kept", 0)), runs=int(d.get("runs", 0)), families=int(d.get("families", 0)),
        mapping=dict(d.get("mapping", {})), ignored_columns=tuple(d.get("ignored_columns", ())),
        defaults=tuple(d.get("defaults", ())), rejected=tuple(tuple(r) for r in d.get("rejected", ())),
        n_rejected=int(d.get("n_rejected", 0)), rejection_counts=dict(d.get("rejection_counts", {})),
        warnings=tuple(d.get("warnings", ())))


# ------------------------------------------------------------------------------------------ folders
@contextmanager
def writer_lock(folder: Path) -> Iterator[None]:
    """Hold the exclusive writer lock of a token folder (:class:`VaultError` ``unknown`` when it is gone)."""
    try:
        fh = open(folder / LOCK, "a+")
    except FileNotFoundError:
        raise VaultError("No uploads are kept under this link: they were deleted or expired.",
                         "Open the Upload page and upload the runs again.", kind="unknown") from None
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
        fh.close()


def remove_folder(folder: Path) -> None:
    """Delete a token's folder: its index first (the token stops working at once), then the rest."""
    try:
        (folder / INDEX).unlink()
    except FileNotFoundError:
        pass
    trash = folder.with_name(f".trash-{secrets.token_hex(8)}")
    try:
        os.rename(folder, trash)
    except OSError:
        trash = folder
    shutil.rmtree(trash, ignore_errors=True)


def mtime(path: Path) -> float:
    """``path``'s modification time (0 when it cannot be read)."""
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _fsync_write(path: Path, data: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
