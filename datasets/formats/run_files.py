"""A folder (or ZIP) of per-run CSV or Parquet files: one file, one run, named after the file.

Example (a folder ``runs/``; the files' columns are read like any upload's)::

    runs/gpt-125m.csv      step,tokens,train/loss,val_loss      -> run "gpt-125m"
    runs/gpt-350m.parquet  step,tokens,train/loss,val_loss      -> run "gpt-350m"
    runs/sweep-b/lr3e-4.csv                                     -> run "lr3e-4", family "sweep-b"

The run is the file name without its extension (its path without extension when two files share a
name; a run-like column inside a file is kept as config, not used: one file is one run); files in a
sub-folder get the sub-folder as their family (a folder all files sit in, as a ZIP of the folder adds,
is not a family). Each file is decoded on its own (so files in different encodings are fine, each
named in a warning when it is not UTF-8); a file that mixes encodings is refused by name
(:func:`datasets.formats.tables.check_encoding`).
"""
from __future__ import annotations

from pathlib import Path, PurePosixPath

from datasets.formats.archive import shared_folders
from datasets.formats.draft import Draft, concat
from datasets.formats.limits import MAX_BYTES, MAX_ROWS
from datasets.formats.tables import check_encoding, table_draft
from datasets.upload import UploadError
from datasets.upload.sniff import parse

SUFFIXES = (".csv", ".tsv", ".txt", ".parquet", ".pq")


def select(paths: list[str]) -> list[str]:
    """The per-run table files among ``paths``."""
    return [p for p in paths if PurePosixPath(p).suffix.lower() in SUFFIXES]


def read_runfiles(root: Path, paths: list[str], *, column_map=None) -> Draft:
    """Read every table in ``paths`` (relative to ``root``) as one run each (see the module docstring)."""
    if not paths:
        raise UploadError("No CSV or Parquet files were found.", fix="Put one file per run (run.csv or "
                                                                     "run.parquet) in the folder or archive.")
    stems = [PurePosixPath(rel).stem for rel in paths]
    skip = shared_folders(paths)
    drafts = []
    for rel, stem in zip(paths, stems):
        p = PurePosixPath(rel)
        run = stem if stems.count(stem) == 1 else "/".join(p.with_suffix("").parts[skip:])
        path = root.joinpath(*p.parts)
        try:
            size = path.stat().st_size
            if size > MAX_BYTES:
                raise UploadError(f"{rel!r} is {size / 1e6:,.1f} MB, above the {MAX_BYTES / 1e6:,.0f} MB limit "
                                  "for one file.", fix="Keep fewer checkpoints in it, or split it.")
            raw = path.read_bytes()
        except OSError as e:
            raise UploadError(f"Cannot read {rel!r}: {e.strerror or e}.", fix="Check the file.") from None
        if not raw.strip():
            raise UploadError(f"{rel!r} is empty.", fix="Delete it, or export that run again.")
        check_encoding(raw, rel)
        try:
            table = parse(raw, p.name, MAX_ROWS)
        except UploadError as e:
            raise UploadError(f"{rel}: {e.message}", fix=e.fix, row=e.row, column=e.column) from None
        family = "/".join(p.parts[skip:-1]) or None
        drafts.append(table_draft(table, file=rel, column_map=column_map, fmt="runfiles", run_default=run,
                                  family_default=family, run_column=False))
    d = concat(drafts, "runfiles")
    d.sources["run"] = "file names"
    d.files = len(paths)
    return d
