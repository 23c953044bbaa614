"""The ``auto`` law: choose among the applicable laws by held-out error, validated in the direction of the question.

**Folds** (:func:`validation_folds`). A law is asked to extrapolate, so each candidate is back-tested on
folds that hold out the largest values of every scale the data extend over:

* several model sizes: the largest size (with 4 or more sizes also the two largest); the largest 20% of the
  log range of tokens D, of compute C and, when unique tokens U are known, of epochs D/U; and, when a
  target is given (e.g. ``{"C": 1e24}``), the 20% of the data nearest the target along its direction;
* one size (a learning curve): the last 10% and the last 20% of the log range of its axis (D, else C, else
  step).

A fold is kept when it holds out at least one point and at most half of them; identical folds count once.

**Score**: a candidate's held-out log-RMSE on each fold; its score is the geometric mean over folds (the
table's ``log_rmse``). A law that fails on a fold where another law succeeds is not eligible.

**Tie rule** (``rule="one_se"``, the default): the one-standard-error rule of cross-validation (Breiman
et al. 1984; Hastie et al., *Elements of Statistical Learning* 7.10). Let ``best`` be the lowest score. A
candidate is *tied* with it when its excess ``ln(score / best score)`` is at most one standard error of
that excess, computed from the paired differences of ``ln RMSE`` over the held-out units (each held-out
run in each fold: ``sd / sqrt(n)``). Among the tied laws the one with the fewest parameters wins (then the
lower score). ``"lowest"`` takes the lowest score; ``"every_fold"`` (the previous rule) starts from the
simplest law and moves to one with more parameters only when it is better on every fold.

**Candidates** (:func:`default_candidates`): the laws that apply to the data, except that pure power laws
(no irreducible term, ``Law.floor`` False: Kaplan's) are left out whenever a law with a floor applies. A
loss has an entropy floor, so a pure power law bends the wrong way past the data; with few validation
points its two parameters often win the tie rule all the same. On the 92 held-out curves of
google-research/revisiting-neural-scaling-laws (``bench/bench_revisiting.py``) leaving them out moved
auto's median held-out log-RMSE, with the dashboard's default early cut, from 0.0239 to 0.0218 (paired
difference -0.0025, 95% CI -0.0043 to -0.0009; with all rows -0.0014, CI -0.0036 to +0.0001). Named
candidates are used as given.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.backtest import applicable_laws, backtest, heldout_mask
from analysis.laws import get_law
from analysis.prepare import FILTERS, FitError, complete_axes, select_rows

__all__ = ["CURVE_TAILS", "AXIS_TAIL", "CHOICE_MAX_POINTS", "RULES", "LawChoice", "validation_folds", "thin_runs",
           "default_candidates", "choose_law"]

CURVE_TAILS = (0.1, 0.2)   # validation folds of a single curve: the last 10% and 20% of its log-x range
AXIS_TAIL = 0.2            # folds of a size ladder along D, C, epochs, target: the top 20% of the log range
CHOICE_MAX_POINTS = 1500
RULES = ("one_se", "lowest", "every_fold")
_WORDS = {"D": "tokens D", "C": "compute C", "epochs": "epochs D/U", "N": "model size N"}


def _tail(values: np.ndarray, share: float) -> tuple[np.ndarray, float] | None:
    """Rows in the top ``share`` of the log range of ``values`` (at most half the rows: else only the
    largest value), with the cut; None when nothing or too much would be held out."""
    with np.errstate(all="ignore"):
        lx = np.where(np.isfinite(values) & (values > 0), np.log(values), np.nan)
    ok = np.isfinite(lx)
    if ok.sum() < 4 or len(np.unique(lx[ok])) < 3:
        return None
    lo, hi = np.nanmin(lx), np.nanmax(lx)
    cut = hi - share * (hi - lo)
    mask = np.nan_to_num(lx, nan=-np.inf) > cut
    if mask.sum() > 0.5 * ok.sum():
        cut = np.unique(lx[ok])[-2]
        mask = np.nan_to_num(lx, nan=-np.inf) > cut
    if not mask.any() or mask.sum() > 0.5 * ok.sum():
        return None
    return mask, float(np.exp(cut))


def _target_fold(df: pd.DataFrame, target: dict) -> tuple[np.ndarray, str] | None:
    """The rows nearest ``target`` along its direction from the data's centre, in log space."""
    axes = [a for a in target if a in df and target[a] and np.isfinite(target[a]) and target[a] > 0]
    if not axes:
        return None
    X = np.column_stack([np.log(pd.to_numeric(df[a], errors="coerce").to_numpy(float).clip(1e-300)) for a in axes])
    centre = np.nanmedian(X, axis=0)
    u = np.log([float(target[a]) for a in axes]) - centre
    if not np.any(u):
        return None
    s = (X - centre) @ (u / np.linalg.norm(u))
    got = _tail(np.exp(s), AXIS_TAIL)
    if got is None:
        return None
    where = ", ".join(f"{a} = {float(target[a]):.3g}" for a in axes)
    return got[0], f"held out the {AXIS_TAIL:.0%} of the data nearest the target ({where}) along its direction"


