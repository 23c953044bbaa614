"""Read runs as researchers export them: W&B, TensorBoard, MLflow, folders of per-run files.

:func:`read_any` takes a file, a folder or a ZIP archive (a path, or an upload's bytes with its file
name), recognises the format (:func:`sniff`) and returns the same :class:`~datasets.upload.Upload` as
:func:`datasets.upload.read_upload`: long-form runs and points for the store, and a report of what was
read, assumed (including where each run's sizes came from) and rejected, with rows and columns of the
source files.

==============  =====================================================================  ======================
format          what                                                                   module
==============  =====================================================================  ======================
``csv``         a CSV or Parquet table in the workbench's own layout                   :mod:`datasets.upload`
``parquet``
``wandb``       W&B history or runs-table export (``_step``, ``train/loss`` ...)        :mod:`.wandb_export`
``wandb-chart`` W&B chart export (``Step``, ``<run> - <metric>``, ``__MIN/__MAX``)      :mod:`.wandb_export`
``tensorboard`` TensorBoard log directory (or one event file), folder or ZIP           :mod:`.tensorboard_logs`
``mlflow``      MLflow tracking folder ``mlruns/`` (folder or ZIP), or ``mlflow.db``     :mod:`.mlflow_folder`,
                                                                                       :mod:`.mlflow_db`
``runfiles``    folder or ZIP of per-run CSV/Parquet files, run = file name            :mod:`.run_files`
==============  =====================================================================  ======================

Sizes: N, D and C come from the log when it has them, else from ``run_info`` (a table: run, params,
tokens[, tokens_per_step]) or ``tokens_per_step`` (D = step x tokens per step); see
:mod:`datasets.formats.draft`. Limits: :mod:`datasets.formats.limits`. Every problem is an
:class:`~datasets.upload.UploadError` (a message and what to do), never a traceback.
"""
from __future__ import annotations

import tempfile
from pathlib import Path, PurePosixPath
from typing import Mapping

from datasets.formats import mlflow_db as _mlflow_db
from datasets.formats import mlflow_folder as _mlflow
from datasets.formats import run_files as _runfiles
from datasets.formats import tensorboard_logs as _tensorboard
from datasets.formats import wandb_export as _wandb
from datasets.formats.archive import Listing, check_selection, is_zip, list_folder, list_zip, materialise
from datasets.formats.draft import Draft, finish, read_run_info
from datasets.formats.limits import (LIMITS, MAX_BYTES, MAX_ENTRIES, MAX_EVENT_BYTES, MAX_EVENT_FILES, MAX_FILES,
                                     MAX_ROWS, MAX_RUNS, MAX_UNPACKED_BYTES, describe_limits)
from datasets.formats.options import check_strict, column_map_from_pairs, rejection_summary
from datasets.formats.tables import check_encoding, table_draft
from datasets.upload import Upload, UploadError, read_header, read_upload

__all__ = ["read_any", "sniff", "FORMATS", "read_run_info", "column_map_from_pairs", "rejection_summary",
           "check_strict", "describe_limits", "LIMITS", "MAX_BYTES",
           "MAX_UNPACKED_BYTES", "MAX_ENTRIES", "MAX_FILES", "MAX_EVENT_FILES", "MAX_EVENT_BYTES", "MAX_ROWS",
           "MAX_RUNS"]

FORMATS: dict[str, str] = {
    "csv": "CSV table in the workbench's layout (run, N, D, step, loss ...)",
    "parquet": "Parquet table in the workbench's layout",
    "wandb": "W&B history or runs-table export (_step, train/loss, eval/loss ...)",
    "wandb-chart": "W&B chart export (Step, '<run> - <metric>' columns)",
    "tensorboard": "TensorBoard log directory: one folder of event files per run",
    "mlflow": "MLflow tracking folder (mlruns/) or database (mlflow.db)",
    "runfiles": "folder of per-run CSV or Parquet files (run = file name)",
}
"""Format name -> what it is, for the page and ``--help``."""

def _mb(n: float) -> str:
    return f"{n / 1e6:,.1f} MB"


def _resolve(data, filename: str | None) -> tuple[str, object, str]:
    """``(kind, payload, label)``: kind ``folder`` (Path), ``zip`` (Path or bytes) or ``file`` (bytes)."""
    if isinstance(data, (str, Path)):
        p = Path(data).expanduser()
        if not p.exists():
            raise UploadError(f"No such file or folder: {str(p)!r}.", fix="Check the path.")
        if p.is_dir():
            return "folder", p, filename or str(p)
        try:
            size = p.stat().st_size
            with open(p, "rb") as fh:
                head = fh.read(4)
        except OSError as e:
            raise UploadError(f"Cannot read {str(p)!r}: {e.strerror or e}.", fix="Check the path and its "
                                                                                 "permissions.") from None
        label = filename or p.name
        if is_zip(head):
            return "zip", p, label
        if size > MAX_BYTES:
            raise UploadError(f"{label!r} is {_mb(size)}, above the {_mb(MAX_BYTES)} limit.",
                              fix="Keep fewer checkpoints per run, or split the file.")
        return "file", p.read_bytes(), label
    if isinstance(data, (bytes, bytearray, memoryview)):
        raw = bytes(data)
    elif hasattr(data, "read"):
        filename = filename or getattr(data, "name", None)
        raw = data.read(MAX_BYTES + 1)
        if not isinstance(raw, bytes):
            raise TypeError("read_any: a file object must return bytes")
    else:
        raise TypeError(f"read_any takes a path, bytes or a binary file, not {type(data).__name__}")
    label = filename or "upload"
    if is_zip(raw):
        return "zip", raw, label
    if len(raw) > MAX_BYTES:
        raise UploadError(f"{label!r} is over {_mb(MAX_BYTES)}, the limit.",
                          fix="Keep fewer checkpoints per run, or split the file.")
    return "file", raw, label


