"""Sweep families and their envelope: fit a loss law to the best run per (N, D), not to every run.

A **sweep family** has several runs per (N, D) cell that differ in learning rate or batch size (StepLaw's
``steplaw/dense``: 17 cells of 47-120 runs, 181 of them diverged). A loss law such as Chinchilla's
:math:`L(N, D) = E + A/N^\\alpha + B/D^\\beta` describes the best loss reachable at (N, D) -- the
**envelope** over hyperparameters -- so fitting it to every run mixes mistuned and diverged runs into
the curve (on ``steplaw/dense``, E collapses to its lower bound and alpha to 0.07). The envelope keeps,
per cell, the best run (``method="best"``: all the checkpoints of the run with the lowest final loss)
or the minimum of a convex bowl in (log lr, log batch) (``method="bowl"``, one row per cell; see
:mod:`analysis.hparams.optimum`).

A cell is a run's (N, final D, unique tokens U when recorded). Detection (:func:`detect_sweep`) needs the
runs' hyperparameters: columns ``lr`` and/or ``batch`` [tokens] / ``bs`` [sequences] (per run the largest
value, i.e. the peak learning rate; :func:`attach_hparams` adds them from ``runs.extra``). A cell is a
sweep cell when it holds 2+ runs that differ in one of them, and the family is a sweep when its sweep
cells hold at least half of its runs. Runs that share (N, D) without recorded hyperparameters (data
mixtures, seeds: ``colpret/bimix-*``) are counted (``n_shared_cells``) but not reduced: what differs
between them may be what the user wants to compare.

Public API: :class:`SweepInfo`, :func:`detect_sweep`, :func:`envelope`, :func:`sweep_warning`,
:func:`attach_hparams`, :func:`run_cells` (one row per run) and :func:`final_rows` (each run's last checkpoint).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.hparams.data import SEQ_LEN, HparamsError
from analysis.hparams.optimum import bowl_vertex
from datasets.schema import parse_extra

__all__ = ["SweepInfo", "detect_sweep", "envelope", "sweep_warning", "attach_hparams", "run_cells", "final_rows",
           "ENVELOPE_METHODS", "MIN_SIZES_FOR_E"]

# The one list of envelope methods (analysis.settings re-exports it): the CLI's --envelope choices and the app's
# options come from it; the app's labels and the fit notes' phrases are keyed by it (tests/test_envelope_wiring.py).
ENVELOPE_METHODS = {"best": "the run with the lowest final loss in each (N, D) cell (all its checkpoints)",
                    "bowl": "the minimum of a convex bowl in (log lr, log batch) per cell (one row per cell)"}
MIN_SIZES_FOR_E = 6         # fewer distinct N than this: E of a Chinchilla fit is poorly identified


@dataclass(frozen=True)
class SweepInfo:
    """What :func:`detect_sweep` found: ``is_sweep``; ``n_cells`` (N, D) cells of which ``n_sweep_cells``
    hold several runs that differ in a recorded hyperparameter (``min_runs``-``max_runs`` each,
    ``n_sweep_runs`` in all); ``varies`` names those hyperparameters; ``n_shared_cells`` counts the cells
    with 2+ runs whatever differs."""

    is_sweep: bool
    family: str
    n_runs: int
    n_cells: int
    n_sweep_cells: int
    n_sweep_runs: int
    min_runs: int
    max_runs: int
    varies: tuple[str, ...]
    n_shared_cells: int = 0

    @property
    def message(self) -> str:
        """One sentence naming the sweep (empty when the family is not one)."""
        if not self.is_sweep:
            return ""
        what = ", varying " + " and ".join(self.varies)
        spread = f"{self.min_runs}" if self.min_runs == self.max_runs else f"{self.min_runs}-{self.max_runs}"
        return (f"{self.family or 'this data'} is a hyperparameter sweep: {self.n_sweep_cells} of {self.n_cells} "
                f"(N, D) cells hold {spread} runs each{what}")

    def to_dict(self) -> dict:
        return {"is_sweep": self.is_sweep, "family": self.family, "n_runs": self.n_runs, "n_cells": self.n_cells,
                "n_sweep_cells": self.n_sweep_cells, "n_sweep_runs": self.n_sweep_runs, "min_runs": self.min_runs,
                "max_runs": self.max_runs, "varies": list(self.varies), "n_shared_cells": self.n_shared_cells,
                "message": self.message}


def _family(frame: pd.DataFrame) -> str:
    if frame.attrs.get("family"):
        return str(frame.attrs["family"])
    if "group" in frame.columns:
        groups = frame["group"].dropna().astype(str).unique()
        return ", ".join(sorted(groups)[:3]) + (" ..." if len(groups) > 3 else "")
    return ""


def _key(values) -> np.ndarray:
    v = np.asarray(values, float)
    return np.where(np.isfinite(v) & (v > 0), np.round(np.log(np.where(v > 0, v, 1.0)), 5), np.nan)


def final_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """The last checkpoint of each run (largest ``D``, then ``step``), one row per run in order of first
    appearance."""
    sort = [c for c in ("run", "D", "step") if c in frame.columns]
    return frame.sort_values(sort, kind="stable").groupby("run", sort=False).tail(1)


def run_cells(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per run: ``run, N, D`` (the run's final tokens), ``U`` (unique tokens, NaN if not recorded),
    ``y`` (its final value), ``lr`` and ``batch`` (per-run maxima, NaN when not recorded; ``bs`` x 2048 when
    only ``bs`` is given) and ``cell`` (int)."""
    if "run" not in frame.columns or "N" not in frame.columns or "y" not in frame.columns:
        raise HparamsError("the fit frame has no run, N or y column", "build it with Store.fit_frame or the upload")
    last = final_rows(frame).set_index("run")
    out = pd.DataFrame({"N": last["N"].astype(float),
                        "D": last["D"].astype(float) if "D" in last.columns else np.nan,
                        "U": last["U"].astype(float) if "U" in last.columns else np.nan,
                        "y": last["y"].astype(float)})
    g = frame.groupby("run", sort=False)
    out["lr"] = g["lr"].max().astype(float) if "lr" in frame.columns else np.nan
    if "batch" in frame.columns:
        out["batch"] = g["batch"].max().astype(float)
    elif "bs" in frame.columns:
        out["batch"] = g["bs"].max().astype(float) * SEQ_LEN
    else:
        out["batch"] = np.nan
    out = out.reset_index()
    keys = pd.DataFrame({"n": _key(out["N"]), "d": _key(out["D"]), "u": _key(out["U"])}).fillna(-1.0)
    out["cell"] = keys.groupby(["n", "d", "u"], sort=True).ngroup().to_numpy()
    return out


