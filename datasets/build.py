"""Build the DuckDB store from the source folders: verify, ingest, write atomically.

Usage::

    python -m datasets.build --source ../shared/data --out store.duckdb [--only colpret pythia]
    python -m datasets.build --download --out store.duckdb       # fetch the pinned files first
    python -m datasets.build --source ../shared/data --format parquet --out store/   # a Parquet store
    python -m datasets.build --source ../shared/data --append --only pythia --out store/   # add a source
    python -m datasets.build --append-runs my_runs.csv --runs-source my-lab --out store/    # add a user's runs

Steps
-----
1. Select the manifest's sources (all, or ``--only``) and check every input file against the manifest
   (size and sha256). A missing or changed file stops the build with a message naming it.
2. Run each source's ingester (``datasets.sources.<folder with '-' -> '_'>.ingest(folder)``), printing
   source, runs, points and seconds. A source whose ingester module does not exist is skipped with a
   warning (recorded in ``exclusions``) unless it was asked for by ``--only``.
3. Write the tables of :mod:`datasets.schema` (plus extra tables, below) into a temporary file beside
   ``--out``, sorted so the same inputs give identical table contents, then ``os.replace`` it over
   ``--out``. A failed or interrupted build leaves an existing store untouched. With ``--format parquet``
   the same tables are written as a Hive-partitioned Parquet directory (:mod:`datasets.store.parquet`:
   runs by source, points by source and family, the same schema version in ``meta``), staged and
   swapped in the same way; ``--append`` adds sources to it as new partitions.

Extra tables: an ingester module may expose ``task_metadata(folder) -> DataFrame`` (stored as table
``task_metadata``) and ``heldout_table(folder) -> DataFrame`` (stored as ``<module>_split``, e.g.
``revisiting_split``). Their names are listed in ``meta.extra_tables``.
"""
from __future__ import annotations

import argparse
import functools
import json
import signal
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import pandas as pd

from datasets import manifest as mf
from datasets.build_inputs import (BuildError, check_source_dir, check_tables, code_digest, extra_tables,
                                   input_digest, load_ingester, select_sources, verify_inputs)
from datasets.errors import WorkbenchError
from datasets.schema import EXCLUSION_COLUMNS, SCHEMA_VERSION
from datasets.store import StoreError, parquet_write
from datasets.store.write import write_atomically

__all__ = ["build", "main", "BuildError", "BuildReport", "SourceReport", "FORMATS"]

Progress = Callable[[float, str], None]
FORMATS = ("duckdb", "parquet")


@dataclass(frozen=True)
class SourceReport:
    """One source's contribution: rows written, decisions recorded, ingest seconds (None when skipped)."""

    source: str
    runs: int
    points: int
    exclusions: int
    seconds: float | None
    skipped: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class BuildReport:
    """What :func:`build` wrote."""

    out: str
    sources: tuple[SourceReport, ...]
    n_families: int
    n_runs: int
    n_points: int
    bytes: int
    seconds: float
    input_digest: str
    extra_tables: tuple[str, ...]

    def to_dict(self) -> dict:
        d = asdict(self)
        d["sources"] = [s.to_dict() for s in self.sources]
        return d


