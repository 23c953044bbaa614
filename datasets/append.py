"""Grow a Parquet store: add manifest sources (``python -m datasets.build --append``) or a user's runs file
(``--append-runs FILE --runs-source NAME``) as new partitions, without rewriting what is there
(:func:`datasets.store.parquet_write.append_tables` does the writing)."""
from __future__ import annotations

import json
from pathlib import Path

from datasets import manifest as mf
from datasets.build import BuildError
from datasets.store import Store, StoreError, parquet_write


def new_sources(out: Path, sources: list[mf.ManifestSource], named: bool) -> list[mf.ManifestSource]:
    """The selected sources that the Parquet store at ``out`` lacks (``--append``); naming one that is
    already there (``--only``) is an error, and so is a missing store."""
    from datasets.store import parquet

    if not (out / parquet.META_FILE).is_file():
        raise BuildError(f"no Parquet store at {out} to append to",
                         f"build it first: python -m datasets.build --format parquet --out {out}")
    try:
        stored = set(json.loads(Store(out).meta().get("sources", "[]")))
    except StoreError as e:
        raise BuildError(e.message, e.fix) from None
    there = [s.source for s in sources if s.source in stored]
    if there and named:
        raise BuildError(f"source {there[0]} is already in {out}", "append other sources, or rebuild the store")
    new = [s for s in sources if s.source not in stored]
    if not new:
        raise BuildError(f"every selected source is already in {out}", "nothing to append")
    return new


def append_runs(out: Path, path: Path, source: str = "upload") -> parquet_write.AppendReport:
    """Append a user's runs file (CSV or Parquet in the upload format, read by :func:`datasets.upload.read_upload`)
    to the Parquet store at ``out`` as source ``source``: new partitions, nothing rewritten."""
    from datasets.store.memory import upload_tables
    from datasets.upload import read_upload

    path = Path(path)
    if not path.is_file():
        raise BuildError(f"no such file: {path}")
    up = read_upload(path, filename=path.name)
    t = upload_tables(up)
    runs, points = parquet_write.rename_source(t["runs"], t["points"], source)
    files = t["files"].assign(source=source, sha256=mf.sha256_file(path), bytes=path.stat().st_size)
    exclusions = t["exclusions"].assign(source=source)
    try:
        return parquet_write.append_tables(out, runs, points, files=files, exclusions=exclusions,
                                           name=source, input_digest=mf.sha256_file(path))
    except StoreError as e:
        raise BuildError(e.message, e.fix) from None