def validation_folds(frame: pd.DataFrame, target: dict | None = None) -> list[tuple[np.ndarray, str]]:
    """The held-out masks ``choose_law`` scores every candidate on, with their rules in words (module docs)."""
    df = complete_axes(frame).reset_index(drop=True)
    N = pd.to_numeric(df["N"], errors="coerce")
    sizes = np.unique(N[np.isfinite(N)])
    folds: list[tuple[np.ndarray, str]] = []
    if len(sizes) >= 2:
        folds.append(heldout_mask(df, 1))
        if len(sizes) >= 4:
            folds.append(heldout_mask(df, 2))
        axes = {"D": df["D"], "C": df["C"]}
        if "U" in df:
            U = pd.to_numeric(df["U"], errors="coerce")
            if (np.isfinite(U) & (U > 0)).any():
                axes["epochs"] = df["D"] / U
        for name, values in axes.items():
            got = _tail(pd.to_numeric(values, errors="coerce").to_numpy(float), AXIS_TAIL)
            if got is not None:
                folds.append((got[0], f"held out the largest {AXIS_TAIL:.0%} of the log range of {_WORDS[name]} "
                                      f"({name} > {got[1]:.3g})"))
        if target:
            got = _target_fold(df, target)
            if got is not None:
                folds.append(got)
    else:
        axis = next((a for a in ("D", "C", "step") if a in df and (pd.to_numeric(df[a], errors="coerce") > 0).any()),
                    None)
        if axis is None:
            return [heldout_mask(df)]
        v = pd.to_numeric(df[axis], errors="coerce").to_numpy(float)
        with np.errstate(all="ignore"):
            lx = np.where(v > 0, np.log(v), np.nan)
        lo, hi = np.nanmin(lx), np.nanmax(lx)
        for tail in CURVE_TAILS:
            cut = hi - tail * (hi - lo)
            folds.append((np.nan_to_num(lx, nan=-np.inf) > cut,
                          f"held out the last {tail:.0%} of the log range of {axis} ({axis} > {np.exp(cut):.3g})"))
        return folds
    unique, seen = [], set()
    for m, text in folds:
        key = np.asarray(m, bool).tobytes()
        if key not in seen and m.any() and not m.all():
            seen.add(key)
            unique.append((np.asarray(m, bool), text))
    return unique


@dataclass(frozen=True)
class LawChoice:
    """The law ``auto`` picked, the table it picked from (every candidate's held-out error), and why."""

    law: str
    table: pd.DataFrame
    reason: str
    folds: tuple[str, ...] = ()
    rule: str = "one_se"

    def to_dict(self) -> dict:
        from analysis.jsonable import jsonable
        return {"law": self.law, "reason": self.reason, "folds": list(self.folds), "rule": self.rule,
                "table": jsonable(self.table)}


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


