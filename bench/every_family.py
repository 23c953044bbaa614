"""Every analysis page for every family in the store, in-process (streamlit.testing AppTest).

    python bench/every_family.py [--store FILE] [--part K --parts P]

The test suite runs each page on one family per source; this sweep covers all of them (146 families x
6 pages; about 3.5 min on one core with 10 bootstrap resamples). A page may show a result or say why not
and what to do; an exception is a failure. Prints each failure and a summary; exit status 1 on any.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv=None) -> int:
    from bench._common import store_path
    from ui.navigation import PAGES

    scripts = [p.script for p in PAGES if p.name not in ("Home", "Upload")]      # the analysis pages

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", type=Path, default=None)
    ap.add_argument("--part", type=int, default=0)
    ap.add_argument("--parts", type=int, default=1)
    args = ap.parse_args(argv)
    store = args.store or store_path()
    os.environ.update(SCALING_STORE=str(store), SCALING_BOOTSTRAP="10", SCALING_TIME_BUDGET="3")
    logging.getLogger("streamlit").setLevel(logging.ERROR)
    from streamlit.testing.v1 import AppTest

    from datasets.store import Store

    families = sorted(Store(store).families()["family"])[args.part::args.parts]
    failures, runs, t0 = 0, 0, time.perf_counter()
    for family in families:
        for page in scripts:
            at = AppTest.from_file(str(ROOT / "home.py"), default_timeout=120)
            at.switch_page(str(ROOT / page))
            at.query_params.update({"source": family.split("/")[0], "family": family})
            try:
                at.run()
                errors = [str(e.value)[:300] for e in at.exception]
            except Exception as e:   # a timeout or a crash of the script runner
                errors = [f"{type(e).__name__}: {str(e)[:300]}"]
            runs += 1
            if errors:
                failures += 1
                print(f"FAIL {family} {page}: {errors}", flush=True)
    print(f"every_family: {runs} page runs over {len(families)} families, {failures} failures, "
          f"{time.perf_counter() - t0:.0f} s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