def _db_files(paths: list[str]) -> list[str]:
    return [p for p in paths if PurePosixPath(p).suffix.lower() in (".db", ".sqlite", ".sqlite3")]


def _sniff_listing(listing: Listing) -> str:
    paths = listing.paths()
    if _tensorboard.select(paths):
        return "tensorboard"
    if _mlflow.looks_like(paths) or _db_files(paths):
        return "mlflow"
    if _runfiles.select(paths):
        return "runfiles"
    shown = ", ".join(repr(p) for p in paths[:8]) + (" ..." if len(paths) > 8 else "")
    raise UploadError(f"{listing.label!r} holds no runs in a known format"
                      + (f" (files: {shown})." if paths else " (it is empty)."),
                      fix="Give a TensorBoard log directory (event files), an MLflow mlruns/ folder, or a folder "
                          "of per-run CSV/Parquet files (as a folder or a .zip).")


def _sniff_file(raw: bytes, label: str) -> str:
    if _tensorboard.is_event_file(label):
        return "tensorboard"
    if raw.startswith(_mlflow_db.MAGIC):
        if _mlflow_db.is_mlflow_db(raw):
            return "mlflow"
        raise UploadError(f"{label!r} is an SQLite database, but not MLflow's tracking store.",
                          fix="Upload MLflow's mlflow.db, or export the runs as CSV.")
    header = read_header(raw, label)
    if _wandb.is_chart(header):
        return "wandb-chart"
    if _wandb.is_history(header):
        return "wandb"
    return "parquet" if raw.startswith(b"PAR1") else "csv"


def sniff(path_or_bytes, filename: str | None = None) -> str:
    """The format of a file, folder or ZIP archive: one of :data:`FORMATS`.

    Reads only what it needs: a folder's or an archive's file names, a table's header.

    Raises
    ------
    UploadError
        When nothing in it is in a known format (the message lists what was found).
    """
    kind, payload, label = _resolve(path_or_bytes, filename)
    if kind == "file":
        return _sniff_file(payload, label)
    listing = list_folder(payload) if kind == "folder" else list_zip(payload, label)
    try:
        fmt = _sniff_listing(listing)
        tables = _runfiles.select(listing.paths()) if fmt == "runfiles" else []
        if len(tables) == 1:                  # one table in a folder or zip is read as that file
            check_selection(listing, tables, what=_WHAT[fmt])
            with materialise(listing, tables) as root:
                raw = root.joinpath(*PurePosixPath(tables[0]).parts).read_bytes()
            return _sniff_file(raw, tables[0])
        return fmt
    finally:
        listing.close()


def read_any(path_or_bytes, *, filename: str | None = None, column_map: Mapping | None = None, run_info=None,
             tokens_per_step: float | None = None, format: str | None = None) -> Upload:
    """Read runs from a file, a folder or a ZIP archive in any of :data:`FORMATS`.

    Parameters
    ----------
    path_or_bytes : str, Path, bytes or binary file
        A path (a ``str`` is a path here, not CSV text) to a file, a folder or a ``.zip``; or an
        upload's bytes (a ZIP is recognised by its signature, an event file by its name).
    filename : str, optional
        The upload's file name (decides e.g. that ``*tfevents*`` bytes are an event file); shown in
        the report and stored in ``runs.file``.
    column_map : mapping, optional
        ``{field: name}`` for the names a log uses: fields run, family, step, N, D, C, U, lr, and
        value (one name or a list: the metrics to keep); ``None`` switches a field off. For the plain
        CSV layout it is :func:`datasets.upload.read_upload`'s ``column_map``.
    run_info : DataFrame, path, bytes, list or mapping, optional
        Per-run sizes: ``run, params, tokens[, tokens_per_step][, flops]`` (see
        :func:`datasets.formats.draft.read_run_info`); used where the log gives none.
    tokens_per_step : float, optional
        Tokens per optimiser step for every run (``D = step x tokens_per_step``) where neither the log
        nor ``run_info`` gives D.
    format : str, optional
        Skip sniffing (one of :data:`FORMATS`).

    Returns
    -------
    Upload
        As :func:`datasets.upload.read_upload`; ``report.format`` is the format, ``report.defaults``
        says where N, D and C came from per run, ``runs.extra`` holds each run's config (JSON).

    Raises
    ------
    UploadError
        Unknown format, limits (:mod:`datasets.formats.limits`), unreadable files, nothing readable.
    """
    if format is not None and format not in FORMATS:
        raise UploadError(f"Unknown format {format!r}.", fix=f"Use one of: {', '.join(FORMATS)}.")
    kind, payload, label = _resolve(path_or_bytes, filename)
    sized = dict(run_info=run_info, tokens_per_step=tokens_per_step)
    if kind == "file":
        return _read_file(payload, label, column_map, format, sized)
    listing = list_folder(payload) if kind == "folder" else list_zip(payload, label)
    try:
        fmt = format or _sniff_listing(listing)
        return _read_listing(listing, fmt, label, column_map, sized)
    finally:
        listing.close()


