"""Back-test every family in the store that has >= 3 model sizes: ARE per family and law.

For each family, its default metric (a loss where there is one) and the laws that fit its columns:
fit without the largest model, predict it, report the Hitchhiker ARE (last 30% of the held-out
run) and the held-out log-RMSE; the best law per family is starred. Families whose default
metric is not a loss are listed with their metric (accuracy-like metrics fit 1 - value).

    python bench/bench_backtests.py [--max-points 4000] [--source colpret]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from analysis.backtest import applicable_laws, backtest  # noqa: E402
from bench._common import store_path  # noqa: E402
from datasets.store import Store  # noqa: E402

LAWS = ("chinchilla", "kaplan", "data_constrained", "power_n", "power_d", "power_c", "bnsl1")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--max-points", type=int, default=4000, help="thin longer families to this many points")
    ap.add_argument("--source")
    args = ap.parse_args()
    store = Store(store_path())
    fams = store.families()
    fams = fams[fams["n_sizes"] >= 3]
    if args.source:
        fams = fams[fams["source"] == args.source]
    rows = []
    t0 = time.perf_counter()
    for fam in fams["family"]:
        metric = store.default_metric(fam)
        frame = store.fit_frame(fam, metric)
        frame = frame[np.isfinite(frame["y"]) & (frame["y"] > 0)]
        if len(frame) > args.max_points:
            frame = frame.sample(args.max_points, random_state=0).sort_index()
        yt = "one_minus" if frame.attrs.get("higher_is_better") else "none"
        if yt == "one_minus" and (frame["y"] > 1).any():
            continue
        for law in [l for l in applicable_laws(frame) if l in LAWS]:
            try:
                bt = backtest(frame, law, y_transform=yt)
                rows.append({"family": fam, "metric": metric, "law": law, "are": bt.are, "log_rmse": bt.log_rmse,
                             "sizes": int(frame["N"].nunique()), "points": len(frame)})
            except Exception as exc:  # noqa: BLE001 - a failing law is a row, not a crash
                rows.append({"family": fam, "metric": metric, "law": law, "are": np.nan, "log_rmse": np.nan,
                             "sizes": int(frame["N"].nunique()), "points": len(frame), "error": str(exc)[:60]})
    table = pd.DataFrame(rows)
    best = table.loc[table.groupby("family")["log_rmse"].idxmin().dropna()]
    table["best"] = table.index.isin(best.index)
    pd.set_option("display.width", 200)
    pd.set_option("display.max_rows", 500)
    print(table.to_string(index=False, formatters={"are": "{:.2%}".format, "log_rmse": "{:.4f}".format}))
    print(f"\n{table['family'].nunique()} families, {len(table)} back-tests in {time.perf_counter() - t0:.0f} s")
    print("median ARE of the best law per family: " f"{best['are'].median():.2%}; "
          "per law (median ARE over families):")
    print(table.groupby("law")["are"].median().map("{:.2%}".format).to_string())


if __name__ == "__main__":
    main()
