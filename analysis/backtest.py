"""Back-tests: fit without the largest scale, predict it, and measure the error.

The Hitchhiker's guide (Choshen et al. 2025) scores a fit by its **absolute relative error** on
held-out larger models,

.. math::
    \\mathrm{ARE} = \\frac{1}{|T|}\\sum_{i \\in T} \\frac{|y_i - \\hat y_i|}{y_i},

where ``T`` is the last 30% (by tokens, else steps) of each held-out run's checkpoints, averaged
over held-out runs. The revisiting benchmark (Alabdulmohsin et al. 2022) uses the RMSE of
``log y`` over held-out points, reported here as ``log_rmse``. Model choice (``choose_law``, the
``auto`` law) is in :mod:`analysis.auto_law`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analysis.fit import fit_law
from analysis.fit_result import FitResult
from analysis.laws import LAWS, Law, get_law
from analysis.prepare import FitError, complete_axes

SCALE_AXES = ("N", "D", "C", "step")
"""Axes a law can be fitted along: offered only when they vary (>= 3 positive values, not all equal)."""


@dataclass(frozen=True, eq=False)
class BacktestResult:
    """Held-out error of a law fitted without the largest scale (``law`` is its name)."""

    law: str
    are: float
    log_rmse: float
    heldout: list = field(default_factory=list)       # one dict per held-out run
    predictions: pd.DataFrame | None = field(default=None, repr=False)
    fit: FitResult | None = field(default=None, repr=False)
    rule: str = ""

    def points(self) -> pd.DataFrame:
        """The held-out points: run, scale columns, observed ``y``, prediction ``y_pred`` and, when the fit
        was bootstrapped, its 95% band ``y_lo`` / ``y_hi`` (in the metric's units)."""
        if self.predictions is None:
            return pd.DataFrame()
        p = self.predictions[self.predictions["heldout"]]
        cols = [c for c in ("run", "N", "D", "C", "step", "U", "y", "y_pred", "y_lo", "y_hi") if c in p]
        return p[cols].reset_index(drop=True)

    def to_dict(self) -> dict:
        from analysis.jsonable import jsonable
        return {"law": self.law, "are": self.are, "log_rmse": self.log_rmse, "heldout": self.heldout,
                "points": jsonable(self.points()), "rule": self.rule,
                "fit": None if self.fit is None else self.fit.to_dict()}

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


def backtest(frame: pd.DataFrame, law: str | Law, *, n_holdout: int = 1, tail: float = 0.3,
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
    law = get_law(law)
    df = complete_axes(frame).reset_index(drop=True)
    df["run"] = df["run"].astype(str) if "run" in df else np.arange(len(df)).astype(str)
    if law.derived is not None:
        # derived variables (schedule areas) accumulate from each run's first step: compute them on
        # whole runs, so the held-out rows get the values of their full history (the fit recomputes
        # the same values on its rows)
        try:
            derived = law.add_derived(df)
        except KeyError as e:
            raise FitError(e.args[0]) from None
        if mask is not None:
            mask = np.asarray(mask, bool)[derived.index.to_numpy()]
        df = derived.reset_index(drop=True)
    if mask is None:
        # runs the user excluded are neither fitted nor scored: the largest model is chosen among the rest
        excluded = df["run"].isin({str(r) for r in fit_kwargs.get("exclude_runs") or ()}).to_numpy()
        kept = df[~excluded]
        mask = np.zeros(len(df), bool)
        sub, rule = heldout_mask(kept.reset_index(drop=True), n_holdout)
        mask[np.flatnonzero(~excluded)[sub]] = True
    else:
        mask, rule = np.asarray(mask, bool), "held out the given rows"
    train, test = df[~mask], df[mask]
    if len(test) == 0:
        raise FitError("nothing to hold out: the back-test needs at least two model sizes or a curve")
    fit = fit_law(train, law, bootstrap=bootstrap, **fit_kwargs)
    with np.errstate(all="ignore"):
        pred = fit.predict(test)
    usable = np.isfinite(pred) & np.isfinite(test["y"].to_numpy(float))
    if not usable.all():
        rule += (f"; left out {int((~usable).sum())} held-out point(s) the law cannot predict "
                 f"(missing {'/'.join(fit.law.variables)})")
        test, pred = test[usable], pred[usable]
        if len(test) == 0:
            raise FitError("none of the held-out points has the variables the law needs "
                           f"({', '.join(fit.law.variables)})")
    out = df.copy()
    with np.errstate(all="ignore"):
        out["y_pred"] = fit.predict(df) if len(df) else np.nan
        if fit.n_boot and len(df):
            out["y_lo"], out["y_hi"] = fit.band(df)
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
    return BacktestResult(fit.law.name, float(np.mean(ares)), float(np.sqrt(np.mean(allerr ** 2))), heldout,
                          out, fit, rule)


def available_columns(frame: pd.DataFrame, columns=None) -> set[str]:
    """The ``columns`` (default: every column some registered law requires) that can feed a law.

    A scale axis of :data:`SCALE_AXES` must vary: at least 3 finite positive values, not all equal
    (C is completed as 6 N D). Any other column (unique tokens ``U``, learning rate ``lr`` ...) needs
    one finite value.
    """
    df = complete_axes(frame)
    wanted = set(columns) if columns is not None else {c for law in LAWS.values() for c in law.required}
    out = set()
    for c in wanted & set(df.columns):
        v = pd.to_numeric(df[c], errors="coerce")
        if c in SCALE_AXES:
            if (np.isfinite(v) & (v > 0)).sum() >= 3 and v.nunique() > 1:
                out.add(c)
        elif np.isfinite(v).any():
            out.add(c)
    return out


def applicable_laws(frame: pd.DataFrame, *, allocatable_only: bool = False) -> list[str]:
    """Names of the registered laws whose required columns the frame provides (:func:`available_columns`).

    When the data vary both N and D, only laws with ``offered_with_nd`` are offered (the joint laws,
    and the 1-D laws in compute that summarise a size ladder): a 1-D law in N or D ignores half the data.
    ``allocatable_only``: only the laws whose compute budget can be split into N and D.
    """
    have = available_columns(frame)
    out = [name for name, law in LAWS.items() if set(law.required) <= have]
    if {"N", "D"} <= have:
        out = [name for name in out if LAWS[name].offered_with_nd]
    return [name for name in out if LAWS[name].allocatable] if allocatable_only else out


_AUTO_LAW = ("CHOICE_MAX_POINTS", "CURVE_TAILS", "LawChoice", "choose_law", "thin_runs", "validation_folds")


def __getattr__(name: str):
    """The ``auto`` law lives in :mod:`analysis.auto_law`; its names stay importable from here."""
    if name in _AUTO_LAW:
        from analysis import auto_law
        return getattr(auto_law, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