def detect_sweep(frame: pd.DataFrame) -> SweepInfo:
    """Whether the fit frame ``frame`` (columns ``run, N, D, y`` [+ ``lr``, ``batch``/``bs``]) is a sweep family
    (see the module docstring)."""
    runs = run_cells(frame)
    labelled = [c for c in ("lr", "batch") if runs[c].notna().any()]
    sizes = runs.groupby("cell")["run"].size()
    sweep_cells, varies = [], set()
    for cell, g in runs.groupby("cell"):
        if len(g) < 2:
            continue
        differs = [c for c in labelled if g[c].round(12).nunique(dropna=True) > 1]
        if differs:
            sweep_cells.append(cell)
            varies.update(differs)
    n_sweep_runs = int(sizes.loc[sweep_cells].sum()) if sweep_cells else 0
    counts = sizes.loc[sweep_cells] if sweep_cells else pd.Series([0])
    return SweepInfo(is_sweep=bool(sweep_cells) and n_sweep_runs >= 0.5 * len(runs), family=_family(frame),
                     n_runs=len(runs), n_cells=int(len(sizes)), n_sweep_cells=len(sweep_cells),
                     n_sweep_runs=n_sweep_runs, min_runs=int(counts.min()), max_runs=int(counts.max()),
                     varies=tuple(c for c in ("lr", "batch") if c in varies),
                     n_shared_cells=int((sizes >= 2).sum()))


def sweep_warning(frame: pd.DataFrame, info: SweepInfo | None = None) -> str | None:
    """The warning to show when a sweep family is fitted without its envelope (None when not a sweep)."""
    info = info or detect_sweep(frame)
    if not info.is_sweep:
        return None
    return (f"{info.message}. A loss law fitted to every run mixes mistuned and diverged runs into the curve: "
            "fit the envelope (the best run per (N, D) cell) instead -- it describes the best loss reachable "
            "at each size and budget.")


