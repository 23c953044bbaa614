"""Back-test every family in the store that has >= 3 model sizes: ARE per family and law.

For each family, its default metric (a loss where there is one; higher-is-better metrics in [0, 1]
are fitted as 1 - value) and every law whose variables the family provides: fit without the largest
model, predict it, report the Hitchhiker ARE (last 30% of the held-out run's checkpoints).

* ``best`` is the law with the lowest ARE: an oracle (it looks at the held-out model), shown as the
  floor of what a choice among these laws can reach.
* ``auto`` is the honest choice: ``choose_law`` run on the training part only (its validation folds
  hold out the next largest model(s) inside it), then back-tested on the largest model like every
  other law; ``prev`` is the rule ``auto`` used before (one fold, lowest held-out error wins).

Families whose back-test cannot run (too few points once the largest model is held out, a score
outside [0, 1] that is higher-is-better) are listed with the reason. Prints the table, the median
ARE per law over the families where it ran, and the worst families.

    python bench/bench_backtests.py [--max-points 4000] [--source colpret] [--no-auto]
"""
from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from analysis.backtest import applicable_laws, backtest, choose_law, heldout_mask  # noqa: E402
from analysis.fit import FitError  # noqa: E402
from analysis.laws import LAWS  # noqa: E402
from bench._common import previous_auto_rule, store_path  # noqa: E402
from datasets.store import Store  # noqa: E402

def family_frame(store: Store, family: str, max_points: int):
    """(frame, metric, y_transform, reason-if-skipped)."""
    metric = store.default_metric(family)
    if metric is None:
        return None, None, "none", "no metric"
    frame = store.fit_frame(family, metric)
    frame = frame[np.isfinite(frame["y"]) & (frame["y"] > 0)]
    hib = bool(frame.attrs.get("higher_is_better"))
    if hib and (frame["y"] >= 1).any():
        return None, metric, "none", "higher-is-better score outside [0, 1): no error rate to fit"
    if len(frame) > max_points:
        frame = frame.sample(max_points, random_state=0).sort_index()
    return frame, metric, "one_minus" if hib else "none", ""


