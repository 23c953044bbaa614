"""Law bake-off: every applicable law back-tested on the same held-out split, ranked by held-out error, with AICc.

For each candidate law the rows outside the held-out split are fitted (:func:`analysis.backtest.backtest`,
so data choices and derived variables behave as in a back-test) and the held-out rows predicted:

* ``heldout_mape`` -- mean ``|y - y_hat| / y`` over the held-out points;
* ``heldout_log_rmse`` -- RMSE of ``log y_hat - log y`` over them (the ranking criterion, then MAPE);
* ``aicc`` -- Akaike's criterion with the small-sample correction on the *training* fit, in log space:
  ``AICc = n ln(RSS / n) + 2k + 2k(k + 1) / (n - k - 1)`` with ``RSS = sum (log y_hat - log y)^2`` over the
  ``n`` training points and ``k`` parameters (one more for the noise variance); ``delta_aicc`` is the
  difference to the smallest. Held-out error first, AICc second: the field's order of model choice.

The split is the back-test's (the largest model size held out) unless a mask or a compute threshold is
given: ``holdout_compute=C`` holds out every point trained with at least ``C`` FLOPs (Farseer's check holds
out Epoch's largest budget, ``C >= 1.5e21``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.backtest import applicable_laws, backtest, heldout_mask
from analysis.laws import LAWS, get_law
from analysis.prepare import FitError, complete_axes

COLUMNS = ["rank", "law", "n_params", "heldout_log_rmse", "heldout_mape", "aicc", "delta_aicc", "n_train",
           "n_heldout", "seconds", "error"]


@dataclass(frozen=True)
class BakeoffResult:
    """The bake-off table (best first) and the split it was run on."""

    table: pd.DataFrame
    split: str
    n_heldout: int

    @property
    def best(self) -> str | None:
        ok = self.table[self.table["error"] == ""]
        return None if ok.empty else str(ok.iloc[0]["law"])

    def to_dict(self) -> dict:
        from analysis.jsonable import jsonable
        return {"split": self.split, "n_heldout": self.n_heldout, "best": self.best,
                "table": jsonable(self.table)}

    def summary(self) -> str:
        lines = [f"Law bake-off ({self.split}; {self.n_heldout} held-out points), best first:"]
        for r in self.table.itertuples():
            if r.error:
                lines.append(f"  {r.law}: failed ({r.error})")
            else:
                lines.append(f"  {int(r.rank)}. {r.law} ({r.n_params} parameters): held-out MAPE {r.heldout_mape:.2%}, "
                             f"log-RMSE {r.heldout_log_rmse:.4f}, AICc {r.aicc:.1f} (delta {r.delta_aicc:.1f})")
        return "\n".join(lines)


def aicc(rss: float, n: int, k: int) -> float:
    """Small-sample Akaike criterion of a least-squares fit with ``k`` parameters (noise variance counted)."""
    k = k + 1
    if n - k - 1 <= 0 or rss <= 0:
        return float("nan")
    return float(n * np.log(rss / n) + 2 * k + 2 * k * (k + 1) / (n - k - 1))


def bakeoff(frame: pd.DataFrame, laws=None, *, mask: np.ndarray | None = None, holdout_compute: float | None = None,
            include: tuple[str, ...] = (), **fit_kwargs) -> BakeoffResult:
    """Back-test ``laws`` (default: the applicable ones, plus ``include``) on one shared split.

    Parameters
    ----------
    frame : fit frame (``run, N, D, C, step, y`` ...).
    laws : law names or Law objects; default :func:`analysis.backtest.applicable_laws` (which leaves out
        slow laws such as ``farseer`` from automatic choice: add them with ``include``).
    mask : explicit held-out rows; else ``holdout_compute``; else the largest model size.
    fit_kwargs : data choices and fit options passed to every fit (``bootstrap`` defaults to 0).
    """
    import time

    df = complete_axes(frame).reset_index(drop=True)
    if "run" not in df:
        df["run"] = np.arange(len(df)).astype(str)
    if mask is not None:
        mask = np.asarray(mask, bool)
        split = "held out the given rows"
    elif holdout_compute is not None:
        mask = (df["C"] >= float(holdout_compute)).to_numpy()
        split = f"held out every point with C >= {float(holdout_compute):.3g} FLOPs"
    else:
        mask, split = heldout_mask(df)
    if not mask.any() or mask.all():
        raise FitError(f"the split ({split}) leaves nothing to fit or nothing to predict",
                       "choose a compute threshold inside the data's range, or hold out fewer rows")
    names = [get_law(x).name for x in (laws if laws is not None else applicable_laws(df))]
    names += [x for x in include if x in LAWS and x not in names]
    fit_kwargs.setdefault("bootstrap", 0)
    rows = []
    for name in names:
        law = get_law(name)
        row = {"law": name, "n_params": len(law.params), "heldout_log_rmse": np.nan, "heldout_mape": np.nan,
               "aicc": np.nan, "n_train": 0, "n_heldout": 0, "seconds": np.nan, "error": ""}
        t0 = time.perf_counter()
        try:
            bt = backtest(df, law, mask=mask, **fit_kwargs)
            pred = bt.predictions[bt.predictions["heldout"]]
            ok = np.isfinite(pred["y_pred"]) & np.isfinite(pred["y"])
            y, yh = pred.loc[ok, "y"].to_numpy(float), pred.loc[ok, "y_pred"].to_numpy(float)
            fit = bt.fit
            row.update(heldout_log_rmse=float(np.sqrt(np.mean(np.log(yh / y) ** 2))),
                       heldout_mape=float(np.mean(np.abs(yh - y) / y)),
                       aicc=aicc(fit.n_points * fit.rmse_log ** 2, fit.n_points, len(law.params)),
                       n_train=fit.n_points, n_heldout=int(ok.sum()))
        except (FitError, ValueError, FloatingPointError, np.linalg.LinAlgError) as exc:
            row["error"] = str(exc)
        row["seconds"] = time.perf_counter() - t0
        rows.append(row)
    table = pd.DataFrame(rows)
    good = table["error"] == ""
    table["delta_aicc"] = table["aicc"] - (table.loc[good, "aicc"].min() if good.any() else np.nan)
    # held-out errors equal to 6 significant digits are a tie (a law that reduces to another, e.g.
    # data_constrained without U, differs from it by optimiser noise only): the lower AICc ranks first
    tie = {c: table[c].map(lambda v: float(f"{v:.6g}")) for c in ("heldout_log_rmse", "heldout_mape")}
    table = table.assign(_rmse=tie["heldout_log_rmse"], _mape=tie["heldout_mape"])
    table = table.sort_values(["_rmse", "_mape", "aicc"], na_position="last").reset_index(drop=True)
    table["rank"] = np.where(table["error"] == "", np.arange(1, len(table) + 1), np.nan)
    return BakeoffResult(table[COLUMNS], split, int(mask.sum()))
