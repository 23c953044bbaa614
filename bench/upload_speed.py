"""Time reading a large valid upload against plain pandas parsing of the same bytes.

Builds a deterministic CSV in memory (default 1,000,000 rows: 2,000 runs with sizes written with SI
suffixes, D as integers, steps and a loss with 4 decimals; about 34 MB, under the 50 MB limit),
then times :func:`datasets.upload.read_upload` (parse, validate, coerce, build runs and points)
and the baseline ``pandas.read_csv(dtype=str)`` (parse only) on the same bytes, best of
``--repeat`` runs each, and prints both and their ratio.

Usage: ``python bench/upload_speed.py [--rows 1000000] [--repeat 1]``
"""
from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from datasets.upload import read_upload  # noqa: E402


def make_csv(rows: int, seed: int = 0) -> bytes:
    """``rows`` data rows: run, N (SI suffix), D, step (unique, so nothing is a duplicate), loss."""
    rng = np.random.default_rng(seed)
    run = rng.integers(0, 2000, rows)
    n_params = (run % 40 + 1) * 10                          # millions; one N per run
    tokens = (np.arange(rows) % 500 + 1) * 1_000_000
    loss = 1.8 + 400.0 / (n_params * 1e6) ** 0.34 + 410.0 / tokens ** 0.28
    df = pd.DataFrame({"run": np.char.add("r", run.astype(str)), "N": np.char.add(n_params.astype(str), "M"),
                       "D": tokens, "step": np.arange(rows), "loss": loss.round(4)})
    return df.to_csv(index=False).encode()


def best_of(fn, repeat: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    data = make_csv(args.rows)
    base, _ = best_of(lambda: pd.read_csv(io.BytesIO(data), dtype=str), args.repeat)
    ours, up = best_of(lambda: read_upload(data), args.repeat)
    rep = up.report
    print(f"upload_speed: {args.rows:,} rows, {len(data) / 1e6:.1f} MB -> {rep.points_kept:,} points, "
          f"{rep.runs:,} runs, {rep.n_rejected} rejected")
    print(f"  baseline pandas.read_csv(dtype=str): {base:.2f} s")
    print(f"  read_upload:                         {ours:.2f} s  ({args.rows / ours:,.0f} rows/s)")
    print(f"  ratio read_upload / baseline:        {ours / base:.1f}x")


if __name__ == "__main__":
    main()