def build(source_dir: Path, out: Path, *, only: list[str] | None = None, manifest: mf.Manifest | None = None,
          progress: Progress | None = None, log: Callable[[str], None] | None = None, format: str = "duckdb",
          append: bool = False) -> BuildReport:
    """Build the store at ``out`` from ``source_dir`` (one folder per source, as in ``shared/data``).

    Parameters
    ----------
    source_dir : data directory; ``only``: source names to include (default: every manifest source).
    progress : ``callable(fraction, message)`` called per source (fraction of input bytes ingested).
    log : ``callable(line)`` for the per-source lines (the CLI prints them).
    format : ``"duckdb"`` (one file, the default) or ``"parquet"`` (a Hive-partitioned directory,
        :mod:`datasets.store.parquet`).
    append : add the sources to the existing Parquet store at ``out`` as new partitions (a source already
        there is refused), instead of building a new store.

    Raises
    ------
    BuildError
        Missing/malformed source directory, an input file that differs from the manifest, an ingester
        that fails or returns rows outside the schema. ``out`` is then unchanged.
    """
    t0 = time.perf_counter()
    source_dir, out = Path(source_dir), Path(out)
    if format not in FORMATS:
        raise BuildError(f"unknown store format {format!r}", f"use one of {', '.join(FORMATS)}")
    if append and format != "parquet":
        raise BuildError("--append adds partitions to a Parquet store", "add --format parquet")
    try:
        manifest = manifest or mf.load()
    except mf.ManifestError as e:
        raise BuildError(e.message, e.fix) from None
    sources = select_sources(manifest, only)
    if append:
        from datasets.append import new_sources
        sources = new_sources(out, sources, bool(only))
    check_source_dir(source_dir, sources)
    files = verify_inputs(source_dir, sources)
    say = log or (lambda line: None)
    total_bytes = sum(s.total_bytes for s in sources) or 1
    done_bytes = 0

    runs, points, excl, src_rows, reports = [], [], [], [], []
    extras: dict[str, pd.DataFrame] = {}
    rows_read: dict[tuple[str, str], int] = {}
    seen_ids: set[str] = set()
    for s in sources:
        module = load_ingester(s)
        if module is None or not callable(getattr(module, "ingest", None)):
            if only:
                raise BuildError(f"{s.source}: no ingester", f"add datasets/sources/{s.module}.py with ingest(folder)")
            reason = f"no ingester module datasets.sources.{s.module}"
            say(f"  {s.source:<18} SKIPPED: {reason}")
            excl.append(dict(source=s.source, file=None, what="whole source", action="dropped",
                             reason=reason, n_rows=0))
            reports.append(SourceReport(s.source, 0, 0, 0, None, skipped=reason))
            continue
        folder = source_dir / s.source
        t1 = time.perf_counter()
        try:
            t = module.ingest(folder)
        except BuildError:
            raise
        except Exception as e:
            raise BuildError(f"{s.source}: ingest() failed: {type(e).__name__}: {e}") from e
        check_tables(s.source, t)
        dup = seen_ids.intersection(t.runs["run_id"])
        if dup:
            raise BuildError(f"{s.source}: run_id {sorted(dup)[0]!r} already used by another source")
        seen_ids.update(t.runs["run_id"])
        for name, df in extra_tables(s, module, folder).items():
            if name in extras:
                raise BuildError(f"{s.source}: extra table {name!r} provided by two sources")
            extras[name] = df
        secs = time.perf_counter() - t1
        runs.append(t.runs)
        points.append(t.points)
        excl.extend(dict(source=s.source, **e) for e in t.exclusions)
        unknown = sorted(set(t.rows_read) - {f.path for f in s.files})
        if unknown:
            say(f"  warning: {s.source} reports rows read for files not in the manifest: {', '.join(unknown[:3])}")
        rows_read.update({(s.source, k): int(v) for k, v in t.rows_read.items()})
        info = dict(source=s.source, title=s.title, paper=s.paper, repo=s.repo, commit=s.commit,
                    licence=s.licence, n_files=len(s.files), n_runs=len(t.runs), n_points=len(t.points))
        src_rows.append(info)
        reports.append(SourceReport(s.source, len(t.runs), len(t.points), len(t.exclusions), round(secs, 3)))
        done_bytes += s.total_bytes
        say(f"  {s.source:<18} {len(t.runs):>7,} runs {len(t.points):>10,} points {secs:7.2f} s")
        if progress:
            progress(done_bytes / total_bytes, f"ingested {s.source}")
    if not src_rows:
        raise BuildError("no source could be ingested (no ingester modules found in datasets/sources)")

    runs_df = pd.concat(runs, ignore_index=True)
    points_df = pd.concat(points, ignore_index=True)
    files = files[files["source"].isin({r["source"] for r in src_rows})].copy()
    files["rows_read"] = [rows_read.get((r.source, r.path)) for r in files.itertuples()]
    files["rows_read"] = files["rows_read"].astype("Int64")
    digest = input_digest(files)
    extra_names = tuple(sorted(extras))
    meta = pd.DataFrame([("schema_version", str(SCHEMA_VERSION)), ("input_digest", digest),
                         ("code_digest", code_digest()),
                         ("sources", json.dumps(sorted(r["source"] for r in src_rows))),
                         ("extra_tables", json.dumps(list(extra_names)))], columns=["key", "value"])
    excl_df = pd.DataFrame(excl, columns=list(EXCLUSION_COLUMNS))
    excl_df["n_rows"] = excl_df["n_rows"].astype("int64")
    tables = dict(runs=runs_df, points=points_df, sources=pd.DataFrame(src_rows), files=files,
                  exclusions=excl_df, meta=meta)

    try:
        if append:
            parquet_write.append_tables(out, runs_df, points_df, sources=tables["sources"], files=files,
                                        exclusions=excl_df, extras=extras, input_digest=digest)
        elif format == "parquet":
            parquet_write.write_parquet_store(out, tables, extras, log)
        else:
            write_atomically(out, tables, extras, log)
    except StoreError as e:
        raise BuildError(e.message, e.fix) from None
    if progress:
        progress(1.0, f"wrote {out}")
    size = parquet_write.store_bytes(out) if format == "parquet" else out.stat().st_size
    return BuildReport(out=str(out), sources=tuple(reports), n_families=int(runs_df["family"].nunique()),
                       n_runs=len(runs_df), n_points=len(points_df), bytes=size,
                       seconds=round(time.perf_counter() - t0, 3), input_digest=digest, extra_tables=extra_names)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m datasets.build", description=__doc__.splitlines()[0])
    ap.add_argument("--source", type=Path, help="data directory with one folder per source (with --download: "
                                                 "where to fetch to, default the cache directory)")
    ap.add_argument("--out", type=Path, required=True, help="the DuckDB file (or with --format parquet the directory) "
                                                             "to write (replaced atomically)")
    ap.add_argument("--format", choices=FORMATS, default="duckdb",
                    help="duckdb: one file (default); parquet: a Hive-partitioned directory (by source, and family "
                         "for points) that any DuckDB, local or on object storage, reads, and that grows by appends")
    ap.add_argument("--append", action="store_true",
                    help="add the sources (--only, default: those missing) to the Parquet store at --out as new "
                         "partitions, without rewriting the rest")
    ap.add_argument("--append-runs", type=Path, metavar="FILE",
                    help="add a user's runs (CSV or Parquet in the upload format) to the Parquet store at --out")
    ap.add_argument("--runs-source", default="upload", metavar="NAME",
                    help="source name of --append-runs runs (run ids and families become NAME/...; default upload)")
    ap.add_argument("--only", nargs="+", metavar="SRC", help="build only these sources")
    ap.add_argument("--download", action="store_true", help="fetch the manifest's pinned files first")
    ap.add_argument("--debug", action="store_true", help="show tracebacks")
    args = ap.parse_args(argv)
    interrupted = []

    def on_sigint(signum, frame):  # DuckDB may surface Ctrl-C as another exception: remember it was one
        interrupted.append(signum)
        raise KeyboardInterrupt
    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        if args.append_runs:
            from datasets.append import append_runs
            rep = append_runs(args.out, args.append_runs, args.runs_source)
            print(f"appended {rep.n_runs:,} runs, {rep.n_points:,} points of source {', '.join(rep.sources)} "
                  f"({rep.n_files} new files, {rep.seconds:.1f} s) -> {args.out}")
            return 0
        source = args.source
        if args.download:
            from datasets import fetch
            source = source or fetch.default_cache_dir()
            print(f"fetching into {source} ...", flush=True)
            rep = fetch.fetch(source, only=args.only)
            print(f"  {rep.downloaded} files downloaded ({rep.bytes:,} bytes), {rep.skipped} already present",
                  flush=True)
        elif source is None:
            raise BuildError("no data directory given", "pass --source DIR (e.g. ../shared/data) or --download")
        fmt = "parquet" if args.append else args.format
        print(f"{'appending to' if args.append else 'building'} {args.out} from {source}", flush=True)
        r = build(source, args.out, only=args.only, log=functools.partial(print, flush=True), format=fmt,
                  append=args.append)
    except (KeyboardInterrupt, Exception) as e:
        if interrupted or isinstance(e, KeyboardInterrupt):
            print("interrupted: the existing store (if any) is unchanged", file=sys.stderr)
            return 130
        if args.debug:
            raise
        from datasets.fetch import FetchError
        if isinstance(e, ValueError) and args.append_runs:   # an unreadable or inconsistent runs file
            e = BuildError(f"{args.append_runs}: {e}")
        # every error that names its fix (BuildError, StoreError, UploadError ...) is shown as it is
        if not isinstance(e, (WorkbenchError, FetchError, mf.ManifestError, OSError)):
            e = BuildError(f"{type(e).__name__}: {e}")
        print("error: " + " ".join(str(e).splitlines()), file=sys.stderr)
        return 2
    finally:
        signal.signal(signal.SIGINT, previous)
    done = [s for s in r.sources if s.skipped is None]
    print(f"done: {len(done)} sources, {r.n_families} families, {r.n_runs:,} runs, {r.n_points:,} points, "
          f"{r.bytes / 1e6:.1f} MB, {r.seconds:.1f} s -> {r.out}")
    if len(done) < len(r.sources):
        print(f"warning: skipped {', '.join(s.source for s in r.sources if s.skipped)} (no ingester)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
