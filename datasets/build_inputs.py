"""What a build reads, checked: the manifest's sources, their files, the ingester modules and their tables.

Every check raises :class:`BuildError` naming the source, file or table and what to do. :func:`code_digest`
and :func:`input_digest` identify what a store was built from (stored in its ``meta`` table). The build
itself (ingest, write, report) is :mod:`datasets.build`.
"""
from __future__ import annotations

import hashlib
import importlib
from pathlib import Path

import pandas as pd

from datasets import manifest as mf
from datasets.errors import WorkbenchError
from datasets.schema import POINT_COLUMNS, RUN_COLUMNS, extra_table_name_ok, row_problem
from datasets.sources import SourceTables

__all__ = ["BuildError", "EXTRA_TABLE_HOOKS", "select_sources", "check_source_dir", "verify_inputs", "input_digest",
           "code_digest", "load_ingester", "check_tables", "extra_tables"]

PACKAGE_DIR = Path(__file__).resolve().parent

#: ingester function name -> table name template ({module} = the ingester module's name)
EXTRA_TABLE_HOOKS: dict[str, str] = {"task_metadata": "task_metadata", "heldout_table": "{module}_split"}


class BuildError(WorkbenchError, RuntimeError):
    """The build cannot proceed; the message (one line) says what and where, ``fix`` what to do."""

    separator = "; "


def select_sources(manifest: mf.Manifest, only: list[str] | None) -> list[mf.ManifestSource]:
    """The manifest's sources named in ``only`` (folder or module names), or all of them."""
    if not only:
        return list(manifest.sources)
    try:
        picked = {manifest.get(name).source for name in only}
    except mf.ManifestError as e:
        raise BuildError(e.message, e.fix) from None
    return [s for s in manifest.sources if s.source in picked]


def check_source_dir(source_dir: Path, sources: list[mf.ManifestSource]) -> None:
    """Raise :class:`BuildError` unless ``source_dir`` holds a folder for every selected source."""
    if not source_dir.exists():
        raise BuildError(f"source directory {source_dir} does not exist",
                         "pass --source ../shared/data, or --download to fetch the pinned files")
    if not source_dir.is_dir():
        raise BuildError(f"source directory {source_dir} is not a directory")
    missing = [s.source for s in sources if not (source_dir / s.source).is_dir()]
    if len(missing) == len(sources):
        raise BuildError(f"{source_dir} holds none of the source folders ({', '.join(missing)})",
                         "is it the data directory? (one folder per source, as in ../shared/data)")
    if missing:
        raise BuildError(f"{source_dir} lacks source folder(s) {', '.join(missing)}",
                         "build a subset with --only, or use --download")


def verify_inputs(source_dir: Path, sources: list[mf.ManifestSource]) -> pd.DataFrame:
    """Check size and sha256 of every manifest file; return rows (source, path, sha256, bytes).

    Raises
    ------
    BuildError
        Naming the first missing or changed file, with expected and actual size / sha256.
    """
    rows = []
    for s in sources:
        for f in s.files:
            p = source_dir / s.source / f.path
            if not p.is_file():
                raise BuildError(f"input file {s.source}/{f.path} is missing from {source_dir / s.source}",
                                 "re-copy it or fetch with python -m datasets.fetch")
            actual = mf.sha256_file(p)
            if actual != f.sha256:
                raise BuildError(f"input file {s.source}/{f.path} does not match the manifest: sha256 expected "
                                 f"{f.sha256}, got {actual} ({p.stat().st_size} bytes, expected {f.bytes})",
                                 "restore the pinned upstream file")
            rows.append(dict(source=s.source, path=f.path, sha256=f.sha256, bytes=f.bytes))
    return pd.DataFrame(rows, columns=["source", "path", "sha256", "bytes"])


def input_digest(files: pd.DataFrame) -> str:
    """sha256 over the sorted ``source\\tpath\\tsha256`` lines of every input file."""
    lines = sorted(f"{r.source}\t{r.path}\t{r.sha256}\n" for r in files.itertuples())
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def code_digest() -> str:
    """sha256 over the schema, the build modules and every ingester module (tells a stale store)."""
    h = hashlib.sha256()
    files = [PACKAGE_DIR / "schema.py", PACKAGE_DIR / "build.py", PACKAGE_DIR / "build_inputs.py",
             PACKAGE_DIR / "store" / "write.py",
             *sorted((PACKAGE_DIR / "sources").rglob("*.py"))]
    for p in files:
        h.update(p.relative_to(PACKAGE_DIR).as_posix().encode() + b"\0" + p.read_bytes())
    return h.hexdigest()


def load_ingester(source: mf.ManifestSource):
    """The ingester module of ``source``, or None when ``datasets.sources.<module>`` does not exist."""
    name = f"datasets.sources.{source.module}"
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name == name:
            return None
        raise BuildError(f"{source.source}: importing {name} failed: {e}") from e
    except Exception as e:  # an ingester that does not import is a build error naming the module
        raise BuildError(f"{source.source}: importing {name} failed: {type(e).__name__}: {e}") from e


def check_tables(source: str, t: SourceTables) -> None:
    """Raise :class:`BuildError` unless ``t`` conforms to the schema (columns, splits, units, ids)."""
    if not isinstance(t, SourceTables):
        raise BuildError(f"{source}: ingest() returned {type(t).__name__}, expected SourceTables")
    for name, df, cols in (("runs", t.runs, RUN_COLUMNS), ("points", t.points, POINT_COLUMNS)):
        if list(df.columns) != list(cols):
            raise BuildError(f"{source}: {name} columns {list(df.columns)} differ from the schema {list(cols)} "
                             f"(use make_{name})")
    problem = row_problem(t.runs, t.points, source)
    if problem:
        raise BuildError(f"{source}: {problem}")


def extra_tables(source: mf.ManifestSource, module, folder: Path) -> dict[str, pd.DataFrame]:
    """The extra tables ``module`` provides through :data:`EXTRA_TABLE_HOOKS`, by table name."""
    out = {}
    for func, template in EXTRA_TABLE_HOOKS.items():
        fn = getattr(module, func, None)
        if not callable(fn):
            continue
        name = template.format(module=source.module)
        if not extra_table_name_ok(name):
            raise BuildError(f"{source.source}: extra table name {name!r} is not allowed")
        try:
            df = fn(folder)
        except Exception as e:
            raise BuildError(f"{source.source}: {func}() failed: {type(e).__name__}: {e}") from e
        if not isinstance(df, pd.DataFrame):
            raise BuildError(f"{source.source}: {func}() returned {type(df).__name__}, expected a DataFrame")
        out[name] = df.reset_index(drop=True)
    return out
