"""Scale simulation: a lab's corpus of 10^5 runs x 10^3 checkpoints as a Parquet store, against the DuckDB file.

    python bench/scale_simulation.py [--runs 1000 10000 100000] [--checkpoints 1000] [--workdir DIR]

1. **Write**: a synthetic corpus (families of 100 runs: 10 sizes x 10 learning rates, Chinchilla-like loss curves
   with deterministic noise, one source per 10^4 runs) is generated batch by batch (~10^6 points at a time, in
   DuckDB) and written as new partitions of one Parquet store in the layout and with the COPY options of the
   store's writer (:mod:`datasets.store.parquet_write`; the generator's rows are already in order, so it skips the
   writer's sort), growing through each size of ``--runs``: memory stays bounded by a batch.
   At each size the same rows are also loaded into a DuckDB store file (the single-machine default).
2. **Read**: store open (cold) and the app's typical queries, on the DuckDB file and on the Parquet directory.
3. **Append**: one family (100 runs) appended with :func:`datasets.store.append_tables` (pandas in, validation,
   run-id check, new files, meta) at every size: its cost should not grow with the store.
4. **Batch**: ``backtest --all`` (every family, law chinchilla, 20 bootstrap resamples each) on small stores of
   4, 8 and 16 families (100 checkpoints per run), on a local Dask cluster of 1 and of 2 workers.

Printed: seconds per size, the **growth exponent in runs** (least-squares slope of log seconds on log runs), the
Parquet/DuckDB ratio of every query, and the 1-worker/2-worker ratio of ``backtest --all`` (all measured in this
run: no absolute numbers from elsewhere). Keep it short on a shared machine: ``--runs 1000 10000`` gives the
exponents in a few minutes, ``--checkpoints 100`` gives 10^5 runs (10^7 points) in ~11 minutes on 2 shared cores;
the full 10^8 points need ~1.3 GB of disk in the temporary directory.
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import duckdb  # noqa: E402

from datasets.schema import DDL, SCHEMA_VERSION, VIEWS  # noqa: E402
from datasets.store import Store, append_tables, parquet  # noqa: E402
from datasets.store import connection as file_connection  # noqa: E402
from datasets.store.parquet_write import _move_into, _write_meta, store_bytes  # noqa: E402

FAMILY_RUNS = 100            # 10 sizes x 10 learning rates
SOURCE_RUNS = 10_000
BATCH_POINTS = 1_000_000    # rows generated and written at a time: memory is bounded by this


# ------------------------------------------------------------------------------------------ the synthetic corpus
def _generate(con: duckdb.DuckDBPyConnection, first: int, n_families: int, checkpoints: int) -> None:
    """Tables ``runs`` and ``sources`` (the schema's DDL) and ``pp`` (points with their partition columns
    ``source``, ``family`` first, in partition and run order) of families ``first .. first + n - 1``, in SQL.

    loss = E_f + 400 / N^0.34 + 410 / D^0.28 + lr penalty + noise (a hash of run and checkpoint: deterministic).
    """
    for ddl in DDL:
        con.execute(ddl)
    n_runs = n_families * FAMILY_RUNS
    con.execute(f"""
        INSERT INTO runs (run_id, source, family, model, arch, params, data, tokens, flops)
        SELECT fam || '/r' || lpad(CAST(r AS VARCHAR), 3, '0'), src, fam,
               'f' || CAST(f AS VARCHAR) || '-r' || CAST(r AS VARCHAR), 'dec', n, 'synthetic', 20 * n, 120 * n * n
        FROM (SELECT *, src || '/f' || lpad(CAST(f AS VARCHAR), 5, '0') AS fam
              FROM (SELECT *, 'sim-' || CAST(f * {FAMILY_RUNS} // {SOURCE_RUNS} AS VARCHAR) AS src
                    FROM (SELECT {first} + i // {FAMILY_RUNS} AS f, i % {FAMILY_RUNS} AS r,
                                 1e7 * pow(10, 0.3 * ((i % {FAMILY_RUNS}) // 10)) AS n
                          FROM range({n_runs}) t(i))))
        ORDER BY 1""")
    # per run: the size term and E_f + the learning-rate penalty, once; per point: the data term and the noise
    con.execute("""
        CREATE TEMP TABLE g AS
        SELECT source, family, run_id, params AS n, tokens AS dmax, 400 / pow(params, 0.34) AS an,
               1.7 + 0.01 * (hash(family) % 10)
                 + 0.002 * pow(CAST(split_part(run_id, '/r', 2) AS INTEGER) % 10 - 4.5, 2) AS base
        FROM runs ORDER BY run_id""")
    con.execute(f"""
        CREATE TABLE pp AS
        SELECT source, family, run_id, 100.0 * k AS step, dmax * k / {checkpoints} AS tokens,
               6 * n * dmax * k / {checkpoints} AS flops, 'loss' AS metric, 'validation' AS split, 'nats' AS unit,
               base + an + 410 * pow(dmax * k / {checkpoints}, -0.28)
                 + 0.004 * ((hash(run_id, k) % 1000) / 1000.0 - 0.5) AS value, CAST(NULL AS DOUBLE) AS stderr, false AS higher_is_better
        FROM g, range(1, {checkpoints} + 1) t(k)""")
    con.execute("""INSERT INTO sources SELECT source, 'synthetic lab runs', NULL, NULL, NULL, 'CC0', 0, count(*),
                     count(*) * ? FROM runs GROUP BY source""", [checkpoints])


def _copy(con: duckdb.DuckDBPyConnection, sql: str, to: Path, keys: str) -> None:
    """The store writer's COPY (same layout and options as :mod:`datasets.store.parquet_write`), without its
    ORDER BY: the generator emits rows already in order."""
    con.execute(f"COPY ({sql}) TO {parquet.sql_text(to)} (FORMAT parquet, PARTITION_BY ({keys}), "
                "FILENAME_PATTERN 'part-{uuid}', COMPRESSION zstd, OVERWRITE_OR_IGNORE)")


def grow(root: Path, first: int, n_families: int, checkpoints: int) -> None:
    """Add families ``first ..`` to the Parquet store at ``root``, ~10^6 points at a time (new files only)."""
    per_batch = max(1, BATCH_POINTS // (FAMILY_RUNS * checkpoints))
    for start in range(first, first + n_families, per_batch):
        n = min(per_batch, first + n_families - start)
        con = duckdb.connect(":memory:")
        try:
            _generate(con, start, n, checkpoints)
            staging = root / f".sim-{start}"
            staging.mkdir(parents=True)
            _copy(con, "SELECT * FROM pp", staging / "points", "source, family")
            _copy(con, "SELECT * FROM runs", staging / "runs", "source")
            _copy(con, "SELECT * FROM sources", staging / "sources", "source")
            _move_into(staging, root)
            shutil.rmtree(staging, ignore_errors=True)
        finally:
            con.close()


def write_meta(root: Path) -> None:
    sources = sorted(p.name.split("=", 1)[1] for p in (root / "runs").iterdir() if any(p.iterdir()))
    meta = pd.DataFrame([("schema_version", str(SCHEMA_VERSION)), ("input_digest", f"synthetic-{len(sources)}"),
                         ("sources", json.dumps(sources)), ("extra_tables", "[]")], columns=["key", "value"])
    c = duckdb.connect()
    try:
        _write_meta(c, root, meta)
    finally:
        c.close()


def duckdb_copy(root: Path, out: Path) -> None:
    """The same store as one DuckDB file (the schema's tables and views, rows in the Parquet files' order)."""
    out.unlink(missing_ok=True)
    src = parquet.open_parquet(root, verify=False)
    try:
        src.execute(f"ATTACH {parquet.sql_text(out)} AS f")
        src.execute("USE f")
        for ddl in DDL:
            src.execute(ddl)
        for table in ("runs", "points", "sources", "files", "exclusions", "meta"):
            src.execute(f"INSERT INTO f.{table} SELECT * FROM store.{table}")
        for view in VIEWS:
            src.execute(view)
        src.execute("USE memory")
        src.execute("DETACH f")
    finally:
        src.close()


# ------------------------------------------------------------------------------------------ measuring
def seconds(fn, repeat: int = 1) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def cold_open(path) -> Store:
    parquet._CONNECTIONS.clear()
    file_connection._CONNECTIONS.clear()
    return Store(path)


QUERIES = {
    "summary": lambda s, fam: s.summary(),
    "families": lambda s, fam: s.families(),
    "metrics(family)": lambda s, fam: s.metrics(fam),
    "fit_frame(family)": lambda s, fam: s.fit_frame(fam, "loss"),
    "points(family, final)": lambda s, fam: s.points(family=fam, final_only=True),
    "runs(family)": lambda s, fam: s.runs(family=fam),
}


def read_costs(path, fam: str, repeat: int) -> dict[str, float]:
    out = {"open (cold)": seconds(lambda: cold_open(path))}
    store = Store(path)
    for name, q in QUERIES.items():
        q(store, fam)                       # warm (the app's second and later requests)
        out[name] = seconds(lambda: q(store, fam), repeat)
    return out


def append_cost(root: Path, family_index: int, checkpoints: int) -> float:
    """Seconds to append one family (100 runs) through :func:`append_tables` (pandas frames in)."""
    con = duckdb.connect()
    _generate(con, family_index, 1, checkpoints)
    runs = con.sql("SELECT * FROM runs").to_arrow_table().to_pandas()
    points = con.sql("SELECT * EXCLUDE (source, family) FROM pp").to_arrow_table().to_pandas()
    con.close()
    before = set(root.rglob("*.parquet"))
    t = time.perf_counter()
    append_tables(root, runs, points, name="synthetic lab runs", input_digest=f"append-{family_index}")
    took = time.perf_counter() - t
    for f in set(root.rglob("*.parquet")) - before:      # take it out again: the sizes stay as stated
        f.unlink()
    write_meta(root)
    return took


def exponent(xs, ys) -> float:
    """Least-squares slope of log y on log x (nan with fewer than 2 sizes)."""
    xs, ys = np.log(np.asarray(xs, float)), np.log(np.maximum(np.asarray(ys, float), 1e-6))
    return float(np.polyfit(xs, ys, 1)[0]) if len(xs) >= 2 else math.nan


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ------------------------------------------------------------------------------------------ backtest --all
def _warm(_=None):
    import analysis.cli.batch_commands  # noqa: F401  (imports once per worker, outside the timing)
    return 0


def backtest_costs(workdir: Path, family_counts, checkpoints: int) -> dict[int, dict[str, float]]:
    """Seconds of ``backtest --all --law chinchilla --bootstrap 20`` on 1 and 2 local workers, per store size."""
    from distributed import Client, LocalCluster

    from analysis import batch
    from analysis.cli import batch_commands as bc
    from analysis.cli.parser import build_parser

    stores = {}
    for n_fam in family_counts:
        root = workdir / f"bt-{n_fam}"
        grow(root, 0, n_fam, checkpoints)
        write_meta(root)
        stores[n_fam] = root
    out: dict[int, dict[str, float]] = {n: {} for n in family_counts}
    for workers in (1, 2):
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                          dashboard_address=None, silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
            batch.run_batch(_warm, list(range(workers * 2)), client=client)
            client.run(_warm)
            for n_fam, root in stores.items():
                args = build_parser().parse_args(["backtest", "--all", "--store", str(root), "--law", "chinchilla",
                                                  "--bootstrap", "20"])
                fams = bc.families_of(Store(root))
                t = time.perf_counter()
                table = bc.backtest_all(str(root), fams, bc._options(args), laws=["chinchilla"], client=client)
                out[n_fam][f"{workers} worker(s)"] = time.perf_counter() - t
                assert (table["error"] == "").all(), table.loc[table["error"] != "", "error"].iloc[0]
                print(f"  backtest --all, {n_fam * FAMILY_RUNS:>6,} runs ({n_fam} families), {workers} worker(s): "
                      f"{out[n_fam][f'{workers} worker(s)']:.1f} s", flush=True)
    return out


# ------------------------------------------------------------------------------------------ main
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    ap.add_argument("--checkpoints", type=int, default=1000)
    ap.add_argument("--backtest-families", type=int, nargs="+", default=[4, 8, 16])
    ap.add_argument("--backtest-checkpoints", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=3, help="repeats of each query (median)")
    ap.add_argument("--workdir", type=Path, help="where the stores go (default: a temporary directory, removed)")
    args = ap.parse_args(argv)
    sizes = sorted(set(args.runs))
    if any(n % FAMILY_RUNS for n in sizes):
        ap.error(f"--runs must be multiples of {FAMILY_RUNS}")
    tmp = None
    if args.workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="scale-sim-")
        workdir = Path(tmp.name)
    else:
        workdir = args.workdir
        workdir.mkdir(parents=True, exist_ok=True)
    t_all = time.perf_counter()
    try:
        root = workdir / "parquet"
        rows, have, previous = [], 0, 0
        for n_runs in sizes:
            for key, (_, con) in list(file_connection._CONNECTIONS.items()):    # the previous size's file
                con.close()
                file_connection._CONNECTIONS.pop(key)
                Path(key).unlink(missing_ok=True)
            dbfile = workdir / f"store-{n_runs}.duckdb"
            t = time.perf_counter()
            grow(root, have // FAMILY_RUNS, (n_runs - have) // FAMILY_RUNS, args.checkpoints)
            write_meta(root)
            write_s = time.perf_counter() - t
            have = n_runs
            t = time.perf_counter()
            duckdb_copy(root, dbfile)
            copy_s = time.perf_counter() - t
            mid = n_runs // FAMILY_RUNS // 2
            fam = f"sim-{mid * FAMILY_RUNS // SOURCE_RUNS}/f{mid:05d}"      # a family in the middle
            repeat = args.repeat if n_runs <= 10_000 else 1
            costs = {"parquet": read_costs(root, fam, repeat), "duckdb": read_costs(dbfile, fam, repeat)}
            append_s = append_cost(root, 90_000 + n_runs // FAMILY_RUNS, args.checkpoints)
            added = (n_runs - previous) * args.checkpoints
            previous = n_runs
            n_points = Store(root).summary()["n_points"]
            rows.append(dict(runs=n_runs, points=n_points, write_s=write_s, duckdb_copy_s=copy_s, append_s=append_s,
                             parquet_mb=store_bytes(root) / 1e6, duckdb_mb=dbfile.stat().st_size / 1e6, **{
                                 f"{fmt}:{q}": v for fmt, c in costs.items() for q, v in c.items()}))
            print(f"{n_runs:>7,} runs, {n_points:>12,} points: wrote Parquet in {write_s:6.1f} s "
                  f"({added / max(write_s, 1e-9) / 1e6:.2f} M points/s), DuckDB copy {copy_s:6.1f} s, "
                  f"append of 100 runs {append_s:5.2f} s; peak RSS {peak_mb():,.0f} MB", flush=True)
        table = pd.DataFrame(rows)
        runs = table["runs"].to_numpy()
        print("\nSizes: " + ", ".join(f"{int(r):,} runs = {p / 1e6:,.1f} M points ({pm:,.1f} MB Parquet, {dm:,.1f} MB "
                                      f"DuckDB)" for r, p, pm, dm in table[["runs", "points", "parquet_mb",
                                                                              "duckdb_mb"]].to_numpy()))
        print("\nCost of each operation: seconds at each size, growth exponent in runs (t ~ runs^k), "
              "and Parquet / DuckDB ratio at each size")
        print(f"  {'operation':<24}" + "".join(f"{'DuckDB ' + format(r, ','):>16}{'Parquet':>10}{'ratio':>7}"
                                               for r in runs) + f"{'k DuckDB':>10}{'k Parquet':>10}")
        for q in ["open (cold)", *QUERIES]:
            d, p = table[f"duckdb:{q}"].to_numpy(), table[f"parquet:{q}"].to_numpy()
            line = "".join(f"{a:16.3f}{b:10.3f}{b / a:7.2f}" for a, b in zip(d, p))
            print(f"  {q:<24}{line}{exponent(runs, d):10.2f}{exponent(runs, p):10.2f}")
        for col, label in (("write_s", "write Parquet (whole)"), ("duckdb_copy_s", "load DuckDB (whole)"),
                           ("append_s", "append 100 runs")):
            v = table[col].to_numpy()
            print(f"  {label:<24}" + "".join(f"{x:16.2f}{'':17}" for x in v) + f"{exponent(runs, v):10.2f}")
        print("\nbacktest --all (law chinchilla, 20 resamples per family, "
              f"{args.backtest_checkpoints} checkpoints per run) on a local Dask cluster:", flush=True)
        bt = backtest_costs(workdir, sorted(set(args.backtest_families)), args.backtest_checkpoints)
        bt_runs = [n * FAMILY_RUNS for n in bt]
        one = [bt[n]["1 worker(s)"] for n in bt]
        two = [bt[n]["2 worker(s)"] for n in bt]
        for r, a, b in zip(bt_runs, one, two):
            print(f"  {r:>6,} runs: 1 worker {a:6.1f} s, 2 workers {b:6.1f} s, ratio 1w/2w {a / b:.2f}")
        k1, k2 = exponent(bt_runs, one), exponent(bt_runs, two)
        print(f"  growth exponent in runs: {k1:.2f} (1 worker), {k2:.2f} (2 workers); linear in families, 10^5 runs "
              f"(same checkpoints) take ~{one[-1] * 1e5 / bt_runs[-1] / 3600:.1f} h on 1 worker, "
              f"~{two[-1] * 1e5 / bt_runs[-1] / 3600:.1f} h on 2 (at this machine's load)")
        print(f"\npeak RSS {peak_mb():,.0f} MB; total {time.perf_counter() - t_all:.0f} s")
    finally:
        parquet._CONNECTIONS.clear()
        file_connection._CONNECTIONS.clear()
        if tmp is not None:
            tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
