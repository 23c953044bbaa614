"""Long fuzz campaign for the upload reader: every input must give an Upload or an UploadError.

Draws inputs from ``tests/upload_strategies.py`` (plausible, adversarial, damaged and Parquet
files), runs :func:`datasets.upload.read_upload` on each, checks the invariants, and prints how
many inputs were tried, accepted, rejected with UploadError, and crashed (any other exception or a
broken invariant; must be 0), with the time per input against a baseline measured in the same run
(``pandas.read_csv(dtype=str)`` on the same inputs, where it does not raise).

Usage: ``python bench/fuzz_upload.py [--examples 20000] [--seed 0]``; exit status 1 on any crash.
"""
from __future__ import annotations

import argparse
import collections
import io
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandas as pd  # noqa: E402
from hypothesis import HealthCheck, Phase, given, seed, settings  # noqa: E402

from tests.upload_strategies import check_outcome, upload_inputs  # noqa: E402


def campaign(examples: int, rng_seed: int) -> tuple[collections.Counter, list[str], float, float]:
    counts: collections.Counter = collections.Counter()
    crashes: list[str] = []
    timing = {"reader": 0.0, "baseline": 0.0}

    @seed(rng_seed)
    @settings(max_examples=examples, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(upload_inputs())
    def run(case):
        data, kwargs = case
        counts["tried"] += 1
        t0 = time.perf_counter()
        try:
            counts[check_outcome(data, kwargs)] += 1
        except Exception:  # a crash is what this campaign looks for: record it and go on
            counts["crashed"] += 1
            if len(crashes) < 10:
                crashes.append(f"input={data!r:.400} kwargs={kwargs!r}\n{traceback.format_exc()}")
        t1 = time.perf_counter()
        try:
            buf = io.StringIO(data) if isinstance(data, str) else io.BytesIO(data)
            pd.read_csv(buf, dtype=str)
        except Exception:  # the baseline only times pandas; its failures are not ours
            pass
        timing["reader"] += t1 - t0
        timing["baseline"] += time.perf_counter() - t1

    run()
    return counts, crashes, timing["reader"], timing["baseline"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--examples", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    t = time.perf_counter()
    counts, crashes, reader, baseline = campaign(args.examples, args.seed)
    wall = time.perf_counter() - t
    tried = counts["tried"]
    print(f"fuzz_upload: seed {args.seed}, {tried:,} inputs in {wall:.1f} s")
    print(f"  accepted (valid Upload):        {counts['accepted']:,}")
    print(f"  rejected (UploadError):         {counts['rejected']:,}")
    print(f"  crashed (other exception/bad):  {counts['crashed']:,}")
    print(f"  read_upload {1e3 * reader / max(tried, 1):.1f} ms/input; pandas.read_csv(dtype=str) baseline "
          f"{1e3 * baseline / max(tried, 1):.1f} ms/input; ratio {reader / max(baseline, 1e-9):.1f}x")
    for c in crashes:
        print("-" * 78 + "\n" + c)
    return 1 if counts["crashed"] else 0


if __name__ == "__main__":
    sys.exit(main())