def default_candidates(frame: pd.DataFrame, *, allocatable_only: bool = False) -> list[str]:
    """The laws ``auto`` chooses among by default: :func:`analysis.backtest.applicable_laws`, without the
    pure power laws (``Law.floor`` False) when a law with a floor applies (module docs); with
    ``allocatable_only`` only laws whose compute budget can be split into N and D."""
    return _with_floor(applicable_laws(frame, allocatable_only=allocatable_only))


def _with_floor(laws: list[str]) -> list[str]:
    """``laws`` without the pure power laws, unless no law with a floor is among them."""
    return [n for n in laws if get_law(n).floor] or laws


def _paired_se(units_i: dict, units_b: dict) -> float:
    """Standard error of the mean paired difference ``ln RMSE_i - ln RMSE_best`` over shared held-out units."""
    keys = [k for k in units_i if k in units_b and units_i[k] > 0 and units_b[k] > 0]
    if len(keys) < 2:
        return 0.0
    d = np.log([units_i[k] for k in keys]) - np.log([units_b[k] for k in keys])
    return float(np.std(d, ddof=1) / np.sqrt(len(d)))


def choose_law(frame: pd.DataFrame, candidates=None, *, mask: np.ndarray | None = None, rule: str = "one_se",
               allocatable_only: bool = False, target: dict | None = None,
               max_points: int | None = CHOICE_MAX_POINTS, **fit_kwargs) -> LawChoice:
    """Pick the law that extrapolates best inside the data, by held-out log-RMSE over validation folds.

    The data choices in ``fit_kwargs`` (``min_tokens``, ``min_fraction``, ``exclude_runs`` and the
    filters) are applied first, so the folds are cut from the rows the final fit will use. Each candidate
    is back-tested on every fold of :func:`validation_folds` (``target``: ``{axis: value}`` adds a fold
    along the question's direction), or on ``mask`` alone when given. Longer data are thinned to about
    ``max_points`` rows (:func:`thin_runs`): the ranking needs the shape of the curves, not every
    checkpoint; the final fit of the chosen law uses all rows.

    candidates : law names or Law objects, optional
        Default :func:`default_candidates` (``allocatable_only``: only laws in N and D); the laws it
        leaves out are named in the reason.
    rule : {"one_se", "lowest", "every_fold"}
        The tie rule (module docs); ``"simplest"`` is accepted for ``"every_fold"``.
    """
    rule = "every_fold" if rule == "simplest" else rule
    if rule not in RULES:
        raise ValueError(f"unknown rule {rule!r}; choose one of {', '.join(RULES)}")
    left_out = []
    if not candidates:
        applicable = applicable_laws(frame, allocatable_only=allocatable_only)
        candidates = _with_floor(applicable)                # default_candidates, keeping what it left out
        left_out = [n for n in applicable if n not in candidates]
    candidates = list(candidates)          # names or Law objects
    cuts = {k: fit_kwargs.pop(k) for k in ("min_tokens", "min_fraction", "exclude_runs", *FILTERS) if k in fit_kwargs}
    fit_kwargs.setdefault("diagnostics", False)       # the choice ranks held-out error; diagnostics are for the fit
    base = pd.DataFrame(frame).reset_index(drop=True)
    kept, notes = select_rows(base, **cuts)
    rows_used = thin_runs(kept, max_points)
    if len(rows_used) < len(kept):
        notes.append(f"chose on {len(rows_used):,} of the {len(kept):,} points (each run thinned evenly)")
    data = base.loc[rows_used].reset_index(drop=True)
    if mask is not None:
        folds = [(np.asarray(mask, bool)[rows_used.to_numpy()], "held out the given rows")]
    else:
        folds = validation_folds(data, target)
    scores = np.full((len(candidates), len(folds)), np.nan)
    ares = np.full_like(scores, np.nan)
    units: list[dict] = [{} for _ in candidates]
    errors = [""] * len(candidates)
    for i, name in enumerate(candidates):
        for j, (m, _) in enumerate(folds):
            try:
                bt = backtest(data, name, mask=m, **fit_kwargs)
                scores[i, j], ares[i, j] = bt.log_rmse, bt.are
                units[i].update({(j, h["run"]): h["log_rmse"] for h in bt.heldout})
            except (FitError, ValueError, FloatingPointError, np.linalg.LinAlgError) as exc:
                errors[i] = errors[i] or str(exc)
    usable = np.isfinite(scores).any(axis=0)          # folds on which at least one law could be scored
    scores, ares = scores[:, usable], ares[:, usable]
    kept_folds = set(np.flatnonzero(usable))
    units = [{k: v for k, v in u.items() if k[0] in kept_folds} for u in units]
    folds = [f for f, u in zip(folds, usable) if u]
    complete = np.isfinite(scores).all(axis=1) & (scores.shape[1] > 0)
    with np.errstate(all="ignore"):
        agg = np.where(complete, np.exp(np.mean(np.log(np.maximum(scores, 1e-12)), axis=1)), np.nan)
    n_params = [len(get_law(c).params) for c in candidates]
    if not complete.any():
        raise FitError("no candidate law could be back-tested on these data: " +
                       "; ".join(f"{get_law(c).name}: {e or 'failed on a validation fold'}"
                                 for c, e in zip(candidates, errors)))
    b = int(np.nanargmin(np.where(complete, agg, np.inf)))
    se = np.array([_paired_se(units[i], units[b]) if complete[i] else np.nan for i in range(len(candidates))])
    with np.errstate(all="ignore"):
        excess = np.log(agg / agg[b])
    tied = complete & (excess <= se + 1e-12)
    rows = []
    for i, name in enumerate(candidates):
        row = {"law": get_law(name).name, "log_rmse": agg[i], "are": float(np.mean(ares[i])) if complete[i] else np.nan,
               "n_params": n_params[i], "excess_vs_best": excess[i], "se": se[i], "within_1se": bool(tied[i])}
        for j in range(scores.shape[1]):
            row[f"fold {j + 1}"] = scores[i, j]
        row["error"] = "" if complete[i] else (errors[i] or "failed on a validation fold")
        rows.append(row)
    table = pd.DataFrame(rows)
    fold_cols = [f"fold {j + 1}" for j in range(scores.shape[1])]
    ok = table[complete]
    how = f"geometric mean over {len(folds)} validation folds" if len(folds) > 1 else folds[0][1]
    if rule == "lowest":
        best = ok.sort_values(["log_rmse", "n_params"]).iloc[0]
        why = f"the lowest held-out log-RMSE among {len(ok)} laws"
    elif rule == "one_se":
        best = ok[ok["within_1se"]].sort_values(["n_params", "log_rmse"]).iloc[0]
        lowest = table.iloc[b]
        why = ("the lowest held-out log-RMSE" if best.law == lowest.law else
               f"within one standard error of the lowest ({lowest.law}, {lowest.log_rmse:.4f}) with fewer "
               f"parameters ({best.n_params} vs {lowest.n_params})")
    else:
        ladder = ok.sort_values(["n_params", "log_rmse"])
        best = ladder.iloc[0]
        for _, cand in ladder.iloc[1:].iterrows():
            if (cand[fold_cols].to_numpy(float) < best[fold_cols].to_numpy(float)).all():
                best = cand
        why = "the simplest law not beaten on every fold by one with more parameters"
    others = ", ".join(f"{r.law} {r.log_rmse:.4f}" if np.isfinite(r.log_rmse) else f"{r.law} failed"
                       for r in table.sort_values("log_rmse", na_position="last").itertuples())
    reason = (f"{best.law}: held-out log-RMSE {best.log_rmse:.4f} ({how}; ARE {best.are:.2%}), {why}; "
              f"every candidate's held-out log-RMSE: {others}")
    if left_out:
        reason += (f"; left out {', '.join(left_out)} (no irreducible term, while a law with one applies; "
                   f"choose {'it' if len(left_out) == 1 else 'one'} by name to fit it)")
    if notes:
        reason += "; folds cut after the data choices (" + "; ".join(notes) + ")"
    table = table.sort_values(["log_rmse", "n_params"], na_position="last").reset_index(drop=True)
    return LawChoice(str(best.law), table, reason, tuple(text for _, text in folds), rule)
