"""Back-tests: fit without the largest scale, predict it, and measure the error.

The Hitchhiker's guide (Choshen et al. 2025) scores a fit by its **absolute relative error** on
held-out larger models,

.. math::
    \\mathrm{ARE} = \\frac{1}{|T|}\\sum_{i \\in T} \\frac{|y_i - \\hat y_i|}{y_i},

where ``T`` is the last 30% (by tokens, else steps) of each held-out run's checkpoints, averaged
over held-out runs. The revisiting benchmark (Alabdulmohsin et al. 2022) uses the RMSE of
``log y`` over held-out points, reported here as ``log_rmse``. Model choice (``choose_law``, the
``auto`` law) ranks candidate laws by held-out ``log_rmse``, the field's recommended first
criterion, averaged (geometric mean) over the validation folds of :func:`validation_folds`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analysis.fit import fit_law
from analysis.fit_result import FitResult
from analysis.laws import LAWS, Law, get_law
from analysis.prepare import FitError, complete_axes, select_rows

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


def applicable_laws(frame: pd.DataFrame) -> list[str]:
    """Names of the registered laws whose required columns the frame provides (:func:`available_columns`).

    When the data vary both N and D, only laws with ``offered_with_nd`` are offered (the joint laws,
    and the 1-D laws in compute that summarise a size ladder): a 1-D law in N or D ignores half the data.
    """
    have = available_columns(frame)
    out = [name for name, law in LAWS.items() if set(law.required) <= have]
    if {"N", "D"} <= have:
        out = [name for name in out if LAWS[name].offered_with_nd]
    return out


CURVE_TAILS = (0.1, 0.2)   # validation folds of a single curve: the last 10% and 20% of its log-x range


def validation_folds(frame: pd.DataFrame) -> list[tuple[np.ndarray, str]]:
    """The held-out masks ``choose_law`` scores every candidate on, with their rules in words.

    * Several model sizes: the largest size; with 4 or more sizes also the two largest (so the fit
      of that fold still sees at least 2 sizes).
    * One size (a learning curve, or runs without N): the points in the last 10% and in the last
      20% of the log range of the scale axis (D, else C, else step); short extrapolations, like the
      ones a learning curve is asked for.
    """
    df = complete_axes(frame).reset_index(drop=True)
    N = pd.to_numeric(df["N"], errors="coerce")
    sizes = np.unique(N[np.isfinite(N)])
    if len(sizes) >= 2:
        folds = [heldout_mask(df, 1)]
        if len(sizes) >= 4:
            folds.append(heldout_mask(df, 2))
        return folds
    axis = next((a for a in ("D", "C", "step") if a in df and (pd.to_numeric(df[a], errors="coerce") > 0).any()), None)
    if axis is None:
        return [heldout_mask(df)]
    v = pd.to_numeric(df[axis], errors="coerce").to_numpy(float)
    with np.errstate(all="ignore"):
        lx = np.where(v > 0, np.log(v), np.nan)
    lo, hi = np.nanmin(lx), np.nanmax(lx)
    folds = []
    for tail in CURVE_TAILS:
        cut = hi - tail * (hi - lo)
        folds.append((np.nan_to_num(lx, nan=-np.inf) > cut,
                      f"held out the last {tail:.0%} of the log range of {axis} ({axis} > {np.exp(cut):.3g})"))
    return folds


@dataclass(frozen=True)
class LawChoice:
    """The law ``auto`` picked, the table it picked from, and why."""

    law: str
    table: pd.DataFrame
    reason: str
    folds: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {"law": self.law, "reason": self.reason, "folds": list(self.folds),
                "table": self.table.to_dict(orient="records")}


def thin_runs(frame: pd.DataFrame, max_points: int | None) -> pd.Index:
    """Index labels of at most about ``max_points`` rows: every run keeps the same share of its points,
    evenly spaced along its scale axis, first and last included (a run with one point keeps it)."""
    if not max_points or len(frame) <= max_points:
        return frame.index
    axis = next((a for a in ("D", "step", "C") if a in frame and frame[a].notna().any()), None)
    share = max_points / len(frame)
    keep = []
    for _, g in frame.groupby("run", sort=False):
        g = g.sort_values(axis) if axis else g
        k = max(1, int(np.ceil(share * len(g))))
        keep.append(g.index[np.unique(np.linspace(0, len(g) - 1, k).round().astype(int))])
    return pd.Index(np.sort(np.concatenate(keep)))


CHOICE_MAX_POINTS = 1500


def choose_law(frame: pd.DataFrame, candidates=None, *, mask: np.ndarray | None = None, rule: str = "simplest",
               max_points: int | None = CHOICE_MAX_POINTS, **fit_kwargs) -> LawChoice:
    """Pick the law that extrapolates best inside the data, by held-out log-RMSE over validation folds.

    The data choices in ``fit_kwargs`` (``min_tokens``, ``min_fraction``, ``exclude_runs``) are applied
    first, so the folds are cut from the rows the final fit will use. Each candidate is back-tested on
    every fold of :func:`validation_folds` (or on ``mask`` alone when given); its score is the
    geometric mean of its fold log-RMSEs (the table's ``log_rmse``). A law that fails on a fold where
    another law succeeds is not eligible and ranks last.

    Longer data are thinned to about ``max_points`` rows for the choice (every run evenly, see
    :func:`thin_runs`): the ranking needs the shape of the curves, not every checkpoint, and the
    final fit of the chosen law still uses all rows.

    rule : {"simplest", "lowest"}
        ``"simplest"`` (default): start from the eligible law with the fewest parameters and move to
        a law with more parameters only when its held-out log-RMSE is lower on *every* fold: a more
        complex law has to win clearly, not by the noise of one fold. ``"lowest"``: the lowest
        geometric mean wins (ties to fewer parameters).
    """
    if rule not in ("simplest", "lowest"):
        raise ValueError(f"unknown rule {rule!r}; choose 'simplest' or 'lowest'")
    candidates = list(candidates or applicable_laws(frame))          # names or Law objects
    cuts = {k: fit_kwargs.pop(k) for k in ("min_tokens", "min_fraction", "exclude_runs") if k in fit_kwargs}
    base = pd.DataFrame(frame).reset_index(drop=True)
    kept, notes = select_rows(base, **cuts)
    rows_used = thin_runs(kept, max_points)
    if len(rows_used) < len(kept):
        notes.append(f"chose on {len(rows_used):,} of the {len(kept):,} points (each run thinned evenly)")
    data = base.loc[rows_used].reset_index(drop=True)
    if mask is not None:
        folds = [(np.asarray(mask, bool)[rows_used.to_numpy()], "held out the given rows")]
    else:
        folds = validation_folds(data)
    scores = np.full((len(candidates), len(folds)), np.nan)
    ares = np.full_like(scores, np.nan)
    errors = [""] * len(candidates)
    for i, name in enumerate(candidates):
        for j, (m, _) in enumerate(folds):
            try:
                bt = backtest(data, name, mask=m, **fit_kwargs)
                scores[i, j], ares[i, j] = bt.log_rmse, bt.are
            except (FitError, ValueError, FloatingPointError, np.linalg.LinAlgError) as exc:
                errors[i] = errors[i] or str(exc)
    usable = np.isfinite(scores).any(axis=0)          # folds on which at least one law could be scored
    scores, ares = scores[:, usable], ares[:, usable]
    folds = [f for f, u in zip(folds, usable) if u]
    complete = np.isfinite(scores).all(axis=1) & (scores.shape[1] > 0)
    with np.errstate(all="ignore"):
        agg = np.where(complete, np.exp(np.mean(np.log(np.maximum(scores, 1e-12)), axis=1)), np.nan)
    rows = []
    for i, name in enumerate(candidates):
        row = {"law": str(name), "log_rmse": agg[i], "are": float(np.mean(ares[i])) if complete[i] else np.nan,
               "n_params": len(get_law(name).params)}
        for j in range(scores.shape[1]):
            row[f"fold {j + 1}"] = scores[i, j]
        row["error"] = "" if complete[i] else (errors[i] or "failed on a validation fold")
        rows.append(row)
    table = pd.DataFrame(rows).sort_values(["log_rmse", "n_params"], na_position="last").reset_index(drop=True)
    ok = table[np.isfinite(table["log_rmse"])]
    if ok.empty:
        raise FitError("no candidate law could be back-tested on these data: " +
                       "; ".join(f"{r.law}: {r.error}" for r in table.itertuples()))
    fold_cols = [f"fold {j + 1}" for j in range(scores.shape[1])]
    how = (f"geometric mean over {len(folds)} validation folds" if len(folds) > 1 else folds[0][1])
    if rule == "lowest":
        best = ok.iloc[0]
        reason = (f"{best.law} had the lowest held-out log-RMSE ({best.log_rmse:.4f}, {how}; ARE {best.are:.2%}) "
                  f"among {len(ok)} laws")
    else:
        ladder = ok.sort_values(["n_params", "log_rmse"])
        best, passed = ladder.iloc[0], []
        for _, cand in ladder.iloc[1:].iterrows():
            if (cand[fold_cols].to_numpy(float) < best[fold_cols].to_numpy(float)).all():
                passed.append(str(best.law))
                best = cand
        reason = (f"{best.law}: held-out log-RMSE {best.log_rmse:.4f} ({how}; ARE {best.are:.2%}); auto starts "
                  f"from the simplest of {len(ok)} laws and moves to one with more parameters only when it "
                  f"extrapolates better on every fold"
                  + (f" ({best.law} did, over {', '.join(passed)})" if passed else f" (none beat {best.law})"))
    runner = ok[ok["law"] != best.law]
    if len(runner):
        reason += f"; lowest other: {runner.iloc[0].law} ({runner.iloc[0].log_rmse:.4f})"
    if notes:
        reason += "; folds cut after the data choices (" + "; ".join(notes) + ")"
    return LawChoice(str(best.law), table, reason, tuple(text for _, text in folds))
