"""Long fuzz campaign for the command line: every `python -m analysis` subcommand, hostile files and arguments.

Draws ``(argv, input file)`` cases from ``tests/test_cli_fuzz.py`` (every subcommand; files from
``tests/upload_strategies.py`` and synthetic runs; hostile laws, budgets, family/metric names, paths) and
runs ``analysis.cli.main(argv)`` in-process on each against a small store built from the shared data.
The contract: exit 0 with valid JSON (or the report in the asked format), or exit 1/2 with one line
``error: ...`` on stderr; anything else (a traceback, exit 3, several lines, invalid JSON, a run longer
than 60 s) is a crash.

Prints how many inputs were tried, the outcomes by kind (ok / data error / usage error / crashed) per
subcommand, and the time per input against a baseline measured in the same run (``main(["laws"])``:
the parse and dispatch floor).

Usage: ``python bench/fuzz_cli.py [--examples 400] [--seed 0] [--store FILE]``; exit status 1 on any crash.
"""
from __future__ import annotations

import argparse
import collections
import sys
import tempfile
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hypothesis import HealthCheck, Phase, given, seed, settings  # noqa: E402

from bench._common import data_dir  # noqa: E402
from tests.test_cli_fuzz import COMMANDS, SMALL_SOURCES, Workspace, cli_cases, invoke, run_and_check  # noqa: E402


def campaign(ws: Workspace, examples: int, rng_seed: int):
    counts: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    seconds: collections.Counter = collections.Counter()
    crashes: list[str] = []

    @seed(rng_seed)
    @settings(max_examples=examples, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(cli_cases(heavy=True))
    def run(case):
        command = case[0][0]
        t = time.perf_counter()
        try:
            kind = run_and_check(ws, case)
        except BaseException as e:  # noqa: BLE001 - a crash (or a hang) is what this campaign looks for
            if isinstance(e, KeyboardInterrupt):
                raise
            kind = "crashed"
            if len(crashes) < 10:
                crashes.append(f"case={case[0]!r} file={case[2]!r} bytes={case[1][:300]!r}\n{traceback.format_exc()}")
        seconds[command] += time.perf_counter() - t
        counts[command][kind] += 1

    run()
    return counts, seconds, crashes


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--examples", type=int, default=400, help="inputs to try (default 400; e.g. 2000 for a long run)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--store", type=Path, help="a store to query (default: a small one built from the shared data)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="fuzz_cli_") as tmp:
        store = args.store
        t = time.perf_counter()
        if store is None:
            from datasets.build import build
            store = Path(tmp) / "small.duckdb"
            build(data_dir(), store, only=SMALL_SOURCES)
        ws = Workspace(Path(tmp) / "ws", store)
        setup = time.perf_counter() - t
        t = time.perf_counter()
        base = [invoke(["laws", "--json"]) for _ in range(20)]
        floor = (time.perf_counter() - t) / len(base)
        t = time.perf_counter()
        counts, seconds, crashes = campaign(ws, args.examples, args.seed)
        wall = time.perf_counter() - t
    kinds = ["ok", "data error", "usage error", "crashed"]
    total = collections.Counter()
    for c in counts.values():
        total.update(c)
    tried = sum(total.values())
    print(f"fuzz_cli: seed {args.seed}, {tried:,} inputs in {wall:.1f} s (setup {setup:.1f} s: store and workspace)")
    print(f"{'command':<12}" + "".join(f"{k:>13}" for k in kinds) + f"{'ms/input':>10}")
    for command in COMMANDS:
        c = counts.get(command, collections.Counter())
        n = sum(c.values())
        ms = 1e3 * seconds[command] / n if n else float("nan")
        print(f"{command:<12}" + "".join(f"{c[k]:>13,}" for k in kinds) + f"{ms:>10.1f}")
    print(f"{'total':<12}" + "".join(f"{total[k]:>13,}" for k in kinds)
          + f"{1e3 * sum(seconds.values()) / max(tried, 1):>10.1f}")
    per = sum(seconds.values()) / max(tried, 1)
    print(f"crashes (traceback, exit 3, several stderr lines, bad JSON, hang): {total['crashed']:,}")
    print(f"time per input {1e3 * per:.1f} ms; baseline `laws --json` in-process {1e3 * floor:.2f} ms; "
          f"ratio {per / max(floor, 1e-9):.0f}x")
    for c in crashes:
        print("-" * 78 + "\n" + c)
    return 1 if total["crashed"] else 0


if __name__ == "__main__":
    sys.exit(main())
