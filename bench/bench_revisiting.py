"""The revisiting benchmark (Alabdulmohsin et al. 2022): 92 learning curves, extrapolation error.

Each curve is fitted on its rows with ``Training = 1`` and scored by the RMSE of log y on the other
rows (held-out, larger x). We report the median and mean of that error for each law, for ``auto``
(the law chosen per curve by held-out error inside the training rows), and for the simple
``E + A x^-alpha`` baseline (``power_d``). The paper's best estimator, M4, has a median of about
0.023 on this benchmark: the line to beat.

    python bench/bench_revisiting.py
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from analysis.backtest import choose_law  # noqa: E402
from analysis.fit import fit_law  # noqa: E402
from bench._common import store_path  # noqa: E402
from datasets.store import Store  # noqa: E402

LAWS = ("power_d", "kaplan_d", "bnsl1_d")


def curves(store: Store):
    split = store.extra_table("revisiting_split")
    pts = store.points(family=None)
    pts = pts[pts["family"].str.startswith("revisiting/")]
    pts = pts.merge(split, on=["run_id", "tokens"], how="left")
    for run, g in pts.groupby("run_id"):
        g = g.sort_values("tokens")
        hib = bool(g["higher_is_better"].iloc[0])
        y = g["value"].to_numpy(float)
        y = 1 - y if hib and (y <= 1).all() else y
        frame = pd.DataFrame({"run": run, "D": g["tokens"].to_numpy(float), "y": y})
        yield run, frame, g["training"].fillna(False).to_numpy(bool)


def score(fit, test):
    pred = fit.predict(test)
    ok = (pred > 0) & (test["y"] > 0)
    return float(np.sqrt(np.mean((np.log(pred[ok]) - np.log(test["y"][ok])) ** 2)))


def main():
    store = Store(store_path())
    rows = []
    t0 = time.perf_counter()
    for run, frame, train in curves(store):
        tr, te = frame[train], frame[~train]
        if len(te) == 0 or len(tr) < 5:
            continue
        row = {"curve": run}
        for law in LAWS:
            try:
                row[law] = score(fit_law(tr, law, bootstrap=0), te)
            except Exception:  # noqa: BLE001 - a failed fit scores as missing
                row[law] = np.nan
        try:
            choice = choose_law(tr, LAWS, bootstrap=0)
            row["auto"] = row[choice.law]
            row["auto_law"] = choice.law
        except Exception:  # noqa: BLE001
            row["auto"] = np.nan
        rows.append(row)
    table = pd.DataFrame(rows)
    cols = list(LAWS) + ["auto"]
    summary = pd.DataFrame({"median": table[cols].median(), "mean": table[cols].mean(),
                            "failed": table[cols].isna().sum()})
    print(f"{len(table)} curves scored in {time.perf_counter() - t0:.0f} s (held-out RMSE of log y)")
    print(summary.to_string(float_format="{:.4f}".format))
    print("auto chose:", table["auto_law"].value_counts().to_dict())
    print("published M4 median: ~0.023")


if __name__ == "__main__":
    main()