def run_family(family, frame, metric, yt, with_auto):
    rows = []
    # laws drawn run by run (LR annealing) model a schedule, not a size ladder
    laws = [name for name in applicable_laws(frame) if not LAWS[name].per_run]
    base = {"family": family, "metric": metric, "sizes": int(frame["N"].nunique()), "points": len(frame)}
    for law in laws:
        t = time.perf_counter()
        try:
            bt = backtest(frame, law, y_transform=yt)
            rows.append({**base, "law": law, "are": bt.are, "log_rmse": bt.log_rmse, "error": "",
                         "seconds": time.perf_counter() - t})
        except (FitError, ValueError, FloatingPointError, np.linalg.LinAlgError) as exc:
            rows.append({**base, "law": law, "are": np.nan, "log_rmse": np.nan, "error": str(exc).split(":")[0][:70],
                         "seconds": time.perf_counter() - t})
    if with_auto:
        t = time.perf_counter()
        mask, _ = heldout_mask(frame.reset_index(drop=True))
        train = frame.reset_index(drop=True)[~mask]
        try:
            choice = choose_law(train, laws, y_transform=yt, bootstrap=0)
            bt = backtest(frame, choice.law, y_transform=yt)
            rows.append({**base, "law": "auto", "are": bt.are, "log_rmse": bt.log_rmse, "error": "",
                         "chosen": choice.law, "seconds": time.perf_counter() - t})
        except (FitError, ValueError, FloatingPointError, np.linalg.LinAlgError) as exc:
            rows.append({**base, "law": "auto", "are": np.nan, "log_rmse": np.nan,
                         "error": str(exc).split(":")[0][:70], "seconds": time.perf_counter() - t})
        prev = previous_auto_rule(train, laws, y_transform=yt)   # the rule auto used before: one fold, lowest wins
        try:
            bt = backtest(frame, prev, y_transform=yt) if prev else None
        except (FitError, ValueError, FloatingPointError, np.linalg.LinAlgError):
            bt = None
        if bt is not None:
            rows.append({**base, "law": "auto (previous rule)", "are": bt.are, "log_rmse": bt.log_rmse,
                         "error": "", "chosen": prev, "seconds": np.nan})
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--max-points", type=int, default=4000, help="thin longer families to this many points")
    ap.add_argument("--source")
    ap.add_argument("--no-auto", action="store_true", help="skip the nested auto choice (halves the time)")
    args = ap.parse_args()
    warnings.filterwarnings("ignore", category=RuntimeWarning)
    store = Store(store_path())
    fams = store.families()
    fams = fams[fams["n_sizes"] >= 3]
    if args.source:
        fams = fams[fams["source"] == args.source]
    rows, skipped = [], []
    t0 = time.perf_counter()
    for family in fams["family"]:
        frame, metric, yt, why = family_frame(store, family, args.max_points)
        if frame is None:
            skipped.append((family, metric, why))
            continue
        rows += run_family(family, frame, metric, yt, not args.no_auto)
    seconds = time.perf_counter() - t0
    table = pd.DataFrame(rows)
    if "chosen" not in table:
        table["chosen"] = np.nan
    laws_only = table[~table["law"].str.startswith("auto")]
    ok = laws_only[np.isfinite(laws_only["are"])]
    best = ok.loc[ok.groupby("family")["are"].idxmin()]
    ran = sorted(ok["family"].unique())
    failed = sorted(set(table["family"]) - set(ran))

    # one row per family: ARE per law, the oracle best and auto
    wide = ok.pivot_table(index="family", columns="law", values="are", aggfunc="first")
    info = table.groupby("family")[["metric", "sizes", "points"]].first()
    out = info.loc[ran].join(wide)
    out["best"] = best.set_index("family")["law"]
    out["best_are"] = best.set_index("family")["are"]
    autos = table[(table["law"] == "auto")].set_index("family")
    if len(autos):
        out["auto"] = autos["are"].reindex(out.index)
        out["auto_law"] = autos["chosen"].reindex(out.index)
        prev = table[(table["law"] == "auto (previous rule)")].set_index("family")
        out["prev"] = prev["are"].reindex(out.index)
        out["prev_law"] = prev["chosen"].reindex(out.index)
    law_cols = [c for c in wide.columns]
    fmt = {c: (lambda v: "" if pd.isna(v) else f"{v:.1%}") for c in law_cols + ["best_are", "auto", "prev"] if c in out}
    pd.set_option("display.width", 250)
    pd.set_option("display.max_rows", 500)
    pd.set_option("display.max_columns", 50)
    short = out.copy()
    short["metric"] = short["metric"].str.slice(0, 24)
    print("ARE on the held-out largest model (last 30% of its checkpoints), per family and law:")
    print(short.to_string(formatters=fmt))
    if failed or skipped:
        print(f"\nnot back-tested ({len(failed) + len(skipped)} families):")
        for fam in failed:
            errs = table[(table["family"] == fam) & ~table["law"].str.startswith("auto")]
            reason = errs["error"].iloc[0] if len(errs) else "no applicable law"
            print(f"  {fam:42s} {int(errs['points'].iloc[0]) if len(errs) else 0:5d} points: {reason}")
        for fam, metric, why in skipped:
            print(f"  {fam:42s} {metric}: {why}")
    print(f"\n{len(fams)} families with >= 3 sizes; {len(ran)} back-tested, {len(laws_only)} law back-tests "
          f"({int(np.isfinite(laws_only['are']).sum())} ran) in {seconds:.0f} s")
    per_law = ok.groupby("law")["are"].agg(["median", "mean", "count"]).sort_values("median")
    per_law.loc["best (oracle)"] = [out["best_are"].median(), out["best_are"].mean(), out["best_are"].count()]
    if "auto" in out:
        per_law.loc["auto"] = [out["auto"].median(), out["auto"].mean(), out["auto"].count()]
        per_law.loc["auto, previous rule"] = [out["prev"].median(), out["prev"].mean(), out["prev"].count()]
        both = out[["auto", "prev"]].dropna()
        print(f"auto vs its previous rule on the {len(both)} families where both ran: better on "
              f"{(both['auto'] < both['prev'] - 1e-12).sum()}, worse on {(both['auto'] > both['prev'] + 1e-12).sum()}")
    print("ARE over the families where each law ran (median, mean, families):")
    print(per_law.to_string(formatters={"median": "{:.2%}".format, "mean": "{:.2%}".format,
                                        "count": "{:.0f}".format}))
    print(f"families whose best law is within 4% ARE (the guide's 'about the best attainable'): "
          f"{(out['best_are'] <= 0.04).sum()} of {len(out)}")
    worst = out.sort_values("best_are", ascending=False).head(8)
    print("worst families (best law's ARE):")
    for fam, r in worst.iterrows():
        print(f"  {fam:42s} {r['metric'][:28]:28s} best {r['best']:16s} {r['best_are']:.1%}")


if __name__ == "__main__":
    main()