def envelope(frame: pd.DataFrame, method: str = "best", *, higher_is_better: bool | None = None) -> pd.DataFrame:
    """The fit frame reduced to one run per (N, D) cell (see the module docstring).

    Parameters
    ----------
    frame : DataFrame
        A fit frame (``run, N, D, y`` and the other columns of :func:`datasets.store.to_fit_frame`).
    method : {"best", "bowl"} (:data:`ENVELOPE_METHODS`)
        ``bowl`` needs ``lr`` and ``batch``/``bs``; it keeps one row per cell, the best run's final row, with
        ``y`` at the vertex of a convex bowl over the runs' final values (run ``"<best run>#bowl"``); a cell
        without a convex bowl keeps its best run's final row.
    higher_is_better : bool, optional
        Default ``frame.attrs["higher_is_better"]`` (False: the lowest loss is best).

    Returns
    -------
    DataFrame
        The kept rows (same columns), ``attrs`` copied plus ``attrs["envelope"]`` = ``{"method", "n_runs_before",
        "n_runs_after", "n_cells", "sweep", "warnings"}``. A frame that is not a sweep comes back unchanged
        (with the same record, ``n_runs_after == n_runs_before``).

    Raises
    ------
    HparamsError
        Unknown method, or ``bowl`` without hyperparameter columns.
    """
    if method not in ENVELOPE_METHODS:
        raise HparamsError(f"unknown envelope method {method!r}", f"choose one of {', '.join(ENVELOPE_METHODS)}")
    hib = bool(frame.attrs.get("higher_is_better", False)) if higher_is_better is None else bool(higher_is_better)
    info = detect_sweep(frame)
    runs = run_cells(frame)
    score = -runs["y"] if hib else runs["y"]
    best = runs.assign(_s=score.fillna(np.inf)).sort_values(["cell", "_s", "run"]).groupby("cell").head(1)
    if not info.is_sweep:
        out = frame.copy()
    elif method == "best":
        out = frame[frame["run"].isin(set(best["run"]))].copy()
    else:
        out = _bowl_envelope(frame, runs, best, hib)
    n_sizes = int(pd.Series(_key(runs.loc[runs["run"].isin(set(out["run"]) | set(best["run"])), "N"])).nunique())
    warns = []
    if info.is_sweep and n_sizes < MIN_SIZES_FOR_E:
        warns.append(f"the envelope has {n_sizes} model sizes: a law's irreducible term (E) and its N term trade "
                     "off against each other and E is poorly identified -- read E's interval, not its value")
    out.attrs.update(frame.attrs)
    out.attrs["envelope"] = {"method": method, "sweep": info.to_dict(), "n_runs_before": int(len(runs)),
                             "n_runs_after": int(out["run"].nunique()), "n_cells": info.n_cells,
                             "warnings": warns}
    return out


def _bowl_envelope(frame: pd.DataFrame, runs: pd.DataFrame, best: pd.DataFrame, hib: bool) -> pd.DataFrame:
    if runs["lr"].isna().any() or runs["batch"].isna().any():
        raise HparamsError("the bowl envelope needs every run's learning rate and batch (columns lr, batch or bs)",
                           "use method='best', or attach the hyperparameters (attach_hparams)")
    rows = []
    by_run = final_rows(frame).set_index("run")       # the bowl is fitted over the runs' final values
    for cell, g in runs.groupby("cell"):
        keep = best.loc[best["cell"] == cell, "run"].iloc[0]
        row = by_run.loc[[keep]].reset_index()
        vertex = None if hib else bowl_vertex(g["lr"], g["batch"], g["y"])
        if vertex is not None:
            row["y"] = vertex[2]
            row["run"] = f"{keep}#bowl"
        rows.append(row)
    return pd.concat(rows, ignore_index=True)


def attach_hparams(frame: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with per-run ``lr`` (peak learning rate; kept when the frame already has it) and ``batch``
    [tokens] columns read from the store's ``runs.extra`` JSON (``lr``; ``bs`` sequences x ``seq_len``,
    2,048 by default, or ``batch_tokens``). Runs that record neither get NaN."""
    lr, batch = {}, {}
    for run_id, text in zip(runs["run_id"].astype(str), runs.get("extra", pd.Series([None] * len(runs)))):
        extra = parse_extra(text)

        def num(*names):
            for n in names:
                try:
                    v = float(extra[n])
                except (KeyError, TypeError, ValueError):
                    continue
                if math.isfinite(v):
                    return v
            return math.nan
        lr[run_id] = num("lr", "learning_rate", "peak_lr")
        tokens = num("batch_tokens")
        batch[run_id] = tokens if math.isfinite(tokens) else num("bs", "batch_size") * (num("seq_len") if
                                                                                        math.isfinite(num("seq_len"))
                                                                                        else SEQ_LEN)
    out = frame.copy()
    if "lr" not in out.columns or out["lr"].isna().all():
        out["lr"] = out["run"].astype(str).map(lr).astype(float)
    out["batch"] = out["run"].astype(str).map(batch).astype(float)
    out.attrs.update(frame.attrs)
    return out
