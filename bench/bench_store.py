"""Benchmark the store: build time, size, and the typical queries, each against a same-run baseline.

    python bench/bench_store.py [--source ../shared/data] [--store FILE] [--repeats 15]

Baselines (measured in the same run, so the ratios are machine-independent):
* build: sha256 of every input file (the I/O floor every build pays); ratio = build / hash.
* size: the input bytes; ratio = store bytes / input bytes.
* queries: the same answer computed with pandas on ``runs`` and ``points`` already in memory;
  ratio = store query / pandas. Times are medians over ``--repeats``.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from datasets import manifest as mf  # noqa: E402
from datasets.build import build  # noqa: E402
from datasets.store import Store, to_fit_frame  # noqa: E402


def median_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def _final_pandas(pts):
    s = pts.sort_values(["run_id", "metric", "tokens", "step"], ascending=[True, True, False, False],
                        na_position="last")
    return s.drop_duplicates(["run_id", "metric"])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--store", type=Path, help="benchmark queries on this store instead of building one")
    ap.add_argument("--repeats", type=int, default=15)
    args = ap.parse_args(argv)

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        path = args.store
        if path is None:
            m = mf.load()
            t = time.perf_counter()
            for s in m.sources:
                for f in s.files:
                    mf.sha256_file(args.source / s.source / f.path)
            hash_s = time.perf_counter() - t
            path = Path(tmp) / "bench.duckdb"
            rep = build(args.source, path)
            rows.append(("build (s)", rep.seconds, hash_s, "sha256 of inputs"))
            in_bytes = sum(s.total_bytes for s in m.sources)
            rows.append(("store size (MB)", rep.bytes / 1e6, in_bytes / 1e6, "input bytes"))

        t = time.perf_counter()
        store = Store(path)
        open_s = time.perf_counter() - t
        rows.append(("open store (ms)", open_s * 1e3, float("nan"), "-"))
        runs = store._query("SELECT * FROM store.runs")
        pts = store._query("SELECT * FROM store.points")
        fams = store.families()
        fam = fams.sort_values("n_points", ascending=False)["family"].iloc[0]
        metric = store.default_metric(fam)
        across = store._query("SELECT metric FROM store.family_metrics GROUP BY metric "
                              "ORDER BY count(DISTINCT family) DESC, metric LIMIT 1")["metric"].iloc[0]
        fam_runs = set(runs.loc[runs["family"] == fam, "run_id"])
        cases = [
            ("summary()", store.summary,
             lambda: (runs["family"].nunique(), len(runs), len(pts))),
            ("families()", store.families,
             lambda: runs.groupby("family").agg(n=("run_id", "size"), lo=("params", "min"), hi=("params", "max"))),
            (f"metrics({fam})", lambda: store.metrics(fam),
             lambda: pts[pts["run_id"].isin(fam_runs)].groupby(["metric", "split", "unit"]).size()),
            ("runs(family)", lambda: store.runs(family=fam), lambda: runs[runs["family"] == fam]),
            ("points(family, metric)", lambda: store.points(family=fam, metric=metric),
             lambda: pts[pts["run_id"].isin(fam_runs) & (pts["metric"] == metric)]),
            ("points(..., final_only)", lambda: store.points(family=fam, metric=metric, final_only=True),
             lambda: _final_pandas(pts[pts["run_id"].isin(fam_runs) & (pts["metric"] == metric)])),
            ("fit_frame(family, metric)", lambda: store.fit_frame(fam, metric),
             lambda: to_fit_frame(runs[runs["family"] == fam], pts[pts["run_id"].isin(fam_runs)], metric)),
            (f"metric_across_families({across})", lambda: store.metric_across_families(across),
             lambda: _final_pandas(pts[pts["metric"] == across])),
        ]
        for name, q, base in cases:
            q(), base()  # warm up
            rows.append((name + " (ms)", median_seconds(q, args.repeats) * 1e3,
                         median_seconds(base, args.repeats) * 1e3, "pandas in memory"))
        s = store.summary()

    print(f"store: {s['n_sources']} sources, {s['n_families']} families, {s['n_runs']:,} runs, "
          f"{s['n_points']:,} points; query family {fam!r}, metric {metric!r}; median of {args.repeats}")
    print(f"{'measure':<46}{'value':>10}{'baseline':>10}{'ratio':>8}  baseline is")
    for name, v, b, what in rows:
        ratio = v / b if b == b and b > 0 else float("nan")
        print(f"{name:<46}{v:>10.2f}{b:>10.2f}{ratio:>8.2f}  {what}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
