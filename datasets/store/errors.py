"""The store's error type, and the command that builds a store (what most of its errors tell you to run)."""
from __future__ import annotations

import os
import shlex
from pathlib import Path

from datasets.errors import WorkbenchError

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_STORE = PROJECT_ROOT / "store.duckdb"


class StoreError(WorkbenchError):
    """The store cannot be used: ``message`` says what is wrong, ``fix`` what to do.

    ``kind`` is one of ``missing``, ``corrupt``, ``locked``, ``old_schema``, ``build_failed``.
    """

    separator = " -- "

    def __init__(self, message: str, fix: str, kind: str = "corrupt"):
        super().__init__(message, fix)
        self.kind = kind


def build_command(path: Path | str | None = None) -> str:
    """The command that (re)builds the store at ``path`` (``--out store.duckdb`` for the default location,
    ``--format parquet`` for a Parquet store)."""
    from datasets.store.parquet import is_parquet_store

    data = os.environ.get("SCALING_DATA_DIR") or "../shared/data"
    if path is not None and is_parquet_store(path):
        return f"python -m datasets.build --source {shlex.quote(data)} --format parquet --out {shlex.quote(str(path))}"
    if path is None or Path(path).expanduser().resolve() == DEFAULT_STORE.resolve():
        out = "store.duckdb"
    else:
        out = str(path)
    return f"python -m datasets.build --source {shlex.quote(data)} --out {shlex.quote(out)}"
