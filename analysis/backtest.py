"""Back-tests: fit without the largest scale, predict it, and measure the error.

The Hitchhiker's guide (Choshen et al. 2025) scores a fit by its **absolute relative error** on
held-out larger models,

.. math::
    \\mathrm{ARE} = \\frac{1}{|T|}\\sum_{i \\in T} \\frac{|y_i - \\hat y_i|}{y_i},

where ``T`` is the last 30% (by tokens, else steps) of each held-out run's checkpoints, averaged
over held-out runs. The revisiting benchmark (Alabdulmohsin et al. 2022) uses the RMSE of
``log y`` over held-out points, reported here as ``log_rmse``. Model choice (``choose_law``)
ranks candidate laws by held-out ``log_rmse``, the field's recommended first criterion.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analysis.fit import FitError, FitResult, complete_axes, fit_law
from analysis.laws import LAWS, get_law


@dataclass(frozen=True, eq=False)
class BacktestResult:
    """Held-out error of a law fitted without the largest scale."""

    law: str
    are: float
    log_rmse: float
    heldout: list = field(default_factory=list)       # one dict per held-out run
    predictions: pd.DataFrame | None = field(default=None, repr=False)
    fit: FitResult | None = field(default=None, repr=False)
    rule: str = ""

    def to_dict(self) -> dict:
        return {"law": self.law, "are": self.are, "log_rmse": self.log_rmse, "heldout": self.heldout,
                "rule": self.rule, "fit": None if self.fit is None else self.fit.to_dict()}

    def summary(self) -> str:
        return (f"{self.law}: ARE {self.are:.2%} and log-RMSE {self.log_rmse:.4f} on "
                f"{len(self.heldout)} held-out run(s) ({self.rule})")


def heldout_mask(frame: pd.DataFrame, n_holdout: int = 1, x: str | None = None, tail: float = 0.3) -> tuple[np.ndarray, str]:
    """Which rows to hold out: runs with the ``n_holdout`` largest N, or the largest-x ``tail`` of points.

    Returns (mask, rule in words).
    """
    N = pd.to_numeric(frame.get("N"), errors="coerce") if "N" in frame else pd.Series(np.nan, index=frame.index)
    sizes = np.unique(N[np.isfinite(N)])
    if x is None and len(sizes) >= 2:
        top = sizes[-min(n_holdout, len(sizes) - 1):]
        mask = N.isin(top).to_numpy()
        return mask, f"held out the {len(top)} largest model size(s): N >= {top.min():.3g}"
    axis = x or next(a for a in ("D", "C", "step") if a in frame and frame[a].notna().any())
    v = pd.to_numeric(frame[axis], errors="coerce").to_numpy(float)
    cut = np.nanquantile(v, 1 - tail)
    return v > cut, f"held out the points with the largest {tail:.0%} of {axis} ({axis} > {cut:.3g})"


def backtest(frame: pd.DataFrame, law: str, *, n_holdout: int = 1, tail: float = 0.3,
             mask: np.ndarray | None = None, bootstrap: int = 0, **fit_kwargs) -> BacktestResult:
    """Fit ``law`` on all but the held-out rows, predict them, report ARE and log-RMSE.

    Parameters
    ----------
    n_holdout : int
        Number of largest model sizes to hold out.
    tail : float
        Fraction of each held-out run's last checkpoints scored by ARE (0.3 as in the guide).
    mask : array of bool, optional
        Explicit held-out rows (e.g. the revisiting benchmark's ``Training = 0`` rows).
    """
    df = complete_axes(frame).reset_index(drop=True)
    df["run"] = df["run"].astype(str) if "run" in df else np.arange(len(df)).astype(str)
    if mask is None:
        mask, rule = heldout_mask(df, n_holdout)
    else:
        mask, rule = np.asarray(mask, bool), "held out the given rows"
    train, test = df[~mask], df[mask]
    if len(test) == 0:
        raise FitError("nothing to hold out: the back-test needs at least two model sizes or a curve")
    fit = fit_law(train, law, bootstrap=bootstrap, **fit_kwargs)
    pred = fit.predict(test)
    out = df.copy()
    out["y_pred"] = fit.predict(df) if len(df) else np.nan
    out["heldout"] = mask
    heldout = []
    ares, logerr = [], []
    axis = "D" if test["D"].notna().any() else "step"
    test = test.assign(y_pred=pred)
    for run, g in test.groupby("run", sort=True):
        g = g.sort_values(axis)
        last = g[g[axis] >= g[axis].min() + (1 - tail) * (g[axis].max() - g[axis].min())] if len(g) > 1 else g
        are = float(np.mean(np.abs(last["y"] - last["y_pred"]) / np.abs(last["y"])))
        lr = np.log(g["y_pred"].clip(lower=1e-300)) - np.log(g["y"].clip(lower=1e-300))
        heldout.append({"run": run, "N": float(g["N"].iloc[0]) if "N" in g else float("nan"),
                        "are": are, "log_rmse": float(np.sqrt(np.mean(lr ** 2))), "n_points": int(len(g))})
        ares.append(are)
        logerr.append(lr.to_numpy())
    allerr = np.concatenate(logerr)
    return BacktestResult(fit.law, float(np.mean(ares)), float(np.sqrt(np.mean(allerr ** 2))), heldout,
                          out, fit, rule)


def applicable_laws(frame: pd.DataFrame) -> list[str]:
    """Laws whose variables the frame provides (finite, positive, and varying)."""
    df = complete_axes(frame)
    varying = {c for c in ("N", "D", "C", "step") if c in df and
               (np.isfinite(df[c]) & (df[c] > 0)).sum() >= 3 and df[c].nunique() > 1}
    if "U" in df and np.isfinite(pd.to_numeric(df["U"], errors="coerce")).any():
        varying.add("U")
    if "lr" in df and "step" in df and np.isfinite(pd.to_numeric(df["lr"], errors="coerce")).any():
        varying |= {"S1", "S2"}
    out = []
    for name, law in LAWS.items():
        need = set(law.variables)
        if name == "data_constrained" and "U" not in varying:
            continue
        if need <= varying:
            out.append(name)
    if "N" in varying and "D" in varying:
        # with both axes, the joint laws are the ones the field compares; 1-D laws in N or D ignore half the data
        out = [n for n in out if set(get_law(n).variables) & {"N", "D"} == {"N", "D"} or n in ("power_c", "bnsl1")]
    return out


@dataclass(frozen=True)
class LawChoice:
    """The law ``auto`` picked, the table it picked from, and why."""

    law: str
    table: pd.DataFrame
    reason: str

    def to_dict(self) -> dict:
        return {"law": self.law, "reason": self.reason, "table": self.table.to_dict(orient="records")}


def choose_law(frame: pd.DataFrame, candidates=None, *, mask: np.ndarray | None = None, **fit_kwargs) -> LawChoice:
    """Pick the law with the lowest held-out log-RMSE when the largest scale is left out."""
    candidates = list(candidates or applicable_laws(frame))
    rows = []
    for name in candidates:
        try:
            bt = backtest(frame, name, mask=mask, **fit_kwargs)
            rows.append({"law": name, "are": bt.are, "log_rmse": bt.log_rmse,
                         "n_params": len(get_law(name).params), "error": ""})
        except (FitError, ValueError, FloatingPointError) as exc:
            rows.append({"law": name, "are": np.nan, "log_rmse": np.nan,
                         "n_params": len(get_law(name).params), "error": str(exc)})
    table = pd.DataFrame(rows).sort_values(["log_rmse", "n_params"], na_position="last").reset_index(drop=True)
    ok = table[np.isfinite(table["log_rmse"])]
    if ok.empty:
        raise FitError("no candidate law could be back-tested on these data: " +
                       "; ".join(f"{r.law}: {r.error}" for r in table.itertuples()))
    best = ok.iloc[0]
    reason = (f"{best.law} had the lowest held-out log-RMSE ({best.log_rmse:.4f}, ARE {best.are:.2%}) "
              f"among {len(ok)} laws when the largest scale was left out")
    if len(ok) > 1:
        reason += f"; runner-up {ok.iloc[1].law} ({ok.iloc[1].log_rmse:.4f})"
    return LawChoice(str(best.law), table, reason)