def _read_file(raw: bytes, label: str, column_map, fmt: str | None, sized: dict) -> Upload:
    from datasets.upload.sniff import parse

    fmt = fmt or _sniff_file(raw, label)
    if fmt == "tensorboard":
        with tempfile.TemporaryDirectory(prefix="scaling-upload-") as tmp:
            name = PurePosixPath(label.replace("\\", "/")).name
            name = name if _tensorboard.is_event_file(name) else f"events.out.tfevents.{name or 'upload'}"
            (Path(tmp) / name).write_bytes(raw)
            d = _tensorboard.read_tensorboard(Path(tmp), [name], label="run", column_map=column_map)
        return finish(d, filename=label, **sized)
    if fmt == "mlflow" and raw.startswith(_mlflow_db.MAGIC):
        return finish(_mlflow_db.read_mlflow_db(raw, label=label, column_map=column_map), filename=label, **sized)
    if fmt in ("mlflow", "runfiles"):
        raise UploadError(f"The {fmt} format is a folder, but {label!r} is a single file.",
                          fix="Give the folder, or a .zip of it.")
    check_encoding(raw, label)
    if fmt in ("csv", "parquet") and sized["run_info"] is None and sized["tokens_per_step"] is None:
        return read_upload(raw, filename=label, column_map=column_map)
    table = parse(raw, label, MAX_ROWS)
    if fmt == "wandb-chart":
        d = _wandb.read_chart(table, file=label, column_map=column_map)
    else:
        d = table_draft(table, file=label, column_map=column_map, fmt=fmt if fmt not in ("csv", "parquet") else
                        table.fmt, run_default=PurePosixPath(label.replace("\\", "/")).stem or "run")
    return finish(d, filename=label, **sized)


_SELECT = {"tensorboard": _tensorboard.select, "mlflow": _mlflow.select, "runfiles": _runfiles.select}
_WHAT = {"tensorboard": "event files", "mlflow": "MLflow files", "runfiles": "CSV/Parquet files"}


def _read_listing(listing: Listing, fmt: str, label: str, column_map, sized: dict) -> Upload:
    if fmt not in _SELECT:
        tables = _runfiles.select(listing.paths())
        if len(tables) != 1:
            raise UploadError(f"The {fmt} format is one file, but {label!r} is a folder or archive"
                              + (f" of {len(tables)} tables." if tables else "."),
                              fix="Give the file itself, or use format 'runfiles' for one file per run.")
        fmt = "runfiles"
    paths = _SELECT[fmt](listing.paths())
    if fmt == "mlflow" and not any(_mlflow.split_path(p) for p in paths) and _db_files(listing.paths()):
        db = _db_files(listing.paths())[:1]         # MLflow 3.7+: metrics in mlflow.db, mlruns/ holds artifacts
        check_selection(listing, db, what="database files")
        with materialise(listing, db) as root:
            raw = root.joinpath(*PurePosixPath(db[0]).parts).read_bytes()
        return _read_file(raw, db[0], column_map, "mlflow", sized)
    if fmt == "runfiles" and len(paths) == 1:
        check_selection(listing, paths, what=_WHAT[fmt])
        with materialise(listing, paths) as root:
            raw = root.joinpath(*PurePosixPath(paths[0]).parts).read_bytes()
        return _read_file(raw, paths[0], column_map, None, sized)
    if fmt == "tensorboard":
        check_selection(listing, paths, what=_WHAT[fmt], max_files=MAX_EVENT_FILES, max_bytes=MAX_EVENT_BYTES)
    else:
        check_selection(listing, paths, what=_WHAT[fmt], max_files=MAX_FILES)
    with materialise(listing, paths) as root:
        if fmt == "tensorboard":
            d: Draft = _tensorboard.read_tensorboard(root, paths, label=label, column_map=column_map)
        elif fmt == "mlflow":
            d = _mlflow.read_mlflow(root, paths, label=label, column_map=column_map)
        else:
            d = _runfiles.read_runfiles(root, paths, column_map=column_map)
    others = len(listing.entries) - len(paths)
    if others and fmt != "mlflow":
        d.notes.append(f"{others:,} other file{'s' if others != 1 else ''} in {label!r} were not read "
                       f"(read as {fmt}).")
    d.notes[:0] = listing.notes
    return finish(d, filename=label, **sized)
